package link

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// recorder is a Publisher that assigns seqs like the bus.
type recorder struct {
	mu     sync.Mutex
	events []tracing.Event
}

func (r *recorder) Publish(ev tracing.Event) tracing.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev.Seq = uint64(len(r.events) + 1)
	r.events = append(r.events, ev)
	return ev
}

func (r *recorder) snapshot() []tracing.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tracing.Event(nil), r.events...)
}

func start(t *testing.T, opts Options) (*Linker, *recorder) {
	t.Helper()
	rec := &recorder{}
	l := New(rec, opts)
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	t.Cleanup(cancel)
	return l, rec
}

func flush(t *testing.T, l *Linker) {
	t.Helper()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls until n events are published (held events are released by
// the linker's ticker).
func waitFor(t *testing.T, rec *recorder, n int) []tracing.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if evs := rec.snapshot(); len(evs) >= n {
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d events published: %+v", n, rec.snapshot())
	return nil
}

func httpEv(from, verb, resource, sub, ns, name, rv, status string) tracing.Event {
	return tracing.Event{Kind: tracing.KindHTTP, From: from, To: tracing.APIServer, Verb: verb, Resource: resource, Subresource: sub, Namespace: ns, Name: name, RV: rv, Status: status, Summary: from + " " + verb}
}

func etcdEv(resource, ns, name, rev string) tracing.Event {
	return tracing.Event{Kind: tracing.KindEtcd, From: tracing.APIServer, To: tracing.Etcd, Verb: "put", Resource: resource, Namespace: ns, Name: name, RV: rev, Status: "put", Summary: "put " + name}
}

func watchEv(to, typ, resource, ns, name, rv string) tracing.Event {
	return tracing.Event{Kind: tracing.KindWatch, From: tracing.APIServer, To: to, Verb: typ, Resource: resource, Namespace: ns, Name: name, RV: rv, Summary: typ + " " + name}
}

func criEv(node, method, ns, name string) tracing.Event {
	return tracing.Event{Kind: tracing.KindCRI, From: "kubelet/" + node, To: "runtime/" + node, Verb: method, Resource: "pods", Namespace: ns, Name: name, Status: "OK", Summary: method}
}

func TestEtcdWriteReportedBeforeItsRequestWaitsForIt(t *testing.T) {
	l, rec := start(t, Options{})
	id := l.NextRequestID()
	l.BeginWrite(WriteBegin{ID: id, Component: "kubectl", Resource: "pods", Namespace: "default"})
	l.Submit(etcdEv("pods", "default", "nginx", "100"))
	flush(t, l)
	if evs := rec.snapshot(); len(evs) != 0 {
		t.Fatalf("etcd write published before the request that made it: %+v", evs)
	}
	l.SubmitHTTP(httpEv("kubectl", "create", "pods", "", "default", "nginx", "100", "201"), id)
	evs := waitFor(t, rec, 2)
	if evs[0].Kind != tracing.KindHTTP || evs[1].Kind != tracing.KindEtcd || evs[1].Cause != evs[0].Seq {
		t.Fatalf("want http then etcd caused by it, got %+v", evs)
	}
}

func TestEtcdWriteAfterItsRequestIsLinkedByRevision(t *testing.T) {
	l, rec := start(t, Options{})
	l.SubmitHTTP(httpEv("kubectl", "create", "configmaps", "", "default", "a", "7", "201"), 0)
	l.Submit(etcdEv("configmaps", "default", "a", "7"))
	evs := waitFor(t, rec, 2)
	if evs[1].Cause != evs[0].Seq {
		t.Fatalf("etcd write not linked to its request: %+v", evs)
	}
}

func TestBindingWithoutResourceVersionIsLinkedToTheNextWrite(t *testing.T) {
	l, rec := start(t, Options{})
	// pods/binding answers with a Status: no resourceVersion.
	l.SubmitHTTP(httpEv("scheduler", "create", "pods", "binding", "default", "nginx", "", "201"), 0)
	l.Submit(etcdEv("pods", "default", "nginx", "12"))
	evs := waitFor(t, rec, 2)
	if evs[1].Cause != evs[0].Seq {
		t.Fatalf("etcd write not linked to the binding: %+v", evs)
	}
}

func TestWatchEventWaitsForItsEtcdWrite(t *testing.T) {
	l, rec := start(t, Options{})
	l.Submit(etcdEv("pods", "default", "other", "5")) // the etcd collector has seen up to 5
	l.Submit(watchEv("scheduler", "ADDED", "pods", "default", "nginx", "6"))
	flush(t, l)
	if evs := rec.snapshot(); len(evs) != 1 {
		t.Fatalf("watch event for a revision etcd has not reported was published early: %+v", evs)
	}
	l.Submit(etcdEv("pods", "default", "nginx", "6"))
	evs := waitFor(t, rec, 3)
	if evs[1].Kind != tracing.KindEtcd || evs[2].Kind != tracing.KindWatch || evs[2].Cause != evs[1].Seq {
		t.Fatalf("want etcd then watch caused by it, got %+v", evs)
	}
}

func TestWatchEventOfAnOldRevisionIsNotHeld(t *testing.T) {
	l, rec := start(t, Options{})
	l.Submit(etcdEv("pods", "default", "a", "50"))
	l.Submit(watchEv("kubelet/node-1", "ADDED", "pods", "default", "b", "20")) // initial list
	evs := waitFor(t, rec, 2)
	if evs[1].Cause != 0 {
		t.Fatalf("old revision got a cause: %+v", evs[1])
	}
}

func TestGoldenChain(t *testing.T) {
	l, rec := start(t, Options{})
	id := l.NextRequestID()
	l.BeginWrite(WriteBegin{ID: id, Component: "kubectl", Resource: "pods", Namespace: "default"})
	l.SubmitHTTP(httpEv("kubectl", "create", "pods", "", "default", "nginx", "100", "201"), id)
	l.Submit(etcdEv("pods", "default", "nginx", "100"))
	l.Submit(watchEv("scheduler", "ADDED", "pods", "default", "nginx", "100"))
	l.SubmitHTTP(httpEv("scheduler", "create", "pods", "binding", "default", "nginx", "", "201"), 0)
	l.Submit(etcdEv("pods", "default", "nginx", "101"))
	l.Submit(watchEv("kubelet/node-2", "ADDED", "pods", "default", "nginx", "101"))
	l.Submit(criEv("node-2", "ListContainers", "", "")) // a poll: noise, no cause, causes nothing
	l.Submit(criEv("node-2", "RunPodSandbox", "default", "nginx"))
	l.Submit(criEv("node-2", "PodSandboxStatus", "default", "nginx")) // noise
	l.Submit(criEv("node-2", "CreateContainer", "default", "nginx"))
	l.Submit(criEv("node-2", "StartContainer", "default", "nginx"))
	l.SubmitHTTP(httpEv("kubelet/node-2", "patch", "pods", "status", "default", "nginx", "102", "200"), 0)
	l.Submit(etcdEv("pods", "default", "nginx", "102"))
	evs := waitFor(t, rec, 13)
	bySummary := map[string]tracing.Event{}
	for _, e := range evs {
		bySummary[string(e.Kind)+" "+e.From+" "+e.To+" "+e.Verb+" "+e.RV] = e
	}
	chain := []string{
		"http kubectl apiserver create 100",
		"etcd apiserver etcd put 100",
		"watch apiserver scheduler ADDED 100",
		"http scheduler apiserver create ",
		"etcd apiserver etcd put 101",
		"watch apiserver kubelet/node-2 ADDED 101",
		"cri kubelet/node-2 runtime/node-2 RunPodSandbox ",
		"cri kubelet/node-2 runtime/node-2 CreateContainer ",
		"cri kubelet/node-2 runtime/node-2 StartContainer ",
		"http kubelet/node-2 apiserver patch 102",
		"etcd apiserver etcd put 102",
	}
	for i := 1; i < len(chain); i++ {
		prev, ok1 := bySummary[chain[i-1]]
		cur, ok2 := bySummary[chain[i]]
		if !ok1 || !ok2 {
			t.Fatalf("missing %q or %q in %+v", chain[i-1], chain[i], evs)
		}
		if cur.Cause != prev.Seq || cur.Seq <= prev.Seq {
			t.Errorf("%q (seq %d) should be caused by %q (seq %d), has cause %d", chain[i], cur.Seq, chain[i-1], prev.Seq, cur.Cause)
		}
	}
	for _, e := range evs {
		if e.Noise && e.Kind == tracing.KindCRI && e.Verb != "ListContainers" && e.Verb != "PodSandboxStatus" {
			t.Errorf("unexpected noise: %+v", e)
		}
	}
}

func TestHeldEtcdWriteIsPublishedAfterTheHoldEvenWithoutItsRequest(t *testing.T) {
	l, rec := start(t, Options{HoldEtcd: 20 * time.Millisecond})
	l.BeginWrite(WriteBegin{ID: l.NextRequestID(), Component: "kubectl", Resource: "pods", Namespace: "default", Name: "x"})
	l.Submit(etcdEv("pods", "default", "x", "9"))
	evs := waitFor(t, rec, 1)
	if evs[0].Kind != tracing.KindEtcd || evs[0].Cause != 0 {
		t.Fatalf("got %+v", evs)
	}
}

func TestLeaseRenewalsAreNoiseAndCauseNothing(t *testing.T) {
	l, rec := start(t, Options{})
	l.Submit(watchEv("kubelet/node-1", "MODIFIED", "leases", "kube-node-lease", "node-1", ""))
	l.SubmitHTTP(httpEv("kubelet/node-1", "update", "leases", "", "kube-node-lease", "node-1", "30", "200"), 0)
	evs := waitFor(t, rec, 2)
	for _, e := range evs {
		if !e.Noise || e.NoiseReason != tracing.NoiseLease {
			t.Errorf("not lease noise: %+v", e)
		}
	}
	if evs[1].Cause != 0 {
		t.Errorf("a noise event became a cause: %+v", evs[1])
	}
}

func TestSubmitNeverBlocksAndReportsDrops(t *testing.T) {
	rec := &recorder{}
	l := New(rec, Options{Queue: 4})
	for i := 0; i < 100; i++ { // nothing is running: the queue fills
		l.Submit(etcdEv("configmaps", "default", "a", "1"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range rec.snapshot() {
			if e.Kind == tracing.KindDropped {
				if e.Detail["count"] != uint64(96) {
					t.Fatalf("dropped count %v, want 96", e.Detail["count"])
				}
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no dropped marker")
}

// kubectl exec: the client's request causes the apiserver's request to the
// pod's kubelet, which causes the kubelet's Exec; a logs request to
// another node is its own chain; each client request is matched once; the
// kubelet's later calls about the pod (a restart) are not caused by the
// exec; on an HA control plane the kubelet hop is the serving
// apiserver's.
func TestExecChainsThroughTheKubelet(t *testing.T) {
	l, rec := start(t, Options{})
	kubeletReq := func(node, verb, ns, name string) tracing.Event {
		return tracing.Event{Kind: tracing.KindKubeletAPI, From: tracing.APIServer, To: "kubelet/" + node, Verb: verb, Resource: "pods", Subresource: verb, Namespace: ns, Name: name,
			Summary: "apiserver → kubelet/" + node + ": " + verb}
	}
	exec := httpEv("kubectl", "create", "pods", "exec", "default", "web", "", "")
	exec.To = "apiserver/cp-2"
	l.SubmitHTTP(exec, 0)
	l.SubmitHTTP(httpEv("kubectl", "get", "pods", "log", "default", "db", "", ""), 0)
	l.Submit(kubeletReq("node-1", "exec", "default", "web"))
	l.Submit(kubeletReq("node-2", "log", "default", "db"))
	l.Submit(criEv("node-1", "Exec", "default", "web"))
	l.Submit(criEv("node-2", "ContainerStatus", "default", "db"))
	l.Submit(criEv("node-1", "CreateContainer", "default", "web"))
	// A second kubelet request with no new client request, and a second
	// Exec with no new kubelet request.
	l.Submit(kubeletReq("node-1", "exec", "default", "web"))
	flush(t, l)
	evs := waitFor(t, rec, 8)
	for _, c := range []struct{ effect, cause int }{{2, 0}, {3, 1}, {4, 2}} {
		if got, want := evs[c.effect].Cause, evs[c.cause].Seq; got != want {
			t.Errorf("%s (%s) has cause %d, want %d (%s)", evs[c.effect].Summary, evs[c.effect].Kind, got, want, evs[c.cause].Summary)
		}
	}
	if evs[2].From != "apiserver/cp-2" || evs[2].Summary != "apiserver/cp-2 → kubelet/node-1: exec" {
		t.Errorf("the kubelet hop of an exec served by apiserver/cp-2 is from %q: %q", evs[2].From, evs[2].Summary)
	}
	// ContainerStatus is a poll: noise, linked to nothing.
	if evs[5].Cause != 0 {
		t.Errorf("a poll was linked: %+v", evs[5])
	}
	if c := evs[6].Cause; c == evs[2].Seq || c == evs[4].Seq {
		t.Errorf("the kubelet's next CreateContainer was linked to the exec (%d)", c)
	}
	if evs[7].Cause != 0 {
		t.Errorf("a kubelet request no client asked for was linked to %d", evs[7].Cause)
	}
}

// A connection is caused by what runs the program that made it: the CRI
// Exec of the kubectl exec it runs in, or its container's start.
func TestAConnectionIsCausedByTheExecOrTheContainerStartThatRunsIt(t *testing.T) {
	l, rec := start(t, Options{})
	withID := func(ev tracing.Event, id string) tracing.Event {
		ev.Detail = map[string]any{"containerId": id}
		return ev
	}
	netEv := func(id string, exec bool) tracing.Event {
		return tracing.Event{Kind: tracing.KindNet, Verb: "connect", From: "pod:lab8/client", Resource: "pods", Namespace: "lab8", Name: "client",
			Status: "connected", Detail: map[string]any{"containerId": id, "exec": exec}}
	}
	l.Submit(withID(criEv("node-1", "CreateContainer", "lab8", "client"), "c1"))
	l.Submit(withID(criEv("node-1", "StartContainer", "lab8", "client"), "c1"))
	l.Submit(netEv("c1", false))
	l.Submit(withID(criEv("node-1", "Exec", "lab8", "client"), "c1"))
	l.Submit(netEv("c1", true))
	l.Submit(netEv("c1", false))
	l.Submit(netEv("other", true))
	l.Submit(withID(criEv("node-1", "RemoveContainer", "lab8", "client"), "c1"))
	l.Submit(netEv("c1", true))
	evs := waitFor(t, rec, 9)
	start, exec := evs[1].Seq, evs[3].Seq
	for i, want := range map[int]uint64{2: start, 4: exec, 5: start, 6: 0, 8: 0} {
		if evs[i].Cause != want {
			t.Errorf("event %d (%v): cause %d, want %d", i, evs[i].Detail, evs[i].Cause, want)
		}
	}
}
