// Package loadbalancer is the TCP load balancer in front of the
// apiservers of a highly available control plane, as kind puts haproxy in
// front of its control-plane nodes: it accepts connections on the
// cluster's API port, sends each to a healthy apiserver in turn, and
// health-checks every apiserver's /readyz, taking a failing one out and
// putting it back once it answers again. TLS passes through untouched, so
// every client still authenticates to the apiserver itself.
//
// A backend taken out has its connections closed at once (haproxy's
// "on-marked-down shutdown-sessions"): its clients reconnect, and the new
// connections go to healthy apiservers. Without it a client whose HTTP/2
// connection happened to reach an apiserver that lost its etcd member
// would stay on that apiserver, failing, for as long as the connection
// lasts.
//
// The proxying is github.com/inetaf/tcpproxy's (as k3s's agent load
// balancer uses it); this package adds the backend choice, the health
// checks, and a Close that drops every connection, as a stopped haproxy
// would.
package loadbalancer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/inetaf/tcpproxy"
	"k8s.io/klog/v2"
)

// Backend is one apiserver.
type Backend struct {
	// ID is its component id (apiserver/cp-1).
	ID string
	// Addr is where it listens (127.0.0.1:6444).
	Addr string
}

// Config configures a load balancer.
type Config struct {
	// Listener is where clients connect (the cluster's API port). The
	// load balancer closes it when it stops.
	Listener net.Listener
	Backends []Backend
	// HealthTLS verifies the apiservers' serving certificates in the
	// health checks (GET /readyz, which the apiserver lets anyone read).
	HealthTLS *tls.Config
	// Interval is how often each backend is checked (default 1 s); Fall
	// failed checks in a row take it out (default 2) and Rise good ones
	// put it back (default 2), as haproxy's "inter 1s fall 2 rise 2".
	Interval   time.Duration
	Fall, Rise int
	// Timeout bounds one check (default 1 s).
	Timeout time.Duration
	// UserAgent names the health checks to the apiservers (and so in the
	// trace).
	UserAgent string
	// OnRoute, if set, hears which backend each client connection was
	// sent to.
	OnRoute func(client net.Addr, backend Backend)
	// OnHealth, if set, hears a backend taken out (healthy false) or put
	// back, with why.
	OnHealth func(backend Backend, healthy bool, reason string)
}

// LoadBalancer is a running load balancer.
type LoadBalancer struct {
	cfg    Config
	log    klog.Logger
	proxy  *tcpproxy.Proxy
	client *http.Client

	mu      sync.Mutex
	healthy map[string]bool
	streak  map[string]int // good (>0) or failed (<0) checks in a row
	next    int
	conns   map[net.Conn]string // open connections, client and apiserver side, by backend id
	closed  bool

	done chan struct{}
	err  error
}

// Start listens, starts checking the backends and returns once at least
// one is healthy (or ctx ends). The load balancer runs until ctx ends.
func Start(ctx context.Context, cfg Config) (*LoadBalancer, error) {
	if cfg.Listener == nil || len(cfg.Backends) == 0 {
		return nil, errors.New("load balancer: a listener and at least one backend are required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Fall == 0 {
		cfg.Fall = 2
	}
	if cfg.Rise == 0 {
		cfg.Rise = 2
	}
	lb := &LoadBalancer{
		cfg: cfg,
		log: klog.FromContext(ctx),
		client: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: &http.Transport{TLSClientConfig: cfg.HealthTLS, DisableKeepAlives: true},
		},
		healthy: map[string]bool{},
		streak:  map[string]int{},
		conns:   map[net.Conn]string{},
		done:    make(chan struct{}),
	}
	ln := cfg.Listener
	lb.proxy = &tcpproxy.Proxy{ListenFunc: func(string, string) (net.Listener, error) { return ln, nil }}
	lb.proxy.AddRoute(ln.Addr().String(), lb)
	if err := lb.proxy.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	checks := make(chan struct{})
	go func() {
		defer close(checks)
		lb.check(ctx) // first round at once: clients should not wait a second
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				lb.check(ctx)
			}
		}
	}()
	go func() {
		<-ctx.Done()
		lb.closeAll()
		<-checks
		lb.client.CloseIdleConnections()
		close(lb.done)
	}()
	for {
		if lb.anyHealthy() {
			return lb, nil
		}
		select {
		case <-ctx.Done():
			<-lb.done
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Done is closed once the load balancer has stopped and dropped every
// connection; Err is nil then, as stopping is its only way to end.
func (lb *LoadBalancer) Done() <-chan struct{} { return lb.done }
func (lb *LoadBalancer) Err() error            { return lb.err }

// Healthy says which backends are in, by id.
func (lb *LoadBalancer) Healthy() map[string]bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := make(map[string]bool, len(lb.healthy))
	for k, v := range lb.healthy {
		out[k] = v
	}
	return out
}

func (lb *LoadBalancer) anyHealthy() bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, ok := range lb.healthy {
		if ok {
			return true
		}
	}
	return false
}

// check asks every backend's /readyz at once and applies fall and rise. A
// backend starts out, so the first good answer puts it in at once (no
// client is waiting on a backend that has never answered).
func (lb *LoadBalancer) check(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range lb.cfg.Backends {
		wg.Go(func() {
			err := lb.probe(ctx, b)
			if ctx.Err() != nil {
				return
			}
			lb.record(b, err)
		})
	}
	wg.Wait()
}

func (lb *LoadBalancer) probe(ctx context.Context, b Backend) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+b.Addr+"/readyz", nil)
	if err != nil {
		return err
	}
	if lb.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", lb.cfg.UserAgent)
	}
	resp, err := lb.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %s", resp.Status)
	}
	return nil
}

func (lb *LoadBalancer) record(b Backend, err error) {
	lb.mu.Lock()
	was, seen := lb.healthy[b.ID]
	s := lb.streak[b.ID]
	if err == nil {
		s = max(s, 0) + 1
	} else {
		s = min(s, 0) - 1
	}
	lb.streak[b.ID] = s
	now := was
	switch {
	case err == nil && (!seen || s >= lb.cfg.Rise):
		now = true
	case err != nil && (!seen || -s >= lb.cfg.Fall):
		now = false
	}
	lb.healthy[b.ID] = now
	lb.mu.Unlock()
	if seen && now == was || !seen && !now {
		return
	}
	reason := "/readyz OK"
	if err != nil {
		reason = err.Error()
	}
	// A backend taken out loses its connections, so their clients
	// reconnect to a healthy one; with none healthy there is nowhere
	// better to go (see pick), and the requests in flight are left to
	// end with the apiserver's own answer.
	dropped := 0
	if !now && lb.anyHealthy() {
		dropped = lb.shutdownSessions(b.ID) / 2 // each is two connections
	}
	lb.log.Info("Backend health changed", "backend", b.ID, "healthy", now, "reason", reason, "connectionsClosed", dropped)
	if lb.cfg.OnHealth != nil {
		lb.cfg.OnHealth(b, now, reason)
	}
}

// pick chooses the next healthy backend in turn (haproxy's roundrobin).
// When none is healthy it chooses among all, as Envoy does in its panic
// mode: an apiserver that fails /readyz because etcd has lost its quorum
// still answers, and the client sees the apiserver's own error ("etcdserver:
// request timed out") rather than a connection closed by the balancer.
func (lb *LoadBalancer) pick() (Backend, bool) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	n := len(lb.cfg.Backends)
	for _, failOpen := range []bool{false, true} {
		for i := 0; i < n; i++ {
			b := lb.cfg.Backends[(lb.next+i)%n]
			if failOpen || lb.healthy[b.ID] {
				lb.next = (lb.next + i + 1) % n
				return b, true
			}
		}
	}
	return Backend{}, false
}

// track remembers a connection so Close can drop it; it refuses (and
// closes) one that arrives while the load balancer stops.
func (lb *LoadBalancer) track(c net.Conn, backend string) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		c.Close()
		return false
	}
	lb.conns[c] = backend
	return true
}

// shutdownSessions closes every connection of a backend taken out.
func (lb *LoadBalancer) shutdownSessions(backend string) int {
	lb.mu.Lock()
	var drop []net.Conn
	for c, b := range lb.conns {
		if b == backend {
			drop = append(drop, c)
		}
	}
	lb.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
	return len(drop)
}

func (lb *LoadBalancer) untrack(c net.Conn) {
	lb.mu.Lock()
	delete(lb.conns, c)
	lb.mu.Unlock()
}

func (lb *LoadBalancer) closeAll() {
	_ = lb.proxy.Close() // the listener
	lb.mu.Lock()
	lb.closed = true
	conns := lb.conns
	lb.conns = map[net.Conn]string{}
	lb.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// HandleConn is the tcpproxy.Target: one client connection, proxied to
// the backend chosen for it. A backend that does not accept the
// connection closes it, which clients see as the apiserver being
// unreachable.
func (lb *LoadBalancer) HandleConn(src net.Conn) {
	// A backend that refuses the connection (an apiserver that has just
	// stopped, before two failed checks take it out) is passed over for
	// the next, as haproxy's "option redispatch" with retries does, so
	// the client never sees the refusal.
	var b Backend
	var dst net.Conn
	for range lb.cfg.Backends {
		var ok bool
		if b, ok = lb.pick(); !ok {
			break
		}
		var d net.Dialer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := d.DialContext(ctx, "tcp", b.Addr)
		cancel()
		if err == nil {
			dst = c
			break
		}
		lb.log.V(2).Info("Dialling an apiserver failed; trying the next", "backend", b.ID, "err", err)
	}
	if dst == nil {
		src.Close()
		return
	}
	if !lb.track(src, b.ID) {
		dst.Close()
		return
	}
	defer lb.untrack(src)
	if lb.cfg.OnRoute != nil {
		lb.cfg.OnRoute(src.RemoteAddr(), b)
	}
	if !lb.track(dst, b.ID) {
		src.Close()
		dst.Close()
		return
	}
	defer lb.untrack(dst)
	// The connection is open already; tcpproxy copies both ways.
	dp := &tcpproxy.DialProxy{
		Addr:        b.Addr,
		DialTimeout: -1,
		DialContext: func(context.Context, string, string) (net.Conn, error) { return dst, nil },
		OnDialError: func(src net.Conn, err error) {
			lb.log.V(2).Info("Dialling an apiserver failed", "backend", b.ID, "err", err)
			src.Close()
		},
	}
	dp.HandleConn(src)
}
