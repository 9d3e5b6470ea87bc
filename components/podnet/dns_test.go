package podnet

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// dnsRules send UDP 10.96.0.10:53 to the one DNS pod, as kube-proxy's
// rules for kube-dns do.
const dnsRules = `*nat
:PREROUTING - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-DNS - [0:0]
:KUBE-SEP-DNS - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-DNS
-A KUBE-SVC-DNS -m comment --comment "kube-system/kube-dns:dns -> 10.244.2.3:53" -j KUBE-SEP-DNS
-A KUBE-SEP-DNS -m comment --comment kube-system/kube-dns:dns -m udp -p udp -j DNAT --to-destination 10.244.2.3:53
COMMIT
`

func TestADNSQueryGoesThroughTheRulesToTheDNSPod(t *testing.T) {
	rec := &recorder{}
	n := New(rec.publish)
	n.AddNode("node-1", []netip.Addr{nodeIP}, func() string { return dnsRules })
	n.Attach(Pod{Namespace: "lab8", Name: "client", Node: "node-1", IP: podA, Ports: machine.NewPorts()})
	dnsPorts := machine.NewPorts()
	var peers []string
	closePort, ok := dnsPorts.BindUDP(53, func(_ context.Context, datagram []byte, peer string) []byte {
		peers = append(peers, peer)
		var q dns.Msg
		if err := q.Unpack(datagram); err != nil {
			t.Errorf("the server got %v", err)
			return nil
		}
		r := new(dns.Msg)
		r.SetReply(&q)
		if q.Question[0].Name == "web.lab8.svc.cluster.local." {
			a, _ := dns.NewRR("web.lab8.svc.cluster.local. 5 IN A 10.96.0.50")
			r.Answer = append(r.Answer, a)
		} else {
			r.Rcode = dns.RcodeNameError
		}
		b, _ := r.Pack()
		return b
	})
	if !ok {
		t.Fatal("binding UDP 53")
	}
	defer closePort()
	n.Attach(Pod{Namespace: "kube-system", Name: "coredns-1", Node: "node-2", IP: netip.MustParseAddr("10.244.2.3"), Ports: dnsPorts})

	ask := func(name string) (*dns.Msg, tracing.Event) {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		b, _ := q.Pack()
		answer, err := n.Exchange(t.Context(), podA, netip.MustParseAddrPort("10.96.0.10:53"), b, machine.Origin{Container: "c7"})
		if err != nil {
			t.Fatalf("asking %s: %v", name, err)
		}
		var m dns.Msg
		if err := m.Unpack(answer); err != nil {
			t.Fatal(err)
		}
		return &m, rec.last(t)
	}
	m, ev := ask("web.lab8.svc.cluster.local.")
	if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.96.0.50" {
		t.Fatalf("answer %v", m.Answer)
	}
	q, _ := ev.Detail["dns"].(map[string]any)
	chains, _ := ev.Detail["chains"].([]string)
	if ev.Kind != tracing.KindNet || ev.Verb != "query" || ev.Status != "NOERROR" || ev.From != "pod:lab8/client" || ev.To != "pod:kube-system/coredns-1" ||
		ev.Detail["containerId"] != "c7" || ev.Detail["exec"] != false || q["name"] != "web.lab8.svc.cluster.local." || q["type"] != "A" || !slices.Equal(q["answers"].([]string), []string{"A 10.96.0.50"}) ||
		!slices.Equal(chains, []string{"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-DNS", "KUBE-SEP-DNS"}) || ev.Detail["protocol"] != "udp" {
		t.Errorf("the query's event: %+v (dns %v, chains %v)", ev, q, chains)
	}
	if !slices.Equal(peers, []string{podA.String()}) {
		t.Errorf("the DNS server saw the query from %v, want the client pod", peers)
	}
	if _, ev := ask("nosuch.lab8.svc.cluster.local."); ev.Status != "NXDOMAIN" || ev.Detail["outcome"] != "answered" {
		t.Errorf("a name nobody has: status %q, outcome %v", ev.Status, ev.Detail["outcome"])
	}

	// The TCP side of port 53 is a port of its own: nobody listens there.
	if _, err := n.Dial(t.Context(), podA, "tcp", netip.MustParseAddrPort("10.244.2.3:53"), machine.Origin{}); !errors.Is(err, machine.ErrConnRefused) {
		t.Errorf("TCP to a pod with only UDP 53 bound: %v, want refused", err)
	}
	// A UDP port nobody has bound is refused (ICMP port unreachable).
	q2 := new(dns.Msg)
	q2.SetQuestion("web.", dns.TypeA)
	b, _ := q2.Pack()
	if _, err := n.Exchange(t.Context(), podA, netip.MustParseAddrPort("10.244.2.3:54"), b, machine.Origin{}); !errors.Is(err, machine.ErrConnRefused) {
		t.Errorf("a UDP port nobody binds: %v, want refused", err)
	}
	if ev := rec.last(t); ev.Verb != "send" || ev.Status != "refused" {
		t.Errorf("a datagram to port 54 is not a DNS query: verb %q, status %q", ev.Verb, ev.Status)
	}
	// An address nobody has: the client's timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := n.Exchange(ctx, podA, netip.MustParseAddrPort("10.244.9.9:53"), b, machine.Origin{}); !errors.Is(err, machine.ErrConnTimedOut) {
		t.Errorf("a query to an address nobody has: %v, want timed out", err)
	}
	if ev := rec.last(t); ev.Verb != "query" || ev.Status != "timed out" {
		t.Errorf("the unanswered query: verb %q, status %q", ev.Verb, ev.Status)
	}
}
