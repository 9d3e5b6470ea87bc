package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
)

// classroomServer serves every route with a classroom, on loopback: a
// classroom asks for a key everywhere, not only off loopback.
func classroomServer(t *testing.T) (*Classroom, *httptest.Server) {
	t.Helper()
	c, err := NewClassroom("http://192.0.2.7:8080/")
	if err != nil {
		t.Fatal(err)
	}
	opts := fullOptions("127.0.0.1:8080")
	opts.Classroom = c
	srv := httptest.NewServer(Handler(opts))
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c, srv
}

func viewerKeyOf(t *testing.T, c *Classroom) string {
	t.Helper()
	u, err := url.Parse(c.ViewerURL())
	if err != nil || u.Query().Get(ViewerParam) == "" {
		t.Fatalf("viewer URL %q has no key", c.ViewerURL())
	}
	return u.Query().Get(ViewerParam)
}

func do(t *testing.T, method, target string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func withKey(path, key string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + ViewerParam + "=" + url.QueryEscape(key)
}

// What a viewer's key opens and what it does not, asserted on the wire:
// every read of the view answers; everything that acts or reaches the
// machine is refused with 403 and says why; no key at all is 401.
func TestViewerKeyOpensOnlyTheReadOnlyView(t *testing.T) {
	c, srv := classroomServer(t)
	key := viewerKeyOf(t, c)
	reads := []string{"/", "/status", "/assets/ui/main.js", "/api/state", "/api/etcd/keys",
		"/api/etcd/value?key=/registry/secrets/default/s1", "/api/events/1", "/api/flows?object=secrets/default/s1", "/api/components"}
	for _, p := range reads {
		if code, body := do(t, "GET", srv.URL+p, nil); code != http.StatusUnauthorized || !strings.Contains(body, "?viewer=") {
			t.Errorf("GET %s with no key in a classroom: %d %s, want 401 naming the viewers' link", p, code, body)
		}
		if code, body := do(t, "GET", srv.URL+withKey(p, key), nil); code != http.StatusOK {
			t.Errorf("GET %s with the viewer key: %d %s, want 200", p, code, body)
		}
	}
	if code, _ := do(t, "GET", srv.URL+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz in a classroom: %d, want 200", code)
	}
	acts := []struct{ method, path string }{
		{"POST", "/api/components/scheduler/stop"},
		{"POST", "/api/classroom/rotate"},
		{"GET", "/api/classroom"},
		{"GET", "/api/debug/process"},
		{"GET", "/debug/pprof/goroutine?debug=1"},
		{"GET", "/present"},
		{"GET", "/ws/terminal"},
	}
	for _, a := range acts {
		code, body := do(t, a.method, srv.URL+withKey(a.path, key), nil)
		if code != http.StatusForbidden || !strings.Contains(body, "admin token") {
			t.Errorf("%s %s with the viewer key: %d %s, want 403 naming the admin token", a.method, a.path, code, body)
		}
		// The viewer key in the token's place is no admin token either.
		code, _ = do(t, a.method, srv.URL+a.path, http.Header{TokenHeader: {key}})
		if code != http.StatusUnauthorized {
			t.Errorf("%s %s with the viewer key as the token: %d, want 401", a.method, a.path, code)
		}
	}
	// The terminal's websocket, dialled as a browser would.
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")
	if conn, resp, err := websocket.DefaultDialer.Dial(ws+withKey("/ws/terminal", key), nil); err == nil {
		conn.Close()
		t.Error("a viewer opened the terminal")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("the terminal with the viewer key: %v %v, want 403", resp, err)
	}
	// And the admin still has everything.
	for _, p := range append(reads, "/present", "/api/classroom") {
		if code, body := do(t, "GET", srv.URL+p, http.Header{TokenHeader: {testToken}}); code != http.StatusOK {
			t.Errorf("GET %s with the admin token: %d %s", p, code, body)
		}
	}
}

// A viewer never gets a Secret's values, from the etcd browser or the
// event inspector; the admin does.
func TestViewersNeverSeeSecretValues(t *testing.T) {
	c, srv := classroomServer(t)
	key := viewerKeyOf(t, c)
	for _, p := range []string{"/api/etcd/value?key=" + url.QueryEscape("/registry/secrets/default/s1"), "/api/events/1"} {
		code, body := do(t, "GET", srv.URL+withKey(p, key), nil)
		if code != http.StatusOK || !strings.Contains(body, `"revealed":false`) {
			t.Errorf("GET %s as a viewer: %d %s, want the values hidden", p, code, body)
		}
		code, body = do(t, "GET", srv.URL+p, http.Header{TokenHeader: {testToken}})
		if code != http.StatusOK || !strings.Contains(body, `"revealed":true`) {
			t.Errorf("GET %s as the admin: %d %s, want the values shown", p, code, body)
		}
	}
}

// The page opened with the viewer link is told it is a viewer and given
// the key's cookie, with which its assets load; the admin's is the
// presenter.
func TestPagesKnowTheirRoleInAClassroom(t *testing.T) {
	c, srv := classroomServer(t)
	key := viewerKeyOf(t, c)
	resp, err := http.Get(srv.URL + withKey("/", key))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `data-role="viewer"`) {
		t.Errorf("the viewers' page is not marked as a viewer's: %s", body)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Value == key {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the viewers' page set cookies %+v, want an HttpOnly SameSite=Strict one with the key", resp.Cookies())
	}
	req, _ := http.NewRequest("GET", srv.URL+"/assets/ui/main.js", nil)
	req.AddCookie(cookie)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("an asset with the viewer's cookie: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if _, body := do(t, "GET", srv.URL+"/?token="+testToken, nil); !strings.Contains(body, `data-role="presenter"`) {
		t.Errorf("the admin's page in a classroom is not the presenter's: %s", body)
	}
}

// dialClassroom opens a page's trace stream with the classroom's frames
// on it, as a page in a classroom does.
func dialClassroom(t *testing.T, srv *httptest.Server, query string) *websocket.Conn {
	t.Helper()
	return dialTrace(t, srv, "classroom=true&"+query)
}

func dialTrace(t *testing.T, srv *httptest.Server, query string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/trace?"+query, nil)
	if err != nil {
		t.Fatalf("dialling /ws/trace?%s: %v %v", query, resp, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readFrame reads a stream's frames until a classroom frame of type typ
// (the events between are skipped).
func readFrame(t *testing.T, conn *websocket.Conn, typ string) classroomFrame {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var f classroomFrame
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for a %q frame: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// The presenter's teaching state reaches every viewer, a late viewer gets
// the latest at once, a viewer cannot change it, and the presenter is told
// how many are watching.
func TestTeachingStateReachesEveryViewer(t *testing.T) {
	c, srv := classroomServer(t)
	key := viewerKeyOf(t, c)
	presenter := dialClassroom(t, srv, "token="+testToken)
	if f := readFrame(t, presenter, "viewers"); f.Viewers != 0 || !strings.Contains(f.ViewerURL, key) {
		t.Errorf("presenter's first count: %+v, want 0 viewers and the link", f)
	}
	v1 := dialClassroom(t, srv, ViewerParam+"="+key)
	v2 := dialClassroom(t, srv, ViewerParam+"="+key)
	for readFrame(t, presenter, "viewers").Viewers != 2 {
	}
	send := func(conn *websocket.Conn, v string) {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	send(presenter, `{"teach": {"lab": "02-deployments", "step": "03-scale", "paused": true}}`)
	for _, v := range []*websocket.Conn{v1, v2} {
		f := readFrame(t, v, "teach")
		if f.Role != "viewer" || string(f.State) != `{"lab":"02-deployments","step":"03-scale","paused":true}` {
			t.Errorf("a viewer got %+v %s", f, f.State)
		}
	}
	// A viewer's frame is not a teaching state.
	send(v1, `{"teach": {"lab": "hijacked"}}`)
	send(presenter, `{"teach": {"lab": "02-deployments", "step": "04-heal"}}`)
	if f := readFrame(t, v2, "teach"); !strings.Contains(string(f.State), "04-heal") {
		t.Errorf("after a viewer's frame and the presenter's next, a viewer has %s", f.State)
	}
	late := dialClassroom(t, srv, ViewerParam+"="+key)
	if f := readFrame(t, late, "teach"); !strings.Contains(string(f.State), "04-heal") || strings.Contains(string(f.State), "hijacked") {
		t.Errorf("a late viewer got %s, want the presenter's latest", f.State)
	}
	// A malformed frame from the presenter is refused, with the reason.
	send(presenter, `{"teach": [1, 2]}`)
	if err := closeOf(presenter); err.Code != websocket.ClosePolicyViolation || !strings.Contains(err.Text, "JSON object") {
		t.Errorf("after a malformed frame the presenter's socket ended with %v, want a policy-violation close naming the format", err)
	}
}

// closeOf reads conn until it ends and returns how: the close frame the
// server sent, or a CloseError with code 0 and the read error's text when
// it sent none within 5 s.
func closeOf(conn *websocket.Conn) *websocket.CloseError {
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		return &websocket.CloseError{Text: err.Error()}
	}
}

// A rotated key locks the old link out: its requests are refused, its
// open sockets closed with the reason, and the new link works.
func TestARotatedKeyLocksOutTheOldLink(t *testing.T) {
	c, srv := classroomServer(t)
	old := viewerKeyOf(t, c)
	viewer := dialClassroom(t, srv, ViewerParam+"="+old)
	plain := dialTrace(t, srv, ViewerParam+"="+old) // a stream without the classroom's frames
	code, body := do(t, "POST", srv.URL+"/api/classroom/rotate", http.Header{TokenHeader: {testToken}})
	if code != http.StatusOK {
		t.Fatalf("rotating: %d %s", code, body)
	}
	var info classroomInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil || strings.Contains(info.ViewerURL, old) || !strings.HasPrefix(info.ViewerURL, "http://192.0.2.7:8080/?viewer=") {
		t.Fatalf("rotation answered %s, want a new link", body)
	}
	key := viewerKeyOf(t, c)
	if code, _ := do(t, "GET", srv.URL+withKey("/api/state", old), nil); code != http.StatusUnauthorized {
		t.Errorf("the old key after rotation: %d, want 401", code)
	}
	if code, _ := do(t, "GET", srv.URL+withKey("/api/state", key), nil); code != http.StatusOK {
		t.Errorf("the new key: %d, want 200", code)
	}
	for _, conn := range []*websocket.Conn{viewer, plain} {
		if err := closeOf(conn); err.Code != closeKeyRotated || !strings.Contains(err.Text, "renewed") {
			t.Errorf("the old key's stream ended with %v, want close %d saying the link was renewed", err, closeKeyRotated)
		}
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/trace?"+ViewerParam+"="+old, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a new socket with the old key: %v %v, want 401", resp, err)
	}
}

// A viewer that stops reading does not hold up the presenter or the other
// viewers: each is sent the latest state, never a queue.
func TestAStalledViewerHoldsUpNobody(t *testing.T) {
	c, srv := classroomServer(t)
	key := viewerKeyOf(t, c)
	presenter := dialClassroom(t, srv, "token="+testToken)
	_ = dialClassroom(t, srv, ViewerParam+"="+key) // never read
	fast := dialClassroom(t, srv, ViewerParam+"="+key)
	big := strings.Repeat("x", 8000)
	for i := 0; i < 2000; i++ {
		msg := `{"teach": {"n": ` + strconv.Itoa(i) + `, "pad": "` + big + `"}}`
		if err := presenter.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatalf("the presenter's send %d: %v", i, err)
		}
	}
	_ = presenter.WriteMessage(websocket.TextMessage, []byte(`{"teach": {"n": "last"}}`))
	_ = fast.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f classroomFrame
		if err := fast.ReadJSON(&f); err != nil {
			t.Fatalf("the reading viewer: %v", err)
		}
		if f.Type == "teach" && string(f.State) == `{"n":"last"}` {
			break
		}
	}
}

// Pages asking for the same step's checks at the same time share one
// evaluation, and a later ask gets a new one.
func TestChecksAreEvaluatedOncePerStepAtATime(t *testing.T) {
	var cache checkCache
	var evals atomic.Int32
	release := make(chan struct{})
	eval := func() labs.Result {
		evals.Add(1)
		<-release
		return labs.Result{Passed: true}
	}
	k := checkKey{"02", "03", 1, "en"}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !cache.get(k, eval).Passed {
				t.Error("a page got another result")
			}
		}()
	}
	// Whether a page asks while the evaluation runs or just after, within
	// checkFresh, it gets that evaluation's answer.
	close(release)
	wg.Wait()
	if n := evals.Load(); n != 1 {
		t.Errorf("100 pages at once: %d evaluations, want 1", n)
	}
	cache.get(checkKey{"02", "03", 1, "zh"}, eval)
	if n := evals.Load(); n != 2 {
		t.Errorf("another language: %d evaluations in all, want 2", n)
	}
	cache.mu.Lock()
	cache.entries[k].at = time.Now().Add(-2 * checkFresh)
	cache.mu.Unlock()
	cache.get(k, eval)
	if n := evals.Load(); n != 3 {
		t.Errorf("after the answer went stale: %d evaluations in all, want 3", n)
	}
}

func TestViewerBase(t *testing.T) {
	if got := ViewerBase("192.0.2.9:8080"); got != "http://192.0.2.9:8080/" {
		t.Errorf("a named address: %s", got)
	}
	got := ViewerBase("0.0.0.0:8080")
	u, err := url.Parse(got)
	if err != nil || u.Port() != "8080" || u.Hostname() == "0.0.0.0" {
		t.Errorf("every interface: %s, want a reachable address", got)
	}
}
