package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Traffic between simulated pods: by pod address, and to a Service's
// ClusterIP through the rules the source node's real kube-proxy wrote,
// every connection a `net` event naming those rules.
func TestPodsReachPodsAndServicesThroughKubeProxysRules(t *testing.T) {
	t.Parallel()
	client, ns, k := inSharedNamespace(t, "net")
	applyIn(t, k, webBehindService(ns, 3)+`apiVersion: v1
kind: Service
metadata: {name: empty, namespace: `+ns+`}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: `+ns+`}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
`)
	trace := followTrace(t, shared.uiAddr, "kinds=net&namespace="+ns)
	waitSharedRunning(t, ns, "client")
	var webIPs []string
	eventually(t, 2*time.Minute, "three web pods Running", func() (bool, string) {
		webIPs = runningWebIPs(t, client, ns)
		return len(webIPs) == 3, fmt.Sprint(len(webIPs), " running")
	})
	exec := func(cmd string) (string, error) {
		return k.run(t, "exec", "client", "-n", ns, "--", "sh", "-c", cmd)
	}

	// Pod to pod, by address.
	out, err := exec("wget -qO- http://" + webIPs[0] + "/")
	if err != nil || !strings.Contains(out, "Welcome to nginx!") {
		t.Fatalf("wget of a pod's address: %v\n%s", err, out)
	}
	ev := trace.waitFor(t, 10*time.Second, "the pod-to-pod connection", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindNet && e.Detail["dst"] == webIPs[0]+":80"
	})
	if ev.From != "pod:"+ns+"/client" || ev.Detail["outcome"] != "connected" || !strings.HasPrefix(ev.To, "pod:"+ns+"/web-") {
		t.Errorf("the pod-to-pod event: %+v", ev)
	}

	// The ClusterIP, once the client's node's kube-proxy has written its rules.
	svc, err := client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP
	eventually(t, time.Minute, "the ClusterIP answering", func() (bool, string) {
		out, err := exec("wget -qO- -T 2 http://" + ip + "/")
		return err == nil && strings.Contains(out, "Welcome to nginx!"), fmt.Sprint(err, out)
	})
	if _, err := exec(fmt.Sprintf("for i in $(seq 100); do wget -q -O /dev/null http://%s/ || exit 1; done", ip)); err != nil {
		t.Fatalf("100 requests to the ClusterIP: %v", err)
	}
	answered := map[string]int{}
	eventually(t, 20*time.Second, "100 net events for the ClusterIP", func() (bool, string) {
		clear(answered)
		n := 0
		for _, e := range trace.snapshot() {
			if e.Kind != tracing.KindNet || e.Detail["dst"] != ip+":80" || e.Detail["outcome"] != "connected" {
				continue
			}
			n++
			ep, _ := e.Detail["endpoint"].(string)
			answered[strings.TrimSuffix(ep, ":80")]++
			chains := fmt.Sprint(e.Detail["chains"])
			if !strings.Contains(chains, "KUBE-SERVICES") || !strings.Contains(chains, "KUBE-SVC-") || !strings.Contains(chains, "KUBE-SEP-") {
				return false, "chains " + chains
			}
		}
		return n >= 100, fmt.Sprint(n, " connections")
	})
	for _, ip := range webIPs {
		if answered[ip] == 0 {
			t.Errorf("over 100 requests the endpoint %s never answered: %v", ip, answered)
		}
	}
	for ep := range answered {
		if !slices.Contains(webIPs, ep) {
			t.Errorf("a connection went to %s, which is no ready endpoint %v", ep, webIPs)
		}
	}

	// A Service with no ready endpoint refuses, as kube-proxy's REJECT rule says.
	empty, err := client.CoreV1().Services(ns).Get(context.Background(), "empty", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the endpoint-less Service refusing", func() (bool, string) {
		out, err := exec("wget -qO- -T 2 http://" + empty.Spec.ClusterIP + "/")
		return err != nil && strings.Contains(out, "Connection refused"), out
	})
	ev = trace.waitFor(t, 10*time.Second, "the refused connection", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindNet && e.Detail["dst"] == empty.Spec.ClusterIP+":80" && e.Detail["outcome"] == "refused"
	})
	if ev.Detail["verdict"] != "rejected" {
		t.Errorf("the refused connection's event: %v", ev.Detail)
	}
}

// webBehindService is a manifest of a Deployment web of nginx pods
// (app=web) and a Service web in front of them, port 80, ending in a
// document separator for what follows.
func webBehindService(ns string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
`, ns, replicas)
}

// runningWebIPs are the addresses of the web pods that run and are not
// being deleted.
func runningWebIPs(t *testing.T, client kubernetes.Interface, ns string) []string {
	t.Helper()
	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, p := range pods.Items {
		if p.Status.Phase == v1.PodRunning && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			ips = append(ips, p.Status.PodIP)
		}
	}
	return ips
}

// A node whose kube-proxy is stopped keeps the rules it last wrote, as a
// real node keeps its iptables: new connections from its pods go to the
// endpoints those rules name, even when the pods are gone, while another
// node's up-to-date rules route correctly; a new kube-proxy repairs them.
// (Not parallel: it stops a component of the shared cluster.)
func TestAStoppedKubeProxysStaleRulesStillRoute(t *testing.T) {
	client, ns, k := inSharedNamespace(t, "stale")
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) < 2 {
		t.Fatalf("this test needs two nodes: %v %v", len(nodes.Items), err)
	}
	stale, fresh := nodes.Items[0].Name, nodes.Items[1].Name
	applyIn(t, k, webBehindService(ns, 2)+`apiVersion: v1
kind: Pod
metadata: {name: on-stale, namespace: `+ns+`}
spec:
  nodeName: `+stale+`
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-fresh, namespace: `+ns+`}
spec:
  nodeName: `+fresh+`
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
`)
	waitSharedRunning(t, ns, "on-stale")
	waitSharedRunning(t, ns, "on-fresh")
	svc, err := client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.Spec.ClusterIP + "/"
	wget := func(pod string) (string, error) {
		return k.run(t, "exec", pod, "-n", ns, "--", "wget", "-qO-", "-T", "2", url)
	}
	webIPs := func() []string { return runningWebIPs(t, client, ns) }
	for _, pod := range []string{"on-stale", "on-fresh"} {
		eventually(t, time.Minute, pod+" reaching the Service", func() (bool, string) {
			out, err := wget(pod)
			return err == nil && strings.Contains(out, "Welcome to nginx!"), fmt.Sprint(err, out)
		})
	}
	old := webIPs()

	proxy := "kube-proxy/" + stale
	if out, err := shared.componentCommand(t, "stop", proxy); err != nil {
		t.Fatalf("stopping %s: %v\n%s", proxy, err, out)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_, _ = shared.componentCommand(t, "start", proxy)
		}
	})
	trace := followTrace(t, shared.uiAddr, "kinds=net&namespace="+ns)
	if _, err := k.run(t, "delete", "pods", "-n", ns, "-l", "app=web", "--wait=true"); err != nil {
		t.Fatal(err)
	}
	var now []string
	eventually(t, 2*time.Minute, "two new web pods Running", func() (bool, string) {
		now = webIPs()
		return len(now) == 2 && !slices.Contains(old, now[0]) && !slices.Contains(old, now[1]), fmt.Sprint(now)
	})
	eventually(t, time.Minute, "the fresh node routing to the new pods", func() (bool, string) {
		out, err := wget("on-fresh")
		return err == nil && strings.Contains(out, "Welcome to nginx!"), fmt.Sprint(err, out)
	})
	out, err := wget("on-stale")
	if err == nil || !strings.Contains(out, "timed out") {
		t.Fatalf("from the node with a stopped kube-proxy: %v %s, want a timeout (its rules send it to a pod that is gone)", err, out)
	}
	ev := trace.waitFor(t, 10*time.Second, "the stale connection", func(e *tracing.Event) bool {
		return e.Detail["srcNode"] == stale && e.Detail["outcome"] == "timed out"
	})
	ep, _ := ev.Detail["endpoint"].(string)
	if !slices.Contains(old, strings.TrimSuffix(ep, ":80")) || ev.Detail["verdict"] != "dnat" {
		t.Errorf("the stale rules sent the connection to %s (verdict %v), want one of the deleted pods %v", ep, ev.Detail["verdict"], old)
	}

	if out, err := shared.componentCommand(t, "start", proxy); err != nil {
		t.Fatalf("starting %s: %v\n%s", proxy, err, out)
	}
	restarted = true
	eventually(t, time.Minute, "the restarted kube-proxy's rules routing to the new pods", func() (bool, string) {
		out, err := wget("on-stale")
		return err == nil && strings.Contains(out, "Welcome to nginx!"), fmt.Sprint(err, out)
	})
}

// A pod's connection is drawn as a packet from its chip, through its
// node's kube-proxy, to the chip of the pod that answered.
func TestBrowserAnimatesAPacketFromPodToPod(t *testing.T) {
	ctx := newBrowser(t)
	client, ns, k := inSharedNamespace(t, "uinet")
	k.mustRun(t, "run", "server", "--image", "nginx", "-n", ns)
	k.mustRun(t, "run", "client", "--image", "busybox", "-n", ns, "--", "sleep", "3600")
	waitSharedRunning(t, ns, "server")
	waitSharedRunning(t, ns, "client")
	server, err := client.CoreV1().Pods(ns).Get(context.Background(), "server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	openUI(t, ctx, shared.uiAddr)
	eventually(t, 30*time.Second, "both pods drawn", func() (bool, string) {
		n := evalJS[int](t, ctx, `document.querySelectorAll('g.pod[data-pod^="`+ns+`/"]').length`)
		return n == 2, fmt.Sprint(n, " chips")
	})
	tr := followTrace(t, shared.uiAddr, "kinds=net&namespace="+ns)
	if out, err := k.run(t, "exec", "client", "-n", ns, "--", "wget", "-qO-", "http://"+server.Status.PodIP+"/"); err != nil || !strings.Contains(out, "Welcome to nginx!") {
		t.Fatalf("wget from the client pod: %v\n%s", err, out)
	}
	ev := tr.waitFor(t, 30*time.Second, "the connection's net event", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindNet && e.To == "pod:"+ns+"/server"
	})
	want := "pod:" + ns + "/client->pod:" + ns + "/server"
	eventually(t, 30*time.Second, "the connection animated pod to pod", func() (bool, string) {
		for _, a := range animated(t, ctx) {
			if a.Seq == ev.Seq {
				return a.Edge == want, "animated on " + a.Edge
			}
		}
		return false, animationState(t, ctx, ev.Seq)
	})
	// Through the client's node's kube-proxy: the route's middle point is
	// that component's centre.
	// (Asked again while the diagram redraws the chips.)
	eventually(t, 10*time.Second, "the route of a pod's connection: pod → kube-proxy → pod", func() (bool, string) {
		route := evalJS[[][]float64](t, ctx, `window.wheelhouse.route("pod:`+ns+`/client", "pod:`+ns+`/server")`)
		return len(route) == 3, fmt.Sprint(route)
	})
	screenshot(t, ctx, "ui-net-packet")

	// kube-proxy's panel shows the rules its node routes by, a Service's
	// lines highlighted.
	k.mustRun(t, "expose", "pod", "server", "-n", ns, "--port", "80")
	clientPod, err := client.CoreV1().Pods(ns).Get(context.Background(), "client", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy := "kube-proxy/" + clientPod.Spec.NodeName
	evalJS[any](t, ctx, `document.querySelector('[data-testid="diagram"] [data-component="`+proxy+`"]').dispatchEvent(new MouseEvent('click', {bubbles: true}))`)
	svc := ns + "/server"
	var hl string
	eventually(t, time.Minute, "the Service's endpoint in kube-proxy's rules, highlighted", func() (bool, string) {
		// The panel reads the rules when it opens, and on Refresh.
		evalJS[any](t, ctx, `document.querySelector('[data-testid=kube-proxy-rules] .rules-bar button').click()`)
		time.Sleep(300 * time.Millisecond)
		evalJS[any](t, ctx, `(() => { const s = document.querySelector('[data-testid=rules-service]'); s.value = `+"`"+svc+"`"+`; s.dispatchEvent(new Event('change')); })()`)
		hl = evalJS[string](t, ctx, `[...document.querySelectorAll('[data-testid=kube-proxy-rules] .rule-line.hl')].map((l) => l.textContent).join('')`)
		return strings.Contains(hl, "KUBE-SEP-"), hl
	})
	for _, want := range []string{"-A KUBE-SERVICES", "KUBE-SVC-", "KUBE-SEP-", "DNAT --to-destination " + server.Status.PodIP + ":80"} {
		if !strings.Contains(hl, want) {
			t.Errorf("the highlighted rules of %s lack %q:\n%s", svc, want, hl)
		}
	}
	screenshot(t, ctx, "ui-kube-proxy-rules")
}
