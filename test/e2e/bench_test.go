package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// Run with: go test -run '^$' -bench . -benchtime 1x ./cmd/wheelhouse/
// Each benchmark boots clusters of its own; the figures are reported as
// custom metrics and recorded in docs/BENCHMARKS.md.

// BenchmarkStartToUsable measures process start → usable cluster (3 nodes
// Ready, default ServiceAccount present), and when each component was
// ready, as `wheelhouse up` prints them.
func BenchmarkStartToUsable(b *testing.B) {
	var usable []float64
	at := map[string][]float64{}
	for i := 0; i < b.N; i++ {
		start := time.Now()
		tc, err := startCluster(b.TempDir(), 3)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "wall_to_usable_s")
		usable = append(usable, tc.usableAfter.Seconds())
		for c, d := range tc.progress {
			at[c] = append(at[c], d.Seconds())
		}
		if err := tc.stop(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(median(usable), "usable_s")
	for _, c := range []string{"etcd", "apiserver", "scheduler", "controller-manager", "kubelet/node-1", "kube-proxy/node-1"} {
		b.ReportMetric(median(at[c]), strings.ReplaceAll(c, "/", "_")+"_ready_at_s")
	}
}

// BenchmarkKubectlRunToRunning measures, from the client, `kubectl run`
// (a kubectl process) until a watch sees the pod Running, over 20 pods.
func BenchmarkKubectlRunToRunning(b *testing.B) {
	tc, err := startCluster(b.TempDir(), 3)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.stop()
	client := tc.client(b)
	k := embeddedKubectl(tc.kubeconfig())
	var all []float64
	for i := 0; i < b.N; i++ {
		for n := 0; n < 20; n++ {
			name := fmt.Sprintf("run-%d-%d", i, n)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			k.mustRun(b, "run", name, "--image", "nginx", "--restart", "Never")
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*v1.Pod); ok && ev.Type != watch.Deleted && p.Status.Phase == v1.PodRunning {
					break
				}
			}
			all = append(all, time.Since(start).Seconds()*1000)
			w.Stop()
			cancel()
		}
	}
	sort.Float64s(all)
	b.ReportMetric(percentile(all, 50), "p50_ms")
	b.ReportMetric(percentile(all, 95), "p95_ms")
	b.ReportMetric(all[0], "min_ms")
	b.ReportMetric(all[len(all)-1], "max_ms")
}

// BenchmarkMemory measures the resident memory of `wheelhouse up` with 3
// idle nodes, then with 100 running pods.
func BenchmarkMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		tc, err := startCluster(b.TempDir(), 3)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Second) // let start-up garbage be collected
		b.ReportMetric(rssMB(b, tc.cmd.Process.Pid), "rss_idle_MB")

		client := tc.client(b)
		ctx := context.Background()
		if _, err := client.AppsV1().Deployments("default").Create(ctx, nginxDeployment("many", 100), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		eventually(b, 5*time.Minute, "100 replicas available", func() (bool, string) {
			d, err := client.AppsV1().Deployments("default").Get(ctx, "many", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return d.Status.AvailableReplicas == 100, strconv.Itoa(int(d.Status.AvailableReplicas))
		})
		time.Sleep(20 * time.Second)
		b.ReportMetric(rssMB(b, tc.cmd.Process.Pid), "rss_100pods_MB")
		if err := tc.stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBinarySize builds the wheelhouse binary as a user would.
func BenchmarkBinarySize(b *testing.B) {
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "wheelhouse")
		build := exec.Command("go", "build", "-o", out, "github.com/wheelhouse-k8s/wheelhouse/cmd/wheelhouse")
		if msg, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, msg)
		}
		st, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/(1<<20), "binary_MiB")
		strip := exec.Command("go", "build", "-ldflags", "-s -w", "-o", out, "github.com/wheelhouse-k8s/wheelhouse/cmd/wheelhouse")
		if msg, err := strip.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, msg)
		}
		if st, err = os.Stat(out); err == nil {
			b.ReportMetric(float64(st.Size())/(1<<20), "stripped_MiB")
		}
	}
}

func rssMB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return percentile(s, 50)
}

// percentile of sorted xs, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}
