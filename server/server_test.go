package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

type fakeEtcd struct{}

func (fakeEtcd) Keys(_ context.Context, prefix string) (any, error) {
	return map[string]any{"keys": []string{prefix + "pods/default/a"}}, nil
}

func (fakeEtcd) Value(_ context.Context, key string, rev int64, reveal bool) (any, error) {
	if key == "/registry/pods/default/gone" {
		return nil, errors.New("no such key")
	}
	return map[string]any{"key": key, "revision": rev, "revealed": reveal}, nil
}

// localRequest is a request as a browser on this machine sends it, with
// a Host the server accepts (httptest's default, example.com, is not one).
func localRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8080"
	return r
}

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", path, nil))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestAPIAnswersAndRefusesClearly(t *testing.T) {
	live := Handler(Options{Etcd: fakeEtcd{}, State: func(context.Context) (ClusterState, error) { return ClusterState{Mode: "live"}, nil }})
	replay := Handler(Options{Mode: "replay"})
	for _, tc := range []struct {
		h     http.Handler
		path  string
		code  int
		error string
	}{
		{live, "/api/state", 200, ""},
		{replay, "/api/state", 404, "replay"},
		{live, "/api/etcd/keys", 200, ""},
		{live, "/api/etcd/keys?prefix=/etc/passwd", 400, "prefix must start with /registry/"},
		{live, "/api/etcd/value?key=/registry/pods/default/a&rev=7", 200, ""},
		{live, "/api/etcd/value?key=/registry/pods/default/a&rev=-1", 400, "rev must be a positive integer"},
		{live, "/api/etcd/value?key=/registry/pods/default/gone", 404, "no such key"},
		{replay, "/api/etcd/keys", 404, "replay"},
	} {
		code, body := get(t, tc.h, tc.path)
		if code != tc.code {
			t.Errorf("GET %s: %d, want %d (%v)", tc.path, code, tc.code, body)
		}
		if msg, _ := body["error"].(string); !strings.Contains(msg, tc.error) || (tc.error == "") != (msg == "") {
			t.Errorf("GET %s: error %q, want one containing %q", tc.path, msg, tc.error)
		}
	}
}

func TestTraceEndpoints(t *testing.T) {
	b := bus.New(10)
	b.Publish(tracing.Event{Kind: tracing.KindHTTP, Resource: "pods", Namespace: "default", Name: "a", Summary: "create a"})
	b.Publish(tracing.Event{Kind: tracing.KindEtcd, Resource: "pods", Namespace: "default", Name: "b", Summary: "put b"})
	srv := httptest.NewServer(Handler(Options{Trace: &Trace{Bus: b}}))
	defer srv.Close()

	code, body := get(t, srv.Config.Handler, "/api/flows?object=pods/default/a")
	if events, _ := body["events"].([]any); code != 200 || len(events) != 1 {
		t.Errorf("/api/flows: %d %v", code, body)
	}
	if code, _ := get(t, srv.Config.Handler, "/api/flows"); code != 400 {
		t.Errorf("/api/flows without object: %d, want 400", code)
	}
	if code, _ := get(t, srv.Config.Handler, "/api/events/2"); code != 200 {
		t.Errorf("/api/events/2: %d", code)
	}
	if code, _ := get(t, srv.Config.Handler, "/api/events/99"); code != 404 {
		t.Errorf("/api/events/99: %d, want 404", code)
	}

	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/trace"
	var ev0 tracing.Event
	conn, _, err := websocket.DefaultDialer.Dial(ws+"?since=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 2; want++ {
		var ev tracing.Event
		if err := conn.ReadJSON(&ev); err != nil || ev.Seq != want {
			t.Fatalf("since=0: got %+v (%v), want seq %d", ev, err, want)
		}
	}
	conn.Close()

	// Batched: the waiting events in one frame, an array; then each later
	// event as soon as it is published.
	conn, _, err = websocket.DefaultDialer.Dial(ws+"?since=0&batch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	var batch []tracing.Event
	if err := conn.ReadJSON(&batch); err != nil || len(batch) != 2 || batch[0].Seq != 1 || batch[1].Seq != 2 {
		t.Fatalf("since=0&batch=true: got %+v (%v), want one frame with seqs 1 and 2", batch, err)
	}
	b.Publish(tracing.Event{Kind: tracing.KindHTTP, Summary: "later"})
	if err := conn.ReadJSON(&batch); err != nil || len(batch) != 1 || batch[0].Seq != 3 {
		t.Fatalf("a later event, batched: got %+v (%v), want seq 3 alone", batch, err)
	}
	conn.Close()

	conn, _, err = websocket.DefaultDialer.Dial(ws+"?batch=sometimes", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.ReadJSON(&ev0); err != nil || ev0.Kind != tracing.KindError || !strings.Contains(ev0.Summary, "batch must be true or false") {
		t.Fatalf("bad batch: got %+v (%v)", ev0, err)
	}
	conn.Close()

	conn, _, err = websocket.DefaultDialer.Dial(ws+"?since=x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev tracing.Event
	if err := conn.ReadJSON(&ev); err != nil || ev.Kind != tracing.KindError || !strings.Contains(ev.Summary, "since") {
		t.Fatalf("bad since: got %+v (%v)", ev, err)
	}
	conn.Close()

	if _, resp, err := websocket.DefaultDialer.Dial(ws, http.Header{"Origin": {"http://elsewhere.example"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %v", err)
	}
}
