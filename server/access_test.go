package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// fullOptions serves every route, so the access rules can be tried on all.
func fullOptions(addr string) Options {
	b := bus.New(10)
	b.Publish(tracing.Event{Kind: tracing.KindEtcd, Resource: "secrets", Namespace: "default", Name: "s1",
		Detail: map[string]any{"key": "/registry/secrets/default/s1"}})
	return Options{
		Addr:       addr,
		Mode:       "live",
		AdminToken: testToken,
		Hosts:      []string{"wheelhouse.lab.example"},
		Etcd:       fakeEtcd{},
		State:      func(context.Context) (ClusterState, error) { return ClusterState{Nodes: []NodeState{}}, nil },
		Components: &fakeComponents{},
		Terminal:   &Terminal{Dir: "/", Shell: "/bin/sh"},
		Trace: &Trace{Bus: b, Detail: func(_ context.Context, _ tracing.Event, reveal bool) (map[string]any, error) {
			return map[string]any{"revealed": reveal}, nil
		}},
	}
}

// routes are one request to each kind of route: pages, assets, reading
// APIs, an acting API and both websockets.
var routes = []struct {
	method, path string
	ws           bool
}{
	{"GET", "/", false},
	{"GET", "/present", false},
	{"GET", "/status", false},
	{"GET", "/healthz", false},
	{"GET", "/assets/ui/main.js", false},
	{"GET", "/api/state", false},
	{"GET", "/api/etcd/keys", false},
	{"GET", "/api/etcd/value?key=/registry/secrets/default/s1", false},
	{"GET", "/api/events/1", false},
	{"GET", "/api/flows?object=secrets/default/s1", false},
	{"GET", "/api/components", false},
	{"POST", "/api/components/scheduler/stop", false},
	{"GET", "/ws/trace", true},
	{"GET", "/ws/terminal?token=" + testToken, true},
}

// A page that rebinds its own name to this machine sends that name as
// Host (and a matching Origin). Every route refuses it, websockets too,
// and the refusal names the flag that would allow the name.
func TestForeignHostIsRefusedOnEveryRoute(t *testing.T) {
	srv := httptest.NewServer(Handler(fullOptions("127.0.0.1:0")))
	defer srv.Close()
	port := srv.Listener.Addr().(interface{ String() string }).String()
	_, port, _ = strings.Cut(port, ":")
	evil := "evil.example:" + port
	for _, r := range routes {
		if r.ws {
			h := http.Header{"Host": {evil}, "Origin": {"http://" + evil}}
			conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+r.path, h)
			if err == nil {
				conn.Close()
				t.Errorf("%s with Host %s: the websocket opened", r.path, evil)
				continue
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s with Host %s: %v %v, want 403", r.path, evil, resp, err)
			}
			continue
		}
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		req.Host = evil
		req.Header.Set("Origin", "http://"+evil)
		req.Header.Set(TokenHeader, testToken) // even with the token
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "--ui-host evil.example") {
			t.Errorf("%s %s with Host %s: %d %s, want 403 naming --ui-host evil.example", r.method, r.path, evil, resp.StatusCode, body)
		}
	}
}

func TestHostsWheelhouseServes(t *testing.T) {
	extra := []string{"wheelhouse.lab.example"}
	for host, want := range map[string]bool{
		"127.0.0.1:8080":              true,
		"[::1]:8080":                  true,
		"192.0.2.7:8080":              true, // an address cannot be rebound
		"localhost:8080":              true,
		"LOCALHOST":                   true,
		"wheelhouse.lab.example:8080": true,
		"Wheelhouse.Lab.Example.":     true,
		"evil.example:8080":           false,
		"localhost.evil.example":      false,
		"127.0.0.1.nip.io:8080":       false,
		"":                            false,
	} {
		if got := hostAllowed(host, extra); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

// Listening where others can reach it, every route but /healthz needs the
// admin token; with it (header, query or the page's cookie) they answer.
func TestOffLoopbackEveryRouteNeedsTheToken(t *testing.T) {
	h := Handler(fullOptions("0.0.0.0:8080"))
	for _, r := range routes {
		if r.ws {
			continue // below
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, localRequest(r.method, r.path, nil))
		want := http.StatusUnauthorized
		if r.path == "/healthz" {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("%s %s without the token off loopback: %d, want %d", r.method, r.path, rec.Code, want)
		}
		if want == http.StatusUnauthorized && !strings.Contains(rec.Body.String(), "admin token") {
			t.Errorf("%s %s: the refusal does not say what is needed: %s", r.method, r.path, rec.Body.String())
		}
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/trace", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/ws/trace without the token off loopback: %v %v, want 401", resp, err)
	}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/trace?token="+testToken, nil)
	if err != nil {
		t.Errorf("/ws/trace with ?token= off loopback: %v", err)
	} else {
		conn.Close()
	}

	// The page opened with the token gives the browser a cookie, and the
	// page's assets then load with it alone.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/?token="+testToken, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /?token=: %d", rec.Code)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Value != testToken || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("page opened with the token set cookies %+v, want one HttpOnly SameSite=Strict cookie", cookies)
	}
	req := localRequest("GET", "/assets/ui/main.js", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("asset with the page's cookie: %d, want 200", rec.Code)
	}
	// A wrong token, in any place, is refused.
	for _, place := range []string{"header", "query", "cookie"} {
		req := localRequest("GET", "/api/state", nil)
		switch place {
		case "header":
			req.Header.Set(TokenHeader, "wrong")
		case "query":
			req.URL.RawQuery = "token=wrong"
		case "cookie":
			req.AddCookie(&http.Cookie{Name: tokenCookie(req), Value: "wrong"})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("wrong token in the %s: %d, want 401", place, rec.Code)
		}
	}
	// The cookie alone does not act: changing the cluster takes the header.
	req = localRequest("POST", "/api/components/scheduler/stop", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("stopping a component with only the cookie: %d, want 401", rec.Code)
	}
}

// On loopback pages need no token, but Secret values do: the etcd browser
// and the event inspector are told to reveal them only for the admin.
func TestSecretValuesAreRevealedOnlyWithTheToken(t *testing.T) {
	h := Handler(fullOptions("127.0.0.1:8080"))
	for _, path := range []string{"/api/etcd/value?key=" + url.QueryEscape("/registry/secrets/default/s1"), "/api/events/1"} {
		for _, tc := range []struct {
			token string
			want  bool
		}{{"", false}, {"wrong", false}, {testToken, true}} {
			req := localRequest("GET", path, nil)
			if tc.token != "" {
				req.Header.Set(TokenHeader, tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
			}
			if got := strings.Contains(rec.Body.String(), `"revealed":true`); got != tc.want {
				t.Errorf("GET %s with token %q: revealed=%v, want %v (%s)", path, tc.token, got, tc.want, rec.Body.String())
			}
		}
	}
}

// The process's figures and profiles are the admin's only.
func TestDebugNeedsTheToken(t *testing.T) {
	h := Handler(fullOptions("127.0.0.1:8080"))
	for _, path := range []string{"/api/debug/process", "/debug/pprof/goroutine?debug=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, localRequest("GET", path, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, rec.Code)
		}
		req := localRequest("GET", path, nil)
		req.Header.Set(TokenHeader, testToken)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s with the token: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	req := localRequest("GET", "/api/debug/process", nil)
	req.Header.Set(TokenHeader, testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"goroutines":`) || !strings.Contains(rec.Body.String(), `"openFiles":`) {
		t.Errorf("process stats: %s", rec.Body.String())
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:1": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "192.0.2.7:8080": false, "garbage": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
