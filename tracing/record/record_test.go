package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// hangGuard turns a lost event into a failure rather than a hung run; it
// is not a timing assertion.
const hangGuard = time.Minute

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// sampleEvents is one event of every kind with every kind of field and
// Detail value a collector emits.
func sampleEvents() []tracing.Event {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 123456789, time.UTC)
	return []tracing.Event{
		{Seq: 1, Time: t0, Kind: tracing.KindLifecycle, From: tracing.Scheduler, Verb: "ready",
			Summary: "scheduler is ready", Detail: map[string]any{"component": "scheduler", "message": "informers synced"}},
		{Seq: 2, Time: t0.Add(time.Millisecond), Kind: tracing.KindHTTP, From: tracing.Kubectl, To: tracing.APIServer,
			Verb: "create", Resource: "deployments", Namespace: "default", Name: "web", RV: "1201", Status: "201",
			LatencyMs: 3.25, Summary: "kubectl created deployments/default/web",
			Detail: map[string]any{"path": "/apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-create",
				"userAgent": "kubectl/v1.37.2 (linux/amd64)", "user": "kubernetes-admin",
				"groups": []string{"system:masters", "system:authenticated"}, "contentType": "application/json",
				"responseBytes": 1843}},
		{Seq: 3, Time: t0.Add(2 * time.Millisecond), Kind: tracing.KindEtcd, From: tracing.APIServer, To: tracing.Etcd,
			Verb: "put", Resource: "deployments", Namespace: "default", Name: "web", RV: "1201", Status: "put",
			Summary: "put /registry/deployments/default/web", Cause: 2,
			Detail: map[string]any{"key": "/registry/deployments/default/web", "revision": int64(1201), "prevRevision": 0,
				"valueSize": 1650, "value": map[string]any{"kind": "Deployment", "spec": map[string]any{"replicas": 3}}}},
		{Seq: 5, Time: t0.Add(3 * time.Millisecond), Kind: tracing.KindWatch, From: tracing.APIServer, To: tracing.ControllerManager,
			Verb: "ADDED", Resource: "deployments", Namespace: "default", Name: "web", RV: "1201",
			Summary: "deployment web ADDED to controller-manager", Cause: 3,
			Detail: map[string]any{"watchPath": "/apis/apps/v1/deployments?watch=true&resourceVersion=1100", "encoding": "protobuf",
				"objectKind": "Deployment", "uid": "0b6b2c8e-1111-2222-3333-444455556666"}},
		{Seq: 9, Time: t0.Add(4 * time.Millisecond), Kind: tracing.KindCRI, From: "kubelet/node-1", To: "runtime/node-1",
			Verb: "RunPodSandbox", Namespace: "default", Name: "web-1", Status: "OK", LatencyMs: 0.5,
			Summary: "kubelet/node-1 RunPodSandbox web-1", Noise: false,
			Detail: map[string]any{"method": "/runtime.v1.RuntimeService/RunPodSandbox", "podSandboxId": "abc",
				"podUid": "uid-1", "attempt": uint32(0)}},
		{Seq: 10, Time: t0.Add(5 * time.Millisecond), Kind: tracing.KindHTTP, From: tracing.Scheduler, To: tracing.APIServer,
			Verb: "update", Resource: "leases", Namespace: "kube-system", Name: "kube-scheduler", Status: "200",
			Summary: "scheduler renewed its lease", Noise: true, NoiseReason: tracing.NoiseLease},
		{Seq: 20, Time: t0.Add(6 * time.Millisecond), Kind: tracing.KindDropped,
			Summary: "10 events dropped: this client was too slow",
			Detail:  map[string]any{"count": uint64(10), "fromSeq": uint64(11), "toSeq": uint64(20)}},
	}
}

// viaJSON is what an event looks like after a trip through JSON, which is
// what reading a recording gives back: Detail numbers are float64, lists
// []any, and times carry the location JSON parsing gives them.
func viaJSON(t *testing.T, evs []tracing.Event) []tracing.Event {
	t.Helper()
	out := make([]tracing.Event, len(evs))
	for i, e := range evs {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func writeRecording(t *testing.T, evs []tracing.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range evs {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteReadRoundTrip(t *testing.T) {
	evs := sampleEvents()
	before := time.Now()
	data := writeRecording(t, evs)

	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(evs)+1 {
		t.Fatalf("%d lines, want a header and %d events", len(lines), len(evs))
	}
	var h map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil {
		t.Fatalf("header %q: %v", lines[0], err)
	}
	if h["wheelhouseTrace"] != 1.0 || h["formatVersion"] != float64(tracing.FormatVersion) {
		t.Fatalf("header %s", lines[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, h["started"].(string)); err != nil {
		t.Fatalf("header started: %v", err)
	}

	rec, err := Read(bytes.NewReader(data), "trace.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if rec.FormatVersion != tracing.FormatVersion || rec.Started.Before(before.Truncate(time.Second)) {
		t.Fatalf("recording version %d started %v", rec.FormatVersion, rec.Started)
	}
	want := viaJSON(t, evs)
	if !reflect.DeepEqual(rec.Events, want) {
		for i := range want {
			if !reflect.DeepEqual(rec.Events[i], want[i]) {
				t.Fatalf("event %d:\n got %#v\nwant %#v", i, rec.Events[i], want[i])
			}
		}
		t.Fatalf("read %d events, want %d", len(rec.Events), len(want))
	}
	// Spot-check what the JSON trip does to Detail, as documented.
	if got := rec.Events[2].Detail["value"].(map[string]any)["spec"].(map[string]any)["replicas"]; got != 3.0 {
		t.Fatalf("nested number = %#v, want float64 3", got)
	}
	if got := rec.Events[1].Detail["groups"]; !reflect.DeepEqual(got, []any{"system:masters", "system:authenticated"}) {
		t.Fatalf("groups = %#v", got)
	}
	if !rec.Events[0].Time.Equal(evs[0].Time) {
		t.Fatalf("time %v, want %v", rec.Events[0].Time, evs[0].Time)
	}

	// Writing what was read gives the same event lines back.
	again := writeRecording(t, rec.Events)
	againLines := strings.Split(strings.TrimSuffix(string(again), "\n"), "\n")
	if !reflect.DeepEqual(againLines[1:], lines[1:]) {
		t.Fatalf("rewritten events differ:\n%s\n---\n%s", strings.Join(againLines[1:], "\n"), strings.Join(lines[1:], "\n"))
	}
}

func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.jsonl")
	if err := os.WriteFile(path, writeRecording(t, sampleEvents()), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name != path || len(rec.Events) != len(sampleEvents()) {
		t.Fatalf("Open: name %q, %d events", rec.Name, len(rec.Events))
	}
	_, err = Open(filepath.Join(t.TempDir(), "missing.jsonl"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Fatalf("Open(missing) error %v", err)
	}
}

func TestReadRejectsWhatIsNotARecording(t *testing.T) {
	header := `{"wheelhouseTrace":1,"formatVersion":1,"started":"2026-03-04T10:00:00Z"}`
	tests := []struct {
		name, data string
		want       []string
	}{
		{"empty", "", []string{"f.jsonl is not a Wheelhouse trace recording", "empty"}},
		{"not JSON", "hello\n", []string{"f.jsonl is not a Wheelhouse trace recording", "line 1"}},
		{"other JSON", `{"foo":1}` + "\n", []string{"f.jsonl is not a Wheelhouse trace recording", "wheelhouseTrace"}},
		{"array", `[1,2]` + "\n", []string{"f.jsonl is not a Wheelhouse trace recording"}},
		{"events without header", `{"seq":1,"kind":"http","summary":"x"}` + "\n", []string{"f.jsonl is not a Wheelhouse trace recording"}},
		{"wrong marker", `{"wheelhouseTrace":2,"formatVersion":1}` + "\n", []string{"not a Wheelhouse trace recording"}},
		{"no version", `{"wheelhouseTrace":1}` + "\n", []string{"not a Wheelhouse trace recording", "formatVersion"}},
		{"newer version", `{"wheelhouseTrace":1,"formatVersion":2}` + "\n", []string{"f.jsonl uses trace format version 2", "reads version 1"}},

		{"malformed line", header + "\n" + `{"seq":1,"kind":"http","summary":"ok"}` + "\n" + `{"seq":2,"kind":` + "\n",
			[]string{"f.jsonl:3:", "malformed event"}},
		{"wrong type", header + "\n\n" + `{"seq":"one","kind":"http"}` + "\n", []string{"f.jsonl:3:", "malformed event"}},
		{"no kind", header + "\n" + `{"seq":1}` + "\n", []string{"f.jsonl:2:", "kind"}},
		{"no seq", header + "\n" + `{"kind":"http"}` + "\n", []string{"f.jsonl:2:", "seq"}},
		{"seq goes back", header + "\n" + `{"seq":5,"kind":"http"}` + "\n" + `{"seq":5,"kind":"http"}` + "\n",
			[]string{"f.jsonl:3:", "seq 5 is not greater than the previous event's seq 5"}},
		{"truncated last line", header + "\n" + `{"seq":1,"kind":"http"}` + "\n" + `{"seq":2,"ki`,
			[]string{"f.jsonl:3:", "malformed event"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Read(strings.NewReader(tt.data), "f.jsonl")
			if err == nil {
				t.Fatalf("Read accepted it: %+v", rec)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadToleratesBlankLinesCRLFAndUnknownFields(t *testing.T) {
	data := "{\"wheelhouseTrace\":1,\"formatVersion\":1,\"started\":\"2026-03-04T10:00:00Z\",\"host\":\"x\"}\r\n" +
		"\r\n" +
		`{"seq":1,"kind":"http","summary":"a","futureField":{"x":1}}` + "\r\n" +
		"\n" +
		`{"seq":2,"kind":"etcd","summary":"b"}` // no final newline
	rec, err := Read(strings.NewReader(data), "f.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 2 || rec.Events[0].Summary != "a" || rec.Events[1].Kind != tracing.KindEtcd {
		t.Fatalf("events %+v", rec.Events)
	}
	if want := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC); !rec.Started.Equal(want) {
		t.Fatalf("started %v", rec.Started)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(failingWriter{})
	err := w.Write(tracing.Event{Seq: 1, Kind: tracing.KindHTTP, Summary: strings.Repeat("x", 100<<10)})
	if err == nil || !strings.Contains(err.Error(), "write trace event seq 1") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Write to a failing writer: %v", err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close after a failed write: %v", err)
	}
	if err := w.Write(tracing.Event{Seq: 2}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Write after Close: %v", err)
	}

	var buf bytes.Buffer
	w = NewWriter(&buf)
	err = w.Write(tracing.Event{Seq: 3, Kind: tracing.KindHTTP, Detail: map[string]any{"bad": make(chan int)}})
	if err == nil || !strings.Contains(err.Error(), "encode trace event seq 3") {
		t.Fatalf("Write of an unencodable Detail: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// waitSubscribed waits until Record has subscribed, so events published
// after it are certainly recorded.
func waitSubscribed(t *testing.T, ctx context.Context, b *bus.Bus, n int) {
	t.Helper()
	for b.Subscribers() < n {
		if ctx.Err() != nil {
			t.Fatal("Record never subscribed")
		}
		runtime.Gosched()
	}
}

func TestRecordWritesEverythingUntilCancelled(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New(0)
	// Published before Record starts: still in the bus, so recorded.
	before := b.Publish(tracing.Event{Kind: tracing.KindHTTP, Summary: "before recording"})

	var buf bytes.Buffer
	rctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- Record(rctx, b, &buf) }()
	waitSubscribed(t, ctx, b, 1)

	published := []tracing.Event{before}
	for i, e := range sampleEvents() {
		e.Seq, e.Cause = 0, 0
		if i%2 == 1 {
			e.Noise, e.NoiseReason = true, tracing.NoiseEvent // noise is recorded too
		}
		published = append(published, b.Publish(e))
	}
	// Cancel at once: the events already published must still be written.
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Record: %v", err)
	}
	if b.Subscribers() != 0 {
		t.Fatal("Record left its subscription open")
	}
	rec, err := Read(&buf, "recorded")
	if err != nil {
		t.Fatal(err)
	}
	if want := viaJSON(t, published); !reflect.DeepEqual(rec.Events, want) {
		t.Fatalf("recorded:\n%v\nwant:\n%v", rec.Events, want)
	}
}

// gateWriter blocks the first Write until released, like a disk that
// stalls, and says when that Write has started.
type gateWriter struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	entered  chan struct{}
	release  chan struct{}
	didBlock bool
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	first := !g.didBlock
	g.didBlock = true
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gateWriter) contains(s string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Contains(g.buf.String(), s)
}

// A disk slower than the cluster: the recording says where it has a gap.
func TestRecordWritesTheDroppedMarker(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New(0)
	g := &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
	rctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	const queue = 4
	go func() { errc <- record(rctx, b, g, queue) }()
	waitSubscribed(t, ctx, b, 1)

	// Large enough that writing it reaches the underlying writer.
	big := strings.Repeat("x", 100<<10)
	publish := func(from, to int) {
		for i := from; i <= to; i++ {
			b.Publish(tracing.Event{Kind: tracing.KindEtcd, Summary: fmt.Sprint(i), Detail: map[string]any{"value": big}})
		}
	}
	publish(1, 1)
	select {
	case <-g.entered: // Record took event 1 and is stuck writing it
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	publish(2, 20) // 2..5 queued, 6..20 dropped
	close(g.release)
	// Record flushes once it has caught up, which is after the marker.
	for !g.contains(`"kind":"dropped"`) {
		if ctx.Err() != nil {
			t.Fatal("the marker was never written")
		}
		runtime.Gosched()
	}
	publish(21, 21)
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("record: %v", err)
	}
	rec, err := Read(&g.buf, "recorded")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.Events {
		if e.Kind == tracing.KindDropped {
			got = append(got, fmt.Sprintf("dropped(%v %v-%v seq %d)", e.Detail["count"], e.Detail["fromSeq"], e.Detail["toSeq"], e.Seq))
		} else {
			got = append(got, e.Summary)
		}
	}
	if want := "[1 2 3 4 5 dropped(15 6-20 seq 20) 21]"; fmt.Sprint(got) != want {
		t.Fatalf("recorded %v, want %s", got, want)
	}
}

func TestReplayReproducesTheRecording(t *testing.T) {
	ctx := testCtx(t)
	rec, err := Read(bytes.NewReader(writeRecording(t, sampleEvents())), "sample")
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(0)
	sub := b.Subscribe(bus.Filter{IncludeNoise: true}, 0, 0)
	defer sub.Close()
	if err := Replay(ctx, rec, b, 0); err != nil {
		t.Fatal(err)
	}
	type key struct {
		seq, cause uint64
		kind       tracing.Kind
		summary    string
		time       time.Time
	}
	for _, want := range rec.Events {
		got, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k, w := (key{got.Seq, got.Cause, got.Kind, got.Summary, got.Time}), (key{want.Seq, want.Cause, want.Kind, want.Summary, want.Time}); k != w {
			t.Fatalf("replayed %+v, recorded %+v", k, w)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("replayed %#v\nrecorded %#v", got, want)
		}
	}
	// Cause links resolve in the replayed bus.
	for _, e := range rec.Events {
		if e.Cause == 0 {
			continue
		}
		if c, ok := b.Get(e.Cause); !ok || c.Seq != e.Cause {
			t.Fatalf("seq %d's cause %d is not in the replayed bus", e.Seq, e.Cause)
		}
	}
	if b.LastSeq() != rec.Events[len(rec.Events)-1].Seq {
		t.Fatalf("LastSeq %d", b.LastSeq())
	}
	// Replaying again into the same bus cannot keep the seqs.
	if err := Replay(ctx, rec, b, 0); err == nil || !strings.Contains(err.Error(), "fresh bus") {
		t.Fatalf("second replay into the same bus: %v", err)
	}
	// Infinite speed also means as fast as possible; an empty recording
	// is a no-op.
	if err := Replay(ctx, rec, bus.New(0), math.Inf(1)); err != nil {
		t.Fatal(err)
	}
	if err := Replay(ctx, &Recording{}, b, 1); err != nil {
		t.Fatal(err)
	}
}

// Replay ends when ctx ends, also while it is waiting for the next event's
// time. (No timing assertion: the second event is due in an hour, and the
// test only checks that Replay returns once cancelled, having published
// only the first.)
func TestReplayStopsWhenCtxEnds(t *testing.T) {
	ctx := testCtx(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &Recording{Name: "slow", Events: []tracing.Event{
		{Seq: 1, Time: t0, Kind: tracing.KindHTTP, Summary: "now"},
		{Seq: 2, Time: t0.Add(time.Hour), Kind: tracing.KindHTTP, Summary: "in an hour"},
	}}
	b := bus.New(0)
	sub := b.Subscribe(bus.Filter{}, 0, 0)
	defer sub.Close()
	rctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- Replay(rctx, rec, b, 1) }()
	if e, err := sub.Next(ctx); err != nil || e.Seq != 1 {
		t.Fatalf("first replayed event: %+v, %v", e, err)
	}
	stop()
	err := <-errc
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "replay slow") {
		t.Fatalf("Replay after cancel: %v, want a wrapped context.Canceled", err)
	}
	if b.LastSeq() != 1 {
		t.Fatalf("LastSeq %d after cancelling, want 1", b.LastSeq())
	}

	// Cancelled before it starts: nothing is published.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	b2 := bus.New(0)
	if err := Replay(cancelled, rec, b2, 0); !errors.Is(err, context.Canceled) || b2.LastSeq() != 0 {
		t.Fatalf("Replay with a cancelled ctx: %v, LastSeq %d", err, b2.LastSeq())
	}
}

func TestScaleSaturates(t *testing.T) {
	if got := scale(time.Hour, 1e-30); got != time.Duration(1<<63-1) {
		t.Fatalf("scale(1h, 1e-30) = %v", got)
	}
	if got := scale(time.Second, 2); got != 500*time.Millisecond {
		t.Fatalf("scale(1s, 2) = %v", got)
	}
}

// The examples in docs/trace-format.md are what tool authors copy; they
// must decode as events, cover every kind, and the example recording must
// be readable.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/trace-format.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	kinds := map[tracing.Kind]bool{}
	for _, block := range strings.Split(text, "```json\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		switch {
		case strings.HasPrefix(block, "["):
			// A batch: every element an event.
			var batch []json.RawMessage
			if err := json.Unmarshal([]byte(block), &batch); err != nil || len(batch) == 0 {
				t.Fatalf("doc example of a batch: %v\n%s", err, block)
			}
			for _, raw := range batch {
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.DisallowUnknownFields()
				var e tracing.Event
				if err := dec.Decode(&e); err != nil || e.Seq == 0 {
					t.Fatalf("doc example of a batch holds a non-event: %v\n%s", err, raw)
				}
			}
			continue
		case strings.HasPrefix(block, `{"type": `), strings.HasPrefix(block, `{"teach": `):
			// The stream's state, check and classroom frames and a
			// page's teaching message are not events; each must still
			// be valid JSON of a known type.
			dec := json.NewDecoder(strings.NewReader(block))
			for dec.More() {
				var frame map[string]any
				if err := dec.Decode(&frame); err != nil {
					t.Fatalf("doc example of a stream frame: %v\n%s", err, block)
				}
				if _, teach := frame["teach"]; !teach && !slices.Contains([]any{"state", "check", "teach", "viewers"}, frame["type"]) {
					t.Fatalf("doc example of a stream frame of unknown type %v\n%s", frame["type"], block)
				}
			}
			continue
		}
		dec := json.NewDecoder(strings.NewReader(block))
		dec.DisallowUnknownFields() // a typo in a field name is a doc bug
		var e tracing.Event
		if err := dec.Decode(&e); err != nil {
			if strings.Contains(block, "wheelhouseTrace") {
				continue // the header example
			}
			t.Fatalf("doc example does not decode as an event: %v\n%s", err, block)
		}
		kinds[e.Kind] = true
	}
	for _, k := range []tracing.Kind{tracing.KindHTTP, tracing.KindWatch, tracing.KindEtcd, tracing.KindCRI,
		tracing.KindNet, tracing.KindLifecycle, tracing.KindDropped, tracing.KindError} {
		if !kinds[k] {
			t.Errorf("docs have no JSON example of kind %s", k)
		}
	}
	_, after, ok := strings.Cut(text, "Example of a complete (tiny) recording:\n\n```\n")
	if !ok {
		t.Fatal("docs have no example recording")
	}
	example, _, _ := strings.Cut(after, "```")
	rec, err := Read(strings.NewReader(example), "example")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 2 || rec.Events[1].Cause != rec.Events[0].Seq {
		t.Fatalf("example recording: %+v", rec.Events)
	}
}
