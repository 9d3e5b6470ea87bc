package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/record"
)

// traceClient is a websocket client of /ws/trace that keeps what it reads.
type traceClient struct {
	conn   *websocket.Conn
	mu     sync.Mutex
	events []tracing.Event
	done   chan struct{}
	err    error
}

func dialTrace(t testing.TB, uiAddr, query string) *websocket.Conn {
	t.Helper()
	u := "ws://" + uiAddr + "/ws/trace"
	if query != "" {
		u += "?" + query
	}
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dialing %s: %v %s", u, err, status)
	}
	return conn
}

// followTrace reads events in the background until Close.
func followTrace(t testing.TB, uiAddr, query string) *traceClient {
	t.Helper()
	c := &traceClient{conn: dialTrace(t, uiAddr, query), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			var ev tracing.Event
			if err := c.conn.ReadJSON(&ev); err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.conn.Close(); <-c.done })
	return c
}

func (c *traceClient) snapshot() []tracing.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tracing.Event(nil), c.events...)
}

// waitFor returns the first event matching pred, waiting up to timeout.
func (c *traceClient) waitFor(t testing.TB, timeout time.Duration, what string, pred func(*tracing.Event) bool) tracing.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, ev := range c.snapshot() {
			if pred(&ev) {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("trace: %s not seen within %s", what, timeout)
	return tracing.Event{}
}

// eventDetail fetches /api/events/{seq}.
func eventDetail(t testing.TB, uiAddr string, seq uint64) map[string]json.RawMessage {
	t.Helper()
	body, err := httpGet(fmt.Sprintf("http://%s/api/events/%d", uiAddr, seq))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// chain indexes events by seq to follow causes.
type chain map[uint64]tracing.Event

func newChain(evs []tracing.Event) chain {
	c := chain{}
	for _, e := range evs {
		c[e.Seq] = e
	}
	return c
}

// descends reports whether ancestor is reached by following effect's causes.
func (c chain) descends(effect, ancestor tracing.Event) bool {
	seen := 0
	for cur := effect; cur.Cause != 0 && seen < 10000; seen++ {
		if cur.Cause == ancestor.Seq {
			return true
		}
		next, ok := c[cur.Cause]
		if !ok {
			return false
		}
		cur = next
	}
	return false
}

func TestGoldenFlowIsTracedAndLinked(t *testing.T) {
	checkGoldenFlow(t, shared, "nginx", "--image", "nginx")
}

// goldenFlow is what checkGoldenFlow found: the trace, the node the pod
// ran on, and its CRI calls by method.
type goldenFlow struct {
	events []tracing.Event
	node   string
	cri    map[string]tracing.Event
}

// checkGoldenFlow runs `kubectl run name runArgs…` on cl and checks the
// golden flow of the tracing issue: (1) kubectl's POST, (2) its etcd
// write, (3) the scheduler's ADDED, (4) the binding, (5) its etcd write,
// (6) the watch event to that node's kubelet only, (7) the CRI calls in
// causal order, (8) the kubelet's status update, (9) the Running write.
func checkGoldenFlow(t *testing.T, cl *testCluster, name string, runArgs ...string) goldenFlow {
	t.Helper()
	ctx := context.Background()
	client := cl.client(t)
	ns := createNamespace(t, client, "golden")
	tc := followTrace(t, cl.uiAddr, "noise=true")

	k := embeddedKubectl(cl.kubeconfig())
	k.mustRun(t, append([]string{"run", name, "--restart", "Never", "-n", ns}, runArgs...)...)
	is := func(kind tracing.Kind, verb string) func(*tracing.Event) bool {
		return func(e *tracing.Event) bool {
			return e.Kind == kind && e.Verb == verb && e.Namespace == ns && e.Name == name
		}
	}
	// (9) comes last: wait for the etcd write that made the pod Running.
	var running tracing.Event
	tc.waitFor(t, 90*time.Second, "the etcd write of phase Running", func(e *tracing.Event) bool {
		if e.Kind != tracing.KindEtcd || e.Namespace != ns || e.Name != name || e.Verb != "put" {
			return false
		}
		var v struct {
			Value struct {
				Status struct{ Phase string } `json:"status"`
			} `json:"value"`
		}
		raw := eventDetail(t, cl.uiAddr, e.Seq)
		if json.Unmarshal(mustJSON(raw), &v) == nil && v.Value.Status.Phase == "Running" {
			running = *e
			return true
		}
		return false
	})
	evs := tc.snapshot()
	c := newChain(evs)
	find := func(what string, pred func(*tracing.Event) bool) tracing.Event {
		t.Helper()
		for _, e := range evs {
			if pred(&e) {
				return e
			}
		}
		t.Fatalf("golden flow: no %s in the trace", what)
		return tracing.Event{}
	}

	post := find("(1) POST pods by kubectl", func(e *tracing.Event) bool {
		return is(tracing.KindHTTP, "create")(e) && e.From == "kubectl" && e.Subresource == "" && e.Status == "201"
	})
	put1 := find("(2) etcd put of the new pod", func(e *tracing.Event) bool {
		return is(tracing.KindEtcd, "put")(e) && e.Detail["key"] == "/registry/pods/"+ns+"/"+name && e.Cause == post.Seq
	})
	r1, _ := strconv.ParseInt(put1.RV, 10, 64)
	added := find("(3) ADDED to the scheduler", func(e *tracing.Event) bool {
		return is(tracing.KindWatch, "ADDED")(e) && e.To == "scheduler" && e.RV == put1.RV && e.Cause == put1.Seq
	})
	binding := find("(4) binding by the scheduler", func(e *tracing.Event) bool {
		return is(tracing.KindHTTP, "create")(e) && e.From == "scheduler" && e.Subresource == "binding" && e.Status == "201"
	})
	if !c.descends(binding, added) {
		t.Errorf("(4) binding (seq %d) is not linked to (3) ADDED (seq %d)", binding.Seq, added.Seq)
	}
	put2 := find("(5) etcd put caused by the binding", func(e *tracing.Event) bool {
		return is(tracing.KindEtcd, "put")(e) && e.Cause == binding.Seq
	})
	r2, _ := strconv.ParseInt(put2.RV, 10, 64)
	if r2 <= r1 {
		t.Errorf("(5) revision %d is not after (2) revision %d", r2, r1)
	}
	var bound struct {
		Value struct {
			Spec struct{ NodeName string } `json:"spec"`
		} `json:"value"`
	}
	if err := json.Unmarshal(mustJSON(eventDetail(t, cl.uiAddr, put2.Seq)), &bound); err != nil || bound.Value.Spec.NodeName == "" {
		t.Fatalf("(5) the stored pod has no spec.nodeName (%v)", err)
	}
	node := bound.Value.Spec.NodeName
	kubelet := "kubelet/" + node
	toKubelet := find("(6) watch event to "+kubelet, func(e *tracing.Event) bool {
		return e.Kind == tracing.KindWatch && e.Name == name && e.Namespace == ns && e.RV == put2.RV && e.To == kubelet && e.Cause == put2.Seq
	})
	for _, e := range evs {
		// (Only events about the pod: a bookmark to any watcher may carry
		// the same revision.)
		if e.Kind == tracing.KindWatch && e.Name == name && e.Namespace == ns && e.RV == put2.RV && strings.HasPrefix(e.To, "kubelet/") && e.To != kubelet {
			t.Errorf("(6) revision %s was also sent to %s (%s)", put2.RV, e.To, e.Summary)
		}
	}
	flow := goldenFlow{events: evs, node: node, cri: map[string]tracing.Event{}}
	prev := toKubelet
	for _, method := range []string{"RunPodSandbox", "PullImage", "CreateContainer", "StartContainer"} {
		var call tracing.Event
		found := false
		for _, e := range evs {
			if e.Kind == tracing.KindCRI && e.Verb == method && e.Name == name && e.Namespace == ns && e.To == "runtime/"+node {
				call, found = e, true
				break
			}
		}
		if !found {
			if method == "PullImage" {
				continue // the node had nginx already
			}
			t.Fatalf("(7) no %s for the pod on runtime/%s", method, node)
		}
		flow.cri[method] = call
		if call.Seq <= prev.Seq || !c.descends(call, prev) {
			t.Errorf("(7) %s (seq %d, cause %d) does not follow %s %s (seq %d) in the causal chain", method, call.Seq, call.Cause, prev.Kind, prev.Verb, prev.Seq)
		}
		prev = call
	}
	patch := find("(9)'s cause", func(e *tracing.Event) bool { return e.Seq == running.Cause })
	if patch.Kind != tracing.KindHTTP || patch.From != kubelet || (patch.Verb != "patch" && patch.Verb != "update") || patch.Subresource != "status" {
		t.Fatalf("(8) the Running write was caused by %+v, not the kubelet's status update", patch)
	}
	if !c.descends(patch, prev) {
		t.Errorf("(8) status update (seq %d) does not follow StartContainer (seq %d)", patch.Seq, prev.Seq)
	}
	r3, _ := strconv.ParseInt(running.RV, 10, 64)
	if r3 <= r2 {
		t.Errorf("(9) revision %d is not after (5) revision %d", r3, r2)
	}

	// Watchers decode both encodings: in-process components use protobuf.
	if toKubelet.Detail["encoding"] != "protobuf" || added.Detail["encoding"] != "protobuf" {
		t.Errorf("component watch events not decoded from protobuf: %v, %v", toKubelet.Detail["encoding"], added.Detail["encoding"])
	}
	// Lease renewals are recorded, and marked as noise.
	lease := tc.waitFor(t, 30*time.Second, "a lease renewal", func(e *tracing.Event) bool {
		return e.Resource == "leases" && e.Kind == tracing.KindHTTP && e.Verb == "update"
	})
	if !lease.Noise || lease.NoiseReason != tracing.NoiseLease {
		t.Errorf("lease renewal not marked as noise: %+v", lease)
	}
	// The flow API returns the chain for the object, in order.
	body, err := httpGet("http://" + cl.uiAddr + "/api/flows?object=" + url.QueryEscape("pods/"+ns+"/"+name))
	if err != nil {
		t.Fatal(err)
	}
	var flowAPI struct{ Events []tracing.Event }
	if err := json.Unmarshal([]byte(body), &flowAPI); err != nil {
		t.Fatal(err)
	}
	want := []uint64{post.Seq, put1.Seq, added.Seq, binding.Seq, put2.Seq, toKubelet.Seq, running.Seq}
	got := map[uint64]bool{}
	for i, e := range flowAPI.Events {
		got[e.Seq] = true
		if i > 0 && e.Seq <= flowAPI.Events[i-1].Seq {
			t.Fatalf("/api/flows not in seq order at %d", i)
		}
	}
	for _, s := range want {
		if !got[s] {
			t.Errorf("/api/flows lacks event %d", s)
		}
	}
	_ = ctx
	return flow
}

func mustJSON(m map[string]json.RawMessage) []byte {
	b, _ := json.Marshal(m)
	return b
}

func TestKubectlWatchIsDecodedFromJSON(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "jsonwatch")
	tc := followTrace(t, shared.uiAddr, "kinds=watch,http&namespace="+ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := embeddedKubectl(shared.kubeconfig()).command(ctx, "get", "configmaps", "-n", ns, "-w", "-o", "name")
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); watch.Wait() }()
	// kubectl -w lists, then watches; create once the apiserver has
	// started answering the watch (its request event goes out then).
	tc.waitFor(t, 20*time.Second, "kubectl's watch request", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindHTTP && e.From == "kubectl" && e.Verb == "watch" && e.Resource == "configmaps"
	})
	if _, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := tc.waitFor(t, 20*time.Second, "ADDED watched to kubectl", func(e *tracing.Event) bool {
		return e.To == "kubectl" && e.Verb == "ADDED" && e.Name == "watched"
	})
	if ev.Detail["encoding"] != "json" || ev.Detail["objectKind"] != "ConfigMap" {
		t.Errorf("kubectl's watch event: encoding %v kind %v, want json ConfigMap", ev.Detail["encoding"], ev.Detail["objectKind"])
	}
}

func TestTraceStreamRejectsBadInput(t *testing.T) {
	conn := dialTrace(t, shared.uiAddr, "kinds=http,bogus")
	defer conn.Close()
	var ev tracing.Event
	if err := conn.ReadJSON(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != tracing.KindError || !strings.Contains(ev.Summary, "bogus") {
		t.Errorf("want an error frame naming the bad kind, got %+v", ev)
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("want a policy-violation close after the error, got %v", err)
	}

	header := http.Header{"Origin": []string{"http://evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+shared.uiAddr+"/ws/trace", header)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign Origin was not refused: %v %v", err, resp)
	}
	// The cluster is unaffected.
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "get", "nodes")
}

func TestResumeWithSinceHasNoGapAndNoDuplicate(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "resume")
	first := followTrace(t, shared.uiAddr, "noise=true")
	first.waitFor(t, 30*time.Second, "any event", func(*tracing.Event) bool { return true })
	evs := first.snapshot()
	last := evs[len(evs)-1].Seq
	first.conn.Close()
	<-first.done

	for i := 0; i < 20; i++ {
		if _, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	second := followTrace(t, shared.uiAddr, "noise=true&since="+strconv.FormatUint(last, 10))
	second.waitFor(t, 30*time.Second, "the last configmap's etcd write", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindEtcd && e.Namespace == ns && e.Name == "cm-19"
	})
	got := second.snapshot()
	for i, e := range got {
		if e.Kind == tracing.KindDropped {
			t.Fatalf("resume lost events: %+v", e)
		}
		if want := last + uint64(i) + 1; e.Seq != want {
			t.Fatalf("event %d after resuming has seq %d, want %d (gap or duplicate)", i, e.Seq, want)
		}
	}
}

// TestSlowSubscriberIsDroppedNotWaitedFor: one client reads nothing for
// 10 s while 2,000 pods are created; it is told how many events it missed,
// and a client reading normally in the same run misses nothing.
func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "slow")
	stalled := dialTrace(t, shared.uiAddr, "noise=true")
	defer stalled.Close()
	normal := followTrace(t, shared.uiAddr, "noise=true")

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := w; i < 2000; i += 8 {
				// A scheduler name nobody serves keeps the pods unscheduled:
				// this measures the apiserver and the tracer, not kubelets.
				pod := &v1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i)},
					Spec:       v1.PodSpec{SchedulerName: "nobody", Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
				}
				if _, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("created 2,000 pods in %s", time.Since(start).Round(time.Millisecond))
	if wait := 10*time.Second - time.Since(start); wait > 0 {
		time.Sleep(wait)
	}
	// Now the stalled client reads: it must learn that it lost events.
	_ = stalled.SetReadDeadline(time.Now().Add(60 * time.Second))
	var dropped tracing.Event
	for {
		var ev tracing.Event
		if err := stalled.ReadJSON(&ev); err != nil {
			t.Fatalf("stalled client: %v", err)
		}
		if ev.Kind == tracing.KindDropped {
			dropped = ev
			break
		}
	}
	if n, _ := dropped.Detail["count"].(float64); n <= 0 {
		t.Errorf("dropped marker without a count: %+v", dropped)
	}
	last := normal.waitFor(t, 60*time.Second, "the last pod's etcd write", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindEtcd && e.Namespace == ns && e.Name == "p-1999"
	})
	_ = last
	got := normal.snapshot()
	for i := 1; i < len(got); i++ {
		if got[i].Kind == tracing.KindDropped {
			t.Fatalf("the normal client lost events: %+v", got[i])
		}
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("the normal client has a gap: seq %d then %d", got[i-1].Seq, got[i].Seq)
		}
	}
	if err := client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
		t.Log(err)
	}
}

// TestRecordingReplaysTheSameEvents records a small cluster, stops it, and
// replays the file with no cluster.
func TestRecordingReplaysTheSameEvents(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "trace.jsonl")
	tc, err := startClusterIn(t.TempDir(), 1, "--record", file)
	if err != nil {
		t.Fatal(err)
	}
	embeddedKubectl(tc.kubeconfig()).mustRun(t, "run", "web", "--image", "nginx", "--restart", "Never")
	live := followTrace(t, tc.uiAddr, "noise=true&since=0")
	live.waitFor(t, 60*time.Second, "web's status update", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindHTTP && e.Name == "web" && e.Subresource == "status"
	})
	if err := tc.stop(); err != nil {
		t.Fatal(err)
	}
	rec, err := record.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := live.snapshot()
	if len(rec.Events) < len(seen) {
		t.Fatalf("recording has %d events, the live stream showed %d", len(rec.Events), len(seen))
	}

	base, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(base)
	ctx, cancel := context.WithCancel(context.Background())
	replay := wheelhouse(ctx, "replay", file, "--speed", "0", "--ui-addr", addr)
	replay.Stdout, replay.Stderr = os.Stderr, os.Stderr
	if err := replay.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = replay.Wait() }()
	eventually(t, 30*time.Second, "replay serving", func() (bool, string) {
		_, err := httpGet("http://" + addr + "/healthz")
		return err == nil, fmt.Sprint(err)
	})
	replayed := followTrace(t, addr, "noise=true&since=0")
	lastSeq := rec.Events[len(rec.Events)-1].Seq
	replayed.waitFor(t, 60*time.Second, "the last recorded event", func(e *tracing.Event) bool { return e.Seq == lastSeq })
	got := replayed.snapshot()
	if len(got) != len(rec.Events) {
		t.Fatalf("replayed %d events, recorded %d", len(got), len(rec.Events))
	}
	for i := range got {
		r := rec.Events[i]
		if got[i].Seq != r.Seq || got[i].Kind != r.Kind || got[i].Summary != r.Summary || got[i].Cause != r.Cause {
			t.Fatalf("event %d differs: replayed %+v, recorded %+v", i, got[i], r)
		}
	}
	for i, e := range seen {
		if e.Seq != rec.Events[i].Seq || e.Summary != rec.Events[i].Summary {
			t.Fatalf("live event %d (%d %q) differs from the recording (%d %q)", i, e.Seq, e.Summary, rec.Events[i].Seq, rec.Events[i].Summary)
		}
	}

	t.Run("the page works from the recording", func(t *testing.T) {
		ctx := newBrowser(t)
		openUI(t, ctx, addr)
		if mode := evalJS[string](t, ctx, `window.wheelhouse.mode`); mode != "replay" {
			t.Errorf("page mode %q, want replay", mode)
		}
		eventually(t, 30*time.Second, "the recorded events received", func() (bool, string) {
			n := evalJS[int](t, ctx, `window.wheelhouse.events`)
			return n == len(rec.Events), fmt.Sprintf("%d events", n)
		})
		// The replay finished before the page opened: the recording
		// arrives as one burst, shown but not animated, and plays,
		// animated, from where the scrubber is put.
		evalJS[any](t, ctx, `window.wheelhouse.scrubTo(0)`)
		eventually(t, 30*time.Second, "the recorded events animated from the scrubber", func() (bool, string) {
			a := evalJS[int](t, ctx, `window.wheelhouse.animated.length`)
			return a > 0, fmt.Sprintf("%d animated", a)
		})
		// The pod of the recording is drawn from the trace alone.
		eventually(t, 30*time.Second, "web's chip", func() (bool, string) {
			return evalJS[bool](t, ctx, `!!document.querySelector('[data-pod="default/web"]')`), "no chip"
		})
		screenshot(t, ctx, "ui-replay")
	})
}

// TestRefusedRequestsAreRecorded: a request refused by authorization
// never reaches the API, and is recorded all the same.
func TestRefusedRequestsAreRecorded(t *testing.T) {
	tc := followTrace(t, shared.uiAddr, "kinds=http&noise=true")
	req, err := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/api/v1/namespaces/kube-system/secrets", shared.apiPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "curl/8.5.0")
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous request answered %s", resp.Status)
	}
	ev := tc.waitFor(t, 20*time.Second, "the refused request", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindHTTP && e.From == "curl" && e.Status == strconv.Itoa(resp.StatusCode)
	})
	if ev.Detail["rejected"] != true || ev.Resource != "secrets" || ev.Namespace != "kube-system" || ev.Verb != "list" {
		t.Errorf("refused request recorded as %+v", ev)
	}
}

// TestControllersAreNamed: each controller of the controller manager calls
// with its own service account, and the trace names it.
func TestControllersAreNamed(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "ctrl")
	tc := followTrace(t, shared.uiAddr, "kinds=http&namespace="+ns)
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "create", "deployment", "web", "--image", "nginx", "-n", ns)
	rs := tc.waitFor(t, 30*time.Second, "the ReplicaSet created by the deployment controller", func(e *tracing.Event) bool {
		return e.Verb == "create" && e.Resource == "replicasets"
	})
	if rs.From != "controller-manager" || rs.Detail["controller"] != "deployment-controller" {
		t.Errorf("ReplicaSet created by %q (controller %v), want controller-manager / deployment-controller", rs.From, rs.Detail["controller"])
	}
	pod := tc.waitFor(t, 30*time.Second, "the pod created by the replicaset controller", func(e *tracing.Event) bool {
		return e.Verb == "create" && e.Resource == "pods" && e.Subresource == ""
	})
	if pod.From != "controller-manager" || pod.Detail["controller"] != "replicaset-controller" {
		t.Errorf("pod created by %q (controller %v), want controller-manager / replicaset-controller", pod.From, pod.Detail["controller"])
	}
	if ua, _ := pod.Detail["userAgent"].(string); !strings.Contains(ua, "/v1.37.2 ") {
		t.Errorf("user agent %q does not carry the release", ua)
	}
}
