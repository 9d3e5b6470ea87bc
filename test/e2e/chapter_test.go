package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

func TestNodesAreReadyAndReportTheRelease(t *testing.T) {
	out := embeddedKubectl(shared.kubeconfig()).mustRun(t, "get", "nodes")
	for i := 1; i <= 3; i++ {
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "node-"+string(rune('0'+i))+" ") {
				line = l
			}
		}
		fields := strings.Fields(line)
		if len(fields) < 5 || fields[1] != "Ready" || fields[4] != "v1.37.2" {
			t.Errorf("node-%d: want STATUS Ready and VERSION v1.37.2, got %q in:\n%s", i, line, out)
		}
	}
	nodes, err := shared.client(t).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zones := sets.New[string]()
	for _, n := range nodes.Items {
		zones.Insert(n.Labels["topology.kubernetes.io/zone"])
		if n.Labels["kubernetes.io/hostname"] != n.Name {
			t.Errorf("%s: hostname label %q", n.Name, n.Labels["kubernetes.io/hostname"])
		}
		c := n.Status.Capacity
		if c.Cpu().String() != "4" || c.Memory().String() != "8Gi" || c.Pods().String() != "110" {
			t.Errorf("%s: capacity cpu=%s memory=%s pods=%s, want 4, 8Gi, 110", n.Name, c.Cpu(), c.Memory(), c.Pods())
		}
		if len(n.Spec.PodCIDRs) == 0 {
			t.Errorf("%s: no podCIDR allocated", n.Name)
		}
	}
	if !zones.Equal(sets.New("zone-a", "zone-b", "zone-c")) {
		t.Errorf("zones = %v", sets.List(zones))
	}
	// Heartbeats go through Leases in kube-node-lease, which each kubelet
	// creates once its Node exists and then renews.
	for _, n := range nodes.Items {
		eventually(t, 20*time.Second, "lease of "+n.Name, func() (bool, string) {
			l, err := shared.client(t).CoordinationV1().Leases("kube-node-lease").Get(context.Background(), n.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == n.Name && l.Spec.RenewTime != nil, "not renewed yet"
		})
	}
}

func TestVersionsSayTheRelease(t *testing.T) {
	k := embeddedKubectl(shared.kubeconfig())
	out := k.mustRun(t, "version")
	if !strings.Contains(out, "Client Version: v1.37.2") || !strings.Contains(out, "Server Version: v1.37.2") {
		t.Errorf("kubectl version:\n%s", out)
	}
	b, err := wheelhouse(context.Background(), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Kubernetes:  v1.37.2") || !strings.Contains(string(b), "etcd:        v3.7.0") {
		t.Errorf("wheelhouse version (%v):\n%s", err, b)
	}
}

const twoPods = `apiVersion: v1
kind: Pod
metadata:
  name: my-pod
spec:
  containers:
  -  name: busybox-container
     image: busybox:latest
---
apiVersion: v1
kind: Pod
metadata:
  name: my-second-pod
spec:
  containers:
  - name: nginx-container
    image: nginx:latest
`

// TestChapterCommands runs the chapter's commands, unchanged, with each
// kubectl, each in a namespace of its own.
func TestChapterCommands(t *testing.T) {
	clients := []kubectlRunner{}
	clients = append(clients, embeddedKubectl(""))
	if sys, ok := systemKubectl(""); ok {
		clients = append(clients, sys)
	} else {
		t.Log("no kubectl on PATH: the chapter runs with the embedded kubectl only")
	}
	for i, k := range clients {
		ns := []string{"chapter-embedded", "chapter-system"}[i]
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			client := shared.client(t)
			if _, err := client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			kubeconfig := copyKubeconfigWithNamespace(t, shared.kubeconfig(), ns)
			switch k.name {
			case "wheelhouse kubectl":
				k = embeddedKubectl(kubeconfig)
			default:
				k, _ = systemKubectl(kubeconfig)
			}
			runChapter(t, k, client, ns)
		})
	}
}

func runChapter(t *testing.T, k kubectlRunner, client kubernetes.Interface, ns string) {
	ctx := context.Background()
	if out := k.mustRun(t, "run", "nginx", "--restart", "Never", "--image", "nginx"); !strings.Contains(out, "pod/nginx created") {
		t.Errorf("kubectl run: %s", out)
	}
	var pod *v1.Pod
	eventually(t, 60*time.Second, "nginx Running", func() (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "nginx", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return p.Status.Phase == v1.PodRunning && p.Status.PodIP != "", string(p.Status.Phase)
	})
	node, err := client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, cidr, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil || !cidr.Contains(net.ParseIP(pod.Status.PodIP)) {
		t.Errorf("pod IP %s is not in %s's podCIDR %s", pod.Status.PodIP, node.Name, node.Spec.PodCIDR)
	}

	out := k.mustRun(t, "get", "pods")
	if !strings.Contains(out, "nginx") || !strings.Contains(out, "Running") {
		t.Errorf("kubectl get pods:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "pods.yaml")
	if err := os.WriteFile(file, []byte(twoPods), 0o644); err != nil {
		t.Fatal(err)
	}
	out = k.mustRun(t, "create", "-f", file)
	if !strings.Contains(out, "pod/my-pod created") || !strings.Contains(out, "pod/my-second-pod created") {
		t.Errorf("kubectl create -f:\n%s", out)
	}
	// busybox's default command is `sh`, which exits at once without a
	// terminal; with restartPolicy Always the kubelet restarts it with a
	// growing back-off, and reports CrashLoopBackOff when the back-off
	// holds the next start. A watch sees every status the kubelet writes.
	watchPodUntil(t, client, ns, "my-pod", 90*time.Second, "my-pod in CrashLoopBackOff", func(p *v1.Pod) (bool, string) {
		if len(p.Status.ContainerStatuses) == 0 {
			return false, "no container status yet"
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.State.Waiting != nil {
			return cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.RestartCount >= 1, cs.State.Waiting.Reason
		}
		return false, fmt.Sprintf("restarts %d, not waiting", cs.RestartCount)
	})
	eventually(t, 60*time.Second, "my-second-pod Running", func() (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "my-second-pod", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == v1.PodRunning, string(p.Status.Phase)
	})

	out, err = k.run(t, "get", "rs", "-n", "my-namespace")
	if err != nil || !strings.Contains(out, "No resources found in my-namespace namespace.") {
		t.Errorf("kubectl get rs -n my-namespace (%v):\n%s", err, out)
	}

	out = k.mustRun(t, "delete", "pods", "my-pod")
	if !strings.Contains(out, `pod "my-pod" deleted`) {
		t.Errorf("kubectl delete pods my-pod:\n%s", out)
	}
	if _, err := client.CoreV1().Pods(ns).Get(ctx, "my-pod", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("my-pod still there after kubectl delete returned: %v", err)
	}

	out = k.mustRun(t, "explain", "pod.spec.containers.image")
	for _, want := range []string{"KIND:", "Pod", "FIELD: image <string>", "Container image name"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain lacks %q:\n%s", want, out)
		}
	}

	out = k.mustRun(t, "config", "view")
	for _, want := range []string{"name: wheelhouse", "current-context: wheelhouse", "cluster: wheelhouse", "user: wheelhouse-admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl config view lacks %q:\n%s", want, out)
		}
	}
}

func TestDeploymentSpreadsAndHeals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := shared.client(t)
	ns := createNamespace(t, client, "deploy")
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, nginxDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	available := func() (bool, string) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == v1.ConditionTrue && d.Status.AvailableReplicas == 3 {
				return true, ""
			}
		}
		return false, "available replicas " + itoa(int(d.Status.AvailableReplicas))
	}
	eventually(t, 90*time.Second, "deployment Available", available)
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := sets.New[string]()
	for _, p := range pods.Items {
		nodes.Insert(p.Spec.NodeName)
	}
	if nodes.Len() < 3 {
		t.Errorf("3 replicas on %d nodes (%v); the scheduler's default topology spreading should use all three", nodes.Len(), sets.List(nodes))
	}

	victim := pods.Items[0].Name
	if err := client.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "a replacement for "+victim, func() (bool, string) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Name == victim {
				return false, victim + " still listed"
			}
			if p.Status.Phase == v1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		return running == 3, itoa(running) + " running"
	})
	eventually(t, 60*time.Second, "deployment Available again", available)
}

func TestJobCompletesAndLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := shared.client(t)
	ns := createNamespace(t, client, "job")
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: batchv1.JobSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{
			RestartPolicy: v1.RestartPolicyNever,
			Containers:    []v1.Container{{Name: "hello", Image: "busybox", Command: []string{"sh", "-c", "echo done"}}},
		}}},
	}
	if _, err := client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "job complete", func() (bool, string) {
		j, err := client.BatchV1().Jobs(ns).Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == v1.ConditionTrue {
				return true, ""
			}
		}
		return false, "succeeded " + itoa(int(j.Status.Succeeded))
	})
	out := embeddedKubectl(shared.kubeconfig()).mustRun(t, "logs", "-n", ns, "job/hello")
	if strings.TrimSpace(out) != "done" {
		t.Errorf("kubectl logs job/hello = %q, want \"done\"", out)
	}
}

func TestUnknownImageBacksOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := shared.client(t)
	ns := createNamespace(t, client, "pull")
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "typo"},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: "ngnix"}}},
	}
	seen := sets.New[string]()
	create := func() {
		if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	watchPodFrom(t, client, ns, "typo", 90*time.Second, "ErrImagePull then ImagePullBackOff", create, func(p *v1.Pod) (bool, string) {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil {
				seen.Insert(cs.State.Waiting.Reason)
				if cs.State.Waiting.Reason == "ErrImagePull" && !strings.Contains(cs.State.Waiting.Message, "ngnix") {
					t.Errorf("ErrImagePull message does not name the image: %q", cs.State.Waiting.Message)
				}
			}
		}
		return seen.Has("ErrImagePull") && seen.Has("ImagePullBackOff"), strings.Join(sets.List(seen), ",")
	})
}

func TestSecondUpOnTheSameDataDirFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base, err := freePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := wheelhouse(ctx, "up", "--data-dir", shared.dataDir,
		"--api-port", itoa(base), "--etcd-port", itoa(base+1), "--kubelet-port", itoa(base+3), "--ui-addr", "127.0.0.1:"+itoa(base+7)).CombinedOutput()
	if err == nil {
		t.Fatalf("second wheelhouse up succeeded:\n%s", out)
	}
	pid := itoa(shared.cmd.Process.Pid)
	if !strings.Contains(string(out), "another Wheelhouse (pid "+pid+") is already running on "+shared.dataDir) {
		t.Errorf("message does not name the running process %s:\n%s", pid, out)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("the second up took %s to fail; it should fail at once", time.Since(start))
	}
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "get", "nodes")
}

func TestTakenPortIsNamed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	out, err := wheelhouse(context.Background(), "up", "--data-dir", t.TempDir(), "--api-port", itoa(port)).CombinedOutput()
	if err == nil {
		t.Fatalf("up succeeded with a taken port:\n%s", out)
	}
	if !strings.Contains(string(out), "port "+itoa(port)+" (kube-apiserver) is already in use") || !strings.Contains(string(out), "--api-port") {
		t.Errorf("message does not name the port and flag:\n%s", out)
	}

	// A taken UI address fails before any component starts.
	base, err := freePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	taken := l.Addr().String()
	out, err = wheelhouse(context.Background(), "up", "--data-dir", t.TempDir(), "--ui-addr", taken,
		"--api-port", itoa(base), "--etcd-port", itoa(base+1), "--kubelet-port", itoa(base+3)).CombinedOutput()
	if err == nil {
		t.Fatalf("up succeeded with a taken UI address:\n%s", out)
	}
	if !strings.Contains(string(out), taken+" is already in use; choose another with --ui-addr") || strings.Contains(string(out), "✓ etcd") {
		t.Errorf("a taken UI address should fail at once, naming the flag:\n%s", out)
	}
}

func TestComponentLogsGoToFilesNotTheTerminal(t *testing.T) {
	for _, f := range []string{"apiserver.log", "scheduler.log", "controller-manager.log", "kubelet-node-1.log", "etcd.log"} {
		st, err := os.Stat(filepath.Join(shared.dataDir, "logs", f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if f != "etcd.log" && st.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	for _, line := range strings.Split(shared.output.String(), "\n") {
		if len(line) > 5 && (line[0] == 'I' || line[0] == 'W' || line[0] == 'E') && line[1] >= '0' && line[1] <= '9' {
			t.Errorf("klog line on the terminal: %q", line)
		}
	}
}

// TestNothingWrittenOutsideTheDataDir runs a cluster with a home and a
// temporary directory of its own, runs a pod on it, stops it, and compares
// every file under the host paths Kubernetes components write to by
// default, the home (~/.kube included) and the temporary directory, with
// what was there before: nothing may be new or changed.
func TestNothingWrittenOutsideTheDataDir(t *testing.T) {
	root := shortTempDir(t)
	home, tmp, dataDir := filepath.Join(root, "home"), filepath.Join(root, "tmp"), filepath.Join(root, "d")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	realHome, _ := os.UserHomeDir()
	watched := []string{
		"/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/etc/kubernetes", "/etc/cni",
		"/usr/libexec/kubernetes", "/var/run/kubernetes", "/run/kubernetes", "/var/lib/kube-proxy",
		"/var/lib/etcd", "/var/lib/cni", home, tmp, filepath.Join(realHome, ".kube"),
	}
	before := snapshotFiles(t, watched, dataDir)
	// The system temporary directory is shared with everything else on the
	// machine, so only its entries are compared (kubemark's configuration
	// helper, for one, writes there whatever TMPDIR says).
	tmpBefore := dirEntries(t, os.TempDir())
	// A kubelet running as root may write the host's firewall rules.
	rulesBefore := hostFirewall(t)
	tc, err := startClusterEnv(dataDir, 1, []string{"HOME=" + home, "TMPDIR=" + tmp, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "XDG_CACHE_HOME="})
	if err != nil {
		t.Fatal(err)
	}
	// Through the API, not kubectl: kubectl's own cache is kubectl's.
	client := tc.client(t)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "writer"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever,
		Containers: []v1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "echo hi > /tmp/x; echo done"}}}}}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	watchPodUntil(t, client, "default", "writer", 2*time.Minute, "the pod completed", func(p *v1.Pod) (bool, string) {
		return p.Status.Phase == v1.PodSucceeded, string(p.Status.Phase)
	})
	if err := tc.stop(); err != nil {
		t.Fatal(err)
	}
	after := snapshotFiles(t, watched, dataDir)
	if rules := hostFirewall(t); rules != rulesBefore {
		t.Errorf("the host's iptables changed while the cluster ran:\nbefore:\n%s\nafter:\n%s", rulesBefore, rules)
	}
	for name := range dirEntries(t, os.TempDir()) {
		if !tmpBefore[name] {
			t.Errorf("%s was created while the cluster ran", filepath.Join(os.TempDir(), name))
		}
	}
	for path, st := range after {
		if old, ok := before[path]; !ok {
			t.Errorf("%s was created while the cluster ran", path)
		} else if old != st {
			t.Errorf("%s was changed while the cluster ran", path)
		}
	}
}

// hostFirewall is the host's iptables rules (empty without iptables or
// the right to read them), without counters.
func hostFirewall(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, prog := range []string{"iptables-save", "ip6tables-save"} {
		if _, err := exec.LookPath(prog); err != nil || os.Geteuid() != 0 {
			continue
		}
		out, err := exec.Command(prog).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "#") {
				continue // a timestamp
			}
			if strings.HasPrefix(line, ":") {
				line, _, _ = strings.Cut(line, " [") // counters
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// dirEntries names what is directly in dir.
func dirEntries(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}

// fileState is what tells a file changed.
type fileState struct {
	size    int64
	modTime time.Time
}

// snapshotFiles records every file and directory under roots, skipping
// skip (the data directory) and what cannot be read.
func snapshotFiles(t *testing.T, roots []string, skip string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // absent or unreadable: nothing to compare
			}
			if path == skip || strings.HasPrefix(path, skip+string(filepath.Separator)) {
				return filepath.SkipDir
			}
			if info, err := d.Info(); err == nil {
				st := fileState{size: info.Size(), modTime: info.ModTime()}
				if d.IsDir() {
					st.size = 0 // a directory's size changes with its entries, which are walked
				}
				out[path] = st
			}
			return nil
		})
	}
	return out
}

func TestStatusPageListsNodes(t *testing.T) {
	resp, err := httpGet("http://" + shared.uiAddr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-node="node-1"`, `data-node="node-3"`, "Ready", "export KUBECONFIG=" + shared.kubeconfig()} {
		if !strings.Contains(resp, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestDataSurvivesARestart runs a second, small cluster: stop it, start it
// again on the same data directory.
func TestDataSurvivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tc, err := startClusterIn(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "remember-me"}, Data: map[string]string{"k": "v"}}
	if _, err := tc.client(t).CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		tc.stop()
		t.Fatal(err)
	}
	if err := tc.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tc.output.String(), "Stopped. The cluster's data is kept in "+dir) {
		t.Errorf("stop message missing:\n%s", tc.output.String())
	}
	tc, err = startClusterIn(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	got, err := tc.client(t).CoreV1().ConfigMaps("default").Get(ctx, "remember-me", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("configmap after restart: %v %v", got, err)
	}
	out := embeddedKubectl(tc.kubeconfig()).mustRun(t, "get", "nodes")
	if !strings.Contains(out, "node-1   Ready") {
		t.Errorf("node not Ready after restart:\n%s", out)
	}
}

func createNamespace(t *testing.T, client kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A namespace gets its default ServiceAccount from the controller
	// manager; pods cannot be created before that.
	eventually(t, 30*time.Second, "default ServiceAccount in "+ns.Name, func() (bool, string) {
		_, err := client.CoreV1().ServiceAccounts(ns.Name).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil, ""
	})
	return ns.Name
}

// watchPodUntil watches one pod and returns once cond holds for a version
// of it, failing after timeout. A watch, unlike polling, sees every status
// the kubelet writes, including short-lived ones.
func watchPodUntil(t *testing.T, client kubernetes.Interface, ns, name string, timeout time.Duration, what string, cond func(*v1.Pod) (bool, string)) {
	t.Helper()
	watchPodFrom(t, client, ns, name, timeout, what, nil, cond)
}

// watchPodFrom is watchPodUntil, running start once the watch is open
// (to create the pod without missing its first statuses).
func watchPodFrom(t *testing.T, client kubernetes.Interface, ns, name string, timeout time.Duration, what string, start func(), cond func(*v1.Pod) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if start != nil {
		start()
	}
	last := "no event"
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*v1.Pod)
		if !ok {
			continue
		}
		var done bool
		if done, last = cond(p); done {
			return
		}
	}
	t.Fatalf("%s: not seen within %s (last: %s)", what, timeout, last)
}
