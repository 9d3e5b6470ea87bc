package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Cluster DNS: the DNS add-on's CoreDNS pods run in kube-system with the
// real CoreDNS as their process, behind the kube-dns Service at
// 10.96.0.10; a pod's lookups go through its node's kube-proxy rules to
// one of them, each a `net` query event, and CoreDNS learns Services by
// watching the apiserver with its own service account.
func TestClusterDNSAnswersWithTheRealCoreDNS(t *testing.T) {
	t.Parallel()
	client, ns, k := inSharedNamespace(t, "dns")
	ctx := context.Background()

	waitForCoreDNS(t, client)
	dnsSvc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || dnsSvc.Spec.ClusterIP != "10.96.0.10" {
		t.Fatalf("the kube-dns Service: %v, %+v", err, dnsSvc)
	}

	watches := followTrace(t, shared.uiAddr, "kinds=watch&namespace="+ns)
	queries := followTrace(t, shared.uiAddr, "kinds=net&namespace="+ns)
	applyIn(t, k, webBehindService(ns, 2)+`apiVersion: v1
kind: Pod
metadata: {name: client, namespace: `+ns+`}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
`)
	waitSharedRunning(t, ns, "client")
	svc, err := client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// CoreDNS heard of the new Service by its watch, as CoreDNS's.
	watches.waitFor(t, 30*time.Second, "the new Service sent to CoreDNS's watch", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindWatch && e.To == tracing.CoreDNS && e.Resource == "services" && e.Name == "web"
	})
	exec := func(cmd string) (string, error) {
		return k.run(t, "exec", "client", "-n", ns, "--", "sh", "-c", cmd)
	}

	// The Service by its short name: busybox's nslookup asks it under
	// each search domain, prints every reply, and exits 1 for the
	// domains that have no web.
	var out string
	eventually(t, time.Minute, "nslookup web answering", func() (bool, string) {
		out, err = exec("nslookup web")
		return strings.Contains(out, "Name:\tweb."), fmt.Sprint(err, out)
	})
	if err == nil || !strings.Contains(out, "Name:\tweb."+ns+".svc.cluster.local\nAddress: "+svc.Spec.ClusterIP+"\n") ||
		!strings.HasPrefix(out, "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n") || !strings.Contains(out, "** server can't find web.svc.cluster.local: NXDOMAIN") {
		t.Errorf("nslookup web: %v, printed:\n%s", err, out)
	}
	if out, err := exec("nslookup web." + ns + ".svc.cluster.local"); err != nil || !strings.Contains(out, "Address: "+svc.Spec.ClusterIP+"\n") {
		t.Errorf("nslookup web.%s.svc.cluster.local: %v\n%s", ns, err, out)
	}
	// kubernetes.default: from the documentation's dnsutils Pod (BIND's
	// nslookup, the C library's search rules) under the second search
	// domain; busybox asks the dotted name as it is.
	applyIn(t, k, `apiVersion: v1
kind: Pod
metadata: {name: dnsutils, namespace: `+ns+`}
spec:
  containers: [{name: dnsutils, image: "registry.k8s.io/e2e-test-images/agnhost:2.39"}]
`)
	waitSharedRunning(t, ns, "dnsutils")
	if out, err := k.run(t, "exec", "dnsutils", "-n", ns, "--", "nslookup", "kubernetes.default"); err != nil ||
		!strings.Contains(out, "Address:\t10.96.0.10#53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n") {
		t.Errorf("nslookup kubernetes.default from dnsutils: %v\n%s", err, out)
	}
	if out, err := exec("nslookup kubernetes.default"); err == nil || !strings.Contains(out, "** server can't find kubernetes.default: SERVFAIL") {
		t.Errorf("nslookup kubernetes.default from busybox: %v\n%s", err, out)
	}
	// A name in the cluster's domain that nobody has: CoreDNS, the
	// domain's authority, says so. (A name outside it gets SERVFAIL: the
	// Corefile forwards nowhere, as nothing leaves Wheelhouse.)
	nosuch := "nosuch." + ns + ".svc.cluster.local"
	if out, err := exec("nslookup " + nosuch); err == nil || !strings.Contains(out, "** server can't find "+nosuch+": NXDOMAIN") {
		t.Errorf("nslookup %s: %v\n%s", nosuch, err, out)
	}
	if out, err := exec("nslookup example.com"); err == nil || !strings.Contains(out, "** server can't find example.com: SERVFAIL") {
		t.Errorf("nslookup example.com: %v\n%s", err, out)
	}
	eventually(t, 2*time.Minute, "two web pods Running", func() (bool, string) {
		ips := runningWebIPs(t, client, ns)
		return len(ips) == 2, fmt.Sprint(len(ips), " running")
	})
	eventually(t, time.Minute, "the client node's rules sending web's ClusterIP to its pods", func() (bool, string) {
		out, err := exec("wget -qO- -T 2 http://" + svc.Spec.ClusterIP + "/")
		return err == nil, fmt.Sprint(err, out)
	})
	for _, url := range []string{"http://web." + ns + ".svc.cluster.local", "http://web/"} {
		if out, err := exec("wget -qO- " + url); err != nil || !strings.Contains(out, "Welcome to nginx!") {
			t.Errorf("wget %s: %v\n%s", url, err, out)
		}
	}

	// The query's event: from the client, through the client node's rules
	// for kube-dns, to a CoreDNS pod, with the answer.
	ev := queries.waitFor(t, 10*time.Second, "the query for web's name", func(e *tracing.Event) bool {
		q, _ := e.Detail["dns"].(map[string]any)
		return e.Kind == tracing.KindNet && e.Verb == "query" && q["name"] == "web."+ns+".svc.cluster.local." && q["type"] == "A"
	})
	q := ev.Detail["dns"].(map[string]any)
	chains := fmt.Sprint(ev.Detail["chains"])
	if ev.From != "pod:"+ns+"/client" || !strings.HasPrefix(ev.To, "pod:kube-system/coredns-") || ev.Status != "NOERROR" ||
		ev.Detail["dst"] != "10.96.0.10:53" || !strings.Contains(chains, "KUBE-SVC-") || !strings.Contains(chains, "KUBE-SEP-") ||
		fmt.Sprint(q["answers"]) != "[A "+svc.Spec.ClusterIP+"]" {
		t.Errorf("the query's event: %+v", ev)
	}
	// wget's connection to the name it resolved follows its query, and
	// both are caused by the CRI Exec of the kubectl exec that ran wget.
	conn := queries.waitFor(t, 10*time.Second, "wget's connection to the resolved ClusterIP", func(e *tracing.Event) bool {
		return e.Kind == tracing.KindNet && e.Verb == "connect" && e.Seq > ev.Seq && e.Detail["dst"] == svc.Spec.ClusterIP+":80" && e.Status == "connected"
	})
	for _, e := range []tracing.Event{ev, conn} {
		if e.Cause == 0 || e.Detail["exec"] != true {
			t.Errorf("event %d (%s) has no exec as its cause: cause %d, detail %v", e.Seq, e.Summary, e.Cause, e.Detail)
			continue
		}
		cause := storedEvent(t, e.Cause)
		if cause.Kind != tracing.KindCRI || cause.Verb != "Exec" || cause.Name != "client" || cause.Namespace != ns {
			t.Errorf("event %d (%s) is caused by %+v, want the CRI Exec in the client pod", e.Seq, e.Summary, cause)
		}
	}
}

// waitForCoreDNS waits until the DNS add-on's two CoreDNS pods are
// Running under their own service account. They start a few seconds after
// the cluster is usable (their first sandboxes can wait for the node's pod
// CIDR), holding sockets and connections to the apiserver of their own.
func waitForCoreDNS(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	eventually(t, 2*time.Minute, "two CoreDNS pods Running in kube-system", func() (bool, string) {
		pods, err := client.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == v1.PodRunning && strings.HasPrefix(p.Name, "coredns-") && p.Spec.ServiceAccountName == "coredns" {
				running++
			}
		}
		return running == 2, fmt.Sprint(running, " of ", len(pods.Items), " running")
	})
}
