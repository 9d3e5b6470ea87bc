package machine

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"sync"
)

// A Network carries a pod's connections to other pods' ports (package
// podnet's). A pod without one reaches nothing.
type Network interface {
	// Dial connects from the pod at src to dst over proto ("tcp"),
	// or fails with ErrConnRefused, ErrConnTimedOut (once ctx ends, for
	// an address that never answers) or another error. origin is what
	// runs the program that connects.
	Dial(ctx context.Context, src netip.Addr, proto string, dst netip.AddrPort, origin Origin) (io.ReadWriteCloser, error)
	// Exchange sends one UDP datagram from the pod at src to dst and
	// waits for the one that answers it (a DNS query and its reply), or
	// fails as Dial does: ErrConnRefused (nothing listens on the port: the
	// ICMP port unreachable a connected UDP socket reports as refused),
	// ErrConnTimedOut once ctx ends with no answer.
	Exchange(ctx context.Context, src netip.Addr, dst netip.AddrPort, datagram []byte, origin Origin) ([]byte, error)
}

// Origin is what runs a program: its container, and whether a kubectl
// exec session started it (or one of its ancestors) rather than the
// container's own command. The trace links the program's connections to
// that exec or container start by it.
type Origin struct {
	Container string // the container's id
	Exec      bool
}

// Origin is where the process comes from.
func (proc *Process) Origin() Origin {
	return Origin{Container: proc.Machine.ContainerID, Exec: proc.InExec}
}

// What a connection ends with, in the words programs print: the C
// library's strerror texts, capitalised as busybox prints them.
var (
	//lint:ignore ST1005 strerror(ECONNREFUSED), printed as is
	ErrConnRefused = errors.New("Connection refused")
	//lint:ignore ST1005 strerror(ETIMEDOUT), printed as is
	ErrConnTimedOut = errors.New("Connection timed out")
)

// Ports: what a simulated server listens on inside its pod, so that
// `kubectl port-forward` reaches it. The pod has no network of its own;
// a port-forward stream is handed straight to the server listening on the
// port, as containerd hands it to a socket in the pod's network
// namespace.

// A PortHandler serves one connection to a port, until it ends.
type PortHandler func(conn io.ReadWriter)

// A DatagramHandler answers one datagram that arrived on a UDP port from
// the client at peer; a nil answer is none (the client times out).
type DatagramHandler func(ctx context.Context, datagram []byte, peer string) []byte

// Ports is a pod's listening sockets, shared by its containers as their
// network namespace is: TCP ports (Bind) and UDP ones (BindUDP), which
// are separate, as a port number is per protocol.
type Ports struct {
	mu     sync.Mutex
	byPort map[int32]Listener
	udp    map[int32]DatagramHandler
}

// A Listener is a bound port: who serves it, and until when (the
// container's end cuts its connections, as a network namespace's end
// does).
type Listener struct {
	Serve PortHandler
	Ended <-chan struct{}
}

// NewPorts is a pod's table, empty until its servers start.
func NewPorts() *Ports {
	return &Ports{byPort: map[int32]Listener{}, udp: map[int32]DatagramHandler{}}
}

// BindUDP binds a UDP port until closePort is called; like Bind, a port
// already bound stays with its first server.
func (p *Ports) BindUDP(port int32, h DatagramHandler) (closePort func(), ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, taken := p.udp[port]; taken {
		return func() {}, false
	}
	p.udp[port] = h
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			delete(p.udp, port)
		})
	}, true
}

// UDPListener is who answers datagrams to a UDP port, if anyone does.
func (p *Ports) UDPListener(port int32) (DatagramHandler, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.udp[port]
	return h, ok
}

// Bind binds port for as long as the server runs; the returned function
// closes it. A port already bound stays with its first server (the
// second's bind fails, as a real one's would with EADDRINUSE).
func (p *Ports) Bind(port int32, l Listener) (closePort func(), ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, taken := p.byPort[port]; taken {
		return func() {}, false
	}
	p.byPort[port] = l
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.byPort, port)
	}, true
}

// Listener is who listens on port, if anyone does.
func (p *Ports) Listener(port int32) (Listener, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.byPort[port]
	return l, ok
}

// Listen binds one port until closePort is called or the process ends
// (nc -l), or reports that another server has it.
func (proc *Process) Listen(h PortHandler, port int32) (closePort func(), ok bool) {
	return proc.Machine.Ports.Bind(port, Listener{Serve: h, Ended: proc.Context().Done()})
}

// A PeerConn is a connection that knows its client's address (one over
// the pod network; a port-forward's comes from inside the pod).
type PeerConn interface {
	PeerAddr() string
}

// PeerAddr is the client address of a connection a server accepted.
func PeerAddr(conn io.ReadWriter) string {
	if pc, ok := conn.(PeerConn); ok {
		return pc.PeerAddr()
	}
	return "127.0.0.1"
}

// ListenPorts binds a server's ports for its process's lifetime.
func (proc *Process) ListenPorts(h PortHandler, ports ...int32) (closePorts func()) {
	var closers []func()
	for _, port := range ports {
		if c, ok := proc.Machine.Ports.Bind(port, Listener{Serve: h, Ended: proc.Machine.Ctx.Done()}); ok {
			closers = append(closers, c)
		}
	}
	return func() {
		for _, c := range closers {
			c()
		}
	}
}
