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
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
)

// A classroom is one presenter and the viewers who follow them.
//
// The presenter is any page opened with the admin token. What it is
// teaching (the open lab and step, the followed object, pause and speed,
// the selected event, the open panel, the etcd browser's key) is one small
// JSON object, its teaching state, which the page sends over /ws/classroom
// whenever it changes. The server keeps the latest and sends it to every
// viewer on the same websocket: on connect, then on every change.
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
	state   json.RawMessage // the latest teaching state; nil until the presenter sends one
	version uint64          // counts teaching states, so a viewer can tell a new one
	conns   map[*classroomConn]struct{}
	closed  bool
}

// NewClassroom makes a classroom with a fresh viewer key. base is the
// address viewers' browsers open (see ViewerBase).
func NewClassroom(base string) (*Classroom, error) {
	key, err := newViewerKey()
	if err != nil {
		return nil, err
	}
	return &Classroom{base: base, key: key, conns: map[*classroomConn]struct{}{}}, nil
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
	var stale []*classroomConn
	for cc := range c.conns {
		if cc.viewerKey == old {
			stale = append(stale, cc)
		}
	}
	link := c.viewerURLLocked()
	c.mu.Unlock()
	for _, cc := range stale {
		cc.end(closeKeyRotated, "the viewer link was renewed: ask the presenter for the new one")
	}
	c.notifyPresenters()
	return link, nil
}

// Close ends every classroom websocket (Shutdown does not end hijacked
// connections).
func (c *Classroom) Close() {
	c.mu.Lock()
	c.closed = true
	conns := make([]*classroomConn, 0, len(c.conns))
	for cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		cc.end(websocket.CloseGoingAway, "Wheelhouse is stopping")
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
		"/api/labs", "/api/components", "/ws/trace", "/ws/classroom":
		return true
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
	for cc := range c.conns {
		if !cc.presenter {
			n++
		}
	}
	return classroomInfo{ViewerURL: c.viewerURLLocked(), Viewers: n}
}

func (c *Classroom) routes(r chi.Router, token string) {
	r.Get("/ws/classroom", func(w http.ResponseWriter, req *http.Request) { c.serve(w, req, token) })
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

// classroomFrame is what /ws/classroom sends. Type "state" carries the
// presenter's teaching state (Version counts them); "viewers" tells a
// presenter how many viewers are connected and the current link.
type classroomFrame struct {
	Type      string          `json:"type"`
	Role      string          `json:"role,omitempty"`
	Version   uint64          `json:"version,omitempty"`
	State     json.RawMessage `json:"state,omitempty"`
	Viewers   int             `json:"viewers,omitempty"`
	ViewerURL string          `json:"viewerUrl,omitempty"`
}

// classroomConn is one page on /ws/classroom. Its writer sends the latest
// of what is waiting, never a queue: a viewer that falls behind skips to
// the newest teaching state, and nobody waits for it.
type classroomConn struct {
	ws        *websocket.Conn
	presenter bool
	viewerKey string // the key a viewer connected with

	wake   chan struct{} // one slot: something changed since the last write
	done   chan struct{}
	ending sync.Once
}

func (cc *classroomConn) poke() {
	select {
	case cc.wake <- struct{}{}:
	default:
	}
}

// end closes the connection with a reason, once.
func (cc *classroomConn) end(code int, reason string) {
	cc.ending.Do(func() {
		_ = cc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		close(cc.done)
		_ = cc.ws.Close()
	})
}

// serve serves GET /ws/classroom to the presenter (admin token) and to
// viewers (viewer key; the access middleware has let only those through,
// and on loopback without a classroom key nobody else reaches here either,
// as a classroom always runs with keys).
func (c *Classroom) serve(w http.ResponseWriter, r *http.Request, token string) {
	presenter := isAdmin(r, token)
	if !presenter && !c.isViewer(r) {
		writeError(w, http.StatusUnauthorized, errClassroomKey)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered (403 for a foreign Origin)
	}
	cc := &classroomConn{ws: ws, presenter: presenter, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if !presenter {
		cc.viewerKey = presentedViewerKey(r)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cc.end(websocket.CloseGoingAway, "Wheelhouse is stopping")
		return
	}
	c.conns[cc] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.conns, cc)
		c.mu.Unlock()
		cc.end(websocket.CloseNormalClosure, "")
		c.notifyPresenters()
	}()
	c.notifyPresenters()
	cc.poke() // the current state at once

	go c.read(cc)
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	var sentVersion uint64
	sentViewers := -1
	for {
		select {
		case <-cc.wake:
		case <-ping.C:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
			continue
		case <-cc.done:
			return
		}
		c.mu.Lock()
		state, version := c.state, c.version
		var info classroomInfo
		if presenter {
			info = c.infoLocked()
		}
		c.mu.Unlock()
		if version != sentVersion && state != nil {
			if !c.write(cc, classroomFrame{Type: "state", Role: roleName(presenter), Version: version, State: state}) {
				return
			}
			sentVersion = version
		}
		if presenter && info.Viewers != sentViewers {
			if !c.write(cc, classroomFrame{Type: "viewers", Viewers: info.Viewers, ViewerURL: info.ViewerURL}) {
				return
			}
			sentViewers = info.Viewers
		}
	}
}

func roleName(presenter bool) string {
	if presenter {
		return "presenter"
	}
	return "viewer"
}

func (c *Classroom) write(cc *classroomConn, f classroomFrame) bool {
	_ = cc.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return cc.ws.WriteJSON(f) == nil
}

// read takes teaching states from a presenter; a viewer's frames are not
// read for their content (it has nothing to say), only to notice it leave.
func (c *Classroom) read(cc *classroomConn) {
	defer cc.end(websocket.CloseNormalClosure, "")
	cc.ws.SetReadLimit(maxTeachingState)
	for {
		_, data, err := cc.ws.ReadMessage()
		if err != nil {
			return
		}
		if !cc.presenter {
			continue
		}
		state, err := teachingState(data)
		if err != nil {
			// Only the writer goroutine writes data frames; a close
			// frame may come from anywhere, and says what was wrong.
			cc.end(websocket.ClosePolicyViolation, truncate(err.Error(), 120))
			return
		}
		c.publish(state)
	}
}

// teachingState takes a presenter frame, {"state": {...}}, and returns the
// state, compacted.
func teachingState(data []byte) (json.RawMessage, error) {
	var f struct {
		State json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("a classroom frame is a JSON object {\"state\": {...}}: %w", err)
	}
	var obj map[string]json.RawMessage
	if len(f.State) == 0 || json.Unmarshal(f.State, &obj) != nil || obj == nil {
		return nil, errors.New("a classroom frame's state must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, f.State); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// publish makes state the teaching state and wakes every connection.
func (c *Classroom) publish(state json.RawMessage) {
	c.mu.Lock()
	if bytes.Equal(state, c.state) {
		c.mu.Unlock()
		return
	}
	c.state = state
	c.version++
	conns := make([]*classroomConn, 0, len(c.conns))
	for cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		cc.poke()
	}
}

// notifyPresenters wakes the presenters' connections, to send the viewer
// count and link.
func (c *Classroom) notifyPresenters() {
	c.mu.Lock()
	var ps []*classroomConn
	for cc := range c.conns {
		if cc.presenter {
			ps = append(ps, cc)
		}
	}
	c.mu.Unlock()
	for _, cc := range ps {
		cc.poke()
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
