package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// BenchmarkTracingOverhead measures apiserver throughput (ConfigMap creates
// and gets from 8 concurrent clients for 15 s) on a cluster with tracing on
// and on one with --trace=false, and reports both and their ratio.
func BenchmarkTracingOverhead(b *testing.B) {
	for i := 0; i < b.N; i++ {
		on := apiThroughput(b, true)
		off := apiThroughput(b, false)
		b.ReportMetric(on, "ops/s_traced")
		b.ReportMetric(off, "ops/s_untraced")
		b.ReportMetric(100*(1-on/off), "overhead_%")
	}
}

func apiThroughput(b *testing.B, trace bool) float64 {
	tc, err := startClusterIn(b.TempDir(), 3, fmt.Sprintf("--trace=%v", trace))
	if err != nil {
		b.Fatal(err)
	}
	defer tc.stop()
	time.Sleep(5 * time.Second) // let start-up settle
	client := tc.clientWithQPS(b, -1)
	var ops atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				name := fmt.Sprintf("w%d-%d", w, n)
				if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": name}}, metav1.CreateOptions{}); err != nil {
					return
				}
				if _, err := client.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{}); err != nil {
					return
				}
				ops.Add(2)
			}
		})
	}
	wg.Wait()
	return float64(ops.Load()) / 15
}

// BenchmarkEtcdToWebsocket measures, for 500 ConfigMap creates, the time
// from the start of the create request (an upper bound on when etcd wrote
// it) to a websocket client receiving the etcd event.
func BenchmarkEtcdToWebsocket(b *testing.B) {
	tc, err := startCluster(b.TempDir(), 3)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.stop()
	client := tc.client(b)
	for i := 0; i < b.N; i++ {
		lat := etcdToWebsocket(b, tc, client, fmt.Sprintf("lat-%d", i))
		b.ReportMetric(percentile(lat, 50), "p50_ms")
		b.ReportMetric(percentile(lat, 99), "p99_ms")
		b.ReportMetric(lat[len(lat)-1], "max_ms")
	}
}

func etcdToWebsocket(b *testing.B, tc *testCluster, client kubernetes.Interface, ns string) []float64 {
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	conn := dialTrace(b, tc.uiAddr, "kinds=etcd&namespace="+ns)
	defer conn.Close()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < 500 {
			var ev tracing.Event
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			now := time.Now()
			mu.Lock()
			if t0, ok := sent[ev.Name]; ok && ev.Resource == "configmaps" {
				lat = append(lat, float64(now.Sub(t0).Microseconds())/1000)
				delete(sent, ev.Name)
			}
			mu.Unlock()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	for n := 0; n < 500; n++ {
		name := fmt.Sprintf("cm-%d", n)
		mu.Lock()
		sent[name] = time.Now()
		mu.Unlock()
		if _, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("received %d of 500 etcd events", len(lat))
	}
	sort.Float64s(lat)
	return lat
}

// BenchmarkStalledSubscriber creates 2,000 pods (8 clients) on one
// cluster, first with no trace client, then while a websocket client reads
// nothing, and reports both times: a stalled browser must not slow the
// cluster.
func BenchmarkStalledSubscriber(b *testing.B) {
	tc, err := startCluster(b.TempDir(), 3)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.stop()
	client := tc.clientWithQPS(b, -1)
	for i := 0; i < b.N; i++ {
		alone := createPods(b, client, fmt.Sprintf("alone-%d", i))
		stalled := dialTrace(b, tc.uiAddr, "noise=true")
		withStalled := createPods(b, client, fmt.Sprintf("stalled-%d", i))
		stalled.Close()
		b.ReportMetric(alone.Seconds(), "s_no_subscriber")
		b.ReportMetric(withStalled.Seconds(), "s_stalled_subscriber")
		b.ReportMetric(withStalled.Seconds()/alone.Seconds(), "ratio")
	}
}

func createPods(b *testing.B, client kubernetes.Interface, ns string) time.Duration {
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for {
		if _, err := client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := w; i < 2000; i += 8 {
				pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i)},
					Spec: v1.PodSpec{SchedulerName: "nobody", Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
				if _, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
