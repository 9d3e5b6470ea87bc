package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// componentCommand runs `wheelhouse component …` against tc.
func (tc *testCluster) componentCommand(t testing.TB, args ...string) (string, error) {
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
	for _, want := range []string{"etcd", "apiserver", "runtime/node-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("component list lacks %s:\n%s", want, out)
		}
	}
	if out, err := tc.componentCommand(t, "stop", "kubelet/node-9"); err == nil || !strings.Contains(out, "no such component") || !strings.Contains(out, "kubelet/node-1") {
		t.Errorf("stopping an unknown component: err=%v, output %q; want a refusal that lists what can be stopped", err, out)
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
		// The apiserver finds the restarted kubelet, on the port it had:
		// a stopped kubelet's listener is closed.
		n, err := client.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port), tc.kubeletPort+1; got != want {
			t.Errorf("the restarted kubelet serves on port %d, want its own %d", got, want)
		}
		eventually(t, time.Minute, "kubectl logs through the new kubelet", func() (bool, string) {
			out, err := k.run(t, "logs", "talker")
			return err == nil && strings.Contains(out, "said-it"), out
		})
	})

	// etcd and the apiserver: while either is stopped kubectl fails and
	// says why; started again, what was stored is still there and the
	// other components carry on (a new pod is scheduled and runs).
	for i, name := range []string{"etcd", "apiserver"} {
		t.Run(name, func(t *testing.T) {
			cm := fmt.Sprintf("kept-%d", i)
			k.mustRun(t, "create", "configmap", cm, "--from-literal", "k=v")
			component("stop", name)
			out, err := k.run(t, "get", "configmap", cm, "--request-timeout", "5s")
			if err == nil {
				t.Fatalf("kubectl get worked with %s stopped:\n%s", name, out)
			}
			t.Logf("kubectl with %s stopped: %s", name, strings.TrimSpace(out))
			component("start", name)
			eventually(t, time.Minute, "kubectl works again and the ConfigMap is kept", func() (bool, string) {
				out, err := k.run(t, "get", "configmap", cm, "-o", "jsonpath={.data.k}")
				return err == nil && out == "v", out
			})
			pod := "after-" + name
			k.mustRun(t, "run", pod, "--image", "nginx", "--restart", "Never")
			watchPodUntil(t, client, "default", pod, time.Minute, "Running after "+name+" restarts", func(p *v1.Pod) (bool, string) {
				return p.Status.Phase == v1.PodRunning, fmt.Sprintf("phase %s on %q", p.Status.Phase, p.Spec.NodeName)
			})
		})
	}

	// A node's runtime: its containers die with it; started again, the
	// kubelet recreates the pod's sandbox and container, which counts as
	// a restart, and the pod gets an IP from the node's pod CIDR, which
	// the runtime kept.
	t.Run("runtime", func(t *testing.T) {
		k.mustRun(t, "run", "on-node-1", "--image", "nginx", "--overrides", `{"spec":{"nodeName":"node-1"}}`)
		watchPodUntil(t, client, "default", "on-node-1", time.Minute, "Running", func(p *v1.Pod) (bool, string) {
			return p.Status.Phase == v1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready, string(p.Status.Phase)
		})
		component("stop", "runtime/node-1")
		component("start", "runtime/node-1")
		watchPodUntil(t, client, "default", "on-node-1", 2*time.Minute, "recreated and ready", func(p *v1.Pod) (bool, string) {
			if len(p.Status.ContainerStatuses) != 1 {
				return false, "no container status"
			}
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount >= 1 && cs.Ready && p.Status.PodIP != "", fmt.Sprintf("restarts %d, ready %v, IP %q", cs.RestartCount, cs.Ready, p.Status.PodIP)
		})
	})

	t.Run("kube-proxy", func(t *testing.T) {
		component("stop", "kube-proxy/node-2")
		tr := followTrace(t, tc.uiAddr, "kinds=watch,http&noise=true")
		k.mustRun(t, "create", "service", "clusterip", "while-proxy-down", "--tcp", "80:80")
		// The other node's kube-proxy hears of the Service; node-2's does
		// not, until it starts again and lists the Services.
		tr.waitFor(t, 30*time.Second, "kube-proxy/node-1 told of the Service", func(e *tracing.Event) bool {
			return e.Kind == tracing.KindWatch && e.To == "kube-proxy/node-1" && e.Resource == "services" && e.Name == "while-proxy-down"
		})
		for _, e := range tr.snapshot() {
			if e.From == "kube-proxy/node-2" || e.To == "kube-proxy/node-2" {
				t.Errorf("stopped kube-proxy/node-2 still talks to the apiserver: %s", e.Summary)
			}
		}
		component("start", "kube-proxy/node-2")
		// (It lists them, or streams the list as a watch.)
		tr.waitFor(t, 30*time.Second, "kube-proxy/node-2 reads the Services again", func(e *tracing.Event) bool {
			return (e.Kind == tracing.KindHTTP && e.From == "kube-proxy/node-2" && e.Resource == "services") ||
				(e.Kind == tracing.KindWatch && e.To == "kube-proxy/node-2" && e.Name == "while-proxy-down")
		})
	})
}

// processStats reads GET /api/debug/process of a running cluster.
func (tc *testCluster) processStats(t *testing.T) processStats {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+tc.uiAddr+"/api/debug/process", nil)
	req.Header.Set("X-Wheelhouse-Token", tc.uiInfo(t).Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st processStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reading the process's figures: %s %v", resp.Status, err)
	}
	return st
}

type processStats struct {
	Goroutines int `json:"goroutines"`
	OpenFiles  int `json:"openFiles"`
	Inotify    int `json:"inotifyInstances"`
}

// kubeletResidue is what each stop of a kubelet leaves, which Kubernetes
// gives no way to stop (docs/architecture.md, "What a stopped kubelet
// leaves"): the node and Service informers NewMainKubelet starts with
// wait.NeverStop, the status manager's and log rotation's wait.Forever
// loops, the secret and ConfigMap caches' cleanup loops, the container
// deleter, the image puller and the node-status loop. All are idle.
const kubeletResidue = 24

// Every component that can be stopped, stopped and started fifty times:
// the process gives back the goroutines, open files and inotify instances
// it took (a kubelet leaves at most kubeletResidue idle goroutines a time),
// and the cluster still works.
func TestFiftyStopsAndStartsLeaveNothingBehind(t *testing.T) {
	const cycles = 50
	tc, err := startCluster(shortTempDir(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	// Let start-up's transient goroutines (first syncs, discovery) end.
	settle := func() processStats {
		var last processStats
		stable := 0
		for i := 0; i < 60 && stable < 3; i++ {
			time.Sleep(time.Second)
			st := tc.processStats(t)
			if st == last {
				stable++
			} else {
				stable = 0
			}
			last = st
		}
		return last
	}
	// The DNS add-on's pods come up after the cluster is usable; what
	// they hold is not the cycles' to give back.
	client := tc.client(t)
	waitForCoreDNS(t, client)
	before := settle()
	kinds := []string{"scheduler", "controller-manager", "kubelet/node-1", "kube-proxy/node-1"}
	var wg sync.WaitGroup
	errs := make(chan error, len(kinds))
	for _, name := range kinds {
		wg.Go(func() {
			for i := 0; i < cycles; i++ {
				for _, verb := range []string{"stop", "start"} {
					if out, err := tc.componentCommand(t, verb, name); err != nil {
						errs <- fmt.Errorf("cycle %d: %s %s: %v\n%s", i, verb, name, err, out)
						return
					}
				}
				// A learner does not stop the controller manager within a
				// second of starting it; one stopped before its
				// controllers' caches have synced leaves their work
				// queues (they return before deferring the queues'
				// shutdown).
				if name == "controller-manager" {
					time.Sleep(2 * time.Second)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after := settle()
	t.Logf("before %+v, after %d cycles of each of %v: %+v", before, cycles, kinds, after)
	check := func(before, after processStats, residue int) {
		t.Helper()
		if bound := before.Goroutines + 100 + residue; after.Goroutines > bound {
			t.Errorf("%d goroutines after the cycles, %d before: more than the bound %d", after.Goroutines, before.Goroutines, bound)
		}
		if after.OpenFiles > before.OpenFiles+10 {
			t.Errorf("%d open files after the cycles, %d before", after.OpenFiles, before.OpenFiles)
		}
		if after.Inotify > before.Inotify+1 {
			t.Errorf("%d inotify instances after the cycles, %d before", after.Inotify, before.Inotify)
		}
	}
	check(before, after, cycles*kubeletResidue)

	// What everything else stands on goes one at a time: the apiserver,
	// etcd, the node's runtime. (Started while what it needs is down, a
	// component fails as a process would, which is not what this
	// measures.) After each start the cycle waits, as a learner would,
	// until the apiserver answers from etcd again, for every kind of
	// object a pod's start needs (readsFromEtcd). Restarted back to back,
	// etcd never lets the apiserver's etcd clients reconnect, whose gRPC
	// back-off then grows to two minutes; an apiserver stopped in that
	// state waits that long (its peer-endpoint lease controller holds a
	// lock across an etcd call without a deadline), and a pod created then
	// waits for whichever of its objects' clients is still backing off.
	before = after
	storage := []string{"apiserver", "etcd", "runtime/node-1"}
	for _, name := range storage {
		for i := 0; i < cycles; i++ {
			for _, verb := range []string{"stop", "start"} {
				if out, err := tc.componentCommand(t, verb, name); err != nil {
					t.Fatalf("cycle %d: %s %s: %v\n%s", i, verb, name, err, out)
				}
			}
			eventually(t, 2*time.Minute, "the apiserver answers from etcd after "+name+" started", func() (bool, string) {
				return readsFromEtcd(client)
			})
		}
	}
	after = settle()
	t.Logf("before %+v, after %d cycles of each of %v: %+v", before, cycles, storage, after)
	check(before, after, 0)
	// And the cluster still works.
	for _, c := range tc.components(t) {
		if c.State != "running" {
			t.Errorf("%s is %s after the cycles", c.Name, c.State)
		}
	}
	// The pod is created and run once the apiserver's etcd clients are all
	// back (each cycle above waited for those a pod needs).
	k := embeddedKubectl(tc.kubeconfig())
	eventually(t, 4*time.Minute, "a pod is created after the cycles", func() (bool, string) {
		out, err := k.run(t, "run", "after-cycles", "--image", "busybox", "--restart", "Never", "--", "sh", "-c", "echo still-works")
		return err == nil || strings.Contains(out, "AlreadyExists"), out
	})
	logged := false
	defer func() {
		if !logged {
			tc.explainPod(t, k, "after-cycles")
		}
	}()
	eventually(t, 4*time.Minute, "a pod runs and logs after the cycles", func() (bool, string) {
		// A bounded request, so that a hang is reported as one.
		out, _ := k.run(t, "logs", "after-cycles", "--request-timeout", "30s")
		return strings.Contains(out, "still-works"), out
	})
	logged = true
}

// explainPod logs what a failing test needs to see of a pod: kubectl's
// description of it and its node, and the node's kubelet log lines that
// name it.
func (tc *testCluster) explainPod(t *testing.T, k kubectlRunner, pod string) {
	t.Helper()
	out, _ := k.run(t, "describe", "pod", pod, "--request-timeout", "30s")
	t.Logf("kubectl describe pod %s:\n%s", pod, out)
	out, _ = k.run(t, "get", "nodes", "-o", "wide", "--request-timeout", "30s")
	t.Logf("kubectl get nodes:\n%s", out)
	logs, _ := filepath.Glob(filepath.Join(tc.dataDir, "logs", "kubelet*.log"))
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, pod) {
				lines = append(lines, l)
			}
		}
		lines = lines[max(0, len(lines)-60):]
		t.Logf("%s, the last %d lines naming %s:\n%s", f, len(lines), pod, strings.Join(lines, "\n"))
	}
}

// readsFromEtcd reports whether the apiserver reads from etcd every kind
// of object a pod's creation and start touch. kube-apiserver has one etcd
// client per kind of resource (newETCD3Storage), each with its own gRPC
// connection and reconnect back-off: one kind answering says nothing of
// the others. A GET without a resourceVersion is a quorum read from etcd
// (no cache), and NotFound is an answer from etcd too.
func readsFromEtcd(client kubernetes.Interface) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core := client.CoreV1()
	reads := []struct {
		what string
		get  func() error
	}{
		{"namespaces", func() error { _, err := core.Namespaces().Get(ctx, "default", metav1.GetOptions{}); return err }},
		{"nodes", func() error { _, err := core.Nodes().Get(ctx, "node-1", metav1.GetOptions{}); return err }},
		{"pods", func() error { _, err := core.Pods("default").Get(ctx, "absent", metav1.GetOptions{}); return err }},
		{"serviceaccounts", func() error {
			_, err := core.ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err
		}},
		{"configmaps", func() error {
			_, err := core.ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err
		}},
		{"secrets", func() error { _, err := core.Secrets("default").Get(ctx, "absent", metav1.GetOptions{}); return err }},
		{"events", func() error { _, err := core.Events("default").Get(ctx, "absent", metav1.GetOptions{}); return err }},
		{"leases", func() error {
			_, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "node-1", metav1.GetOptions{})
			return err
		}},
	}
	for _, r := range reads {
		if err := r.get(); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("%s: %v", r.what, err)
		}
	}
	return true, ""
}

type componentStatus struct {
	Name, State, Error string
	Controllable       bool
}

func (tc *testCluster) components(t *testing.T) []componentStatus {
	t.Helper()
	body, err := httpGet("http://" + tc.uiAddr + "/api/components")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Components []componentStatus }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	return list.Components
}

// A component that fails is reported crashed, in the component list and
// in the trace, and the rest of the cluster runs on: here the scheduler,
// started again while something else holds its port.
func TestAComponentThatFailsIsReportedCrashed(t *testing.T) {
	tc, err := startCluster(shortTempDir(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	tr := followTrace(t, tc.uiAddr, "kinds=lifecycle&noise=true")
	if out, err := tc.componentCommand(t, "stop", "scheduler"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	port := tc.schedulerPort
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	out, err := tc.componentCommand(t, "start", "scheduler")
	l.Close()
	if err == nil || !strings.Contains(out, "already in use") || !strings.Contains(out, "--scheduler-port") {
		t.Errorf("starting the scheduler on a taken port: err=%v\n%s", err, out)
	}
	crashed := false
	for _, c := range tc.components(t) {
		if c.Name == "scheduler" {
			crashed = c.State == "crashed" && strings.Contains(c.Error, "already in use")
			if !crashed {
				t.Errorf("the scheduler is listed as %+v, want crashed with the reason", c)
			}
		} else if c.State != "running" {
			t.Errorf("%s is %s while only the scheduler failed", c.Name, c.State)
		}
	}
	tr.waitFor(t, 10*time.Second, "the scheduler's crash in the trace", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindLifecycle && e.From == "scheduler" && e.Verb == "crashed"
	})
	// The diagram draws it crashed.
	ctx := newBrowser(t)
	openUI(t, ctx, tc.uiAddr)
	eventually(t, 30*time.Second, "the scheduler drawn as crashed", func() (bool, string) {
		st := evalJS[string](t, ctx, `(document.querySelector('[data-component="scheduler"]') || {dataset: {}}).dataset.state || ""`)
		return st == "crashed", "data-state=" + st
	})
	screenshot(t, ctx, "ui-scheduler-crashed")
	embeddedKubectl(tc.kubeconfig()).mustRun(t, "get", "nodes")
	if out, err := tc.componentCommand(t, "start", "scheduler"); err != nil {
		t.Errorf("starting the crashed scheduler once its port is free: %v\n%s", err, out)
	}
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
