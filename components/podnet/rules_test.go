package podnet

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// nodeRules are rules in the shape kube-proxy's iptables proxier writes
// (v1.37): a Service lab8/web with two endpoints and a NodePort, and a
// Service lab8/empty with none.
const nodeRules = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-SERVICES -m comment --comment "lab8/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 --dport 80 -j KUBE-SVC-WEB
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment lab8/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-WEB
-A KUBE-EXT-WEB -m comment --comment "masquerade traffic for lab8/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "lab8/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -m comment --comment "lab8/web:http -> 10.244.1.5:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A
-A KUBE-SVC-WEB -m comment --comment "lab8/web:http -> 10.244.2.7:80" -j KUBE-SEP-B
-A KUBE-SEP-A -m comment --comment lab8/web:http -s 10.244.1.5/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-A -m comment --comment lab8/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:80
-A KUBE-SEP-B -m comment --comment lab8/web:http -s 10.244.2.7/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-B -m comment --comment lab8/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.7:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -m comment --comment "lab8/empty:http has no endpoints" -m tcp -p tcp -d 10.96.0.60 --dport 80 -j REJECT
COMMIT
`

var (
	podA    = netip.MustParseAddr("10.244.1.9")
	nodeIP  = netip.MustParseAddr("192.0.2.10")
	isLocal = func(a netip.Addr) bool { return a == nodeIP }
)

func mustRules(t *testing.T, text string) *Rules {
	t.Helper()
	r, err := ParseRules(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAClusterIPIsSpreadOverItsEndpointsByTheRulesProbabilities(t *testing.T) {
	r := mustRules(t, nodeRules)
	rnd := rand.New(rand.NewPCG(1, 2))
	got := map[string]int{}
	for i := 0; i < 1000; i++ {
		route, err := r.Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.50:80")}, isLocal, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if route.Verdict != Rewritten {
			t.Fatalf("verdict %s, want dnat", route.Verdict)
		}
		got[route.To.String()]++
		chains := route.Chains()
		want := []string{"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-WEB"}
		if !slices.Equal(chains[:3], want) || !strings.HasPrefix(chains[3], "KUBE-SEP-") {
			t.Fatalf("chains %v, want %v then a KUBE-SEP", chains, want)
		}
		if last := route.Hops[len(route.Hops)-1]; !strings.Contains(last.Rule, "DNAT --to-destination "+route.To.String()) {
			t.Fatalf("the last hop's rule %q does not send the packet to %s", last.Rule, route.To)
		}
	}
	a, b := got["10.244.1.5:80"], got["10.244.2.7:80"]
	if a+b != 1000 || a < 400 || b < 400 {
		t.Errorf("1000 connections went %v, want about half each", got)
	}
}

func TestAServiceWithNoEndpointRejectsAndOtherAddressesPassUntouched(t *testing.T) {
	r := mustRules(t, nodeRules)
	route, err := r.Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.60:80")}, isLocal, nil)
	if err != nil || route.Verdict != Rejected {
		t.Fatalf("to a Service without endpoints: %+v %v, want rejected", route, err)
	}
	if c := route.Chains(); c[len(c)-1] != "KUBE-SERVICES" || route.Hops[len(route.Hops)-1].Table != "filter" {
		t.Errorf("rejected in %v, want the filter table's KUBE-SERVICES", route.Hops)
	}
	pod := netip.MustParseAddrPort("10.244.2.7:80")
	route, err = r.Route(Packet{Protocol: "tcp", Src: podA, Dst: pod}, isLocal, nil)
	if err != nil || route.Verdict != Accepted || route.To != pod {
		t.Fatalf("pod to pod: %+v %v, want accepted and unchanged", route, err)
	}
	// Another port of the ClusterIP matches no Service rule.
	route, _ = r.Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.50:81")}, isLocal, nil)
	if route.Verdict != Accepted {
		t.Errorf("an unserved port of a ClusterIP: %s, want accepted (it then goes nowhere)", route.Verdict)
	}
	// UDP to the TCP Service does not match either.
	route, _ = r.Route(Packet{Protocol: "udp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.50:80")}, isLocal, nil)
	if route.Verdict != Accepted {
		t.Errorf("udp to a tcp Service: %s, want accepted", route.Verdict)
	}
}

func TestANodePortOnTheNodesOwnAddressReachesAnEndpoint(t *testing.T) {
	r := mustRules(t, nodeRules)
	route, err := r.Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.AddrPortFrom(nodeIP, 30080)}, isLocal, nil)
	if err != nil || route.Verdict != Rewritten {
		t.Fatalf("to a NodePort: %+v %v", route, err)
	}
	want := []string{"PREROUTING", "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXT-WEB", "KUBE-MARK-MASQ", "KUBE-EXT-WEB", "KUBE-SVC-WEB"}
	if got := route.Chains(); !slices.Equal(got[:len(want)], want) {
		t.Errorf("chains %v, want %v then a KUBE-SEP", got, want)
	}
	// The same port on an address that is not the node's is no NodePort.
	route, _ = r.Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("192.0.2.99:30080")}, isLocal, nil)
	if route.Verdict != Accepted || route.To.Port() != 30080 {
		t.Errorf("another host's port 30080: %+v", route)
	}
}

// After a DNAT the filter table is still walked whole: a REJECT in its
// last chain stops a packet the nat table rewrote.
func TestTheFilterTableSeesTheRewrittenPacketInEveryChain(t *testing.T) {
	text := strings.Replace(nodeRules, "-A KUBE-SERVICES -m comment --comment \"lab8/empty:http has no endpoints\"",
		"-A KUBE-EXTERNAL-SERVICES -m comment --comment \"a test\" -d 10.244.0.0/16 -j REJECT\n-A KUBE-SERVICES -m comment --comment \"lab8/empty:http has no endpoints\"", 1)
	route, err := mustRules(t, text).Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.50:80")}, isLocal, nil)
	if err != nil || route.Verdict != Rejected || route.Hops[len(route.Hops)-1].Chain != "KUBE-EXTERNAL-SERVICES" {
		t.Fatalf("%+v %v, want rejected in KUBE-EXTERNAL-SERVICES", route, err)
	}
}

// ACCEPT ends the whole table, not only the user chain it is in; a rule
// with a match the evaluator does not know never matches.
func TestAcceptEndsTheTableAndUnknownMatchesNeverMatch(t *testing.T) {
	text := `*nat
:PREROUTING - [0:0]
:A - [0:0]
-A PREROUTING -j A
-A PREROUTING -p tcp -j DNAT --to-destination 10.244.9.9:80
-A A -p tcp -i eth0 -j DNAT --to-destination 10.244.8.8:80
-A A -p tcp --sport 1234 -j DNAT --to-destination 10.244.8.8:80
-A A -p tcp -j ACCEPT
COMMIT
`
	route, err := mustRules(t, text).Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.1:80")}, isLocal, nil)
	if err != nil || route.Verdict != Accepted || route.To.String() != "10.96.0.1:80" {
		t.Fatalf("%+v %v, want accepted in A and not rewritten", route, err)
	}
}

func TestRulesThatLoopOrJumpNowhereAreAnErrorNotAHang(t *testing.T) {
	loop := "*nat\n:PREROUTING ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A PREROUTING -j A\n-A A -j B\n-A B -j A\nCOMMIT\n"
	if _, err := mustRules(t, loop).Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.1:443")}, isLocal, nil); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("a loop: %v, want an error about depth", err)
	}
	nowhere := "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-GONE\nCOMMIT\n"
	if _, err := mustRules(t, nowhere).Route(Packet{Protocol: "tcp", Src: podA, Dst: netip.MustParseAddrPort("10.96.0.1:443")}, isLocal, nil); err == nil || !strings.Contains(err.Error(), "KUBE-GONE") {
		t.Errorf("a jump to a missing chain: %v", err)
	}
	if _, err := ParseRules("*nat\n-A\nCOMMIT\n"); err == nil {
		t.Error("a malformed dump parsed")
	}
}

// FuzzRoute: whatever the rules say, routing a packet ends, without a
// panic, in a verdict or an error.
func FuzzRoute(f *testing.F) {
	f.Add(nodeRules, "10.96.0.50:80")
	f.Add("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j DNAT --to-destination x\nCOMMIT\n", "10.0.0.1:1")
	f.Fuzz(func(t *testing.T, text, dst string) {
		r, err := ParseRules(text)
		if err != nil {
			return
		}
		d, err := netip.ParseAddrPort(dst)
		if err != nil {
			return
		}
		route, err := r.Route(Packet{Protocol: "tcp", Src: podA, Dst: d}, isLocal, rand.New(rand.NewPCG(3, 4)))
		if err == nil && route.Verdict == "" {
			t.Fatalf("no verdict and no error for %q", dst)
		}
	})
}

// testdata/node-1.rules is what the real proxier wrote to node-1's tables
// in a Wheelhouse cluster (`wheelhouse up`, then a Deployment web of two
// nginx pods exposed as a ClusterIP and a NodePort, and a Service empty
// with no pods): GET /api/nodes/node-1/rules. Its rules print some
// comments unquoted, as kube-proxy added them word by word.
func TestTheRealProxiersRulesRoute(t *testing.T) {
	text, err := os.ReadFile("testdata/node-1.rules")
	if err != nil {
		t.Fatal(err)
	}
	r := mustRules(t, string(text))
	rnd := rand.New(rand.NewPCG(5, 6))
	pod := netip.MustParseAddr("10.244.0.9")
	node := netip.MustParseAddr("192.0.2.10")
	local := func(a netip.Addr) bool { return a == node }
	got := map[string]int{}
	for i := 0; i < 200; i++ {
		route, err := r.Route(Packet{Protocol: "tcp", Src: pod, Dst: netip.MustParseAddrPort("10.96.119.233:80")}, local, rnd)
		if err != nil || route.Verdict != Rewritten {
			t.Fatalf("the web ClusterIP: %+v %v", route, err)
		}
		got[route.To.String()]++
	}
	if got["10.244.0.2:80"] < 60 || got["10.244.2.2:80"] < 60 {
		t.Errorf("200 connections to web went %v, want both endpoints", got)
	}
	route, err := r.Route(Packet{Protocol: "tcp", Src: pod, Dst: netip.AddrPortFrom(node, 30101)}, local, rnd)
	if err != nil || route.Verdict != Rewritten || !strings.HasPrefix(route.To.String(), "10.244.") {
		t.Errorf("the NodePort: %+v %v", route, err)
	}
	route, err = r.Route(Packet{Protocol: "tcp", Src: pod, Dst: netip.MustParseAddrPort("10.96.242.174:80")}, local, rnd)
	if err != nil || route.Verdict != Rejected {
		t.Errorf("the Service with no endpoint: %+v %v, want rejected", route, err)
	}
	if r.unknown[r.dump.Tables[0].Chains[0].Rules[0]] {
		t.Errorf("the PREROUTING jump (an unquoted comment) counts as unknown: %s", r.dump.Tables[0].Chains[0].Rules[0].Raw)
	}
}

func TestWithoutComment(t *testing.T) {
	for in, want := range map[string]string{
		`-A PREROUTING -m comment --comment kubernetes service portals -j KUBE-SERVICES`: `-A PREROUTING -m comment -j KUBE-SERVICES`,
		`-A X -m comment --comment "default/web -> 10.244.0.2:80" -m statistic -j Y`:     `-A X -m comment -m statistic -j Y`,
		`-A X -m comment --comment default/web -s 10.244.0.2 -j KUBE-MARK-MASQ`:          `-A X -m comment -s 10.244.0.2 -j KUBE-MARK-MASQ`,
		`-A X -m comment --comment "one" ! -s 10.0.0.0/8 -j Y`:                           `-A X -m comment ! -s 10.0.0.0/8 -j Y`,
	} {
		if got := withoutComment(in); got != want {
			t.Errorf("withoutComment(%q) = %q, want %q", in, got, want)
		}
	}
}
