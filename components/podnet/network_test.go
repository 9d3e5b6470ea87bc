package podnet

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// A server that answers each line with "<name>: <line>" and notes who
// connected.
func echoPorts(t *testing.T, name string, port int32, peers *[]string, mu *sync.Mutex) *machine.Ports {
	t.Helper()
	ports := machine.NewPorts()
	ended := make(chan struct{})
	t.Cleanup(func() { close(ended) })
	closePort, ok := ports.Bind(port, machine.Listener{Ended: ended, Serve: func(conn io.ReadWriter) {
		mu.Lock()
		*peers = append(*peers, machine.PeerAddr(conn))
		mu.Unlock()
		line, _ := bufio.NewReader(conn).ReadString('\n')
		_, _ = io.WriteString(conn, name+": "+line)
	}})
	if !ok {
		t.Fatal("binding")
	}
	t.Cleanup(closePort)
	return ports
}

type recorder struct {
	mu     sync.Mutex
	events []tracing.Event
}

func (r *recorder) publish(ev tracing.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) last(t *testing.T) tracing.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no net event")
	}
	return r.events[len(r.events)-1]
}

func ask(t *testing.T, conn io.ReadWriteCloser, line string) string {
	t.Helper()
	defer conn.Close()
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(got)
}

func testNetwork(t *testing.T, rules string) (*Network, *recorder, *[]string) {
	t.Helper()
	rec := &recorder{}
	n := New(rec.publish)
	n.AddNode("node-1", []netip.Addr{nodeIP}, func() string { return rules })
	n.AddNode("node-2", []netip.Addr{nodeIP}, func() string { return "" })
	var peers []string
	var mu sync.Mutex
	n.Attach(Pod{Namespace: "lab8", Name: "client", Node: "node-1", IP: podA, Ports: machine.NewPorts()})
	n.Attach(Pod{Namespace: "lab8", Name: "web-a", Node: "node-1", IP: netip.MustParseAddr("10.244.1.5"), Ports: echoPorts(t, "a", 80, &peers, &mu)})
	n.Attach(Pod{Namespace: "lab8", Name: "web-b", Node: "node-2", IP: netip.MustParseAddr("10.244.2.7"), Ports: echoPorts(t, "b", 80, &peers, &mu)})
	return n, rec, &peers
}

func TestPodToPodByAddress(t *testing.T) {
	n, rec, peers := testNetwork(t, nodeRules)
	conn, err := n.Dial(t.Context(), podA, "tcp", netip.MustParseAddrPort("10.244.2.7:80"), machine.Origin{Container: "c41", Exec: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, conn, "hello"); got != "b: hello" {
		t.Fatalf("answer %q", got)
	}
	if !slices.Equal(*peers, []string{"10.244.1.9"}) {
		t.Errorf("the server saw %v, want the client pod's address", *peers)
	}
	ev := rec.last(t)
	if ev.Kind != tracing.KindNet || ev.From != "pod:lab8/client" || ev.To != "pod:lab8/web-b" || ev.Detail["containerId"] != "c41" || ev.Detail["exec"] != true ||
		ev.Detail["outcome"] != "connected" || ev.Detail["endpointPod"] != "lab8/web-b" || ev.Detail["srcNode"] != "node-1" {
		t.Errorf("net event %+v", ev)
	}
}

func TestAServicesConnectionsGoWhereTheSourceNodesRulesSendThem(t *testing.T) {
	n, rec, _ := testNetwork(t, nodeRules)
	answers := map[string]int{}
	for i := 0; i < 100; i++ {
		conn, err := n.Dial(t.Context(), podA, "tcp", netip.MustParseAddrPort("10.96.0.50:80"), machine.Origin{})
		if err != nil {
			t.Fatal(err)
		}
		answers[ask(t, conn, "hi")]++
	}
	if answers["a: hi"] == 0 || answers["b: hi"] == 0 || answers["a: hi"]+answers["b: hi"] != 100 {
		t.Errorf("100 connections to the ClusterIP were answered %v, want both endpoints", answers)
	}
	ev := rec.last(t)
	chains, _ := ev.Detail["chains"].([]string)
	if len(chains) < 4 || chains[1] != "KUBE-SERVICES" || chains[2] != "KUBE-SVC-WEB" || !strings.HasPrefix(chains[3], "KUBE-SEP-") {
		t.Errorf("chains %v", chains)
	}
	if !strings.Contains(ev.Summary, "DNAT to") || ev.Detail["verdict"] != "dnat" {
		t.Errorf("summary %q, detail %v", ev.Summary, ev.Detail)
	}

	if _, err := n.Dial(t.Context(), podA, "tcp", netip.MustParseAddrPort("10.96.0.60:80"), machine.Origin{}); !errors.Is(err, machine.ErrConnRefused) {
		t.Errorf("a Service without endpoints: %v, want refused", err)
	}
	if ev := rec.last(t); ev.Detail["outcome"] != "refused" || ev.Detail["verdict"] != "rejected" {
		t.Errorf("the rejected connection's event: %v", ev.Detail)
	}
}

func TestRefusedAndUnansweredConnections(t *testing.T) {
	n, rec, _ := testNetwork(t, nodeRules)
	if _, err := n.Dial(t.Context(), podA, "tcp", netip.MustParseAddrPort("10.244.2.7:81"), machine.Origin{}); !errors.Is(err, machine.ErrConnRefused) {
		t.Errorf("a port nobody listens on: %v, want refused", err)
	}
	start := time.Now() // before the deadline is set, which counts from its own now
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := n.Dial(ctx, podA, "tcp", netip.MustParseAddrPort("10.244.7.7:80"), machine.Origin{}); !errors.Is(err, machine.ErrConnTimedOut) {
		t.Errorf("an address nobody has: %v, want timed out", err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Error("an address nobody has answered before the caller gave up")
	}
	if ev := rec.last(t); ev.Detail["outcome"] != "timed out" || ev.To != "" {
		t.Errorf("the unanswered connection's event: %+v", ev)
	}
	if _, err := n.Dial(t.Context(), netip.MustParseAddr("10.244.9.9"), "tcp", netip.MustParseAddrPort("10.244.2.7:80"), machine.Origin{}); err == nil {
		t.Error("a dial from an address on no pod worked")
	}
}

func TestADetachedPodIsGoneAndANewOneMayTakeItsAddress(t *testing.T) {
	n, _, _ := testNetwork(t, "")
	ip := netip.MustParseAddr("10.244.2.50")
	detach := n.Attach(Pod{Namespace: "lab8", Name: "old", Node: "node-2", IP: ip, Ports: machine.NewPorts()})
	detachNew := n.Attach(Pod{Namespace: "lab8", Name: "new", Node: "node-2", IP: ip, Ports: machine.NewPorts()})
	detach() // the old pod's late detach must not take the new one off
	if _, err := n.Dial(t.Context(), podA, "tcp", netip.AddrPortFrom(ip, 80), machine.Origin{}); !errors.Is(err, machine.ErrConnRefused) {
		t.Errorf("the new pod (nothing listening): %v, want refused", err)
	}
	detachNew()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := n.Dial(ctx, podA, "tcp", netip.AddrPortFrom(ip, 80), machine.Origin{}); !errors.Is(err, machine.ErrConnTimedOut) {
		t.Errorf("after both left: %v, want timed out", err)
	}
}

func TestAPodsLoopbackNeverLeavesIt(t *testing.T) {
	n, rec, _ := testNetwork(t, nodeRules)
	webA := netip.MustParseAddr("10.244.1.5")
	conn, err := n.Dial(t.Context(), webA, "tcp", netip.MustParseAddrPort("127.0.0.1:80"), machine.Origin{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, conn, "self"); got != "a: self" {
		t.Fatalf("the pod's own loopback answered %q", got)
	}
	if ev := rec.last(t); ev.Detail["chains"] != nil || ev.To != "pod:lab8/web-a" {
		t.Errorf("a loopback connection went through the node's rules: %+v", ev)
	}
	// A NodePort's port on loopback is the pod's own port, not the Service.
	if _, err := n.Dial(t.Context(), webA, "tcp", netip.MustParseAddrPort("127.0.0.1:30080"), machine.Origin{}); !errors.Is(err, machine.ErrConnRefused) {
		t.Errorf("loopback port 30080 in a pod that does not listen there: %v, want refused", err)
	}
}

func TestAConnectionGivenUpOnIsRecordedWhenItEnds(t *testing.T) {
	n, rec, _ := testNetwork(t, "")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := n.Dial(ctx, podA, "tcp", netip.MustParseAddrPort("10.244.7.7:80"), machine.Origin{})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	rec.mu.Lock()
	early := len(rec.events)
	rec.mu.Unlock()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted dial: %v", err)
	}
	if early != 0 {
		t.Error("the unanswered connection was recorded before it ended")
	}
	if ev := rec.last(t); ev.Detail["outcome"] != "interrupted" {
		t.Errorf("outcome %v, want interrupted", ev.Detail["outcome"])
	}
}

func TestAClientMayCloseItsSideAndStillReadTheAnswer(t *testing.T) {
	n, _, _ := testNetwork(t, "")
	conn, err := n.Dial(t.Context(), podA, "tcp", netip.MustParseAddrPort("10.244.2.7:80"), machine.Origin{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "half\n"); err != nil {
		t.Fatal(err)
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "b: half\n" {
		t.Fatalf("after closing its side the client read %q, %v", got, err)
	}
}
