package collect

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/endpoints/responsewriter"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/kdecode"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/link"
)

// APIServer records every request the apiserver serves. It is two
// filters: Outer wraps the whole handler chain, so it also sees requests
// refused by authentication (401), authorization (403) or priority and
// fairness (429); Inner runs after those, where the authenticated user and
// the parsed request are known.
type APIServer struct {
	sink Sink
	now  func() time.Time
	// infos parses a refused request's path the way the apiserver would
	// have, to say what it asked for.
	infos *request.RequestInfoFactory
}

// NewAPIServer returns the apiserver collector.
func NewAPIServer(sink Sink) *APIServer {
	return &APIServer{sink: sink, now: time.Now, infos: &request.RequestInfoFactory{
		APIPrefixes:          sets.NewString("api", "apis"),
		GrouplessAPIPrefixes: sets.NewString("api"),
	}}
}

type requestKey struct{}

// exchange is what the two filters learn about one request.
type exchange struct {
	start time.Time
	// server is the component id of the apiserver serving it
	// ("apiserver", or "apiserver/cp-2" on an HA control plane).
	server string

	mu      sync.Mutex
	reached bool // the request passed authn, authz and APF
	emitted bool // a long-running request's event went out early
	// toKubelet is set for a request passed on to a kubelet, whose event
	// went out on arrival.
	toKubelet  bool
	component  string
	user       string
	groups     []string
	controller string
	info       *request.RequestInfo
	requestID  uint64
	body       *bodyCapture
}

// maxCapturedBody bounds what is kept of a write's response to learn the
// object's name and resourceVersion.
const maxCapturedBody = 1 << 20

// Filters returns the two filters for the apiserver whose component id is
// server; every apiserver of an HA control plane gets its own.
func (a *APIServer) Filters(server string) (inner, outer func(http.Handler) http.Handler) {
	return a.Inner, func(next http.Handler) http.Handler { return a.outer(server, next) }
}

// Outer is the outermost filter of the one apiserver ("apiserver").
func (a *APIServer) Outer(next http.Handler) http.Handler { return a.outer(tracing.APIServer, next) }

func (a *APIServer) outer(server string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := &exchange{start: a.now(), server: server}
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, ex))
		rec := &statusRecorder{ResponseWriter: w}
		rec.onHeader = func(code int) {
			// A watch's request event goes out when its response starts:
			// the watch itself may last for an hour.
			ex.mu.Lock()
			long := ex.reached && ex.info != nil && ex.info.Verb == "watch"
			ex.mu.Unlock()
			if long {
				a.emit(ex, r, code, 0, true)
			}
		}
		next.ServeHTTP(responsewriter.WrapForHTTP1Or2(rec), r)
		ex.mu.Lock()
		failed := ex.toKubelet && rec.status() >= 400
		if failed {
			// Its event went out on arrival; a failure (the container
			// not started yet, no such container, the kubelet
			// unreachable) is an event of its own, so the trace shows it.
			ex.emitted, ex.toKubelet = false, false
		}
		ex.mu.Unlock()
		a.emit(ex, r, rec.status(), rec.bytes, false)
	})
}

// Inner runs after authentication and authorization.
func (a *APIServer) Inner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex, _ := r.Context().Value(requestKey{}).(*exchange)
		if ex == nil {
			next.ServeHTTP(w, r)
			return
		}
		info, _ := request.RequestInfoFrom(r.Context())
		u, _ := request.UserFrom(r.Context())
		var user string
		var groups []string
		if u != nil {
			user, groups = u.GetName(), u.GetGroups()
		}
		component, controller := tracing.Identity(user, groups, r.UserAgent())
		if component == tracing.APIServer {
			component = ex.server // its own loopback client
		}
		ex.mu.Lock()
		ex.reached, ex.info, ex.user, ex.groups = true, info, user, groups
		ex.component, ex.controller = component, controller
		ex.mu.Unlock()

		switch {
		case info != nil && info.IsResourceRequest && info.Resource == "pods" && tracing.ProxiedToKubelet(info.Subresource):
			// The apiserver passes this request on to the pod's kubelet,
			// which asks its runtime for a stream: the request's event
			// goes out now, before the events it causes (an exec ends
			// only with its session).
			ex.mu.Lock()
			ex.toKubelet = true
			ex.mu.Unlock()
			a.emit(ex, r, 0, 0, true)
		case info != nil && info.IsResourceRequest:
			switch info.Verb {
			case "create", "update", "patch", "delete":
				id := a.sink.NextRequestID()
				a.sink.BeginWrite(link.WriteBegin{ID: id, Component: component,
					Resource: info.Resource, Namespace: info.Namespace, Name: info.Name})
				body := &bodyCapture{ResponseWriter: w}
				ex.mu.Lock()
				ex.requestID, ex.body = id, body
				ex.mu.Unlock()
				w = responsewriter.WrapForHTTP1Or2(body)
			case "watch":
				tap := &watchTap{ResponseWriter: w, a: a, server: ex.server, watcher: component, resource: info.Resource, path: r.URL.RequestURI()}
				defer tap.close()
				w = responsewriter.WrapForHTTP1Or2(tap)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// emit sends the request's event; for a watch it is sent when the
// response starts (early) and not again at the end, and for a request the
// apiserver passes on to a kubelet as it arrives (early, status 0).
func (a *APIServer) emit(ex *exchange, r *http.Request, status int, size int64, early bool) {
	ex.mu.Lock()
	if ex.emitted {
		ex.mu.Unlock()
		return
	}
	ex.emitted = true
	info, reached := ex.info, ex.reached
	component, controller, user, groups := ex.component, ex.controller, ex.user, ex.groups
	requestID, body := ex.requestID, ex.body
	ex.mu.Unlock()

	latency := a.now().Sub(ex.start)
	ev := tracing.Event{
		Time:      ex.start,
		Kind:      tracing.KindHTTP,
		To:        ex.server,
		Status:    strconv.Itoa(status),
		LatencyMs: float64(latency.Microseconds()) / 1000,
	}
	if status == 0 {
		// Sent as the request reaches the API: no answer yet.
		ev.Status, ev.LatencyMs = "", 0
	}
	ev.Detail = map[string]any{
		"path":      r.URL.RequestURI(),
		"method":    r.Method,
		"userAgent": r.UserAgent(),
	}
	if size > 0 {
		ev.Detail["responseBytes"] = size
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		ev.Detail["contentType"] = ct
	}
	if !reached {
		// Refused before the API: name the caller from its certificate.
		var groups []string
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			user = r.TLS.PeerCertificates[0].Subject.CommonName
			groups = r.TLS.PeerCertificates[0].Subject.Organization
		}
		component, _ = tracing.Identity(user, groups, r.UserAgent())
		ev.Verb = strings.ToLower(r.Method)
		if parsed, err := a.infos.NewRequestInfo(r); err == nil {
			info = parsed
		}
		ev.Detail["rejected"] = true
		ev.Detail["reason"] = http.StatusText(status)
	}
	ev.From = component
	if user != "" {
		ev.Detail["user"] = user
	}
	if len(groups) > 0 {
		ev.Detail["groups"] = groups
	}
	if controller != "" {
		ev.Detail["controller"] = controller
	}
	if info != nil {
		ev.Verb = info.Verb
		if info.IsResourceRequest {
			ev.Resource, ev.Subresource, ev.Namespace, ev.Name = info.Resource, info.Subresource, info.Namespace, info.Name
		}
	}
	switch {
	case early && status == 0:
		// Recorded on arrival, before the apiserver opens its own request
		// to the pod's kubelet (see Inner).
		ev.Detail["toKubelet"] = true
	case early:
		ev.Detail["longRunning"] = true
	}
	if body != nil && status < 300 {
		if meta, err := kdecode.ObjectMetaOf(body.contentType(), body.bytes()); err == nil && meta.Kind != "Status" {
			if ev.Name == "" {
				ev.Name = meta.Name
			}
			if ev.Namespace == "" {
				ev.Namespace = meta.Namespace
			}
			ev.RV = meta.ResourceVersion
		}
	}
	ev.Summary = httpSummary(&ev, r)
	a.sink.SubmitHTTP(ev, requestID)
}

func httpSummary(ev *tracing.Event, r *http.Request) string {
	target := r.URL.Path
	if ev.Resource != "" {
		parts := []string{ev.Resource}
		if ev.Name != "" && ev.Verb != "create" || ev.Subresource != "" {
			parts = append(parts, ev.Name)
		}
		if ev.Subresource != "" {
			parts = append(parts, ev.Subresource)
		}
		target = strings.Join(parts, "/")
	}
	result := ev.Status
	if result == "" {
		result = "received"
	}
	s := fmt.Sprintf("%s → apiserver: %s %s (%s)", ev.From, r.Method, target, result)
	if ev.Verb == "watch" {
		s = fmt.Sprintf("%s → apiserver: WATCH %s (%s)", ev.From, target, ev.Status)
	}
	return s
}

// statusRecorder notes the status code and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	code     int
	bytes    int64
	once     sync.Once
	onHeader func(int)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.once.Do(func() { s.onHeader(code) })
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	s.once.Do(func() { s.onHeader(s.code) })
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// bodyCapture keeps the start of a write's response. It is locked because
// the apiserver's timeout filter may still be writing from its own
// goroutine when the outer filter reads it.
type bodyCapture struct {
	http.ResponseWriter
	mu  sync.Mutex
	buf bytes.Buffer
	ct  string
}

func (b *bodyCapture) Unwrap() http.ResponseWriter { return b.ResponseWriter }

func (b *bodyCapture) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.ct == "" {
		b.ct = b.ResponseWriter.Header().Get("Content-Type")
	}
	if room := maxCapturedBody - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	b.mu.Unlock()
	return b.ResponseWriter.Write(p)
}

func (b *bodyCapture) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *bodyCapture) contentType() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ct
}

// watchTap decodes the watch events written to one watcher.
type watchTap struct {
	http.ResponseWriter
	a        *APIServer
	server   string // the apiserver sending the events
	watcher  string
	resource string
	path     string
	parser   *kdecode.WatchParser
	broken   bool
}

func (t *watchTap) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func (t *watchTap) Write(p []byte) (int, error) {
	if !t.broken {
		if t.parser == nil {
			// Watch-list streams may be gzipped for clients that accept it.
			h := t.Header()
			parser, err := kdecode.NewWatchParserWithEncoding(h.Get("Content-Type"), h.Get("Content-Encoding"), t.event)
			if err != nil {
				t.broken = true // an encoding we cannot read (CBOR): serve, do not trace
			}
			t.parser = parser
		}
		if t.parser != nil {
			if _, err := t.parser.Write(p); err != nil {
				t.broken = true
			}
		}
	}
	return t.ResponseWriter.Write(p)
}

func (t *watchTap) close() {
	if t.parser != nil {
		_ = t.parser.Close()
	}
}

func (t *watchTap) event(we kdecode.WatchEvent) {
	obj := we.Object
	ev := tracing.Event{
		Time:      t.a.now(),
		Kind:      tracing.KindWatch,
		From:      t.server,
		To:        t.watcher,
		Verb:      we.Type,
		Resource:  t.resource,
		Namespace: obj.Namespace,
		Name:      obj.Name,
		RV:        obj.ResourceVersion,
		Detail: map[string]any{
			"watchPath":  t.path,
			"encoding":   we.Encoding,
			"objectKind": obj.Kind,
		},
	}
	if obj.UID != "" {
		ev.Detail["uid"] = obj.UID
	}
	name := obj.Name
	if name == "" {
		name = "(" + strings.ToLower(we.Type) + ")"
	}
	ev.Summary = fmt.Sprintf("apiserver → %s: %s %s/%s (rv %s)", t.watcher, we.Type, t.resource, name, obj.ResourceVersion)
	t.a.sink.Submit(ev)
}
