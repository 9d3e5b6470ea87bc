package programs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// The pods' DNS resolver and nslookup (busybox's and BIND's). Names resolve as the C
// library resolves them: /etc/hosts first, then the nameservers of
// /etc/resolv.conf (the kubelet writes the cluster DNS Service's address
// there, with the namespace's search path and ndots:5), trying the name
// with each search domain in turn. Every query is a datagram over the pod
// network (machine.Network.Exchange), so it goes through the node's
// kube-proxy rules to a CoreDNS pod and is a `net` event of its own.

// resolvConf is what a pod's /etc/resolv.conf says, with the C library's
// defaults for what it does not.
type resolvConf struct {
	nameservers []netip.Addr
	search      []string
	ndots       int
	timeout     time.Duration
	attempts    int
}

func readResolvConf(p *machine.Process) resolvConf {
	rc := resolvConf{ndots: 1, timeout: 5 * time.Second, attempts: 2}
	text, _ := p.Machine.ReadFile("/", "/etc/resolv.conf")
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil {
				rc.nameservers = append(rc.nameservers, a)
			}
		case "search":
			rc.search = f[1:]
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					continue
				}
				switch k {
				case "ndots":
					rc.ndots = min(n, 15)
				case "timeout":
					rc.timeout = time.Duration(max(n, 1)) * time.Second
				case "attempts":
					rc.attempts = max(min(n, 5), 1)
				}
			}
		}
	}
	return rc
}

// candidates are the names the resolver tries for name, in order: with
// enough dots (ndots) the name as given first, otherwise each search
// domain first; a name ending in "." is tried alone.
func (rc resolvConf) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	withSearch := rc.underSearch(name)
	if strings.Count(name, ".") >= rc.ndots {
		return append([]string{dns.Fqdn(name)}, withSearch...)
	}
	return append(withSearch, dns.Fqdn(name))
}

// underSearch is name under each search domain, in order.
func (rc resolvConf) underSearch(name string) []string {
	var names []string
	for _, d := range rc.search {
		names = append(names, dns.Fqdn(name+"."+strings.TrimSuffix(d, ".")))
	}
	return names
}

// errNoServer is a query no nameserver answered (all timed out or
// refused).
var errNoServer = errors.New("no servers could be reached")

// query asks the nameservers one question, trying each in turn
// attempts times; it returns the first answer.
func query(p *machine.Process, rc resolvConf, servers []netip.Addr, name string, qtype uint16) (*dns.Msg, error) {
	src, err := netip.ParseAddr(p.Machine.IP)
	if p.Machine.Network == nil || err != nil || len(servers) == 0 {
		return nil, errNoServer
	}
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.Id = uint16(rand.UintN(1 << 16))
	datagram, err := req.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing the query for %s: %w", name, err)
	}
	for range rc.attempts {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(p.Context(), rc.timeout)
			answer, err := p.Machine.Network.Exchange(ctx, src, netip.AddrPortFrom(s, 53), datagram, p.Origin())
			cancel()
			if p.Context().Err() != nil {
				return nil, p.Context().Err()
			}
			if err != nil {
				continue
			}
			var m dns.Msg
			if m.Unpack(answer) != nil || m.Id != req.Id {
				continue
			}
			return &m, nil
		}
	}
	return nil, errNoServer
}

// lookupHost resolves a host name to an IPv4 address: /etc/hosts, then
// DNS along the search path. fqdn is the name that answered.
func lookupHost(p *machine.Process, host string) (addr netip.Addr, fqdn string, err error) {
	if a, ok := hostsEntry(p, host); ok {
		return a, host, nil
	}
	rc := readResolvConf(p)
	err = errNoServer
	servfail := false
	for _, name := range rc.candidates(host) {
		m, qerr := query(p, rc, rc.nameservers, name, dns.TypeA)
		if qerr != nil {
			return netip.Addr{}, "", qerr
		}
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					return ip, strings.TrimSuffix(name, "."), nil
				}
			}
		}
		servfail = servfail || m.Rcode == dns.RcodeServerFailure
		err = fmt.Errorf("%s", dns.RcodeToString[m.Rcode])
	}
	if servfail {
		// As glibc: a name that failed somewhere may exist.
		err = errServFail
	}
	return netip.Addr{}, "", err
}

// errServFail is a lookup with no answer where some server failed.
var errServFail = errors.New("SERVFAIL")

// gaiError is what glibc's getaddrinfo says of a lookupHost error:
// EAI_AGAIN when the answer may come another time (no server answered,
// or one failed), EAI_NONAME when the name has no address.
func gaiError(err error) string {
	if errors.Is(err, errNoServer) || errors.Is(err, errServFail) {
		return "Temporary failure in name resolution"
	}
	return "Name or service not known"
}

// utilNslookup is nslookup: busybox's applet in busybox and Alpine
// images, BIND's in an image with bind-tools (its dig says which).
// NAME [SERVER], -type=TYPE (or -query=); for an address, its PTR record.
// The two differ in what a learner meets first in a cluster: BIND's, as
// the C library, tries a name with fewer dots than ndots with each
// search domain and then as given, and reports only the outcome; busybox
// 1.36's tries the search domains only for a name with no dot at all,
// never the bare name then, and prints every reply, failures included.
// So `nslookup kubernetes.default` finds the apiserver's Service with
// BIND's (the dnsutils Pod of the Kubernetes documentation) and fails
// with busybox's, and busybox's `nslookup web` prints the answer among
// the search domains' NXDOMAINs and exits 1.
func utilNslookup(p *machine.Process) int {
	bind := p.Machine.Image != nil && p.Machine.Image.HasBin("dig")
	qtypes := []uint16{dns.TypeA, dns.TypeAAAA}
	explicit := false
	var rest []string
	for _, a := range p.Argv[1:] {
		t, ok := strings.CutPrefix(a, "-type=")
		if !ok {
			t, ok = strings.CutPrefix(a, "-query=")
		}
		if ok {
			qt, known := dns.StringToType[strings.ToUpper(t)]
			if !known {
				if bind {
					fmt.Fprintf(p.IO.Out, "unknown query type: %s\n", t)
				} else {
					errorf(p, "invalid query type \"%s\"", t)
				}
				return 1
			}
			qtypes, explicit = []uint16{qt}, true
			continue
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			continue // -debug, -timeout=… change nothing here
		}
		rest = append(rest, a)
	}
	if len(rest) == 0 || len(rest) > 2 {
		if bind {
			fmt.Fprintf(p.IO.Err, "Usage: nslookup [-opt ...] host [server]\n")
		} else {
			fmt.Fprintf(p.IO.Err, "BusyBox v1.36.1 multi-call binary.\n\nUsage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\nQuery DNS about HOST\n\nQUERY_TYPE: soa,ns,a,aaaa,cname,mx,txt,ptr,srv,any\n")
		}
		return 1
	}
	rc := readResolvConf(p)
	servers := rc.nameservers
	if len(rest) == 2 {
		s, err := netip.ParseAddr(rest[1])
		if err != nil {
			if bind {
				fmt.Fprintf(p.IO.Out, ";; couldn't get address for '%s': not found\n", rest[1])
			} else {
				errorf(p, "bad address '%s'", rest[1])
			}
			return 1
		}
		servers = []netip.Addr{s}
	}
	if len(servers) == 0 {
		servers = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	host := rest[0]
	if a, err := netip.ParseAddr(host); err == nil && !explicit {
		rev, _ := dns.ReverseAddr(a.String())
		host, qtypes = rev, []uint16{dns.TypePTR}
	}
	if bind {
		return bindNslookup(p, rc, servers, rest[0], host, qtypes)
	}
	return busyboxNslookup(p, rc, servers, host, qtypes)
}

// busyboxNslookup asks, for each type, the name under each search domain
// if it has no dot (a PTR name as it is), else the name as it is; it
// prints each reply in turn after the server's address, and exits 1 if
// any reply was a failure.
func busyboxNslookup(p *machine.Process, rc resolvConf, servers []netip.Addr, host string, qtypes []uint16) int {
	names := rc.underSearch(host)
	if strings.Contains(host, ".") || len(names) == 0 || qtypes[0] == dns.TypePTR {
		names = []string{dns.Fqdn(host)}
	}
	code, header := 0, false
	for _, qt := range qtypes {
		for _, name := range names {
			m, err := query(p, rc, servers[:1], name, qt)
			if err != nil {
				if p.Context().Err() != nil {
					return p.Interrupted()
				}
				continue // as busybox: a query with no reply is reported at the end
			}
			if !header {
				fmt.Fprintf(p.IO.Out, "Server:\t\t%s\nAddress:\t%s\n\n", servers[0], netip.AddrPortFrom(servers[0], 53))
				header = true
			}
			shown := strings.TrimSuffix(name, ".")
			switch {
			case m.Rcode != dns.RcodeSuccess:
				fmt.Fprintf(p.IO.Out, "** server can't find %s: %s\n", shown, dns.RcodeToString[m.Rcode])
				code = 1
			case len(m.Answer) == 0:
				fmt.Fprintf(p.IO.Out, "*** Can't find %s: No answer\n", shown)
			default:
				if !m.Authoritative {
					fmt.Fprintln(p.IO.Out, "Non-authoritative answer:")
				}
				printAnswer(p, m)
			}
			fmt.Fprintln(p.IO.Out)
		}
	}
	if !header {
		fmt.Fprintf(p.IO.Out, ";; connection timed out; %s\n\n", errNoServer)
		return 1
	}
	return code
}

// bindNslookup resolves as the C library does (resolvConf.candidates),
// for each type, and prints what it found: the answers, or for a name
// nobody has, the last failure under the name as typed.
func bindNslookup(p *machine.Process, rc resolvConf, servers []netip.Addr, typed, host string, qtypes []uint16) int {
	names := rc.candidates(host)
	if qtypes[0] == dns.TypePTR {
		names = []string{dns.Fqdn(host)}
	}
	fmt.Fprintf(p.IO.Out, "Server:\t\t%s\nAddress:\t%s#53\n\n", servers[0], servers[0])
	failure := ""
	for _, name := range names {
		answered := false
		for _, qt := range qtypes {
			m, err := query(p, rc, servers, name, qt)
			if err != nil {
				if p.Context().Err() != nil {
					return p.Interrupted()
				}
				fmt.Fprintf(p.IO.Out, ";; connection timed out; %s\n\n", errNoServer)
				return 1
			}
			if m.Rcode != dns.RcodeSuccess {
				failure = dns.RcodeToString[m.Rcode]
				break // the next candidate
			}
			answered = true
			if len(m.Answer) > 0 {
				if !m.Authoritative {
					fmt.Fprintln(p.IO.Out, "Non-authoritative answer:")
				}
				printAnswer(p, m)
			} else if len(qtypes) == 1 {
				fmt.Fprintf(p.IO.Out, "*** Can't find %s: No answer\n", strings.TrimSuffix(name, "."))
			}
		}
		if answered {
			fmt.Fprintln(p.IO.Out)
			return 0
		}
	}
	fmt.Fprintf(p.IO.Out, "** server can't find %s: %s\n\n", typed, failure)
	return 1
}

// printAnswer prints records as busybox's nslookup does.
func printAnswer(p *machine.Process, m *dns.Msg) {
	for _, rr := range m.Answer {
		name := strings.TrimSuffix(rr.Header().Name, ".")
		switch r := rr.(type) {
		case *dns.A:
			fmt.Fprintf(p.IO.Out, "Name:\t%s\nAddress: %s\n", name, r.A)
		case *dns.AAAA:
			fmt.Fprintf(p.IO.Out, "Name:\t%s\nAddress: %s\n", name, r.AAAA)
		case *dns.PTR:
			fmt.Fprintf(p.IO.Out, "%s\tname = %s\n", name, strings.TrimSuffix(r.Ptr, "."))
		case *dns.CNAME:
			fmt.Fprintf(p.IO.Out, "%s\tcanonical name = %s\n", name, strings.TrimSuffix(r.Target, "."))
		case *dns.SRV:
			fmt.Fprintf(p.IO.Out, "%s\tservice = %d %d %d %s\n", name, r.Priority, r.Weight, r.Port, strings.TrimSuffix(r.Target, "."))
		default:
			fmt.Fprintf(p.IO.Out, "%s\n", rr.String())
		}
	}
}
