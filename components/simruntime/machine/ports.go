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
	// an address that never answers) or another error. cause is the seq
	// of the trace event that started the program (0: unknown).
	Dial(ctx context.Context, src netip.Addr, proto string, dst netip.AddrPort, cause uint64) (io.ReadWriteCloser, error)
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

// Ports is a pod's listening sockets, shared by its containers as their
// network namespace is.
type Ports struct {
	mu     sync.Mutex
	byPort map[int32]Listener
}

// A Listener is a bound port: who serves it, and until when (the
// container's end cuts its connections, as a network namespace's end
// does).
type Listener struct {
	Serve PortHandler
	Ended <-chan struct{}
}

// NewPorts is a pod's table, empty until its servers start.
func NewPorts() *Ports { return &Ports{byPort: map[int32]Listener{}} }

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
