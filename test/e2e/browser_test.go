package e2e

// Browser tests: Debian's chromium, headless, driven with chromedp. They
// assert from the page's own state (window.wheelhouse and the DOM), not
// from screenshots; screenshots are saved as artifacts for people.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// chromiumPath finds the browser, or explains how to install it. Under
// CI=true a missing browser fails the run instead of skipping.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH: install Debian's with `sudo apt-get install chromium` to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts a headless chromium at 1280×720 (the projector size).
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 720),
		chromedp.UserDataDir(t.TempDir()),
		// This machine has no network: stop chromium's own background
		// connections instead of letting them fail.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// artifactDir is where screenshots go: $WHEELHOUSE_ARTIFACTS, or a
// directory under the OS temp dir named in the test log.
func artifactDir(t testing.TB) string {
	dir := os.Getenv("WHEELHOUSE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "wheelhouse-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// openUI loads the page and waits until it is connected to the stream.
func openUI(t testing.TB, ctx context.Context, addr string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(tctx, chromedp.Navigate("http://"+addr+"/"))
	if err == nil {
		_, err = chromedp.Run(tctx, chromedp.Poll[bool](`window.wheelhouse && window.wheelhouse.connected === true`,
			chromedp.WithPollingInterval(100*time.Millisecond)))
	}
	if err != nil {
		t.Fatalf("loading the UI at %s: %v", addr, err)
	}
}

// evalJS evaluates expr in the page (awaiting it if it is a promise).
func evalJS[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// animation is one entry of window.wheelhouse.animated.
type animation struct {
	Seq   uint64  `json:"seq"`
	Kind  string  `json:"kind"`
	Verb  string  `json:"verb"`
	From  string  `json:"from"`
	To    string  `json:"to"`
	Edge  string  `json:"edge"`
	Label string  `json:"label"`
	At    float64 `json:"at"`
}

func animated(t testing.TB, ctx context.Context) []animation {
	t.Helper()
	raw := evalJS[string](t, ctx, `JSON.stringify(window.wheelhouse.animated)`)
	var out []animation
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("window.wheelhouse.animated: %v", err)
	}
	return out
}

// animationState says what the page knows about an event it did not
// animate: whether it arrived, whether the animator dropped it and why,
// and how the stream and the animation are doing, so that a failure
// tells a slow page from a lost event.
func animationState(t testing.TB, ctx context.Context, seq uint64) string {
	t.Helper()
	return evalJS[string](t, ctx, fmt.Sprintf(`(() => {
		const w = window.wheelhouse;
		const skip = w.recentSkips.filter((s) => s.seq === %d).map((s) => s.why).join(",");
		return "page lastSeq " + w.lastSeq + ", connections " + w.connections + ", in burst " + w.inBurst +
			", skipped " + w.skipped + (skip ? " (this one: " + skip + ")" : " (not this one)") +
			", queued " + w.queued + ", in flight " + w.inFlight + ", fps " + Math.round(w.fps) + ", dropped " + w.dropped;
	})()`, seq))
}

// flow fetches the stored events about one object.
func flow(t testing.TB, addr, object string) []tracing.Event {
	t.Helper()
	body, err := httpGet("http://" + addr + "/api/flows?object=" + url.QueryEscape(object))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Events []tracing.Event }
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatal(err)
	}
	return f.Events
}

func TestBrowserAnimatesTheGoldenFlow(t *testing.T) {
	ctx := newBrowser(t)
	client := shared.client(t)
	ns := createNamespace(t, client, "ui")
	openUI(t, ctx, shared.uiAddr)
	screenshot(t, ctx, "ui-before")

	embeddedKubectl(shared.kubeconfig()).mustRun(t, "run", "nginx", "--image", "nginx", "--restart", "Never", "-n", ns)
	pod := ns + "/nginx"
	var node string
	eventually(t, 90*time.Second, "a Running chip for "+pod, func() (bool, string) {
		node = evalJS[string](t, ctx, fmt.Sprintf(`(() => { const c = document.querySelector('[data-pod=%q][data-phase="Running"]'); const n = c && c.closest('[data-node]'); return n ? n.getAttribute('data-node') : ""; })()`, pod))
		return node != "", "no Running chip yet"
	})
	p, err := client.CoreV1().Pods(ns).Get(context.Background(), "nginx", metav1GetOptions())
	if err != nil {
		t.Fatal(err)
	}
	if node != p.Spec.NodeName {
		t.Errorf("the Running chip is in %s's box; the pod runs on %s", node, p.Spec.NodeName)
	}

	// The golden flow's steps, as the server recorded them.
	events := flow(t, shared.uiAddr, "pods/"+ns+"/nginx")
	kubelet, runtime := "kubelet/"+p.Spec.NodeName, "runtime/"+p.Spec.NodeName
	steps := []struct {
		what string
		pred func(e *tracing.Event) bool
	}{
		{"(1) POST pods", func(e *tracing.Event) bool {
			return e.Kind == "http" && e.From == "kubectl" && e.Verb == "create" && e.Subresource == ""
		}},
		{"(2) etcd put", func(e *tracing.Event) bool { return e.Kind == "etcd" }},
		{"(3) ADDED to the scheduler", func(e *tracing.Event) bool { return e.Kind == "watch" && e.To == "scheduler" }},
		{"(4) binding", func(e *tracing.Event) bool { return e.Kind == "http" && e.Subresource == "binding" }},
		{"(5) etcd put of the binding", func(e *tracing.Event) bool { return e.Kind == "etcd" }},
		{"(6) watch event to " + kubelet, func(e *tracing.Event) bool { return e.Kind == "watch" && e.To == kubelet }},
		{"(7) RunPodSandbox", func(e *tracing.Event) bool { return e.Kind == "cri" && e.Verb == "RunPodSandbox" && e.To == runtime }},
		{"(7) CreateContainer", func(e *tracing.Event) bool { return e.Kind == "cri" && e.Verb == "CreateContainer" && e.To == runtime }},
		{"(7) StartContainer", func(e *tracing.Event) bool { return e.Kind == "cri" && e.Verb == "StartContainer" && e.To == runtime }},
		{"(8) status update", func(e *tracing.Event) bool { return e.Kind == "http" && e.From == kubelet && e.Subresource == "status" }},
		{"(9) etcd put", func(e *tracing.Event) bool { return e.Kind == "etcd" }},
	}
	var want []tracing.Event
	i := 0
	for _, s := range steps {
		for ; i < len(events); i++ {
			if s.pred(&events[i]) {
				want = append(want, events[i])
				i++
				break
			}
		}
		if len(want) == 0 || !s.pred(&want[len(want)-1]) {
			t.Fatalf("the server's flow lacks %s after the previous step: %+v", s.what, events)
		}
	}
	// Each step was animated on its own edge, in order.
	var anim []animation
	eventually(t, time.Minute, "every step animated", func() (bool, string) {
		anim = animated(t, ctx)
		pos := map[uint64]int{}
		for i, a := range anim {
			pos[a.Seq] = i
		}
		for _, w := range want {
			if _, ok := pos[w.Seq]; !ok {
				return false, fmt.Sprintf("seq %d (%s) not animated; %s", w.Seq, w.Summary, animationState(t, ctx, w.Seq))
			}
		}
		return true, ""
	})
	pos := map[uint64]animation{}
	order := map[uint64]int{}
	for i, a := range anim {
		pos[a.Seq], order[a.Seq] = a, i
	}
	for k, w := range want {
		a := pos[w.Seq]
		if a.Edge != w.From+"->"+w.To {
			t.Errorf("%s (seq %d) animated on %q, want %q", steps[k].what, w.Seq, a.Edge, w.From+"->"+w.To)
		}
		if k > 0 && order[w.Seq] < order[want[k-1].Seq] {
			t.Errorf("%s (seq %d) started before %s (seq %d)", steps[k].what, w.Seq, steps[k-1].what, want[k-1].Seq)
		}
	}
	screenshot(t, ctx, "ui-golden-flow")

	// Everything the page loaded came from Wheelhouse itself.
	origin := "http://" + shared.uiAddr + "/"
	for _, u := range evalJS[[]string](t, ctx, `performance.getEntriesByType("resource").map(e => e.name).concat([location.href])`) {
		if !strings.HasPrefix(u, origin) && !strings.HasPrefix(u, "ws://"+shared.uiAddr+"/") {
			t.Errorf("the page loaded %s from outside Wheelhouse", u)
		}
	}
}

func TestBrowserPauseAndStep(t *testing.T) {
	ctx := newBrowser(t)
	client := shared.client(t)
	ns := createNamespace(t, client, "pause")
	openUI(t, ctx, shared.uiAddr)
	evalJS[bool](t, ctx, `window.wheelhouse.pause(), window.wheelhouse.paused`)
	before := evalJS[int](t, ctx, `window.wheelhouse.animated.length`)
	tc := followTrace(t, shared.uiAddr, "namespace="+ns)
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "create", "configmap", "while-paused", "-n", ns)
	// Once the page has received the ConfigMap's etcd write, it would have
	// started its packets had it not been paused.
	written := tc.waitFor(t, 30*time.Second, "the ConfigMap's etcd write", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindEtcd && e.Name == "while-paused"
	})
	eventually(t, 30*time.Second, "the page received the write", func() (bool, string) {
		got := evalJS[uint64](t, ctx, `window.wheelhouse.lastSeq`)
		return got >= written.Seq, fmt.Sprintf("page at %d, write at %d", got, written.Seq)
	})
	during := evalJS[int](t, ctx, `window.wheelhouse.animated.length`)
	if during != before {
		t.Fatalf("%d packets started while paused", during-before)
	}
	during = evalJS[int](t, ctx, `window.wheelhouse.step(), window.wheelhouse.animated.length`)
	if during != before+1 {
		t.Fatalf("step started %d packets, want 1", during-before)
	}
	screenshot(t, ctx, "ui-paused")
	if evalJS[bool](t, ctx, `window.wheelhouse.resume(), window.wheelhouse.paused`) {
		t.Fatal("still paused after resume()")
	}
}

func TestBrowserNoiseIsHiddenUntilShown(t *testing.T) {
	ctx := newBrowser(t)
	openUI(t, ctx, shared.uiAddr)
	if evalJS[bool](t, ctx, `window.wheelhouse.showNoise`) {
		t.Fatal("noise is shown by default")
	}
	// Wait for real noise (the kubelets renew their Leases every 10 s) to
	// reach the page, so the check below is about noise the page had.
	start := evalJS[uint64](t, ctx, `window.wheelhouse.lastSeq`)
	tc := followTrace(t, shared.uiAddr, fmt.Sprintf("since=%d&noise=true", start))
	noise := tc.waitFor(t, 30*time.Second, "a noise event", func(ev *tracing.Event) bool { return ev.Noise && ev.Kind != tracing.KindLifecycle })
	eventually(t, 30*time.Second, "the page received the noise event", func() (bool, string) {
		got := evalJS[uint64](t, ctx, `window.wheelhouse.lastSeq`)
		return got >= noise.Seq, fmt.Sprintf("page at seq %d, noise at %d", got, noise.Seq)
	})
	for _, a := range animated(t, ctx) {
		if a.Kind != "lifecycle" && isNoise(t, a.Seq) {
			t.Fatalf("noise animated while hidden: %+v", a)
		}
	}
	if !evalJS[bool](t, ctx, `window.wheelhouse.setNoise(true), window.wheelhouse.showNoise`) {
		t.Fatal("setNoise(true) did not show noise")
	}
	eventually(t, 30*time.Second, "a noise packet once shown", func() (bool, string) {
		for _, a := range animated(t, ctx) {
			if isNoise(t, a.Seq) {
				return true, ""
			}
		}
		return false, "none yet"
	})
	evalJS[bool](t, ctx, `window.wheelhouse.setNoise(false), window.wheelhouse.showNoise`)
}

// isNoise asks the server whether event seq is noise. It fails the test
// when it cannot tell: a check that cannot be made must not pass.
func isNoise(t testing.TB, seq uint64) bool {
	t.Helper()
	return storedEvent(t, seq).Noise
}

// storedEvent fetches an event the page was given; the buffer holds
// 200,000, far more than a test run makes, so a miss is a failure.
func storedEvent(t testing.TB, seq uint64) tracing.Event {
	t.Helper()
	body, err := httpGet(fmt.Sprintf("http://%s/api/events/%d", shared.uiAddr, seq))
	if err != nil {
		t.Fatalf("reading event %d: %v", seq, err)
	}
	var d struct{ Event tracing.Event }
	if err := json.Unmarshal([]byte(body), &d); err != nil || d.Event.Seq != seq {
		t.Fatalf("reading event %d: %v %s", seq, err, body)
	}
	return d.Event
}

func TestBrowserFollowObject(t *testing.T) {
	ctx := newBrowser(t)
	client := shared.client(t)
	ns := createNamespace(t, client, "follow")
	openUI(t, ctx, shared.uiAddr)
	object := "pods/" + ns + "/followed"
	following := evalJS[string](t, ctx, fmt.Sprintf(`window.wheelhouse.follow(%q), window.wheelhouse.following`, object))
	if following != object {
		t.Fatalf("following %q, want %q", following, object)
	}
	start := evalJS[int](t, ctx, `window.wheelhouse.animated.length`)
	k := embeddedKubectl(shared.kubeconfig())
	k.mustRun(t, "run", "followed", "--image", "nginx", "--restart", "Never", "-n", ns)
	k.mustRun(t, "run", "other", "--image", "nginx", "--restart", "Never", "-n", ns)
	eventually(t, 60*time.Second, "the followed pod's StartContainer animated", func() (bool, string) {
		for _, a := range animated(t, ctx)[start:] {
			if a.Verb == "StartContainer" {
				return true, ""
			}
		}
		for _, e := range flow(t, shared.uiAddr, object) {
			if e.Verb == "StartContainer" {
				return false, fmt.Sprintf("seq %d not animated; %s", e.Seq, animationState(t, ctx, e.Seq))
			}
		}
		return false, "no StartContainer in the server's flow yet"
	})
	// The other pod's own StartContainer has happened by now too: wait
	// until the page has received it, then nothing of it may be animated.
	otherObject := "pods/" + ns + "/other"
	tc := followTrace(t, shared.uiAddr, "since=0")
	otherStart := tc.waitFor(t, 60*time.Second, "the other pod's StartContainer", func(ev *tracing.Event) bool {
		return ev.Verb == "StartContainer" && ev.Object() == otherObject
	})
	eventually(t, 30*time.Second, "the page received the other pod's StartContainer", func() (bool, string) {
		got := evalJS[uint64](t, ctx, `window.wheelhouse.lastSeq`)
		return got >= otherStart.Seq, fmt.Sprintf("page at seq %d, want %d", got, otherStart.Seq)
	})
	anim := animated(t, ctx)[start:]
	if len(anim) == 0 {
		t.Fatal("nothing animated while following")
	}
	for _, a := range anim {
		if ev := storedEvent(t, a.Seq); ev.Object() != object {
			t.Errorf("while following %s, animated %s (%s)", object, ev.Object(), ev.Summary)
		}
	}
	screenshot(t, ctx, "ui-follow")
	evalJS[any](t, ctx, `window.wheelhouse.unfollow(), window.wheelhouse.following`)
}

// kubectl exec is drawn hop by hop, in order: kubectl → apiserver, the
// apiserver → the pod's kubelet (the kubelet API request), the kubelet →
// its runtime (CRI Exec).
func TestBrowserAnimatesTheExecHops(t *testing.T) {
	ctx := newBrowser(t)
	_, ns, k := inSharedNamespace(t, "uiexec")
	k.mustRun(t, "run", "hops", "--image", "busybox", "-n", ns, "--", "sleep", "3600")
	waitSharedRunning(t, ns, "hops")
	openUI(t, ctx, shared.uiAddr)
	tr := followTrace(t, shared.uiAddr, "namespace="+ns)
	k.mustRun(t, "exec", "hops", "-n", ns, "--", "true")
	about := func(e *tracing.Event) bool { return e.Name == "hops" && e.Namespace == ns }
	hops := []tracing.Event{
		tr.waitFor(t, 30*time.Second, "kubectl → apiserver exec", func(e *tracing.Event) bool {
			return about(e) && e.Kind == tracing.KindHTTP && e.Subresource == "exec"
		}),
		tr.waitFor(t, 30*time.Second, "apiserver → kubelet exec", func(e *tracing.Event) bool {
			return about(e) && e.Kind == tracing.KindKubeletAPI
		}),
		tr.waitFor(t, 30*time.Second, "kubelet → runtime Exec", func(e *tracing.Event) bool {
			return about(e) && e.Kind == tracing.KindCRI && e.Verb == "Exec"
		}),
	}
	var order map[uint64]int
	var edges map[uint64]string
	eventually(t, time.Minute, "the three hops animated", func() (bool, string) {
		order, edges = map[uint64]int{}, map[uint64]string{}
		for i, a := range animated(t, ctx) {
			order[a.Seq], edges[a.Seq] = i, a.Edge
		}
		for _, h := range hops {
			if _, ok := order[h.Seq]; !ok {
				return false, fmt.Sprintf("seq %d (%s) not animated; %s", h.Seq, h.Summary, animationState(t, ctx, h.Seq))
			}
		}
		return true, ""
	})
	for i, h := range hops {
		if want := h.From + "->" + h.To; edges[h.Seq] != want {
			t.Errorf("%s animated on %q, want %q", h.Summary, edges[h.Seq], want)
		}
		if i > 0 && order[h.Seq] < order[hops[i-1].Seq] {
			t.Errorf("%s started before %s", h.Summary, hops[i-1].Summary)
		}
	}
	screenshot(t, ctx, "ui-exec-hops")
}
