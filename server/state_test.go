package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// fakeState is a cluster whose pods a test sets, and which counts reads.
type fakeState struct {
	mu      sync.Mutex
	pods    []PodState
	reads   int
	changed chan struct{}
}

func newFakeState(pods ...PodState) *fakeState {
	return &fakeState{pods: pods, changed: make(chan struct{}, 1)}
}

func (s *fakeState) read(context.Context) (ClusterState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return ClusterState{Mode: "live", Nodes: []NodeState{{Name: "node-1", Ready: true}}, Pods: append([]PodState(nil), s.pods...)}, nil
}

func (s *fakeState) set(pods ...PodState) {
	s.mu.Lock()
	s.pods = pods
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func pod(name, phase string) PodState {
	return PodState{Namespace: "default", Name: name, Phase: phase}
}

// startFeed starts a feed on st whose tag is the bus's head.
func startFeed(t *testing.T, st *fakeState, b *bus.Bus) *StateFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := StartStateFeed(ctx, StateFeedConfig{Read: st.read, Changed: st.changed, Head: b.LastSeq})
	t.Cleanup(func() {
		cancel()
		<-f.Done()
	})
	return f
}

// waitVersion waits until the feed has reached version v.
func waitVersion(t *testing.T, f *StateFeed, v uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		now := f.version
		f.mu.Unlock()
		if now >= v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed is at version %d, not %d", now, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decodeState(t *testing.T, b []byte) stateFrame {
	t.Helper()
	var f stateFrame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("state frame %s: %v", b, err)
	}
	return f
}

// A stream that starts gets the whole state; after that, only what
// changed, each change once and in order; one too far behind gets the
// whole state again. Nothing that did not change makes a frame.
func TestStateFeedSendsTheWholeStateThenChanges(t *testing.T) {
	st := newFakeState(pod("a", "Pending"), pod("b", "Running"))
	b := bus.New(10)
	b.Publish(tracing.Event{Kind: tracing.KindHTTP})
	f := startFeed(t, st, b)
	waitVersion(t, f, 1)

	frames, v := f.framesAfter(0)
	if len(frames) != 1 || v != 1 {
		t.Fatalf("a new stream got %d frames up to version %d, want the whole state at 1", len(frames), v)
	}
	whole := decodeState(t, frames[0])
	if !whole.Full || len(whole.State.Pods) != 2 || whole.Tag != 1 || len(whole.State.Nodes) != 1 {
		t.Fatalf("whole state: %s", frames[0])
	}

	b.Publish(tracing.Event{Kind: tracing.KindHTTP})
	st.set(pod("a", "Running"), pod("c", "Pending"))
	waitVersion(t, f, 2)
	frames, v = f.framesAfter(1)
	if len(frames) != 1 || v != 2 {
		t.Fatalf("after one change: %d frames up to %d", len(frames), v)
	}
	change := decodeState(t, frames[0])
	if change.Full || change.Version != 2 || change.Tag != 2 {
		t.Errorf("change frame: %s", frames[0])
	}
	if len(change.Set) != 2 || len(change.Gone) != 1 || change.Gone[0] != "default/b" {
		t.Errorf("change: set %v, gone %v; want a and c set, b gone", change.Set, change.Gone)
	}
	if change.State == nil || len(change.State.Pods) != 0 || len(change.State.Nodes) != 1 {
		t.Errorf("a change carries the rest of the state without its pods: %s", frames[0])
	}

	// Reads that find nothing new make no frame.
	st.mu.Lock()
	before := st.reads
	st.mu.Unlock()
	st.set(pod("a", "Running"), pod("c", "Pending"))
	time.Sleep(3 * stateSettle)
	st.mu.Lock()
	after := st.reads
	st.mu.Unlock()
	if after == before {
		t.Fatal("the change notice was not read")
	}
	if frames, _ := f.framesAfter(2); len(frames) != 0 {
		t.Errorf("an unchanged state made %d frames", len(frames))
	}

	// Far behind: the whole state, not a history it no longer has.
	for i := 0; i < stateHistory+1; i++ {
		st.mu.Lock()
		st.pods = []PodState{pod("a", "Running"), pod("c", "Pending"), pod("n", strings.Repeat("x", i+1))}
		st.mu.Unlock()
		f.refresh(context.Background()) // at once, not after the settling time
	}
	frames, v = f.framesAfter(2)
	if len(frames) != 1 || !decodeState(t, frames[0]).Full || v != f.version {
		t.Errorf("a stream %d changes behind got %d frames (want the whole state)", v-2, len(frames))
	}
	frames, _ = f.framesAfter(v - 3)
	if len(frames) != 3 {
		t.Fatalf("a stream 3 changes behind got %d frames, want 3", len(frames))
	}
	for i, b := range frames {
		if got := decodeState(t, b); got.Full || got.Version != v-2+uint64(i) {
			t.Errorf("frame %d of 3: version %d full %v, want change %d", i, got.Version, got.Full, v-2+uint64(i))
		}
	}
	// Exactly stateHistory behind: still every change, the oldest first.
	frames, _ = f.framesAfter(v - stateHistory)
	if len(frames) != stateHistory || decodeState(t, frames[0]).Version != v-stateHistory+1 {
		t.Errorf("a stream %d changes behind got %d frames", stateHistory, len(frames))
	}
}

// A burst of changes within the settling time is read once.
func TestStateFeedCoalescesABurst(t *testing.T) {
	st := newFakeState()
	f := startFeed(t, st, bus.New(10))
	waitVersion(t, f, 1)
	for i := 0; i < 20; i++ {
		st.set(pod("a", strings.Repeat("x", i+1)))
	}
	waitVersion(t, f, 2)
	time.Sleep(3 * stateSettle)
	f.mu.Lock()
	v := f.version
	f.mu.Unlock()
	if v > 3 { // the last set may land just after the first read
		t.Errorf("20 changes at once made %d versions", v-1)
	}
}

// readTyped reads a stream's frames until one whose type is typ.
func readTyped(t *testing.T, conn *websocket.Conn, typ string) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for a %s frame: %v", typ, err)
		}
		var f struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &f) == nil && f.Type == typ {
			return b
		}
	}
}

func readStateFrame(t *testing.T, conn *websocket.Conn) stateFrame {
	t.Helper()
	return decodeState(t, readTyped(t, conn, "state"))
}

// The stream carries the state to the pages that ask for it (viewers
// too), the whole state first and then changes; streams that do not ask
// get events only, and a bad value is refused in the stream's protocol.
func TestTheStreamCarriesTheState(t *testing.T) {
	st := newFakeState(pod("a", "Pending"))
	b := bus.New(100)
	trace := &Trace{Bus: b, State: startFeed(t, st, b)}
	c, err := NewClassroom("http://192.0.2.7:8080/")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Trace: trace, Classroom: c, AdminToken: "admin-token"}
	srv := httptest.NewServer(Handler(opts))
	t.Cleanup(func() { c.Close(); srv.Close() })
	base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/trace?"
	dial := func(query string) *websocket.Conn {
		conn, resp, err := websocket.DefaultDialer.Dial(base+query, nil)
		if err != nil {
			t.Fatalf("dialling ?%s: %v %v", query, resp, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	viewer := dial("state=true&" + ViewerParam + "=" + viewerKeyOf(t, c))
	if f := readStateFrame(t, viewer); !f.Full || len(f.State.Pods) != 1 || f.State.Pods[0].Phase != "Pending" {
		t.Fatalf("first frame: %+v", f)
	}
	plain := dial("token=admin-token")

	b.Publish(tracing.Event{Kind: tracing.KindHTTP, Summary: "GET /api/v1/pods"})
	st.set(pod("a", "Running"))
	f := readStateFrame(t, viewer)
	if f.Full || f.Version != 2 || len(f.Set) != 1 || f.Set[0].Phase != "Running" || f.Tag != 1 {
		t.Errorf("change frame: %+v", f)
	}
	// The plain stream gets the event and nothing else.
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ev tracing.Event
	if err := plain.ReadJSON(&ev); err != nil || ev.Summary != "GET /api/v1/pods" {
		t.Fatalf("plain stream: %+v %v", ev, err)
	}
	_ = plain.SetReadDeadline(time.Now().Add(3 * stateSettle))
	if _, b, err := plain.ReadMessage(); err == nil {
		t.Errorf("a stream that did not ask got %s", b)
	}

	bad := dial("token=admin-token&state=maybe")
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := bad.ReadJSON(&ev); err != nil || ev.Kind != tracing.KindError || !strings.Contains(ev.Summary, "state must be true or false") {
		t.Errorf("state=maybe: %+v %v", ev, err)
	}
}
