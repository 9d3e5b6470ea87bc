package server

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
)

// A classroom is one presenter and the viewers who follow them.
//
// The presenter is any page opened with the admin token. What it is
// teaching (the open lab and step, the followed object, pause and speed,
// the selected event, the open panel, the etcd browser's key) is one small
// JSON object, its teaching state, which the page sends on its trace
// stream ({"teach": {...}}) whenever it changes. The server keeps the
// latest and sends it on every viewer's trace stream (asked for with
// ?classroom=true): on connect, then on every change. A page thus has one
// connection, ordered: events, cluster state, checks and teaching.
//
// A viewer is a page opened with the viewer key (?viewer=…, the link
// `wheelhouse up --classroom` prints and /present shows as a QR code). The
// key opens the read-only view and its streams and nothing else: the
// access middleware lets a viewer through only to the routes
// viewerMayRead lists, by the kind of key the request carries, whatever the page
// does. The key lives in memory only, so it ends when Wheelhouse stops, and
// the presenter can rotate it: the old key is refused from then on and its
// open websockets are closed.

// ViewerParam is the query parameter that carries the viewer key.
const ViewerParam = "viewer"

// maxTeachingState bounds one teaching-state frame. The real ones are a
// few hundred bytes; the bound keeps a buggy or hostile presenter page from
// making the server hold and copy megabytes per viewer.
const maxTeachingState = 16 << 10

// closeKeyRotated is the websocket close code a viewer gets when its key
// is rotated away (4000–4999 are the application's own codes).
const closeKeyRotated = 4001

// Classroom holds the viewer key, the presenter's teaching state and the
// viewers' connections.
type Classroom struct {
	base string // the address viewers open, e.g. http://192.0.2.2:8080/

	mu      sync.Mutex
	key     string
	state   json.RawMessage      // the latest teaching state; nil until the presenter sends one
	version uint64               // counts teaching states, so a viewer can tell a new one
	conns   map[*member]struct{} // every stream opened with a key
	closed  bool
}

// NewClassroom makes a classroom with a fresh viewer key. base is the
// address viewers' browsers open (see ViewerBase).
func NewClassroom(base string) (*Classroom, error) {
	key, err := newViewerKey()
	if err != nil {
		return nil, err
	}
	return &Classroom{base: base, key: key, conns: map[*member]struct{}{}}, nil
}

func newViewerKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a viewer key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ViewerURL is the link viewers open: the base address with the key.
func (c *Classroom) ViewerURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.viewerURLLocked()
}

func (c *Classroom) viewerURLLocked() string {
	return c.base + "?" + ViewerParam + "=" + url.QueryEscape(c.key)
}

// Rotate replaces the viewer key. Requests with the old one are refused
// from now on, and the websockets opened with it are closed, so a link
// that went further than the room stops working.
func (c *Classroom) Rotate() (string, error) {
	key, err := newViewerKey()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	old := c.key
	c.key = key
	var stale []*member
	for m := range c.conns {
		if !m.presenter && m.viewerKey == old {
			stale = append(stale, m)
		}
	}
	link := c.viewerURLLocked()
	c.mu.Unlock()
	for _, m := range stale {
		m.end(closeKeyRotated, "the viewer link was renewed: ask the presenter for the new one")
	}
	c.notifyPresenters()
	return link, nil
}

// Close ends every stream in the classroom (Shutdown does not end
// hijacked connections).
func (c *Classroom) Close() {
	c.mu.Lock()
	c.closed = true
	conns := make([]*member, 0, len(c.conns))
	for m := range c.conns {
		conns = append(conns, m)
	}
	c.mu.Unlock()
	for _, m := range conns {
		m.end(websocket.CloseGoingAway, "Wheelhouse is stopping")
	}
}

// viewerCookie names the cookie that carries the viewer key for a page
// opened with it (per port, as tokenCookie).
func viewerCookie(r *http.Request) string {
	return strings.Replace(tokenCookie(r), "-token-", "-viewer-", 1)
}

// presentedViewerKey is the viewer key a request carries, if any.
func presentedViewerKey(r *http.Request) string {
	if k := r.URL.Query().Get(ViewerParam); k != "" {
		return k
	}
	if ck, err := r.Cookie(viewerCookie(r)); err == nil {
		return ck.Value
	}
	return ""
}

// isViewer reports whether r carries the current viewer key.
func (c *Classroom) isViewer(r *http.Request) bool {
	got := presentedViewerKey(r)
	if c == nil || got == "" {
		return false
	}
	c.mu.Lock()
	key := c.key
	c.mu.Unlock()
	return tokenMatches(got, key)
}

// rememberViewer gives a page opened with the right ?viewer= a cookie
// with the key, so that its assets, APIs and streams are let in.
func (c *Classroom) rememberViewer(w http.ResponseWriter, r *http.Request) {
	if c == nil || r.URL.Query().Get(ViewerParam) == "" || !c.isViewer(r) {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: viewerCookie(r), Value: presentedViewerKey(r), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// viewerMayRead reports whether a viewer may have r: reads of the view
// and its streams only. Everything not listed is refused, so a route added
// later is closed to viewers until someone decides otherwise.
func viewerMayRead(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	switch p {
	case "/", "/status", "/healthz", "/api/state", "/api/flows", "/api/etcd/keys", "/api/etcd/value",
		"/api/labs", "/api/components", "/ws/trace":
		return true
	}
	if strings.HasPrefix(p, "/api/nodes/") && strings.HasSuffix(p, "/rules") {
		return true // kube-proxy's rules hold no secret
	}
	for _, prefix := range []string{"/assets/", "/api/events/", "/api/labs/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// errViewerReadOnly explains a viewer's refusal.
var errViewerReadOnly = errors.New("a viewer link only watches: the terminal, component control, lab resets and everything else that acts need the presenter's admin token")

// errClassroomKey explains a refusal in classroom mode.
var errClassroomKey = errors.New("this Wheelhouse runs a classroom: open the viewers' link the presenter shares (it ends in ?viewer=…), or the presenter's address that `wheelhouse up` printed (it ends in ?token=…); a renewed link replaces the old one")

// requireKey refuses every request that carries neither the admin token
// nor, for the routes a viewer may read, the viewer key; /healthz is open.
// It is the access rule off loopback, and in classroom mode everywhere.
func requireKey(token string, c *Classroom, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz" || isAdmin(r, token):
			next.ServeHTTP(w, r)
		case c.isViewer(r):
			if !viewerMayRead(r) {
				writeError(w, http.StatusForbidden, errViewerReadOnly)
				return
			}
			next.ServeHTTP(w, r)
		case c != nil:
			writeError(w, http.StatusUnauthorized, errClassroomKey)
		default:
			writeError(w, http.StatusUnauthorized, errTokenEverywhere)
		}
	})
}

// classroomInfo is GET /api/classroom's answer, for the presenter.
type classroomInfo struct {
	ViewerURL string `json:"viewerUrl"`
	Viewers   int    `json:"viewers"`
}

func (c *Classroom) info() classroomInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.infoLocked()
}

func (c *Classroom) infoLocked() classroomInfo {
	n := 0
	for m := range c.conns {
		if !m.presenter && m.follows { // a viewer's page, not a tool's stream
			n++
		}
	}
	return classroomInfo{ViewerURL: c.viewerURLLocked(), Viewers: n}
}

func (c *Classroom) routes(r chi.Router, token string) {
	r.With(func(next http.Handler) http.Handler { return requireToken(token, next) }).Get("/api/classroom",
		func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, c.info()) })
	r.With(func(next http.Handler) http.Handler { return requireToken(token, next) }).Post("/api/classroom/rotate",
		func(w http.ResponseWriter, _ *http.Request) {
			if _, err := c.Rotate(); err != nil {
				writeError(w, http.StatusInternalServerError, err)
				return
			}
			writeJSON(w, c.info())
		})
}

// classroomFrame is a classroom frame on a page's trace stream (asked for
// with ?classroom=true). Type "teach" carries the presenter's teaching
// state (Version counts them); "viewers" tells a presenter how many
// viewers are connected and the current link.
type classroomFrame struct {
	Type      string          `json:"type"`
	Role      string          `json:"role,omitempty"`
	Version   uint64          `json:"version,omitempty"`
	State     json.RawMessage `json:"state,omitempty"`
	Viewers   int             `json:"viewers,omitempty"`
	ViewerURL string          `json:"viewerUrl,omitempty"`
}

// member is one trace stream in a classroom: every stream opened with the
// admin token (a presenter) or a viewer key (a viewer). Its writer sends
// the latest of what is waiting, never a queue: a viewer that falls behind
// skips to the newest teaching state, and nobody waits for it.
type member struct {
	presenter bool
	viewerKey string // the key a viewer connected with
	follows   bool   // the stream asked for the classroom frames

	wake chan struct{} // one slot: something changed since the last write
	// end closes the member's stream with a close code and reason; it may
	// be called from any goroutine, more than once.
	end func(code int, reason string)

	// The writer's own: what it has sent.
	sentVersion uint64
	sentViewers int
}

func (m *member) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// join adds a stream to the classroom; false when Wheelhouse is stopping
// (the stream is ended then). leave must be called when the stream ends.
func (c *Classroom) join(r *http.Request, token string, follows bool, end func(int, string)) (m *member, leave func(), ok bool) {
	m = &member{presenter: isAdmin(r, token), follows: follows, wake: make(chan struct{}, 1), end: end, sentViewers: -1}
	if !m.presenter {
		m.viewerKey = presentedViewerKey(r)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		end(websocket.CloseGoingAway, "Wheelhouse is stopping")
		return nil, nil, false
	}
	if !m.presenter && !tokenMatches(m.viewerKey, c.key) {
		// Rotated between the access check and the upgrade: the old key
		// is refused from the rotation on.
		c.mu.Unlock()
		end(closeKeyRotated, "the viewer link was renewed: ask the presenter for the new one")
		return nil, nil, false
	}
	c.conns[m] = struct{}{}
	c.mu.Unlock()
	c.notifyPresenters()
	m.poke() // the current state at once
	return m, func() {
		c.mu.Lock()
		delete(c.conns, m)
		c.mu.Unlock()
		c.notifyPresenters()
	}, true
}

// frames is what m's writer sends after a wake: the teaching state if it
// changed, and for a presenter the viewer count and link if they changed.
func (c *Classroom) frames(m *member) [][]byte {
	if !m.follows {
		return nil
	}
	c.mu.Lock()
	state, version := c.state, c.version
	var info classroomInfo
	if m.presenter {
		info = c.infoLocked()
	}
	c.mu.Unlock()
	var out [][]byte
	add := func(f classroomFrame) {
		if b, err := json.Marshal(f); err == nil {
			out = append(out, b)
		}
	}
	if version != m.sentVersion && state != nil {
		add(classroomFrame{Type: "teach", Role: roleName(m.presenter), Version: version, State: state})
		m.sentVersion = version
	}
	if m.presenter && info.Viewers != m.sentViewers {
		add(classroomFrame{Type: "viewers", Viewers: info.Viewers, ViewerURL: info.ViewerURL})
		m.sentViewers = info.Viewers
	}
	return out
}

func roleName(presenter bool) string {
	if presenter {
		return "presenter"
	}
	return "viewer"
}

// teach takes a teaching state a member sent ({"teach": {...}} on its
// stream): a presenter's becomes everyone's; a viewer's is ignored (it has
// nothing to say). A malformed one ends the presenter's stream with the
// reason.
func (c *Classroom) teach(m *member, raw json.RawMessage) {
	if !m.presenter {
		return
	}
	state, err := teachingState(raw)
	if err != nil {
		m.end(websocket.ClosePolicyViolation, truncate(err.Error(), 120))
		return
	}
	c.publish(state)
}

// teachingState checks a presenter's teaching state and returns it,
// compacted.
func teachingState(raw json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, errors.New(`a teaching state is {"teach": {...}}: its value must be a JSON object`)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// publish makes state the teaching state and wakes every member.
func (c *Classroom) publish(state json.RawMessage) {
	c.mu.Lock()
	if bytes.Equal(state, c.state) {
		c.mu.Unlock()
		return
	}
	c.state = state
	c.version++
	conns := make([]*member, 0, len(c.conns))
	for m := range c.conns {
		conns = append(conns, m)
	}
	c.mu.Unlock()
	for _, m := range conns {
		m.poke()
	}
}

// notifyPresenters wakes the presenters' streams, to send the viewer
// count and link.
func (c *Classroom) notifyPresenters() {
	c.mu.Lock()
	var ps []*member
	for m := range c.conns {
		if m.presenter {
			ps = append(ps, m)
		}
	}
	c.mu.Unlock()
	for _, m := range ps {
		m.poke()
	}
}

// ViewerBase is the address to give viewers for a UI listening on addr:
// for an address on every interface (0.0.0.0, ::), the first address of
// this machine's that is up and not loopback (IPv4 first), which is what a
// laptop on the same network can reach; otherwise addr itself.
func ViewerBase(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if lan := lanAddress(); lan != "" {
			host = lan
		} else {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func lanAddress() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var v6 string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	return v6
}
