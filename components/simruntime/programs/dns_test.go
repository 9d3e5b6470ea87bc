package programs

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/internal/simtest"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// fakeDNS is a pod network with one DNS server at 10.96.0.10 that knows
// the names of records, and no other pod.
type fakeDNS struct {
	records map[string]string // fqdn → IPv4
	// servers are what listens where; every other address refuses.
	servers map[netip.AddrPort]machine.PortHandler
	mu      sync.Mutex
	asked   []string
}

func (f *fakeDNS) Dial(_ context.Context, _ netip.Addr, _ string, dst netip.AddrPort, _ machine.Origin) (io.ReadWriteCloser, error) {
	h, ok := f.servers[dst]
	if !ok {
		return nil, machine.ErrConnRefused
	}
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		h(server)
	}()
	return client, nil
}

func (f *fakeDNS) Exchange(ctx context.Context, _ netip.Addr, dst netip.AddrPort, datagram []byte, _ machine.Origin) ([]byte, error) {
	if dst != netip.MustParseAddrPort("10.96.0.10:53") {
		<-ctx.Done()
		return nil, machine.ErrConnTimedOut
	}
	var q dns.Msg
	if err := q.Unpack(datagram); err != nil {
		return nil, err
	}
	name := q.Question[0].Name
	f.mu.Lock()
	f.asked = append(f.asked, dns.TypeToString[q.Question[0].Qtype]+" "+name)
	f.mu.Unlock()
	r := new(dns.Msg)
	r.SetReply(&q)
	switch ip, ok := f.records[name]; {
	case !strings.HasSuffix(name, ".cluster.local."):
		// As CoreDNS with no upstream (no forward plugin).
		r.Rcode = dns.RcodeServerFailure
	case !ok:
		r.Authoritative = true
		r.Rcode = dns.RcodeNameError
	case q.Question[0].Qtype == dns.TypeA:
		r.Authoritative = true
		rr, _ := dns.NewRR(name + " 5 IN A " + ip)
		r.Answer = append(r.Answer, rr)
	default:
		r.Authoritative = true
	}
	return r.Pack()
}

func dnsMachine(t *testing.T, net machine.Network) (*machine.Machine, *simtest.Buffer, *simtest.Buffer) {
	t.Helper()
	stdout, stderr := &simtest.Buffer{}, &simtest.Buffer{}
	m := machine.New(machine.Config{
		Ctx: t.Context(), Image: testImage(t, "busybox"), Hostname: "client", IP: "10.244.1.7",
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Stdout: stdout, Stderr: stderr, Programs: For, Network: net,
		Resolv: "search lab8.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5 timeout:1 attempts:1\n",
	})
	return m, stdout, stderr
}

// busybox's nslookup puts a name with no dot under each search domain,
// and only then; it prints every reply and exits 1 if one failed.
func TestBusyboxNslookupSearchesOnlyNamesWithNoDot(t *testing.T) {
	f := &fakeDNS{records: map[string]string{
		"web.lab8.svc.cluster.local.":           "10.96.7.7",
		"kubernetes.default.svc.cluster.local.": "10.96.0.1",
	}}
	m, stdout, _ := dnsMachine(t, f)
	code := m.Run([]string{"nslookup", "web"})
	want := "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n" +
		"Name:\tweb.lab8.svc.cluster.local\nAddress: 10.96.7.7\n\n" +
		"** server can't find web.svc.cluster.local: NXDOMAIN\n\n" +
		"** server can't find web.cluster.local: NXDOMAIN\n\n" +
		"*** Can't find web.lab8.svc.cluster.local: No answer\n\n" +
		"** server can't find web.svc.cluster.local: NXDOMAIN\n\n" +
		"** server can't find web.cluster.local: NXDOMAIN\n\n"
	if code != 1 || stdout.String() != want {
		t.Errorf("nslookup web: exit %d, printed\n%q\nwant exit 1 and\n%q", code, stdout.String(), want)
	}
	if got := strings.Join(f.asked, ", "); !strings.HasPrefix(got, "A web.lab8.svc.cluster.local., A web.svc.cluster.local., A web.cluster.local., AAAA web.lab8") || strings.Contains(got, "A web.,") {
		t.Errorf("asked %s", got)
	}

	// A dotted name is asked as it is, and the cluster DNS has no
	// upstream for it.
	f.asked = nil
	m, stdout, _ = dnsMachine(t, f)
	if code := m.Run([]string{"nslookup", "kubernetes.default"}); code != 1 || !strings.Contains(stdout.String(), "** server can't find kubernetes.default: SERVFAIL\n") {
		t.Errorf("nslookup kubernetes.default: exit %d, %q", code, stdout.String())
	}
	if got := strings.Join(f.asked, ", "); got != "A kubernetes.default., AAAA kubernetes.default." {
		t.Errorf("asked %s", got)
	}
	m, stdout, _ = dnsMachine(t, f)
	if code := m.Run([]string{"nslookup", "kubernetes.default.svc.cluster.local"}); code != 0 || !strings.Contains(stdout.String(), "Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n") {
		t.Errorf("nslookup kubernetes.default.svc.cluster.local: exit %d, %q", code, stdout.String())
	}
	m, stdout, _ = dnsMachine(t, f)
	if code := m.Run([]string{"nslookup", "web", "10.96.9.9"}); code != 1 || stdout.String() != ";; connection timed out; no servers could be reached\n\n" {
		t.Errorf("nslookup against a server nobody has: exit %d, %q", code, stdout.String())
	}
}

// BIND's nslookup (the agnhost image's, the documentation's dnsutils
// Pod) resolves as the C library does: ndots:5 puts kubernetes.default
// under the search domains first, and only the outcome is printed.
func TestBindNslookupFollowsTheSearchPath(t *testing.T) {
	f := &fakeDNS{records: map[string]string{
		"web.lab8.svc.cluster.local.":           "10.96.7.7",
		"kubernetes.default.svc.cluster.local.": "10.96.0.1",
	}}
	run := func(argv ...string) (int, string) {
		m, stdout, _ := dnsMachine(t, f)
		m.Image = testImage(t, "registry.k8s.io/e2e-test-images/agnhost:2.39")
		return m.Run(argv), stdout.String()
	}
	code, out := run("nslookup", "kubernetes.default")
	if want := "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n"; code != 0 || out != want {
		t.Errorf("nslookup kubernetes.default: exit %d, printed\n%q\nwant\n%q", code, out, want)
	}
	var asked []string
	for _, q := range f.asked {
		if strings.HasPrefix(q, "A ") {
			asked = append(asked, q)
		}
	}
	if got := strings.Join(asked, ", "); got != "A kubernetes.default.lab8.svc.cluster.local., A kubernetes.default.svc.cluster.local." {
		t.Errorf("asked %s", got)
	}
	if code, out := run("nslookup", "nosuch"); code != 1 || !strings.HasSuffix(out, "** server can't find nosuch: SERVFAIL\n\n") {
		t.Errorf("nslookup nosuch: exit %d, %q", code, out)
	}
	if code, out := run("nslookup", "nosuch.lab8.svc.cluster.local."); code != 1 || !strings.HasSuffix(out, "** server can't find nosuch.lab8.svc.cluster.local.: NXDOMAIN\n\n") {
		t.Errorf("nslookup of a full name nobody has: exit %d, %q", code, out)
	}
}

func TestWgetResolvesAServiceName(t *testing.T) {
	f := &fakeDNS{records: map[string]string{"web.lab8.svc.cluster.local.": "10.96.7.7"}}
	m, _, stderr := dnsMachine(t, f)
	// The fake network refuses every connection: what matters is where
	// wget went.
	if code := m.Run([]string{"wget", "-qO-", "http://web"}); code != 1 || stderr.String() != "wget: can't connect to remote host (10.96.7.7): Connection refused\n" {
		t.Errorf("wget http://web: exit %d, %q", code, stderr.String())
	}
	m, _, stderr = dnsMachine(t, f)
	if code := m.Run([]string{"wget", "-qO-", "http://nosuch"}); code != 1 || stderr.String() != "wget: bad address 'nosuch'\n" {
		t.Errorf("wget http://nosuch: exit %d, %q", code, stderr.String())
	}
}
