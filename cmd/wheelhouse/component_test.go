package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// componentCommand runs `wheelhouse component …` against tc.
func (tc *testCluster) componentCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := wheelhouse(ctx, append([]string{"component"}, args...)...)
	cmd.Env = append(cmd.Env, "WHEELHOUSE_DATA_DIR="+tc.dataDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func nodeReady(n *v1.Node) v1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status
		}
	}
	return v1.ConditionUnknown
}

// Stopping a component has the effect of its crash, the rest keeps
// running, and it starts again: the scheduler (pods stay Pending, then
// bind), the controller manager (a Deployment gets no ReplicaSet, then
// does) and a kubelet (its node goes NotReady, then Ready, and the
// apiserver reaches the new kubelet for logs).
func TestComponentsStopAndStartAgain(t *testing.T) {
	tc, err := startCluster(shortTempDir(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	client := tc.client(t)
	k := embeddedKubectl(tc.kubeconfig())
	ctx := context.Background()
	component := func(args ...string) string {
		t.Helper()
		out, err := tc.componentCommand(t, args...)
		if err != nil {
			t.Fatalf("wheelhouse component %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	out := component("list")
	for _, want := range []string{"scheduler", "controller-manager", "kubelet/node-1", "kubelet/node-2"} {
		if !strings.Contains(out, want) || !strings.Contains(out, "running") {
			t.Errorf("component list lacks %s running:\n%s", want, out)
		}
	}
	if out, err := tc.componentCommand(t, "stop", "etcd"); err == nil || !strings.Contains(out, "no such component") {
		t.Errorf("stopping etcd: err=%v, output %q; want a clear refusal", err, out)
	}

	t.Run("scheduler", func(t *testing.T) {
		component("stop", "scheduler")
		if out, err := tc.componentCommand(t, "stop", "scheduler"); err == nil || !strings.Contains(out, "is stopped") {
			t.Errorf("stopping it twice: err=%v, output %q; want a conflict", err, out)
		}
		k.mustRun(t, "run", "waiting", "--image", "nginx", "--restart", "Never")
		// Nothing else binds pods: it stays unscheduled while the
		// scheduler is down (checked for a few seconds, an absence).
		time.Sleep(3 * time.Second)
		p, err := client.CoreV1().Pods("default").Get(ctx, "waiting", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" || p.Status.Phase != v1.PodPending {
			t.Fatalf("with the scheduler stopped the pod is on %q in phase %s", p.Spec.NodeName, p.Status.Phase)
		}
		component("start", "scheduler")
		watchPodUntil(t, client, "default", "waiting", time.Minute, "Running after the scheduler restarts", func(p *v1.Pod) (bool, string) {
			return p.Status.Phase == v1.PodRunning, fmt.Sprintf("phase %s on %q", p.Status.Phase, p.Spec.NodeName)
		})
	})

	t.Run("controller-manager", func(t *testing.T) {
		component("stop", "controller-manager")
		k.mustRun(t, "create", "deployment", "later", "--image", "nginx", "--replicas", "2")
		time.Sleep(3 * time.Second)
		rs, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=later"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs.Items) != 0 {
			t.Fatalf("with the controller manager stopped, %d ReplicaSets appeared", len(rs.Items))
		}
		component("start", "controller-manager")
		eventually(t, time.Minute, "the Deployment's pods run", func() (bool, string) {
			d, err := client.AppsV1().Deployments("default").Get(ctx, "later", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return d.Status.ReadyReplicas == 2, fmt.Sprintf("%d ready", d.Status.ReadyReplicas)
		})
		// A second restart works too: nothing from the first run is left
		// holding a process-wide name.
		component("stop", "controller-manager")
		component("start", "controller-manager")
	})

	t.Run("kubelet", func(t *testing.T) {
		k.mustRun(t, "run", "talker", "--image", "busybox", "--restart", "Never",
			"--overrides", `{"spec":{"nodeName":"node-2"}}`, "--", "sh", "-c", "echo said-it; sleep 3600")
		watchPodUntil(t, client, "default", "talker", time.Minute, "Running", func(p *v1.Pod) (bool, string) {
			return p.Status.Phase == v1.PodRunning, string(p.Status.Phase)
		})
		component("stop", "kubelet/node-2")
		eventually(t, 2*time.Minute, "node-2 NotReady", func() (bool, string) {
			n, err := client.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return nodeReady(n) != v1.ConditionTrue, string(nodeReady(n))
		})
		if n, _ := client.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{}); nodeReady(n) != v1.ConditionTrue {
			t.Errorf("node-1 is %s while only node-2's kubelet is stopped", nodeReady(n))
		}
		component("start", "kubelet/node-2")
		eventually(t, time.Minute, "node-2 Ready again", func() (bool, string) {
			n, err := client.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return nodeReady(n) == v1.ConditionTrue, string(nodeReady(n))
		})
		// The apiserver finds the restarted kubelet (on its new port).
		eventually(t, time.Minute, "kubectl logs through the new kubelet", func() (bool, string) {
			out, err := k.run(t, "logs", "talker")
			return err == nil && strings.Contains(out, "said-it"), out
		})
	})
}

// A data dir too deep for the nodes' sockets is refused with a message,
// not a silent exit from inside the kubelet.
func TestTooDeepDataDirIsRefused(t *testing.T) {
	dir := shortTempDir(t) + "/" + strings.Repeat("deep/", 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := wheelhouse(ctx, "up", "--data-dir", dir, "--nodes", "1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "too deep") || !strings.Contains(string(out), "--data-dir") {
		t.Fatalf("up with a %d-character data dir: err=%v\n%s", len(dir), err, out)
	}
}
