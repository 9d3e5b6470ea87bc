package e2e

// Tests of containerd nodes (`wheelhouse up --runtime containerd`): real
// containers, run by the kubelet through the CRI proxy. They need root,
// containerd 2.x, runc and the CNI plugins; .ci/run installs them, and
// without them (outside CI) the tests are skipped.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
)

// requireContainerdHost skips the test on a machine that cannot run
// containerd nodes, except in CI, where that is a failure.
func requireContainerdHost(t *testing.T) {
	t.Helper()
	if _, err := containerd.ThisHost().Check(context.Background()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must be able to run containerd nodes:\n%v", err)
		}
		t.Skip(err)
	}
}

// containerdView is the JSON of GET /api/nodes/{node}/containerd.
type containerdView struct {
	Node       string                 `json:"node"`
	Runtime    string                 `json:"runtime"`
	Address    string                 `json:"address"`
	Namespace  string                 `json:"namespace"`
	Containers []containerd.Container `json:"containers"`
	Kubelet    []struct {
		Pod         string `json:"pod"`
		Container   string `json:"container"`
		ContainerID string `json:"containerID"`
		State       string `json:"state"`
	} `json:"kubelet"`
}

// containerdAPI fetches GET /api/nodes/{node}/containerd.
func containerdAPI(t *testing.T, cl *testCluster, node string) containerdView {
	t.Helper()
	body, err := httpGet(fmt.Sprintf("http://%s/api/nodes/%s/containerd", cl.uiAddr, node))
	if err != nil {
		t.Fatal(err)
	}
	var v containerdView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return v
}

func (v containerdView) container(pod, name string) (containerd.Container, bool) {
	for _, c := range v.Containers {
		if c.Pod == pod && c.Kind == "container" && c.Container == name {
			return c, true
		}
	}
	return containerd.Container{}, false
}

func (v containerdView) has(pod string) bool {
	for _, c := range v.Containers {
		if c.Pod == pod {
			return true
		}
	}
	return false
}

func onNode(node string) string { return `{"spec":{"nodeName":"` + node + `"}}` }

func waitRunning(t *testing.T, cl *testCluster, name string) *v1.Pod {
	t.Helper()
	client := cl.client(t)
	var pod *v1.Pod
	eventually(t, 3*time.Minute, name+" Running", func() (bool, string) {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return p.Status.Phase == v1.PodRunning, fmt.Sprintf("phase %s, %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	return pod
}

func TestContainerdNodes(t *testing.T) {
	requireContainerdHost(t)
	// A short path: containerd's sockets live under it.
	dir, err := os.MkdirTemp("", "whc-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cl, err := startClusterIn(dir, 2, "--runtime", "containerd")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// A test that failed half-way still stops the cluster cleanly, so
		// that its containers go with it.
		if cl != nil {
			if err := cl.stop(); err != nil {
				t.Error(err)
			}
		}
	}()
	k := embeddedKubectl(cl.kubeconfig())
	busybox := containerd.BusyboxImage

	t.Run("NodesReportContainerd", func(t *testing.T) {
		out := k.mustRun(t, "get", "nodes", "-o", "jsonpath={range .items[*]}{.status.nodeInfo.containerRuntimeVersion}{\"\\n\"}{end}")
		lines := strings.Fields(out)
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "containerd://2.") || !strings.HasPrefix(lines[1], "containerd://2.") {
			t.Errorf("nodes' runtimes: %q", out)
		}
		body, err := httpGet("http://" + cl.uiAddr + "/api/state")
		if err != nil || !strings.Contains(body, `"runtime":"containerd"`) {
			t.Errorf("/api/state does not name the runtime: %v %s", err, body)
		}
	})

	var helloPID uint32
	t.Run("RunLogsExec", func(t *testing.T) {
		k.mustRun(t, "run", "hello", "--image", busybox, "--overrides", onNode("node-1"), "--", "sh", "-c", "echo hello; sleep 3600")
		pod := waitRunning(t, cl, "hello")
		eventually(t, time.Minute, "kubectl logs hello", func() (bool, string) {
			out, err := k.run(t, "logs", "hello")
			return err == nil && strings.TrimSpace(out) == "hello", out
		})
		if out := k.mustRun(t, "exec", "hello", "--", "echo", "hi"); strings.TrimSpace(out) != "hi" {
			t.Errorf("kubectl exec hello -- echo hi printed %q", out)
		}
		// containerd itself, through its client, sees the container and
		// its task: a real host process.
		v := containerdAPI(t, cl, "node-1")
		c, ok := v.container("default/hello", "hello")
		if !ok {
			t.Fatalf("containerd does not show default/hello: %+v", v.Containers)
		}
		if c.Task == nil || c.Task.PID == 0 || c.Task.Status != "running" {
			t.Fatalf("containerd's task for hello: %+v", c.Task)
		}
		// (busybox sh runs its last command in its own process: sleep.)
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.Task.PID))
		if err != nil || !strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), "sleep 3600") {
			t.Errorf("pid %d is not the container's process: %q, %v", c.Task.PID, cmdline, err)
		}
		helloPID = c.Task.PID
		if want := "containerd://" + c.ID; pod.Status.ContainerStatuses[0].ContainerID != want {
			t.Errorf("the kubelet reports %s, containerd has %s", pod.Status.ContainerStatuses[0].ContainerID, want)
		}
		var reported bool
		for _, kc := range v.Kubelet {
			reported = reported || (kc.Pod == "default/hello" && kc.ContainerID == "containerd://"+c.ID && kc.State == "running")
		}
		if !reported {
			t.Errorf("the view lacks the kubelet's report of hello: %+v", v.Kubelet)
		}
	})

	t.Run("PodToPodAcrossNodes", func(t *testing.T) {
		k.mustRun(t, "run", "srv", "--image", busybox, "--overrides", onNode("node-2"), "--",
			"sh", "-c", "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 8080 -h /www")
		srv := waitRunning(t, cl, "srv")
		hello := waitRunning(t, cl, "hello")
		client := cl.client(t)
		for _, p := range []*v1.Pod{srv, hello} {
			node, err := client.CoreV1().Nodes().Get(context.Background(), p.Spec.NodeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !cidrContains(node.Spec.PodCIDR, p.Status.PodIP) {
				t.Errorf("%s's IP %s is not in %s's pod CIDR %s", p.Name, p.Status.PodIP, node.Name, node.Spec.PodCIDR)
			}
		}
		eventually(t, time.Minute, "hello (node-1) reaches srv (node-2) by pod IP", func() (bool, string) {
			out, err := k.run(t, "exec", "hello", "--", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 `+srv.Status.PodIP+` 8080`)
			return err == nil && strings.Contains(out, "pong"), out
		})
	})

	t.Run("GoldenFlowWithRealIDs", func(t *testing.T) {
		flow := checkGoldenFlow(t, cl, "golden", "--image", busybox, "--", "sleep", "3600")
		sandboxID, _ := flow.cri["RunPodSandbox"].Detail["podSandboxId"].(string)
		containerID, _ := flow.cri["CreateContainer"].Detail["containerId"].(string)
		started, _ := flow.cri["StartContainer"].Detail["containerId"].(string)
		if len(sandboxID) != 64 || len(containerID) != 64 || started != containerID {
			t.Fatalf("CRI events carry sandbox %q, container %q, started %q", sandboxID, containerID, started)
		}
		v := containerdAPI(t, cl, flow.node)
		var sandboxSeen, containerSeen bool
		for _, c := range v.Containers {
			sandboxSeen = sandboxSeen || (c.ID == sandboxID && c.Kind == "sandbox")
			containerSeen = containerSeen || (c.ID == containerID && c.Kind == "container" && c.Task != nil && c.Task.PID > 0)
		}
		if !sandboxSeen || !containerSeen {
			t.Errorf("containerd on %s does not have the traced sandbox %s (%v) and container %s (%v): %+v",
				flow.node, sandboxID, sandboxSeen, containerID, containerSeen, v.Containers)
		}
	})

	t.Run("ImagesImport", func(t *testing.T) {
		// An image tarball made by containerd's own exporter, under a new
		// name, imported into node-2 only.
		b, err := os.ReadFile(filepath.Join(cluster.NodeDir(dir, "node-1"), cluster.ContainerdAddressFile))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := containerd.Connect(ctx, strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nsCtx := namespaces.WithNamespace(ctx, containerd.Namespace)
		img, err := c.Client().GetImage(nsCtx, busybox)
		if err != nil {
			t.Fatal(err)
		}
		tarball := filepath.Join(t.TempDir(), "imported.tar")
		f, err := os.Create(tarball)
		if err != nil {
			t.Fatal(err)
		}
		const name = "localhost/test/imported:1"
		if err := archive.Export(nsCtx, c.Client().ContentStore(), f, archive.WithManifest(img.Target(), name)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out, err := wheelhouse(ctx, "images", "import", "--data-dir", dir, "--node", "node-2", tarball).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "node-2: imported "+name) {
			t.Fatalf("wheelhouse images import: %v\n%s", err, out)
		}
		k.mustRun(t, "run", "imported", "--image", name, "--overrides", onNode("node-2"), "--", "sh", "-c", "echo imported; sleep 3600")
		waitRunning(t, cl, "imported")
		eventually(t, time.Minute, "kubectl logs imported", func() (bool, string) {
			out, err := k.run(t, "logs", "imported")
			return err == nil && strings.TrimSpace(out) == "imported", out
		})
	})

	t.Run("DeleteRemovesContainerAndTask", func(t *testing.T) {
		if helloPID == 0 {
			t.Skip("hello did not run")
		}
		k.mustRun(t, "delete", "pod", "hello", "--grace-period", "1")
		// The kubelet stops the pod at once; it removes the pod's sandbox
		// and containers from the runtime in its next garbage collection,
		// within a minute or two.
		eventually(t, 4*time.Minute, "containerd no longer has default/hello", func() (bool, string) {
			v := containerdAPI(t, cl, "node-1")
			return !v.has("default/hello"), fmt.Sprintf("%+v", v.Containers)
		})
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", helloPID)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", helloPID)); strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), "sleep 3600") {
				t.Errorf("hello's process %d still runs", helloPID)
			}
		}
	})

	t.Run("CrashLeavesNothingThatBlocksTheNextStart", func(t *testing.T) {
		// Kill Wheelhouse outright: its containerds die with it, the
		// containers' shims do not.
		cl.cmd.Process.Kill()
		<-cl.exited
		cl = nil
		again, err := startClusterIn(dir, 2, "--runtime", "containerd")
		if err != nil {
			t.Fatal(err)
		}
		cl = again
		k = embeddedKubectl(cl.kubeconfig())
		// srv is still in etcd: the restarted node runs it again.
		eventually(t, 3*time.Minute, "srv runs again after the crash", func() (bool, string) {
			v := containerdAPI(t, cl, "node-2")
			c, ok := v.container("default/srv", "srv")
			return ok && c.Task != nil && c.Task.Status == "running", fmt.Sprintf("%+v", v.Containers)
		})
	})

	t.Run("StopLeavesNothingBehind", func(t *testing.T) {
		if cl == nil {
			t.Skip("no cluster")
		}
		if err := cl.stop(); err != nil {
			t.Fatal(err)
		}
		cl = nil
		var procs []string
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && strings.Contains(string(b), dir) {
				procs = append(procs, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
		if len(procs) > 0 {
			t.Errorf("processes left running: %v", procs)
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mounts), dir) {
			t.Errorf("mounts left under %s", dir)
		}
		if _, err := netlink.LinkByName(containerd.BridgeName); err == nil {
			t.Errorf("bridge %s left behind", containerd.BridgeName)
		}
	})
}

func cidrContains(cidr, ip string) bool {
	_, n, err := net.ParseCIDR(cidr)
	return err == nil && n.Contains(net.ParseIP(ip))
}

// The clear errors: without root, or without containerd, `up --runtime
// containerd` fails at once with what is missing and how to install it,
// and touches nothing.
func TestContainerdRefusedWithClearMessage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the binary as another user")
	}
	bin := nobodyCanRun(t)
	for _, tc := range []struct {
		name string
		cmd  func(dataDir string) *exec.Cmd
		want []string
	}{
		{"not root", func(dataDir string) *exec.Cmd {
			setpriv, err := exec.LookPath("setpriv")
			if err != nil {
				t.Skip("no setpriv")
			}
			return exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
				bin, "up", "--runtime", "containerd", "--data-dir", dataDir)
		}, []string{"not running as root", "sudo"}},
		{"no containerd", func(dataDir string) *exec.Cmd {
			cmd := exec.Command(bin, "up", "--runtime", "containerd", "--data-dir", dataDir)
			cmd.Env = append(cmd.Env, "PATH="+t.TempDir())
			return cmd
		}, []string{"no containerd binary in $PATH", "no runc", "containernetworking-plugins", "go install", "containerd@" + containerd.Version}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			cmd := tc.cmd(dataDir)
			cmd.Env = append(cmd.Env, "HOME=/nonexistent")
			// "At once": long before a cluster could start.
			done := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			defer done.Stop()
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("wheelhouse up: %v, want a failure\n%s", err, out)
			}
			msg := string(out)
			for _, w := range append(tc.want, "apt-get install runc containernetworking-plugins iptables busybox-static") {
				if !strings.Contains(msg, w) {
					t.Errorf("the message lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "etcd") {
				t.Errorf("it started something before failing:\n%s", msg)
			}
			if _, err := os.Stat(dataDir); err == nil {
				t.Errorf("it created the data directory")
			}
		})
	}
}

// nobodyCanRun makes this test binary executable by any user (its build
// directory is private), by a hard link or a copy in a world-readable
// directory.
func nobodyCanRun(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "whbin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "wheelhouse")
	if err := os.Link(wheelhouseBin, bin); err != nil {
		src, err := os.Open(wheelhouseBin)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		dst.Close()
	}
	_ = os.Chmod(bin, 0o755)
	return bin
}
