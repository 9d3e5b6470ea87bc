// Package server is Wheelhouse's HTTP face: the pages a browser loads and
// the APIs behind them. It knows nothing of Kubernetes itself; what it
// shows comes from the functions it is given.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/wheelhouse-k8s/wheelhouse/assets"
	"github.com/wheelhouse-k8s/wheelhouse/web"
)

// Options are what the server serves.
type Options struct {
	// Addr is host:port; loopback by default, so a lab machine does not
	// expose its cluster to the network. Off loopback, every route but
	// /healthz needs the admin token (see access.go).
	Addr string
	// Hosts are names, besides IP addresses and localhost, that browsers
	// may use to reach the server (--ui-host); any other Host is refused.
	Hosts []string
	// Status reports the cluster for the status page; nil when there is
	// no cluster (replaying a recording).
	Status func(ctx context.Context) web.Status
	// Trace serves the trace stream and APIs; nil serves none.
	Trace *Trace
	// Mode is "live" (a running cluster) or "replay" (a recording).
	Mode string
	// State reports nodes and pods for the diagram (GET /api/state); nil
	// answers 404, and the page derives what it can from the trace. The
	// pages themselves follow it on their stream (Trace.State).
	State func(ctx context.Context) (ClusterState, error)
	// Etcd backs the etcd browser (GET /api/etcd/…); nil answers 404.
	Etcd EtcdBrowser
	// Without the admin token, Secret values are hidden from the etcd
	// browser and the event inspector (their keys and sizes are shown).
	// Components stops and starts components (/api/components); nil
	// serves none.
	Components Components
	// AdminToken guards everything that runs commands or changes the
	// cluster from the browser.
	AdminToken string
	// Terminal serves the browser's shell (GET /ws/terminal) to clients
	// that present AdminToken as ?token=; nil serves none (404).
	Terminal *Terminal
	// Labs serves the guided labs (GET /api/labs…); nil serves none.
	Labs *Labs
	// Classroom, when set, lets viewers follow the presenter (the pages
	// opened with AdminToken): the viewer key opens the read-only view, and
	// every route needs one key or the other, loopback or not (see
	// classroom.go).
	Classroom *Classroom
	// Containerd reports what a containerd node's containerd sees, next
	// to what its kubelet reports (GET /api/nodes/{node}/containerd); an
	// error wrapping ErrNotFound answers 404, and nil answers 404.
	Containerd func(ctx context.Context, node string) (any, error)
	// NodeRules is a node's iptables as kube-proxy wrote them, in
	// `iptables-save` form (GET /api/nodes/{node}/rules); an error
	// wrapping ErrNotFound answers 404, and nil answers 404.
	NodeRules func(node string) (string, error)
}

// EtcdBrowser reads etcd's keyspace for the UI (reads only: the apiserver
// remains etcd's only writer).
type EtcdBrowser interface {
	Keys(ctx context.Context, prefix string) (any, error)
	// Value hides a Secret's values unless reveal.
	Value(ctx context.Context, key string, rev int64, reveal bool) (any, error)
}

// Server is a running HTTP server.
type Server struct {
	http *http.Server
	addr string
	done chan error
}

// ErrAddrInUse is returned when the UI address is taken.
var ErrAddrInUse = errors.New("address in use")

// Handler builds the router.
func Handler(opts Options) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(func(next http.Handler) http.Handler { return checkHost(opts.Hosts, next) })
	if opts.Classroom != nil || (opts.Addr != "" && !IsLoopback(opts.Addr)) {
		r.Use(func(next http.Handler) http.Handler { return requireKey(opts.AdminToken, opts.Classroom, next) })
	}
	mode := opts.Mode
	if mode == "" {
		mode = "live"
	}
	r.Get("/", uiPage(mode, "", opts.AdminToken, opts.Classroom))
	r.Get("/present", uiPage(mode, "present", opts.AdminToken, opts.Classroom))
	r.Get("/api/state", jsonAPI(opts.state))
	r.Get("/api/etcd/keys", jsonAPI(opts.etcdKeys))
	r.Get("/api/etcd/value", jsonAPI(opts.etcdValue))
	r.Get("/api/nodes/{node}/containerd", jsonAPI(opts.containerd))
	r.Get("/api/nodes/{node}/rules", jsonAPI(opts.nodeRules))
	r.Get("/status", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
		defer cancel()
		status := web.Status{Error: "No cluster: this is a recorded trace being replayed."}
		if opts.Status != nil {
			status = opts.Status(ctx)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := web.StatusPage(status).Render(ctx, w); err != nil {
			http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		}
	})
	if opts.Trace != nil {
		opts.Trace.labs = opts.Labs // a page follows its lab step's checks on its stream
		opts.Trace.classroom, opts.Trace.token = opts.Classroom, opts.AdminToken
		opts.Trace.routes(r, opts.AdminToken)
	}
	if opts.Labs != nil {
		opts.Labs.routes(r)
	}
	if opts.Terminal != nil {
		r.Get("/ws/terminal", opts.Terminal.handler(opts.AdminToken))
	}
	if opts.Classroom != nil {
		opts.Classroom.routes(r, opts.AdminToken)
	}
	opts.componentRoutes(r)
	opts.debugRoutes(r)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	r.Handle("/assets/*", http.StripPrefix("/assets/", http.FileServerFS(assets.FS)))
	r.Handle("/favicon.ico", http.NotFoundHandler())
	return r
}

// uiPage serves the browser app in one of its views, in the language of
// ?lang= (zh, else English). Opened with the admin token, it also gives
// the browser the token's cookie; opened with the viewer key, the key's.
// The page is told its role: "presenter" (the admin token, with a
// classroom), "viewer", or "" (a page on loopback, or the admin without a
// classroom). The role only shapes the page: the server refuses a viewer
// whatever the page asks.
func uiPage(mode, view, token string, classroom *Classroom) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		rememberToken(w, req, token)
		classroom.rememberViewer(w, req)
		lang := "en"
		if req.URL.Query().Get("lang") == "zh" {
			lang = "zh"
		}
		role := ""
		switch {
		case classroom == nil:
		case isAdmin(req, token):
			role = "presenter"
		case classroom.isViewer(req):
			role = "viewer"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := web.UIPage(mode, lang, view, role).Render(req.Context(), w); err != nil {
			http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		}
	}
}

// Listen claims the UI's address. It is separate from Serve so that
// `wheelhouse up` can fail at once on a taken address, before it starts a
// cluster.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %s is already in use; choose another with --ui-addr", ErrAddrInUse, addr)
		}
		return nil, fmt.Errorf("listening on %s for the UI: %w", addr, err)
	}
	return l, nil
}

// Start listens on opts.Addr and serves until ctx ends.
func Start(ctx context.Context, opts Options) (*Server, error) {
	l, err := Listen(opts.Addr)
	if err != nil {
		return nil, err
	}
	return Serve(ctx, l, opts), nil
}

// Serve serves on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = l.Addr().String()
	}
	s := &Server{
		http: &http.Server{Handler: Handler(opts), ReadHeaderTimeout: 10 * time.Second},
		addr: l.Addr().String(),
		done: make(chan error, 1),
	}
	go func() { s.done <- s.http.Serve(l) }()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.http.Shutdown(shutdown)
	}()
	return s
}

// URL is the address a browser on this machine opens: for a server on
// every interface (0.0.0.0, ::), its loopback address.
func (s *Server) URL() string {
	addr := s.addr
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return "http://" + addr + "/"
}
