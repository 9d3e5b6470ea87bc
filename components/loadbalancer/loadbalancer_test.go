package loadbalancer

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is an HTTPS server standing in for an apiserver: /readyz
// answers as ready says, / names the backend.
type backend struct {
	id    string
	srv   *httptest.Server
	ready atomic.Bool
}

func newBackend(t *testing.T, id string) *backend {
	b := &backend{id: id}
	b.ready.Store(true)
	b.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			if !b.ready.Load() {
				http.Error(w, "[-]etcd failed", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "ok")
			return
		}
		io.WriteString(w, id)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func start(t *testing.T, bs ...*backend) (*LoadBalancer, string, context.CancelFunc, *routes) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var backends []Backend
	for _, b := range bs {
		backends = append(backends, Backend{ID: b.id, Addr: strings.TrimPrefix(b.srv.URL, "https://")})
	}
	r := &routes{}
	ctx, cancel := context.WithCancel(context.Background())
	lb, err := Start(ctx, Config{
		Listener:  ln,
		Backends:  backends,
		HealthTLS: &tls.Config{InsecureSkipVerify: true},
		Interval:  50 * time.Millisecond,
		OnRoute:   func(_ net.Addr, b Backend) { r.add(b.ID) },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-lb.Done() })
	return lb, ln.Addr().String(), cancel, r
}

type routes struct {
	mu  sync.Mutex
	ids []string
}

func (r *routes) add(id string) { r.mu.Lock(); r.ids = append(r.ids, id); r.mu.Unlock() }

// get asks through the load balancer on a new connection each time.
func get(t *testing.T, addr string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true,
	}}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRoundRobinAndHealth(t *testing.T) {
	a, b, c := newBackend(t, "apiserver/cp-1"), newBackend(t, "apiserver/cp-2"), newBackend(t, "apiserver/cp-3")
	lb, addr, _, r := start(t, a, b, c)
	waitFor(t, "all three healthy", func() bool { h := lb.Healthy(); return h[a.id] && h[b.id] && h[c.id] })

	got := map[string]int{}
	for i := 0; i < 6; i++ {
		body, err := get(t, addr)
		if err != nil {
			t.Fatal(err)
		}
		got[body]++
	}
	for _, id := range []string{a.id, b.id, c.id} {
		if got[id] != 2 {
			t.Errorf("six connections reached %v; want two on each backend", got)
		}
	}
	r.mu.Lock()
	heard := len(r.ids)
	r.mu.Unlock()
	if heard != 6 {
		t.Errorf("OnRoute heard %d choices, want 6", heard)
	}

	// A backend failing /readyz is taken out (after Fall checks) and
	// put back (after Rise).
	b.ready.Store(false)
	waitFor(t, "cp-2 taken out", func() bool { return !lb.Healthy()[b.id] })
	for i := 0; i < 6; i++ {
		if body, err := get(t, addr); err != nil || body == b.id {
			t.Fatalf("with cp-2 out a connection reached %q (%v)", body, err)
		}
	}
	b.ready.Store(true)
	waitFor(t, "cp-2 back", func() bool { return lb.Healthy()[b.id] })

	// With none healthy it fails open: the client hears a backend's own
	// answer, not a closed connection.
	for _, x := range []*backend{a, b, c} {
		x.ready.Store(false)
	}
	waitFor(t, "all out", func() bool { h := lb.Healthy(); return !h[a.id] && !h[b.id] && !h[c.id] })
	if body, err := get(t, addr); err != nil || !strings.HasPrefix(body, "apiserver/") {
		t.Fatalf("with every backend out: %q, %v; want a backend's answer", body, err)
	}
}

// A backend taken out loses its open connections (its clients reconnect
// elsewhere), and a stopped load balancer drops all of them and leaves no
// goroutine behind.
func TestShutdownSessionsAndStop(t *testing.T) {
	before := runtime.NumGoroutine()
	a, b := newBackend(t, "a"), newBackend(t, "b")
	lb, addr, cancel, _ := start(t, a, b)
	waitFor(t, "both healthy", func() bool { h := lb.Healthy(); return h["a"] && h["b"] })

	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	which := a
	if strings.HasSuffix(string(buf[:n]), "b") {
		which = b
	}
	which.ready.Store(false)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(buf); err == nil {
		t.Fatal("the connection to a backend taken out stayed open")
	}

	cancel()
	select {
	case <-lb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the load balancer did not stop")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the stopped load balancer still accepts connections")
	}
	a.srv.Close()
	b.srv.Close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// A backend that refuses connections before its checks have taken it out
// is passed over: the client reaches another one.
func TestRedispatchOnRefusal(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lb, err := Start(ctx, Config{
		Listener:  ln,
		Backends:  []Backend{{ID: "a", Addr: strings.TrimPrefix(a.srv.URL, "https://")}, {ID: "b", Addr: strings.TrimPrefix(b.srv.URL, "https://")}},
		HealthTLS: &tls.Config{InsecureSkipVerify: true},
		Interval:  time.Hour, // no check after the first: "a" stays in
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both healthy", func() bool { h := lb.Healthy(); return h["a"] && h["b"] })
	a.srv.Close()
	for i := 0; i < 6; i++ {
		if body, err := get(t, ln.Addr().String()); err != nil || body != "b" {
			t.Fatalf("connection %d with a refusing: %q, %v; want b's answer", i, body, err)
		}
	}
}
