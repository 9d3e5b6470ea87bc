package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Scale: what a cluster of n nodes costs on this machine.
//
//	go test -run '^$' -bench 'Scale' -benchtime 1x -timeout 60m ./test/e2e/
//
// For each size: the time until the cluster is usable (as `up` prints it),
// then, idle after a minute, the process's RSS and its CPU use over a
// minute, and per node above three.
func BenchmarkScale(b *testing.B) {
	var rss3 float64
	for _, n := range []int{3, 10, 30, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				tc, err := startCluster(os.TempDir(), n)
				if err != nil {
					b.Fatal(err)
				}
				usable := tc.usableAfter.Seconds()
				time.Sleep(time.Minute) // let start-up's work and garbage settle
				cpu := cpuSeconds(b, tc.cmd.Process.Pid)
				time.Sleep(time.Minute)
				cores := (cpuSeconds(b, tc.cmd.Process.Pid) - cpu) / 60
				rss := rssMB(b, tc.cmd.Process.Pid)
				if err := tc.stop(); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(tc.dataDir)
				b.ReportMetric(usable, "usable_s")
				b.ReportMetric(rss, "idle_rss_MB")
				b.ReportMetric(cores, "idle_cores")
				if n == 3 {
					rss3 = rss
				} else if rss3 > 0 {
					b.ReportMetric((rss-rss3)/float64(n-3), "MB_per_extra_node")
				}
			}
		})
	}
}

// BenchmarkFiftyNodesForTenMinutes keeps 50 nodes up for ten minutes and
// checks, every 30 s, that every node is Ready and kubectl answers.
func BenchmarkFiftyNodesForTenMinutes(b *testing.B) {
	for i := 0; i < b.N; i++ {
		tc, err := startCluster(os.TempDir(), 50)
		if err != nil {
			b.Fatal(err)
		}
		client := tc.client(b)
		k := embeddedKubectl(tc.kubeconfig())
		minReady := 50
		deadline := time.Now().Add(10 * time.Minute)
		for time.Now().Before(deadline) {
			nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				b.Fatalf("listing nodes: %v", err)
			}
			ready := 0
			for _, n := range nodes.Items {
				if nodeReady(&n) == v1.ConditionTrue {
					ready++
				}
			}
			minReady = min(minReady, ready)
			if out, err := k.run(b, "get", "nodes", "--no-headers"); err != nil || strings.Count(out, "\n") != 50 {
				b.Fatalf("kubectl get nodes: %v\n%s", err, out)
			}
			time.Sleep(30 * time.Second)
		}
		b.ReportMetric(float64(minReady), "min_nodes_ready")
		b.ReportMetric(rssMB(b, tc.cmd.Process.Pid), "rss_after_10min_MB")
		if err := tc.stop(); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(tc.dataDir)
		if minReady != 50 {
			b.Errorf("only %d of 50 nodes were Ready at one check", minReady)
		}
	}
}

// cpuSeconds is the user and system CPU time pid has used.
func cpuSeconds(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may contain spaces).
	f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 a second on Linux
}
