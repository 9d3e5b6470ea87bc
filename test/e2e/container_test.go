package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// What a simulated container holds: the files the kubelet mounts, at the
// paths it mounts them, as a learner finds them with kubectl exec.

// applyIn writes manifest to a file and applies it.
func applyIn(t *testing.T, k kubectlRunner, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	k.mustRun(t, "apply", "-f", f)
}

// inSharedNamespace is a new namespace of the shared cluster, with a
// client and kubectl for it.
func inSharedNamespace(t *testing.T, prefix string) (kubernetes.Interface, string, kubectlRunner) {
	t.Helper()
	client := shared.client(t)
	return client, createNamespace(t, client, prefix), embeddedKubectl(shared.kubeconfig())
}

func waitSharedRunning(t *testing.T, ns, name string) {
	t.Helper()
	watchPodUntil(t, shared.client(t), ns, name, 2*time.Minute, name+" Running", func(p *v1.Pod) (bool, string) {
		return p.Status.Phase == v1.PodRunning, string(p.Status.Phase)
	})
}

// A ConfigMap volume, the service-account token, an emptyDir shared by
// two containers, /etc/hosts and /etc/resolv.conf are in the container as
// the kubelet wrote them; an edit of the ConfigMap reaches the mounted
// file when the kubelet syncs the pod, as on a real node.
func TestContainersSeeTheKubeletsMounts(t *testing.T) {
	t.Parallel()
	client, ns, k := inSharedNamespace(t, "mounts")
	applyIn(t, k, `apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: `+ns+`}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: files, namespace: `+ns+`}
spec:
  volumes:
  - {name: config, configMap: {name: app}}
  - {name: shared, emptyDir: {}}
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, "echo from-the-writer > /shared/note; sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: reader
    image: busybox
    command: [sleep, "3600"]
    volumeMounts:
    - {name: shared, mountPath: /data}
    - {name: config, mountPath: /etc/app}
`)
	waitSharedRunning(t, ns, "files")
	exec := func(container string, cmd ...string) string {
		t.Helper()
		return k.mustRun(t, append([]string{"exec", "files", "-n", ns, "-c", container, "--"}, cmd...)...)
	}
	if out := exec("reader", "cat", "/etc/app/greeting"); out != "hello" {
		t.Errorf("cat /etc/app/greeting: %q, want the ConfigMap's value", out)
	}
	eventually(t, 30*time.Second, "the writer's file in the reader's emptyDir", func() (bool, string) {
		out, _ := k.run(t, "exec", "files", "-n", ns, "-c", "reader", "--", "cat", "/data/note")
		return strings.TrimSpace(out) == "from-the-writer", out
	})

	// The projected service-account token is a JWT for the pod's
	// service account.
	token := exec("reader", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token")
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("the token is not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("the token's payload: %v", err)
	}
	var claims struct{ Sub string }
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Sub != "system:serviceaccount:"+ns+":default" {
		t.Errorf("the token's sub is %q (%v), want the pod's service account", claims.Sub, err)
	}
	if out := exec("reader", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"); out != ns {
		t.Errorf("the mounted namespace file says %q", out)
	}
	if out := exec("reader", "ls", "/var/run/secrets/kubernetes.io/serviceaccount"); out != "ca.crt\nnamespace\ntoken\n" {
		t.Errorf("ls of the service-account directory: %q", out)
	}
	// The kubelet's atomic writer: each key is a symlink into ..data.
	if out := exec("reader", "ls", "-l", "/etc/app"); !strings.Contains(out, "greeting -> ..data/greeting") {
		t.Errorf("ls -l of the ConfigMap volume: %q", out)
	}

	pod, err := client.CoreV1().Pods(ns).Get(context.Background(), "files", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out := exec("reader", "cat", "/etc/hosts"); !strings.Contains(out, pod.Status.PodIP+"\tfiles") {
		t.Errorf("/etc/hosts has no line for the pod's IP %s:\n%s", pod.Status.PodIP, out)
	}
	if out := exec("reader", "cat", "/etc/resolv.conf"); !strings.Contains(out, "search "+ns+".svc.cluster.local") || !strings.Contains(out, "nameserver 10.96.0.10") {
		t.Errorf("/etc/resolv.conf:\n%s", out)
	}

	k.mustRun(t, "patch", "configmap", "app", "-n", ns, "-p", `{"data":{"greeting":"bonjour"}}`)
	eventually(t, 3*time.Minute, "the ConfigMap edit in the mounted file", func() (bool, string) {
		out, _ := k.run(t, "exec", "files", "-n", ns, "-c", "reader", "--", "cat", "/etc/app/greeting")
		return out == "bonjour", out
	})
}

// The Kubernetes docs' liveness example: the exec probe passes while
// /tmp/healthy exists and fails once the container removes it, and the
// kubelet restarts the container, as on any node.
func TestLivenessProbeRestartsTheContainer(t *testing.T) {
	t.Parallel()
	client, ns, k := inSharedNamespace(t, "liveness")
	applyIn(t, k, `apiVersion: v1
kind: Pod
metadata: {name: liveness-exec, namespace: `+ns+`}
spec:
  containers:
  - name: liveness
    image: busybox
    args: [/bin/sh, -c, "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 5
      periodSeconds: 5
`)
	started := time.Now()
	watchPodUntil(t, client, ns, "liveness-exec", 3*time.Minute, "a restart", func(p *v1.Pod) (bool, string) {
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount > 0 {
				return true, ""
			}
		}
		return false, string(p.Status.Phase)
	})
	if d := time.Since(started); d < 30*time.Second {
		t.Errorf("restarted after %s, before the container removed /tmp/healthy", d)
	}
	eventually(t, 30*time.Second, "the probe's failure in the pod's events", func() (bool, string) {
		out, _ := k.run(t, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=liveness-exec")
		return strings.Contains(out, "Liveness probe failed") && strings.Contains(out, "cat: can't open '/tmp/healthy': No such file or directory"), out
	})
}

// A readiness probe that fails keeps the pod out of its Service's ready
// endpoints; once it passes, the endpoint is ready.
func TestReadinessProbeGatesTheEndpoint(t *testing.T) {
	t.Parallel()
	client, ns, k := inSharedNamespace(t, "readiness")
	applyIn(t, k, `apiVersion: v1
kind: Pod
metadata: {name: gated, namespace: `+ns+`, labels: {app: gated}}
spec:
  containers:
  - name: web
    image: nginx
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: {name: gated, namespace: `+ns+`}
spec:
  selector: {app: gated}
  ports: [{port: 80}]
`)
	waitSharedRunning(t, ns, "gated")
	endpoint := func() (ready *bool, why string) {
		slices, err := client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=gated"})
		if err != nil {
			return nil, err.Error()
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.TargetRef != nil && e.TargetRef.Name == "gated" {
					return e.Conditions.Ready, ""
				}
			}
		}
		return nil, "no endpoint for the pod yet"
	}
	eventually(t, time.Minute, "the endpoint listed, not ready", func() (bool, string) {
		r, why := endpoint()
		return r != nil && !*r, why
	})
	// Still not ready a few probes later.
	time.Sleep(6 * time.Second)
	if r, _ := endpoint(); r == nil || *r {
		t.Fatalf("the endpoint of a pod failing its readiness probe is ready: %v", r)
	}
	k.mustRun(t, "exec", "gated", "-n", ns, "--", "touch", "/tmp/ready")
	eventually(t, time.Minute, "the endpoint ready once the probe passes", func() (bool, string) {
		r, why := endpoint()
		return r != nil && *r, why
	})
}

// kubectl attach joins a running container's output, with every kubectl,
// and leaving it leaves the container running.
func TestAttachFollowsTheContainersOutput(t *testing.T) {
	t.Parallel()
	client, ns, k := inSharedNamespace(t, "attach")
	k.mustRun(t, "run", "ticker", "-n", ns, "--image", "busybox", "--", "sh", "-c", `i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done`)
	waitSharedRunning(t, ns, "ticker")
	for _, kc := range kubectls(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		out, _ := kc.command(ctx, "attach", "ticker", "-n", ns).CombinedOutput()
		cancel()
		// Lines written after the attach began: a number past the first.
		if !regexp.MustCompile(`tick ([2-9]|\d\d+)\n`).Match(out) {
			t.Errorf("%s attach printed %q, want the container's ticks", kc.name, out)
		}
	}
	pod, err := client.CoreV1().Pods(ns).Get(context.Background(), "ticker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != v1.PodRunning || pod.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("after the attaches the pod is %s with %d restarts", pod.Status.Phase, pod.Status.ContainerStatuses[0].RestartCount)
	}
}

// kubectl exec -it … -- sh, from a real terminal (a pty), with every
// kubectl: the shell prompts, runs what is typed, Ctrl-C interrupts the
// foreground command and not the shell, and "exit 3" ends kubectl with 3.
func TestInteractiveExecFromATerminal(t *testing.T) {
	t.Parallel()
	_, ns, k := inSharedNamespace(t, "tty")
	k.mustRun(t, "run", "box", "-n", ns, "--image", "busybox", "--", "sleep", "3600")
	waitSharedRunning(t, ns, "box")
	for _, kc := range kubectls(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := kc.command(ctx, "exec", "-it", "box", "-n", ns, "--", "sh")
		term, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		var screen syncBuffer
		go func() { _, _ = io.Copy(&screen, term) }()
		seen := 0
		expect := func(what string) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				if i := strings.Index(screen.String()[seen:], what); i >= 0 {
					seen += i + len(what)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: the terminal never showed %q; it shows %q", kc.name, what, screen.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		typeKeys := func(s string) {
			t.Helper()
			if _, err := term.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		expect("/ # ")
		typeKeys("echo $((6*7)) $HOSTNAME\r")
		expect("42 box\r\n/ # ")
		typeKeys("sleep 100\r")
		time.Sleep(300 * time.Millisecond)
		typeKeys("\x03")
		expect("/ # ")
		typeKeys("exit 3\r")
		err = cmd.Wait()
		term.Close()
		cancel()
		if code := exitCode(err); code != 3 {
			t.Errorf("%s exec -it: exit %d (%v), want 3; the terminal showed %q", kc.name, code, err, screen.String())
		}
	}
}
