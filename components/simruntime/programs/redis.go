package programs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// utilRedisCli is redis-cli 7.4: `redis-cli [-h HOST] [-p PORT] [CMD
// ARG...]` sends one command and prints its reply; without a command it
// is the interactive prompt ("10.96.4.2:6379> "). Its connection goes
// over the pod network, so `redis-cli -h redis PING` resolves the
// Service's name with the cluster DNS and goes through kube-proxy's
// rules like any other.
func utilRedisCli(p *machine.Process) int {
	host, port := "127.0.0.1", 6379
	raw := p.Term == nil // as redis-cli: a pipe gets raw replies, a terminal formatted ones
	args := p.Argv[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch a := args[0]; a {
		case "-h", "-p", "-n", "-a":
			if len(args) < 2 {
				fmt.Fprintf(p.IO.Err, "Unrecognized option or bad number of args for: '%s'\n", a)
				return 1
			}
			switch a {
			case "-h":
				host = args[1]
			case "-p":
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 1 || n > 65535 {
					fmt.Fprintf(p.IO.Err, "Invalid server port: %s\n", args[1])
					return 1
				}
				port = n
			}
			args = args[2:]
		case "--raw":
			raw, args = true, args[1:]
		case "--no-raw":
			raw, args = false, args[1:]
		case "-v", "--version":
			fmt.Fprintf(p.IO.Out, "redis-cli %s\n", p.Machine.Image.SoftwareVersion("redis", "7.4.1"))
			return 0
		default:
			fmt.Fprintf(p.IO.Err, "Unrecognized option or bad number of args for: '%s'\n", a)
			return 1
		}
	}
	addr := host + ":" + strconv.Itoa(port)
	connect := func() (io.ReadWriteCloser, error) {
		ip, _, err := lookupHost(p, host)
		if err != nil {
			if p.Context().Err() != nil {
				return nil, err
			}
			return nil, errors.New(gaiError(err))
		}
		return dial(p, netip.AddrPortFrom(ip, uint16(port)), defaultConnectTimeout)
	}
	conn, err := connect()
	if conn != nil {
		// A server that never answers must not outlive the command.
		defer closeAtEnd(p, conn)()
	}
	if len(args) > 0 {
		if err != nil {
			if p.Context().Err() != nil {
				return p.Interrupted()
			}
			fmt.Fprintf(p.IO.Err, "Could not connect to Redis at %s: %s\n", addr, err)
			return 1
		}
		defer conn.Close()
		reply, err := redisCommand(conn, bufio.NewReader(conn), args)
		if err != nil {
			fmt.Fprintf(p.IO.Err, "Error: %s\n", "Server closed the connection")
			return 1
		}
		fmt.Fprint(p.IO.Out, reply.format(raw, ""))
		return 0
	}

	// The prompt on a terminal; from a pipe, one command per line with no
	// prompt and raw replies, as `echo PING | redis-cli` gives. Either
	// way until quit, exit or the end of input.
	if err != nil {
		if p.Context().Err() != nil {
			return p.Interrupted()
		}
		fmt.Fprintf(p.IO.Err, "Could not connect to Redis at %s: %s\n", addr, err)
	}
	var br *bufio.Reader
	if conn != nil {
		br = bufio.NewReader(conn)
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	in := bufio.NewReader(machine.ReaderUntil(p.Context(), p.IO.In))
	for {
		switch {
		case p.Term == nil:
		case conn != nil:
			fmt.Fprintf(p.IO.Out, "%s> ", addr)
		default:
			fmt.Fprint(p.IO.Out, "not connected> ")
		}
		line, err := in.ReadString('\n')
		if err != nil && strings.TrimSpace(line) == "" {
			if p.Context().Err() != nil {
				return p.Interrupted()
			}
			return 0
		}
		words, ok := splitArgs(line)
		if !ok {
			fmt.Fprintln(p.IO.Out, "Invalid argument(s)")
			continue
		}
		if len(words) == 0 {
			continue
		}
		if cmd := strings.ToLower(words[0]); cmd == "quit" || cmd == "exit" {
			return 0
		}
		if conn == nil {
			if conn, err = connect(); err != nil {
				fmt.Fprintf(p.IO.Err, "Could not connect to Redis at %s: %s\n", addr, err)
				conn = nil
				continue
			}
			defer closeAtEnd(p, conn)()
			br = bufio.NewReader(conn)
		}
		reply, err := redisCommand(conn, br, words)
		if err != nil {
			if p.Context().Err() != nil {
				return p.Interrupted()
			}
			fmt.Fprintf(p.IO.Err, "Error: Server closed the connection\n")
			conn.Close()
			conn = nil
			continue
		}
		fmt.Fprint(p.IO.Out, reply.format(raw, ""))
	}
}

// closeAtEnd closes conn when p is interrupted or killed, so that a read
// from a server that never answers ends with the command; its result
// undoes that.
func closeAtEnd(p *machine.Process, conn io.Closer) (stop func() bool) {
	return context.AfterFunc(p.Context(), func() { conn.Close() })
}

// splitArgs splits a line into words as redis-cli does (sdssplitargs):
// words are separated by blanks; "double quotes" take the escapes \n,
// \r, \t, \b, \a, \\, \" and \xHH; 'single quotes' take \' only; a
// closing quote must end the word. It reports false for an unbalanced
// quote or a quote followed by more of the word.
func splitArgs(line string) ([]string, bool) {
	var words []string
	for i := 0; ; {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return words, true
		}
		w, next, ok := nextArg(line, i)
		if !ok {
			return nil, false
		}
		words, i = append(words, w), next
	}
}

// nextArg reads the word that starts at line[i], returning it and where
// the rest of the line starts.
func nextArg(line string, i int) (string, int, bool) {
	var w strings.Builder
	var quote byte // '"', '\'' or 0
	for ; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && isBlank(c):
			return w.String(), i, true
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0:
			w.WriteByte(c)
		case c == quote:
			if i+1 < len(line) && !isBlank(line[i+1]) {
				return "", 0, false
			}
			return w.String(), i + 1, true
		case quote == '\'' && c == '\\' && i+1 < len(line) && line[i+1] == '\'':
			w.WriteByte('\'')
			i++
		case quote == '"' && c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
			b, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
			w.WriteByte(byte(b))
			i += 3
		case quote == '"' && c == '\\' && i+1 < len(line):
			i++
			if e, ok := map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'a': '\a'}[line[i]]; ok {
				w.WriteByte(e)
			} else {
				w.WriteByte(line[i])
			}
		default:
			w.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", 0, false
	}
	return w.String(), i, true
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// redisCommand sends one command as a RESP array and reads its reply.
func redisCommand(w io.Writer, br *bufio.Reader, args []string) (respValue, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return respValue{}, err
	}
	return readReply(br, 0)
}

// respValue is one RESP reply.
type respValue struct {
	kind  byte // '+' simple string, '-' error, ':' integer, '$' bulk, '*' array
	text  string
	null  bool
	items []respValue
}

func readReply(br *bufio.Reader, depth int) (respValue, error) {
	if depth > 8 {
		return respValue{}, errors.New("reply nested too deep")
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return respValue{}, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return respValue{}, errors.New("empty reply")
	}
	v := respValue{kind: line[0], text: line[1:]}
	switch v.kind {
	case '+', '-', ':':
		return v, nil
	case '$':
		n, err := strconv.Atoi(v.text)
		if err != nil || n > maxRESPCommand {
			return respValue{}, fmt.Errorf("bad bulk length %q", v.text)
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return respValue{}, err
		}
		v.text = string(buf[:n])
		return v, nil
	case '*':
		n, err := strconv.Atoi(v.text)
		if err != nil || n > 1024 {
			return respValue{}, fmt.Errorf("bad array length %q", v.text)
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		for range n {
			item, err := readReply(br, depth+1)
			if err != nil {
				return respValue{}, err
			}
			v.items = append(v.items, item)
		}
		return v, nil
	}
	return respValue{}, fmt.Errorf("unknown reply type %q", v.kind)
}

// format prints a reply as redis-cli does: raw (to a pipe) the bare
// values, one per line; otherwise quoted strings, (integer), (nil),
// (error) and numbered array items.
func (v respValue) format(raw bool, indent string) string {
	if raw {
		switch {
		case v.kind == '*':
			var b strings.Builder
			for _, it := range v.items {
				b.WriteString(it.format(true, ""))
			}
			return b.String()
		case v.null:
			return "\n"
		}
		return v.text + "\n"
	}
	switch {
	case v.null:
		return "(nil)\n"
	case v.kind == '+':
		return v.text + "\n"
	case v.kind == '-':
		return "(error) " + v.text + "\n"
	case v.kind == ':':
		return "(integer) " + v.text + "\n"
	case v.kind == '$':
		return strconv.Quote(v.text) + "\n"
	}
	if len(v.items) == 0 {
		return "(empty array)\n"
	}
	var b strings.Builder
	width := len(strconv.Itoa(len(v.items)))
	for i, it := range v.items {
		prefix := fmt.Sprintf("%*d) ", width, i+1)
		if i > 0 {
			b.WriteString(indent)
		}
		b.WriteString(prefix + it.format(false, indent+strings.Repeat(" ", len(prefix))))
	}
	return b.String()
}
