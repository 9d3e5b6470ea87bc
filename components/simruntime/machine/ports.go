package machine

import (
	"io"
	"sync"
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

// listen binds port for as long as the server runs; the returned function
// closes it. A port already bound stays with its first server (the
// second's bind fails, as a real one's would with EADDRINUSE).
func (p *Ports) listen(port int32, l Listener) (closePort func(), ok bool) {
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

// ListenPorts binds a server's ports for its process's lifetime.
func (proc *Process) ListenPorts(h PortHandler, ports ...int32) (closePorts func()) {
	var closers []func()
	for _, port := range ports {
		if c, ok := proc.Machine.Ports.listen(port, Listener{Serve: h, Ended: proc.Machine.Ctx.Done()}); ok {
			closers = append(closers, c)
		}
	}
	return func() {
		for _, c := range closers {
			c()
		}
	}
}
