package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/record"
)

// BenchmarkBrowserUnderLoad opens the page at 1280×720 and scales a
// Deployment from 0 to 1,000 replicas, then samples the page's own frame
// rate and JavaScript heap once a second for 45 s.
func BenchmarkBrowserUnderLoad(b *testing.B) {
	for i := 0; i < b.N; i++ {
		tc, err := startCluster(b.TempDir(), 3)
		if err != nil {
			b.Fatal(err)
		}
		ctx := newBrowser(b)
		openUI(b, ctx, tc.uiAddr)
		client := tc.clientWithQPS(b, -1)
		if _, err := client.AppsV1().Deployments("default").Create(context.Background(), nginxDeployment("load", 0), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		heap0 := evalJS[float64](b, ctx, `performance.memory ? performance.memory.usedJSHeapSize : 0`)
		events0 := evalJS[int](b, ctx, `window.wheelhouse.events`)
		scale, err := client.AppsV1().Deployments("default").Get(context.Background(), "load", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		scale.Spec.Replicas = ptr.To[int32](1000)
		if _, err := client.AppsV1().Deployments("default").Update(context.Background(), scale, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var fps, heap []float64
		for time.Since(start) < 45*time.Second {
			time.Sleep(time.Second)
			fps = append(fps, evalJS[float64](b, ctx, `window.wheelhouse.fps`))
			heap = append(heap, evalJS[float64](b, ctx, `performance.memory ? performance.memory.usedJSHeapSize : 0`))
		}
		events := evalJS[int](b, ctx, `window.wheelhouse.events`) - events0
		screenshot(b, ctx, "ui-load-1000-replicas")
		sort.Float64s(fps)
		maxHeap := 0.0
		for _, h := range heap {
			maxHeap = max(maxHeap, h)
		}
		b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(fps[0], "fps_min")
		b.ReportMetric(percentile(fps, 50), "fps_p50")
		b.ReportMetric(heap0/(1<<20), "heap_start_MB")
		b.ReportMetric(maxHeap/(1<<20), "heap_max_MB")
		b.ReportMetric(heap[len(heap)-1]/(1<<20), "heap_end_MB")
		if err := tc.stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrowserTimeline100k replays a synthetic trace of 100,000
// events as fast as possible, then scrolls the timeline for 5 s (600 px
// a frame) and reports the frame rate and how many rows the DOM holds.
func BenchmarkBrowserTimeline100k(b *testing.B) {
	file := filepath.Join(b.TempDir(), "100k.jsonl")
	writeSyntheticTrace(b, file, 100_000, time.Millisecond)
	addr := serveReplay(b, file, "0")
	for i := 0; i < b.N; i++ {
		bctx := newBrowser(b)
		openUI(b, bctx, addr)
		eventually(b, 120*time.Second, "100,000 events in the page", func() (bool, string) {
			n := evalJS[int](b, bctx, `window.wheelhouse.events`)
			return n >= 100_000, strconv.Itoa(n)
		})
		result := evalJS[map[string]float64](b, bctx, `new Promise(resolve => {
			const sc = document.querySelector('[data-testid="timeline"] .tl-scroll');
			sc.scrollTop = 0;
			let frames = 0, maxRows = 0; const t0 = performance.now(); let last = t0, worst = 0;
			function tick(now) {
				frames++; worst = Math.max(worst, now - last); last = now;
				sc.scrollTop += 600;
				maxRows = Math.max(maxRows, sc.querySelectorAll('[data-seq]').length);
				if (now - t0 < 5000) requestAnimationFrame(tick);
				else resolve({fps: frames * 1000 / (now - t0), worstFrameMs: worst, rowsInDOM: maxRows, scrolledTo: sc.scrollTop});
			}
			requestAnimationFrame(tick);
		})`)
		screenshot(b, bctx, "ui-timeline-100k")
		b.ReportMetric(result["fps"], "scroll_fps")
		b.ReportMetric(result["worstFrameMs"], "worst_frame_ms")
		b.ReportMetric(result["rowsInDOM"], "rows_in_DOM")
	}
}

// BenchmarkBrowserAt200EventsPerSecond replays a synthetic trace paced at
// exactly 200 events a second for 40 s, with no cluster competing for the
// CPU, and samples the page's frame rate and heap once a second.
func BenchmarkBrowserAt200EventsPerSecond(b *testing.B) {
	file := filepath.Join(b.TempDir(), "200.jsonl")
	writeSyntheticTrace(b, file, 200*45, 5*time.Millisecond)
	addr := serveReplay(b, file, "1")
	for i := 0; i < b.N; i++ {
		ctx := newBrowser(b)
		openUI(b, ctx, addr)
		start := time.Now()
		var fps, heap []float64
		for time.Since(start) < 40*time.Second {
			time.Sleep(time.Second)
			fps = append(fps, evalJS[float64](b, ctx, `window.wheelhouse.fps`))
			heap = append(heap, evalJS[float64](b, ctx, `performance.memory ? performance.memory.usedJSHeapSize : 0`))
		}
		sort.Float64s(fps)
		b.ReportMetric(fps[0], "fps_min")
		b.ReportMetric(percentile(fps, 50), "fps_p50")
		b.ReportMetric(heap[0]/(1<<20), "heap_start_MB")
		b.ReportMetric(heap[len(heap)-1]/(1<<20), "heap_end_MB")
	}
}

// serveReplay runs `wheelhouse replay` of file at speed and returns its
// address.
func serveReplay(b *testing.B, file, speed string) string {
	base, err := freePorts(1)
	if err != nil {
		b.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(base)
	ctx, cancel := context.WithCancel(context.Background())
	replay := wheelhouse(ctx, "replay", file, "--speed", speed, "--ui-addr", addr)
	if err := replay.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); _ = replay.Wait() })
	eventually(b, 30*time.Second, "replay serving", func() (bool, string) {
		_, err := httpGet("http://" + addr + "/healthz")
		return err == nil, fmt.Sprint(err)
	})
	return addr
}

// writeSyntheticTrace writes a recording of n plausible events (a golden
// flow repeated), spaced apart in time, for load tests of the page.
func writeSyntheticTrace(b *testing.B, path string, n int, spacing time.Duration) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := record.NewWriter(f)
	t0 := time.Now()
	for i := 1; i <= n; i++ {
		pod := fmt.Sprintf("web-%d", i/12)
		node := fmt.Sprintf("node-%d", 1+(i/12)%3)
		ev := tracing.Event{Seq: uint64(i), Time: t0.Add(time.Duration(i) * spacing), Resource: "pods", Namespace: "default", Name: pod}
		switch i % 6 {
		case 0:
			ev.Kind, ev.From, ev.To, ev.Verb, ev.Status = tracing.KindHTTP, "controller-manager", "apiserver", "create", "201"
		case 1:
			ev.Kind, ev.From, ev.To, ev.Verb, ev.Status = tracing.KindEtcd, "apiserver", "etcd", "put", "put"
		case 2:
			ev.Kind, ev.From, ev.To, ev.Verb = tracing.KindWatch, "apiserver", "scheduler", "ADDED"
		case 3:
			ev.Kind, ev.From, ev.To, ev.Verb, ev.Status, ev.Subresource = tracing.KindHTTP, "scheduler", "apiserver", "create", "201", "binding"
		case 4:
			ev.Kind, ev.From, ev.To, ev.Verb = tracing.KindWatch, "apiserver", "kubelet/"+node, "ADDED"
		case 5:
			ev.Kind, ev.From, ev.To, ev.Verb, ev.Status = tracing.KindCRI, "kubelet/"+node, "runtime/"+node, "StartContainer", "OK"
		}
		if i > 1 {
			ev.Cause = uint64(i - 1)
		}
		ev.Summary = fmt.Sprintf("%s → %s: %s %s", ev.From, ev.To, ev.Verb, pod)
		if err := w.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
