package programs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// The network clients of busybox's images (wget, nc), over the pod
// network (machine.Network). Their messages are busybox 1.36's.

// defaultConnectTimeout is how long a client waits for an address that
// never answers, unless told otherwise (wget -T, nc -w). Linux would
// retry its SYN for two minutes; a learner would only see a silent
// terminal.
const defaultConnectTimeout = 10 * time.Second

// hostsEntry is host's address in the pod's /etc/hosts, if it has one.
func hostsEntry(p *machine.Process, host string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true
	}
	hosts, _ := p.Machine.ReadFile("/", "/etc/hosts")
	for _, line := range strings.Split(string(hosts), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, name := range f[1:] {
			if name == host {
				if a, err := netip.ParseAddr(f[0]); err == nil {
					return a, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// resolve turns a host into an address: an IP literal, a name in the
// pod's /etc/hosts, or one the cluster DNS knows (lookupHost). Names
// nobody resolves are "bad address", as busybox says.
func resolve(p *machine.Process, host string) (netip.Addr, bool) {
	a, _, err := lookupHost(p, host)
	return a, err == nil
}

// dial connects from the process's pod, waiting at most timeout for an
// answer.
func dial(p *machine.Process, addr netip.AddrPort, timeout time.Duration) (io.ReadWriteCloser, error) {
	src, err := netip.ParseAddr(p.Machine.IP)
	if p.Machine.Network == nil || err != nil {
		//lint:ignore ST1005 strerror(ENETUNREACH), printed as is
		return nil, errors.New("Network is unreachable")
	}
	ctx, cancel := context.WithTimeout(p.Context(), timeout)
	defer cancel()
	conn, err := p.Machine.Network.Dial(ctx, src, "tcp", addr, p.Origin())
	if err != nil && p.Context().Err() != nil {
		return nil, p.Context().Err()
	}
	return conn, err
}

func utilWget(p *machine.Process) int {
	quiet, spider, showHeaders := false, false, false
	out := ""
	timeout := defaultConnectTimeout
	var urls []string
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-q" || a == "--quiet":
			quiet = true
		case a == "-S" || a == "--server-response":
			showHeaders = true
		case a == "--spider":
			spider = true
		case a == "-O" || a == "-T":
			if i+1 >= len(args) {
				errorf(p, "option requires an argument -- '%s'", a[1:])
				return 1
			}
			i++
			if a == "-O" {
				out = args[i]
			} else if n, err := strconv.Atoi(args[i]); err == nil && n > 0 {
				timeout = time.Duration(n) * time.Second
			}
		case strings.HasPrefix(a, "-O"):
			out = a[2:]
		case strings.HasPrefix(a, "-q") && len(a) > 2:
			// -qO- and the like
			quiet = true
			rest := a[2:]
			if strings.HasPrefix(rest, "O") {
				out = rest[1:]
				if out == "" && i+1 < len(args) {
					i++
					out = args[i]
				}
			}
		case strings.HasPrefix(a, "-") && a != "-":
			// Options busybox has that change nothing here.
		default:
			urls = append(urls, a)
		}
	}
	if len(urls) == 0 {
		fmt.Fprintf(p.IO.Err, "BusyBox v1.36.1 multi-call binary.\n\nUsage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t[-P DIR] [-U AGENT] [-T SEC] URL...\n\nRetrieve files via HTTP or FTP\n")
		return 1
	}
	status := 0
	for _, raw := range urls {
		if wgetOne(p, raw, out, quiet, spider, showHeaders, timeout) != 0 {
			status = 1
		}
	}
	return status
}

func wgetOne(p *machine.Process, raw, out string, quiet, spider, showHeaders bool, timeout time.Duration) int {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		errorf(p, "bad address '%s'", raw)
		return 1
	}
	if u.Scheme != "http" {
		errorf(p, "not an http or ftp url: %s", raw)
		return 1
	}
	host := u.Hostname()
	port := 80
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			errorf(p, "bad port spec '%s'", ps)
			return 1
		}
		port = n
	}
	ip, ok := resolve(p, host)
	if !ok {
		errorf(p, "bad address '%s'", host)
		return 1
	}
	target := netip.AddrPortFrom(ip, uint16(port))
	if !quiet {
		fmt.Fprintf(p.IO.Err, "Connecting to %s (%s)\n", u.Host, target)
	}
	conn, err := dial(p, target, timeout)
	if err != nil {
		if errors.Is(err, machine.ErrConnTimedOut) {
			errorf(p, "download timed out")
		} else if p.Context().Err() != nil {
			return p.Interrupted()
		} else {
			errorf(p, "can't connect to remote host (%s): %s", ip, err.Error())
		}
		return 1
	}
	defer conn.Close()
	method := http.MethodGet
	if spider {
		method = http.MethodHead
	}
	reqPath := u.RequestURI()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n", method, reqPath, u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		errorf(p, "error getting response: %s", "Connection reset by peer")
		return 1
	}
	defer resp.Body.Close()
	if showHeaders {
		fmt.Fprintf(p.IO.Err, "  %s %s\n", resp.Proto, resp.Status)
		for k, vs := range resp.Header {
			for _, v := range vs {
				fmt.Fprintf(p.IO.Err, "  %s: %s\n", k, v)
			}
		}
	}
	if resp.StatusCode >= 400 {
		errorf(p, "server returned error: %s %s", resp.Proto, resp.Status)
		return 1
	}
	if spider {
		if !quiet {
			fmt.Fprintf(p.IO.Err, "remote file exists\n")
		}
		return 0
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		errorf(p, "error getting response: %s", "Connection reset by peer")
		return 1
	}
	if out == "-" {
		if !quiet {
			fmt.Fprintf(p.IO.Err, "writing to stdout\n")
		}
		_, _ = p.IO.Out.Write(body)
		if !quiet {
			fmt.Fprintf(p.IO.Err, "written to stdout\n")
		}
		return 0
	}
	if out == "" {
		out = path.Base(u.Path)
		if out == "/" || out == "." || out == "" {
			out = "index.html"
		}
	}
	if !quiet {
		fmt.Fprintf(p.IO.Err, "saving to '%s'\n", out)
	}
	if err := p.Machine.WriteFile(p.Machine.Abs(p.Cwd(), out), body, false); err != nil {
		errorf(p, "can't open '%s': %s", out, machine.ErrText(err))
		return 1
	}
	if !quiet {
		fmt.Fprintf(p.IO.Err, "'%s' saved\n", out)
	}
	return 0
}

// utilNc is busybox's nc: a client that copies its stdin to the
// connection and the connection to its stdout, or with -l a server of one
// connection on -p PORT.
func utilNc(p *machine.Process) int {
	listen := false
	port := 0
	timeout := defaultConnectTimeout
	var rest []string
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-l" || a == "-lk":
			listen = true
		case a == "-p" || a == "-w":
			if i+1 >= len(args) {
				errorf(p, "option requires an argument -- '%s'", a[1:])
				return 1
			}
			i++
			n, err := strconv.Atoi(args[i])
			if err != nil || n < 0 {
				errorf(p, "invalid number '%s'", args[i])
				return 1
			}
			if a == "-p" {
				port = n
			} else if n > 0 {
				timeout = time.Duration(n) * time.Second
			}
		case a == "-lp" && i+1 < len(args):
			listen = true
			i++
			n, err := strconv.Atoi(args[i])
			if err != nil {
				errorf(p, "invalid number '%s'", args[i])
				return 1
			}
			port = n
		case strings.HasPrefix(a, "-") && a != "-":
			// -v, -n, -z...: nothing changes here
		default:
			rest = append(rest, a)
		}
	}
	if listen {
		if port < 1 || port > 65535 {
			fmt.Fprintf(p.IO.Err, "BusyBox v1.36.1 multi-call binary.\n\nUsage: nc [OPTIONS] HOST PORT  - connect\nnc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen\n")
			return 1
		}
		return ncListen(p, int32(port))
	}
	if len(rest) != 2 {
		fmt.Fprintf(p.IO.Err, "BusyBox v1.36.1 multi-call binary.\n\nUsage: nc [OPTIONS] HOST PORT  - connect\nnc [OPTIONS] -l -p PORT [HOST] [PORT]  - listen\n")
		return 1
	}
	ip, ok := resolve(p, rest[0])
	if !ok {
		errorf(p, "bad address '%s'", rest[0])
		return 1
	}
	n, err := strconv.Atoi(rest[1])
	if err != nil || n < 1 || n > 65535 {
		errorf(p, "bad port '%s'", rest[1])
		return 1
	}
	conn, err := dial(p, netip.AddrPortFrom(ip, uint16(n)), timeout)
	if err != nil {
		if p.Context().Err() != nil {
			return p.Interrupted()
		}
		errorf(p, "can't connect to remote host (%s): %s", ip, err.Error())
		return 1
	}
	return ncCopy(p, conn)
}

// ncCopy copies stdin to conn (closing conn's write side at stdin's end)
// and conn to stdout, until the peer closes. Its read of a terminal ends
// with it, so the next line typed goes to the shell.
func ncCopy(p *machine.Process, conn io.ReadWriteCloser) int {
	defer conn.Close()
	ctx, stop := context.WithCancel(p.Context())
	defer stop()
	go func() {
		_, _ = io.Copy(conn, machine.ReaderUntil(ctx, p.IO.In))
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(p.IO.Out, conn)
	}()
	select {
	case <-done:
		return 0
	case <-p.Context().Done():
		conn.Close()
		return p.Interrupted()
	}
}

// ncListen serves one connection on port, then exits.
func ncListen(p *machine.Process, port int32) int {
	accepted := make(chan io.ReadWriter, 1)
	finished := make(chan struct{})
	closePort, ok := p.Listen(func(conn io.ReadWriter) {
		select {
		case accepted <- conn:
			<-finished // the connection lasts as long as nc serves it
		default:
			// Busy with another: the listener has closed.
		}
	}, port)
	if !ok {
		errorf(p, "bind: Address already in use")
		return 1
	}
	defer close(finished)
	select {
	case conn := <-accepted:
		closePort() // nc accepts one connection
		rwc, ok := conn.(io.ReadWriteCloser)
		if !ok {
			rwc = nopCloser{conn}
		}
		return ncCopy(p, rwc)
	case <-p.Context().Done():
		closePort()
		return p.Interrupted()
	}
}

type nopCloser struct{ io.ReadWriter }

func (nopCloser) Close() error { return nil }
