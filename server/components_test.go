package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeComponents keeps states the way the cluster does.
type fakeComponents struct {
	mu    sync.Mutex
	state map[string]string
}

func (f *fakeComponents) List() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []map[string]string{}
	for n, s := range f.state {
		out = append(out, map[string]string{"name": n, "state": s})
	}
	return out
}

func (f *fakeComponents) move(name, from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.state[name]
	switch {
	case !ok:
		return fmt.Errorf("no such component %q: %w", name, ErrNotFound)
	case s != from:
		return fmt.Errorf("%s is %s: %w", name, s, ErrConflict)
	}
	f.state[name] = to
	return nil
}

func (f *fakeComponents) Stop(_ context.Context, name string) error {
	return f.move(name, "running", "stopped")
}

func (f *fakeComponents) Crash(_ context.Context, name string) error {
	return f.move(name, "running", "crashed")
}

func (f *fakeComponents) Start(_ context.Context, name string) error {
	return f.move(name, "stopped", "running")
}

func TestComponentControlNeedsTheTokenAndSaysWhatFailed(t *testing.T) {
	comps := &fakeComponents{state: map[string]string{"scheduler": "running", "kubelet/node-1": "running"}}
	h := Handler(Options{Components: comps, AdminToken: "s3cret"})
	post := func(path, token string) (int, string) {
		req := localRequest("POST", path, nil)
		if token != "" {
			req.Header.Set(TokenHeader, token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, tc := range []struct {
		path, token string
		code        int
		body        string
	}{
		{"/api/components/scheduler/stop", "", http.StatusUnauthorized, "admin token"},
		{"/api/components/scheduler/stop", "guess", http.StatusUnauthorized, "admin token"},
		{"/api/components/scheduler/stop", "s3cret", http.StatusOK, `"state":"stopped"`},
		{"/api/components/scheduler/stop", "s3cret", http.StatusConflict, "scheduler is stopped"},
		{"/api/components/kubelet%2Fnode-1/stop", "s3cret", http.StatusOK, `"name":"kubelet/node-1"`},
		{"/api/components/kubelet%2Fnode-1/start", "s3cret", http.StatusOK, `"state":"running"`},
		{"/api/components/etcd/stop", "s3cret", http.StatusNotFound, `no such component`},
	} {
		code, body := post(tc.path, tc.token)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("POST %s (token %q) = %d %s, want %d containing %q", tc.path, tc.token, code, body, tc.code, tc.body)
		}
	}
	code, body := get(t, h, "/api/components")
	if code != http.StatusOK {
		t.Fatalf("GET /api/components = %d", code)
	}
	raw, _ := json.Marshal(body)
	if !strings.Contains(string(raw), `"name":"scheduler","state":"stopped"`) {
		t.Errorf("GET /api/components = %s, want the scheduler stopped", raw)
	}
	// A server without a token refuses everything rather than allowing it.
	h = Handler(Options{Components: comps})
	rec := httptest.NewRecorder()
	req := localRequest("POST", "/api/components/scheduler/start", nil)
	req.Header.Set(TokenHeader, "")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("with no token configured, start = %d, want 401", rec.Code)
	}
}

// A node's component is named with a slash; its URL is a plain path, and
// the escaped form works the same.
func TestComponentNamesWithASlashArePlainPaths(t *testing.T) {
	comps := &fakeComponents{state: map[string]string{"kubelet/node-2": "running", "kube-proxy/node-2": "running"}}
	h := Handler(Options{Components: comps, AdminToken: "s3cret"})
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/components/kubelet/node-2/stop", http.StatusOK},
		{"/api/components/kubelet%2Fnode-2/start", http.StatusOK},
		{"/api/components/kube-proxy/node-2/stop", http.StatusOK},
		{"/api/components/kubelet/node-9/stop", http.StatusNotFound},
		{"/api/components/kubelet/node-2/explode", http.StatusNotFound},
		{"/api/components/stop", http.StatusNotFound},
	} {
		req := localRequest("POST", tc.path, nil)
		req.Header.Set(TokenHeader, "s3cret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("POST %s: %d %s, want %d", tc.path, rec.Code, rec.Body.String(), tc.code)
		}
	}
	if comps.state["kubelet/node-2"] != "running" || comps.state["kube-proxy/node-2"] != "stopped" {
		t.Errorf("states: %v", comps.state)
	}
}
