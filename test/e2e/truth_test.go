package e2e

// What a learner sees must be what a real v1.37 cluster would show. Where
// that depends on the kubelet's own timing, the reference is the genuine
// kubelet binary (k8s.io/kubernetes/cmd/kubelet v1.37.2) running a node
// with containerd 2.4.2: docs/truth.md says how it was run and what it
// showed, and these tests hold Wheelhouse to the same.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// A Deployment whose image cannot be pulled is never available, and its
// Service has no ready endpoint: the pods never ran. Sampled for 30 s.
func TestBadImageDeploymentIsNeverAvailable(t *testing.T) {
	t.Parallel()
	client := shared.client(t)
	ns := createNamespace(t, client, "badimage")
	k := embeddedKubectl(shared.kubeconfig())
	k.mustRun(t, "create", "deployment", "bad", "--image", "doesnotexist.example/nope:1", "--replicas", "2", "-n", ns)
	k.mustRun(t, "expose", "deployment", "bad", "--port", "80", "-n", ns)
	ctx := context.Background()
	eventually(t, time.Minute, "both pods failing to pull", func() (bool, string) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=bad"})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
					n++
				}
			}
		}
		return n == 2, fmt.Sprintf("%d pods failing to pull", n)
	})
	for i := 0; i < 30; i++ {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "bad", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.AvailableReplicas != 0 || d.Status.ReadyReplicas != 0 {
			t.Fatalf("sample %d: deployment bad has %d available, %d ready; its pods never ran", i, d.Status.AvailableReplicas, d.Status.ReadyReplicas)
		}
		slices, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=bad"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					t.Fatalf("sample %d: the Service lists %v as ready", i, e.Addresses)
				}
			}
		}
		time.Sleep(time.Second)
	}
	out := k.mustRun(t, "get", "deployment", "bad", "-n", ns, "--no-headers")
	if f := strings.Fields(out); len(f) < 4 || f[1] != "0/2" || f[3] != "0" {
		t.Errorf("kubectl get deployment says %q, want READY 0/2 and AVAILABLE 0", out)
	}
}

// A container that exits at once (busybox's default sh) is restarted
// with back-off. The genuine v1.37.2 kubelet reports it as docs/truth.md
// records: Terminated (Completed) while it waits, Waiting CrashLoopBackOff
// for the moment before each restart (seen on a watch), never ready while
// it is not running, the pod's phase Running. Sampled once a second for a
// minute.
func TestCrashLoopIsReportedAsTheKubeletReportsIt(t *testing.T) {
	t.Parallel()
	client := shared.client(t)
	ns := createNamespace(t, client, "crashloop")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	sawBackOff := make(chan struct{})
	go func() {
		closed := false
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1.Pod)
			if ev.Type != watch.Modified || !ok || closed {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && !cs.Ready {
					close(sawBackOff)
					closed = true
				}
			}
		}
	}()
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "run", "my-pod", "--image", "busybox", "-n", ns)
	watchPodUntil(t, client, ns, "my-pod", time.Minute, "the container's first exit", func(p *v1.Pod) (bool, string) {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount > 0 || cs.State.Terminated != nil {
				return true, ""
			}
		}
		return false, string(p.Status.Phase)
	})
	statuses := map[string]int{}
	var lastRestarts int32
	for i := 0; i < 60; i++ {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "my-pod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Status.ContainerStatuses) != 1 {
			t.Fatalf("sample %d: %d container statuses", i, len(p.Status.ContainerStatuses))
		}
		cs := p.Status.ContainerStatuses[0]
		status := "Running"
		switch {
		case cs.State.Waiting != nil:
			status = cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			status = cs.State.Terminated.Reason
		}
		statuses[status]++
		if cs.State.Running == nil && cs.Ready {
			t.Errorf("sample %d: the container is %s and reported ready", i, status)
		}
		if p.Status.Phase != v1.PodRunning {
			t.Errorf("sample %d: phase %s, want Running (restartPolicy Always)", i, p.Status.Phase)
		}
		if cs.RestartCount < lastRestarts {
			t.Errorf("sample %d: restart count went down from %d to %d", i, lastRestarts, cs.RestartCount)
		}
		lastRestarts = cs.RestartCount
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			t.Errorf("sample %d: exit code %d, want 0 (sh reads end-of-file)", i, cs.State.Terminated.ExitCode)
		}
		time.Sleep(time.Second)
	}
	for s := range statuses {
		if s != "Completed" && s != "CrashLoopBackOff" && s != "Running" {
			t.Errorf("statuses seen %v; %q is not one the kubelet gives a container in back-off", statuses, s)
		}
	}
	if statuses["Completed"]+statuses["CrashLoopBackOff"] < 50 {
		t.Errorf("statuses seen %v: the container should be down most of the minute", statuses)
	}
	if lastRestarts < 3 {
		t.Errorf("%d restarts in a minute and a half, want at least 3 (back-off 10 s, 20 s, 40 s)", lastRestarts)
	}
	select {
	case <-sawBackOff:
	case <-time.After(30 * time.Second):
		t.Error("no watch event showed the container waiting in CrashLoopBackOff before a restart")
	}
}

// componentstatuses asks the scheduler's and controller manager's secure
// ports, as on a kubeadm cluster, and etcd through the apiserver.
func TestComponentStatusesAreHealthy(t *testing.T) {
	if !sharedHasDefaultComponentPorts {
		t.Skip("ports 10259 and 10257 were taken when the shared cluster started")
	}
	for _, k := range kubectls(t) {
		out := k.mustRun(t, "get", "componentstatuses", "--no-headers")
		for _, c := range []string{"scheduler", "controller-manager", "etcd-0"} {
			found := false
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				found = found || (len(f) >= 2 && f[0] == c && f[1] == "Healthy")
			}
			if !found {
				t.Errorf("%s: %s is not Healthy:\n%s", k.name, c, out)
			}
		}
	}
}

// kubectls are the embedded kubectl and the machine's own, if any.
func kubectls(t *testing.T) []kubectlRunner {
	out := []kubectlRunner{embeddedKubectl(shared.kubeconfig())}
	if sys, ok := systemKubectl(shared.kubeconfig()); ok {
		out = append(out, sys)
	}
	return out
}

// kubectl exec runs in a simulated container, with its output and exit
// status; what cannot be done is said in full, with every kubectl.
func TestKubectlExecInASimulatedContainer(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "exec")
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "run", "gold", "--image", "nginx", "-n", ns)
	waitSharedRunning(t, ns, "gold")
	for _, k := range kubectls(t) {
		if out := k.mustRun(t, "exec", "gold", "-n", ns, "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "gold" {
			t.Errorf("%s exec cat /etc/hostname: %q, want the pod's name", k.name, out)
		}
		out, err := k.run(t, "exec", "gold", "-n", ns, "--", "sh", "-c", "echo to-stderr >&2; exit 3")
		if code := exitCode(err); code != 3 || !strings.Contains(out, "to-stderr") {
			t.Errorf("%s exec sh -c 'exit 3': exit %d, output %q; want 3 and the stderr line", k.name, code, out)
		}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"exec", "gold", "-n", ns, "--", "nosuchtool"}, `exec: "nosuchtool": executable file not found in $PATH`},
		} {
			out, err := k.run(t, tc.args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("%s %s: err=%v, output %q; want a failure saying %q", k.name, strings.Join(tc.args, " "), err, out, tc.want)
			}
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// Wheelhouse's own requests (its readiness checks, its UI's reads) are
// traced as Wheelhouse's, with its own identity, and never on a
// component's account.
func TestWheelhouseRequestsAreTracedAsWheelhouse(t *testing.T) {
	conn := dialTrace(t, shared.uiAddr, "since=0&noise=true&kinds=http")
	defer conn.Close()
	var own, seen int
	readiness := map[string]bool{}
	first := true
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		var ev tracing.Event
		if err := conn.ReadJSON(&ev); err != nil {
			break // the backlog is read
		}
		if first && ev.Seq > 100 {
			t.Skipf("the start-up events have left the trace buffer (first kept: %d)", ev.Seq)
		}
		first = false
		seen++
		user, _ := ev.Detail["user"].(string)
		ua, _ := ev.Detail["userAgent"].(string)
		switch {
		case user == tracing.WheelhouseUser:
			own++
			if ev.From != tracing.Wheelhouse && ev.From != tracing.UIClient {
				t.Errorf("Wheelhouse's request traced as %s's: %s", ev.From, ev.Summary)
			}
			if !ev.Noise {
				t.Errorf("Wheelhouse's own request is not marked as such: %s", ev.Summary)
			}
			if ev.From == tracing.Wheelhouse {
				readiness[ev.Resource] = true
			}
		case (ev.From == tracing.Wheelhouse || ev.From == tracing.UIClient) && user != tracing.WheelhouseUser:
			// In-process components call with the binary's user agent
			// ("wheelhouse/…"); only the identity makes Wheelhouse.
			t.Errorf("%s's request (user agent %q) traced as Wheelhouse's: %s", user, ua, ev.Summary)
		case user == "system:kube-controller-manager" && ev.Verb == "get" && ev.Resource == "serviceaccounts" && ev.Name == "default":
			t.Errorf("the default ServiceAccount read as the controller manager (Wheelhouse's readiness check?): %s", ev.Summary)
		}
	}
	if seen == 0 || own == 0 {
		t.Fatalf("%d events read, %d of them Wheelhouse's", seen, own)
	}
	for _, r := range []string{"nodes", "serviceaccounts"} {
		if !readiness[r] {
			t.Errorf("no readiness check of %s traced as Wheelhouse's (saw %v)", r, readiness)
		}
	}
}

// kubectl exec and kubectl logs reach a container through the apiserver
// and the pod's kubelet, and the trace shows every hop, linked: kubectl →
// apiserver (pods/exec), apiserver → kubelet (its API), kubelet → runtime
// (CRI Exec, answered with the runtime's streaming URL).
func TestExecAndLogsAreTracedThroughTheKubelet(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "exectrace")
	k := embeddedKubectl(shared.kubeconfig())
	k.mustRun(t, "run", "hop", "--image", "nginx", "-n", ns)
	waitSharedRunning(t, ns, "hop")
	pod, err := client.CoreV1().Pods(ns).Get(context.Background(), "hop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubelet := tracing.NodeComponent(tracing.Kubelet, pod.Spec.NodeName)
	tr := followTrace(t, shared.uiAddr, "namespace="+ns)
	if out := k.mustRun(t, "exec", "hop", "-n", ns, "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "hop" {
		t.Fatalf("exec cat /etc/hostname: %q", out)
	}
	k.mustRun(t, "logs", "hop", "-n", ns)

	about := func(ev *tracing.Event) bool { return ev.Namespace == ns && ev.Name == "hop" }
	client1 := tr.waitFor(t, 30*time.Second, "kubectl → apiserver pods/exec", func(ev *tracing.Event) bool {
		return about(ev) && ev.Kind == tracing.KindHTTP && ev.From == tracing.Kubectl && ev.Subresource == "exec"
	})
	hop := tr.waitFor(t, 30*time.Second, "apiserver → kubelet exec", func(ev *tracing.Event) bool {
		return about(ev) && ev.Kind == tracing.KindKubeletAPI && ev.Verb == "exec"
	})
	cri := tr.waitFor(t, 30*time.Second, "kubelet → runtime Exec", func(ev *tracing.Event) bool {
		return about(ev) && ev.Kind == tracing.KindCRI && ev.Verb == "Exec"
	})
	if hop.From != tracing.APIServer || hop.To != kubelet || hop.Cause != client1.Seq {
		t.Errorf("the kubelet hop is %s → %s with cause %d; want apiserver → %s caused by %d (%s)", hop.From, hop.To, hop.Cause, kubelet, client1.Seq, client1.Summary)
	}
	if cmd, _ := hop.Detail["command"].([]any); len(cmd) != 2 || cmd[0] != "cat" {
		t.Errorf("the kubelet hop's command is %v", hop.Detail["command"])
	}
	if cri.From != kubelet || cri.Cause != hop.Seq || cri.Status != "OK" {
		t.Errorf("the CRI Exec is %s, status %s, cause %d; want from %s caused by %d (%s)", cri.From, cri.Status, cri.Cause, kubelet, hop.Seq, hop.Summary)
	}
	if u, _ := cri.Detail["streamUrl"].(string); !strings.HasSuffix(u, "/…") {
		t.Errorf("the Exec's streaming URL is %q, want one with its token hidden", u)
	}
	if !(client1.Seq < hop.Seq && hop.Seq < cri.Seq) {
		t.Errorf("seqs out of causal order: %d, %d, %d", client1.Seq, hop.Seq, cri.Seq)
	}

	logReq := tr.waitFor(t, 30*time.Second, "kubectl → apiserver pods/log", func(ev *tracing.Event) bool {
		return about(ev) && ev.Kind == tracing.KindHTTP && ev.From == tracing.Kubectl && ev.Subresource == "log"
	})
	logHop := tr.waitFor(t, 30*time.Second, "apiserver → kubelet log", func(ev *tracing.Event) bool {
		return about(ev) && ev.Kind == tracing.KindKubeletAPI && ev.Verb == "log"
	})
	if logHop.Cause != logReq.Seq || logHop.Detail["container"] != "hop" {
		t.Errorf("the logs hop (%s) has cause %d and container %v; want %d and hop", logHop.Summary, logHop.Cause, logHop.Detail["container"], logReq.Seq)
	}

	// A request that fails after it arrived says so in the trace: its
	// failure is an event of its own (here the kubelet's 400 for a
	// container that never started).
	k.mustRun(t, "run", "broken", "--image", "doesnotexist.example/nope:1", "-n", ns)
	eventually(t, time.Minute, "kubectl logs of a container that cannot start fails", func() (bool, string) {
		out, err := k.run(t, "logs", "broken", "-n", ns)
		return err != nil && strings.Contains(out, "waiting to start"), out
	})
	tr.waitFor(t, 30*time.Second, "the failed logs request's status", func(ev *tracing.Event) bool {
		return ev.Namespace == ns && ev.Name == "broken" && ev.Kind == tracing.KindHTTP && ev.Subresource == "log" && ev.Status == "400"
	})
}

// A RuntimeClass picks the handler a pod's sandbox runs on, as on a real
// node: the simulated runtime's runsc stands for gVisor, whose containers
// see gVisor's kernel, not the node's; a RuntimeClass naming a handler the
// node does not have leaves its pod without a sandbox, and the pod's
// events say why.
func TestRuntimeClassPicksTheSandboxHandler(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "runtimeclass")
	k := embeddedKubectl(shared.kubeconfig())
	tr := followTrace(t, shared.uiAddr, "kinds=cri&namespace="+ns)
	manifest := filepath.Join(t.TempDir(), "rc.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor-`+ns+`}
handler: runsc
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata-`+ns+`}
handler: kata
---
apiVersion: v1
kind: Pod
metadata: {name: sandboxed, namespace: `+ns+`}
spec:
  runtimeClassName: gvisor-`+ns+`
  containers: [{name: main, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-handler, namespace: `+ns+`}
spec:
  runtimeClassName: kata-`+ns+`
  containers: [{name: main, image: busybox, command: [sleep, "3600"]}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	k.mustRun(t, "apply", "-f", manifest)
	t.Cleanup(func() { k.run(t, "delete", "runtimeclass", "gvisor-"+ns, "kata-"+ns) })
	waitSharedRunning(t, ns, "sandboxed")
	if out := k.mustRun(t, "exec", "sandboxed", "-n", ns, "--", "uname", "-r"); strings.TrimSpace(out) != "4.4.0" {
		t.Errorf("uname -r in a gVisor pod: %q, want gVisor's 4.4.0", out)
	}
	if out := k.mustRun(t, "exec", "sandboxed", "-n", ns, "--", "dmesg"); !strings.Contains(out, "Starting gVisor") {
		t.Errorf("dmesg in a gVisor pod: %q", out)
	}
	tr.waitFor(t, 30*time.Second, "RunPodSandbox of the gVisor pod on runsc", func(ev *tracing.Event) bool {
		return ev.Verb == "RunPodSandbox" && ev.Name == "sandboxed" && ev.Detail["runtimeHandler"] == "runsc" && ev.Status == "OK"
	})
	tr.waitFor(t, time.Minute, "RunPodSandbox of the kata pod failing", func(ev *tracing.Event) bool {
		return ev.Verb == "RunPodSandbox" && ev.Name == "no-handler" && ev.Detail["runtimeHandler"] == "kata" && ev.Status == "Unknown"
	})
	eventually(t, time.Minute, "the pod's events say the handler is missing", func() (bool, string) {
		out, _ := k.run(t, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=no-handler")
		return strings.Contains(out, "FailedCreatePodSandBox") && strings.Contains(out, `no runtime for "kata" is configured`), out
	})
	pod, err := client.CoreV1().Pods(ns).Get(context.Background(), "no-handler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != v1.PodPending {
		t.Errorf("the pod with no handler is %s, want Pending", pod.Status.Phase)
	}
}

// kubectl port-forward opens a local port on which the pod's nginx
// answers, with every kubectl; the request is in nginx's access log, and
// the trace shows the hop through the pod's kubelet.
func TestPortForwardReachesNginx(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "portforward")
	embeddedKubectl(shared.kubeconfig()).mustRun(t, "run", "web", "--image", "nginx", "-n", ns)
	waitSharedRunning(t, ns, "web")
	tr := followTrace(t, shared.uiAddr, "kinds=kubelet-api&namespace="+ns)
	for _, k := range kubectls(t) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := k.command(ctx, "port-forward", "-n", ns, "pod/web", ":80")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// "Forwarding from 127.0.0.1:41234 -> 80"
		local := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if m := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) -> 80`).FindStringSubmatch(sc.Text()); m != nil {
					local <- m[1]
				}
			}
		}()
		var addr string
		select {
		case addr = <-local:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s port-forward printed no local address; stderr: %s", k.name, stderr.String())
		}
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("User-Agent", "port-forward-test/"+strings.ReplaceAll(k.name, " ", "-"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: GET through the forwarded port: %v; stderr: %s", k.name, err, stderr.String())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "Welcome to nginx!") {
			t.Errorf("%s: GET / through port-forward = %d %q", k.name, resp.StatusCode, body)
		}
		cancel()
		_ = cmd.Wait()
		eventually(t, 30*time.Second, "nginx logs the forwarded request", func() (bool, string) {
			out, _ := k.run(t, "logs", "web", "-n", ns)
			return strings.Contains(out, `"GET / HTTP/1.1" 200`) && strings.Contains(out, req.Header.Get("User-Agent")), out
		})
	}
	tr.waitFor(t, 30*time.Second, "apiserver → kubelet portforward", func(ev *tracing.Event) bool {
		return ev.Verb == "portforward" && ev.Name == "web" && ev.From == tracing.APIServer && ev.Cause != 0
	})
}
