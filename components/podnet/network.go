// Package podnet is the pod network of the simulated runtime's pods: a
// program in one pod that connects to an address reaches what listens
// there in another pod, after the source node's kube-proxy rules have had
// their say (Rules), and every connection is a `net` event in the trace.
//
// A packet goes where Linux would send it. To a Service's ClusterIP or a
// NodePort, the source node's rules, as its kube-proxy last wrote them,
// pick an endpoint (DNAT) or refuse (REJECT); the rules are the node's,
// not the kube-proxy's, so a node whose kube-proxy is stopped keeps
// routing by its stale rules, as a real node keeps its iptables. Then the
// destination address: a pod's that listens on the port accepts; a pod's
// that does not answers "connection refused"; an address nobody has never
// answers (the client times out).
package podnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Network is the cluster's pod network.
type Network struct {
	publish func(tracing.Event) // nil: nothing is traced

	mu    sync.RWMutex
	pods  map[netip.Addr]*Pod
	nodes map[string]*node
}

type node struct {
	addrs  []netip.Addr  // the node's own addresses (--dst-type LOCAL)
	rules  func() string // the node's tables in iptables-save form ("": none yet)
	mu     sync.Mutex    // guards parsed
	text   string        // what parsed was parsed from
	parsed *Rules
}

// A Pod is one pod's place on the network: its address and the ports its
// containers' servers listen on.
type Pod struct {
	Namespace, Name, Node string
	IP                    netip.Addr
	Ports                 *machine.Ports
}

func (p *Pod) key() string { return p.Namespace + "/" + p.Name }

// New is an empty network. publish, when set, receives each connection's
// `net` event.
func New(publish func(tracing.Event)) *Network {
	return &Network{publish: publish, pods: map[netip.Addr]*Pod{}, nodes: map[string]*node{}}
}

// AddNode declares a node: its own addresses and where its rules are read
// (the node's in-memory iptables, which kube-proxy writes).
func (n *Network) AddNode(name string, addrs []netip.Addr, rules func() string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[name] = &node{addrs: addrs, rules: rules}
}

// Attach puts a pod on the network until detach is called (its sandbox
// stopped and its address was released).
func (n *Network) Attach(p Pod) (detach func()) {
	pod := &p
	n.mu.Lock()
	n.pods[p.IP] = pod
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.pods[p.IP] == pod {
			delete(n.pods, p.IP)
		}
	}
}

var _ machine.Network = (*Network)(nil)

// Dial opens a connection from the pod at src to dst, or says why not
// (machine.ErrConnRefused, machine.ErrConnTimedOut). A destination that
// never answers blocks until ctx ends (the caller's connect timeout).
// origin says what runs the program that connects.
func (n *Network) Dial(ctx context.Context, src netip.Addr, proto string, dst netip.AddrPort, origin machine.Origin) (io.ReadWriteCloser, error) {
	c, err := n.begin(src, proto, "connect", dst, origin)
	if err != nil {
		return nil, err
	}
	target, to, err := n.deliver(ctx, c)
	if err != nil {
		return nil, err
	}
	l, ok := target.Ports.Listener(int32(to.Port()))
	if !ok {
		c.finish("refused", machine.ErrConnRefused)
		return nil, machine.ErrConnRefused
	}
	client, server := newConnPair(c.from.IP.String())
	go func() {
		defer server.Close()
		done := make(chan struct{})
		go func() {
			// The server's container ends: its connections are cut, as
			// its network namespace's end would cut them.
			select {
			case <-l.Ended:
				server.Close()
			case <-done:
			}
		}()
		l.Serve(server)
		close(done)
	}()
	c.finish("connected", nil)
	return client, nil
}

// Exchange sends one UDP datagram from the pod at src to dst and returns
// the answer, or says why there is none, as Dial does. A datagram to port
// 53 is a DNS query: its event (verb "query") says what was asked and
// what came back.
func (n *Network) Exchange(ctx context.Context, src netip.Addr, dst netip.AddrPort, datagram []byte, origin machine.Origin) ([]byte, error) {
	verb := "send"
	q, isDNS := dnsQuestion(datagram, dst)
	if isDNS {
		verb = "query"
	}
	c, err := n.begin(src, "udp", verb, dst, origin)
	if err != nil {
		return nil, err
	}
	if isDNS {
		c.detail["dns"] = q
	}
	target, to, err := n.deliver(ctx, c)
	if err != nil {
		return nil, err
	}
	h, ok := target.Ports.UDPListener(int32(to.Port()))
	if !ok {
		c.finish("refused", machine.ErrConnRefused)
		return nil, machine.ErrConnRefused
	}
	answer := h(ctx, datagram, c.from.IP.String())
	if answer == nil {
		return nil, unanswered(ctx, c.finish)
	}
	if isDNS {
		c.status = dnsAnswer(q, answer)
	}
	c.finish("answered", nil)
	return answer, nil
}

// conn is one connection (or datagram) in flight, and its trace event.
type conn struct {
	n      *Network
	from   *Pod
	proto  string
	dst    netip.AddrPort
	ev     tracing.Event
	detail map[string]any
	// status, when set, is the event's status instead of its outcome (a
	// DNS answer's rcode).
	status string
}

// begin starts the event of a connection or datagram. Its cause is left
// to the trace's linker, which knows the exec or container start that
// origin names (the container's id, and whether an exec runs the
// program).
func (n *Network) begin(src netip.Addr, proto, verb string, dst netip.AddrPort, origin machine.Origin) (*conn, error) {
	n.mu.RLock()
	from := n.pods[src]
	n.mu.RUnlock()
	if from == nil {
		return nil, fmt.Errorf("sending from %s: the address is on no pod", src)
	}
	c := &conn{
		n: n, from: from, proto: proto, dst: dst,
		ev: tracing.Event{
			Time: time.Now(), Kind: tracing.KindNet, Verb: verb, Resource: "pods", Namespace: from.Namespace, Name: from.Name,
			From: PodID(from.Namespace, from.Name),
		},
		detail: map[string]any{"protocol": proto, "src": src.String(), "srcNode": from.Node, "dst": dst.String()},
	}
	if origin.Container != "" {
		c.detail["containerId"] = origin.Container
		c.detail["exec"] = origin.Exec
	}
	c.ev.Detail = c.detail
	return c, nil
}

// finish records how the connection ended (or began) and publishes its
// event.
func (c *conn) finish(outcome string, err error) {
	c.detail["outcome"] = outcome
	if err != nil && outcome == "error" {
		c.detail["error"] = err.Error()
	}
	c.ev.Status = outcome
	if c.status != "" {
		c.ev.Status = c.status
	}
	c.ev.Summary = summary(c.from, c.proto, c.dst, c.detail, c.ev.Status)
	if c.n.publish != nil {
		c.n.publish(c.ev)
	}
}

// deliver takes the first packet where Linux would: through the source
// node's rules to the pod that has the address it ends up with. Where it
// goes nowhere (rejected, dropped, an address nobody has), deliver
// records that and returns the error the client sees.
func (n *Network) deliver(ctx context.Context, c *conn) (*Pod, netip.AddrPort, error) {
	to := c.dst
	if c.dst.Addr().IsLoopback() || c.dst.Addr() == c.from.IP {
		// The pod's own loopback or address never leaves it: no node's
		// rules see the packet.
		to = netip.AddrPortFrom(c.from.IP, c.dst.Port())
	} else {
		route, routed, err := n.route(c.from, c.proto, c.dst)
		if err != nil {
			c.finish("error", err)
			return nil, to, err
		}
		if routed {
			c.detail["chains"] = route.Chains()
			c.detail["rules"] = route.Hops
			c.detail["verdict"] = string(route.Verdict)
			switch route.Verdict {
			case Rejected:
				c.finish("refused", machine.ErrConnRefused)
				return nil, to, machine.ErrConnRefused
			case Dropped:
				return nil, to, unanswered(ctx, c.finish)
			}
			to = route.To
		}
	}
	c.detail["endpoint"] = to.String()
	n.mu.RLock()
	target := n.pods[to.Addr()]
	n.mu.RUnlock()
	if target == nil {
		// Nobody has the address: the packet goes unanswered.
		return nil, to, unanswered(ctx, c.finish)
	}
	c.ev.To = PodID(target.Namespace, target.Name)
	c.detail["endpointPod"] = target.key()
	c.detail["endpointNode"] = target.Node
	return target, to, nil
}

// unanswered waits for the caller to give up on a connection nobody
// answers, then records how it ended: "timed out" (the caller's timeout)
// or "interrupted" (the program was stopped first).
func unanswered(ctx context.Context, finish func(string, error)) error {
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		finish("timed out", machine.ErrConnTimedOut)
		return machine.ErrConnTimedOut
	}
	finish("interrupted", ctx.Err())
	return ctx.Err()
}

// connEnd is one end of a connection between two pods: what one writes
// the other reads, each direction a pipe of its own, so that an end can
// close its writing side alone (shutdown(SHUT_WR): `echo hi | nc` ends its
// request and still reads the answer). The server's end knows the
// client's address, which servers write to their access logs.
type connEnd struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	peer string
}

func newConnPair(clientAddr string) (client, server *connEnd) {
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	return &connEnd{r: toClient, w: fromClient}, &connEnd{r: toServer, w: fromServer, peer: clientAddr}
}

func (c *connEnd) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *connEnd) Write(b []byte) (int, error) { return c.w.Write(b) }

// CloseWrite ends what this side sends; the peer reads EOF.
func (c *connEnd) CloseWrite() error { return c.w.Close() }

// Close ends both directions; the peer's reads and writes fail.
func (c *connEnd) Close() error {
	_ = c.w.Close()
	return c.r.CloseWithError(io.ErrClosedPipe)
}

// PeerAddr is the client's address, on the server's end.
func (c *connEnd) PeerAddr() string {
	if c.peer == "" {
		return "127.0.0.1"
	}
	return c.peer
}

// route runs the packet through the source node's rules; routed is false
// when the node has none (yet).
func (n *Network) route(from *Pod, proto string, dst netip.AddrPort) (Route, bool, error) {
	n.mu.RLock()
	nd := n.nodes[from.Node]
	n.mu.RUnlock()
	if nd == nil || nd.rules == nil {
		return Route{}, false, nil
	}
	text := nd.rules()
	if text == "" {
		return Route{}, false, nil
	}
	nd.mu.Lock()
	if nd.text != text || nd.parsed == nil {
		parsed, err := ParseRules(text)
		if err != nil {
			nd.mu.Unlock()
			return Route{}, false, err
		}
		nd.text, nd.parsed = text, parsed
	}
	rules := nd.parsed
	nd.mu.Unlock()
	local := func(a netip.Addr) bool {
		for _, x := range nd.addrs {
			if x == a {
				return true
			}
		}
		return false
	}
	r, err := rules.Route(Packet{Protocol: proto, Src: from.IP, Dst: dst}, local, nil)
	return r, err == nil, err
}

// PodID is a pod's id as the source or destination of a `net` event:
// "pod:<namespace>/<name>".
func PodID(namespace, name string) string { return "pod:" + namespace + "/" + name }

func summary(from *Pod, proto string, dst netip.AddrPort, detail map[string]any, outcome string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s → %s", from.key(), proto, dst)
	if ep, ok := detail["endpoint"].(string); ok && ep != dst.String() {
		fmt.Fprintf(&b, " (DNAT to %s", ep)
		if pod, ok := detail["endpointPod"].(string); ok {
			fmt.Fprintf(&b, ", pod %s", pod)
		}
		b.WriteString(")")
	} else if pod, ok := detail["endpointPod"].(string); ok {
		fmt.Fprintf(&b, " (pod %s)", pod)
	}
	b.WriteString(": " + outcome)
	return b.String()
}
