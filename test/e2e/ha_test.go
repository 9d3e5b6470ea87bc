package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// haFlags are the flags of an HA cluster on free ports: the load balancer
// and three apiservers from base, six etcd ports from base+10, and the
// schedulers' and controller managers' ports from base+20 and base+21,
// each machine's 100 above the last.
func haFlags(base int) []string {
	return []string{"--topology", "ha",
		"--api-port", strconv.Itoa(base), "--etcd-port", strconv.Itoa(base + 10),
		"--scheduler-port", strconv.Itoa(base + 20), "--controller-manager-port", strconv.Itoa(base + 21),
	}
}

func startHACluster(t testing.TB, dir string, base int) *testCluster {
	t.Helper()
	tc, err := startClusterIn(dir, 2, haFlags(base)...)
	if err != nil {
		t.Fatal(err)
	}
	tc.apiPort = base
	return tc
}

// etcdctl runs `wheelhouse etcdctl args…` against tc.
func (tc *testCluster) etcdctl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := wheelhouse(ctx, append([]string{"etcdctl"}, args...)...)
	cmd.Env = append(cmd.Env, "WHEELHOUSE_DATA_DIR="+tc.dataDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type endpointStatus struct {
	Endpoint string `json:"Endpoint"`
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
		Leader    uint64 `json:"leader"`
		RaftTerm  uint64 `json:"raftTerm"`
		RaftIndex uint64 `json:"raftIndex"`
	} `json:"Status"`
}

// etcdLeader is the leading member's machine (cp-1 …) and the Raft term,
// from `etcdctl endpoint status --cluster`; "" if no member says it leads.
func (tc *testCluster) etcdLeader(t testing.TB, etcdBase int) (string, uint64) {
	out, err := tc.etcdctl(t, "endpoint", "status", "--cluster", "-w", "json", "--command-timeout", "3s")
	start := strings.Index(out, "[")
	if start < 0 {
		return "", 0
	}
	var sts []endpointStatus
	if json.Unmarshal([]byte(out[start:]), &sts) != nil {
		return "", 0
	}
	_ = err // a stopped member fails its part; the others answer
	for _, s := range sts {
		if s.Status.Leader != 0 && s.Status.Leader == s.Status.Header.MemberID {
			i := strings.LastIndex(s.Endpoint, ":")
			port, _ := strconv.Atoi(s.Endpoint[i+1:])
			return fmt.Sprintf("cp-%d", (port-etcdBase)/2+1), s.Status.RaftTerm
		}
	}
	return "", 0
}

func leaseHolderMachine(ctx context.Context, client kubernetes.Interface, name string) (string, error) {
	l, err := client.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	machine, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	return machine, nil
}

// The HA topology (issue 12): three control-plane machines behind a load
// balancer, and each fault a class would try, with what really happens.
func TestHighAvailability(t *testing.T) {
	base, err := freePorts(25)
	if err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	tc := startHACluster(t, dir, base)
	defer func() { tc.stop() }()
	client := tc.client(t)
	k := embeddedKubectl(tc.kubeconfig())
	ctx := context.Background()
	component := func(args ...string) {
		t.Helper()
		if out, err := tc.componentCommand(t, args...); err != nil {
			t.Fatalf("wheelhouse component %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	t.Run("shape", func(t *testing.T) {
		out, err := tc.etcdctl(t, "member", "list")
		if err != nil {
			t.Fatalf("etcdctl member list: %v\n%s", err, out)
		}
		for _, m := range []string{"cp-1", "cp-2", "cp-3"} {
			if !strings.Contains(out, ", started, "+m+", ") {
				t.Errorf("etcd member %s is not listed as started:\n%s", m, out)
			}
		}
		if out, err := tc.etcdctl(t, "get", "/registry/namespaces", "--prefix", "--keys-only"); err != nil || !strings.Contains(out, "/registry/namespaces/default") {
			t.Errorf("etcdctl get: %v\n%s", err, out)
		}
		eventually(t, time.Minute, "three apiserver identity Leases", func() (bool, string) {
			ls, err := client.CoordinationV1().Leases("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "apiserver.kubernetes.io/identity=kube-apiserver"})
			if err != nil {
				return false, err.Error()
			}
			return len(ls.Items) == 3, fmt.Sprintf("%d Leases", len(ls.Items))
		})
		for _, lease := range []string{"kube-scheduler", "kube-controller-manager"} {
			eventually(t, time.Minute, lease+" Lease held by a control-plane machine", func() (bool, string) {
				m, err := leaseHolderMachine(ctx, client, lease)
				return err == nil && strings.HasPrefix(m, "cp-"), fmt.Sprint(m, err)
			})
		}
		out, _ = tc.componentCommand(t, "list")
		for _, id := range []string{"load-balancer", "etcd/cp-3", "apiserver/cp-2", "scheduler/cp-1", "controller-manager/cp-3"} {
			if !strings.Contains(out, id) {
				t.Errorf("component list lacks %s:\n%s", id, out)
			}
		}
	})

	t.Run("etcd writes name their member and client", func(t *testing.T) {
		tr := followTrace(t, tc.uiAddr, "kinds=etcd")
		if out, err := k.run(t, "create", "configmap", "via-apiserver", "--from-literal", "k=v"); err != nil {
			t.Fatalf("kubectl create configmap: %v\n%s", err, out)
		}
		// Through the load balancer to some apiserver, which writes through
		// its own machine's member; the Raft leader is named too.
		ev := tr.waitFor(t, 30*time.Second, "the etcd write of configmap via-apiserver", func(e *tracing.Event) bool {
			return e.Kind == tracing.KindEtcd && e.Resource == "configmaps" && e.Name == "via-apiserver"
		})
		machine := strings.TrimPrefix(ev.From, "apiserver/")
		if !strings.HasPrefix(ev.From, "apiserver/cp-") || ev.To != "etcd/"+machine || ev.Detail["member"] != machine {
			t.Errorf("kubectl's write: from %s to %s member %v; want apiserver/cp-N → etcd/cp-N, member cp-N", ev.From, ev.To, ev.Detail["member"])
		}
		if leader, _ := ev.Detail["leader"].(string); !strings.HasPrefix(leader, "etcd/cp-") {
			t.Errorf("kubectl's write names no Raft leader: %v", ev.Detail)
		}
		// The learner's etcdctl writes past the apiserver, and the trace
		// says so rather than putting it on the apiserver's account.
		if out, err := tc.etcdctl(t, "put", "/registry/wheelhouse-test/by-etcdctl", "x"); err != nil {
			t.Fatalf("etcdctl put: %v\n%s", err, out)
		}
		ev = tr.waitFor(t, 30*time.Second, "the etcd write of etcdctl", func(e *tracing.Event) bool {
			return e.Kind == tracing.KindEtcd && e.Detail["key"] == "/registry/wheelhouse-test/by-etcdctl"
		})
		if ev.From != tracing.Etcdctl || !strings.HasPrefix(ev.To, "etcd/cp-") {
			t.Errorf("etcdctl's write: from %s to %s; want etcdctl → etcd/cp-N", ev.From, ev.To)
		}
		if out, err := tc.etcdctl(t, "del", "/registry/wheelhouse-test/by-etcdctl"); err != nil {
			t.Errorf("etcdctl del: %v\n%s", err, out)
		}
	})

	t.Run("etcd leader stopped", func(t *testing.T) {
		old, term := tc.etcdLeader(t, base+10)
		if old == "" {
			t.Fatal("no etcd member leads")
		}
		tr := followTrace(t, tc.uiAddr, "kinds=lifecycle")
		component("stop", "etcd/"+old)
		var now string
		eventually(t, 30*time.Second, "a new etcd leader", func() (bool, string) {
			var newTerm uint64
			now, newTerm = tc.etcdLeader(t, base+10)
			return now != "" && now != old && newTerm > term, fmt.Sprintf("leader %q term %d (was %s, %d)", now, newTerm, old, term)
		})
		// The trace says so, as an event of its own.
		tr.waitFor(t, 30*time.Second, "the trace's LeaderElected from etcd/"+now, func(e *tracing.Event) bool {
			return e.Kind == tracing.KindLifecycle && e.Verb == "LeaderElected" && e.From == "etcd/"+now
		})
		// One member of three down: writes go on.
		eventually(t, 30*time.Second, "a write with one member down", func() (bool, string) {
			out, err := k.run(t, "create", "configmap", "one-down", "--from-literal", "k=v")
			return err == nil || strings.Contains(out, "AlreadyExists"), out
		})
		component("start", "etcd/"+old)
	})

	t.Run("apiserver stopped", func(t *testing.T) {
		component("stop", "apiserver/cp-2")
		// kubectl goes through the load balancer; every request works.
		failed := 0
		for i := 0; i < 20; i++ {
			if _, err := k.run(t, "get", "--raw", "/api/v1/namespaces/default"); err != nil {
				failed++
			}
		}
		if failed > 0 {
			t.Errorf("%d of 20 kubectl requests failed with one apiserver stopped", failed)
		}
		component("start", "apiserver/cp-2")
	})

	t.Run("leading scheduler stopped", func(t *testing.T) {
		var leader string
		eventually(t, time.Minute, "a scheduler leads", func() (bool, string) {
			m, err := leaseHolderMachine(ctx, client, "kube-scheduler")
			leader = m
			return err == nil && m != "", fmt.Sprint(m, err)
		})
		tr := followTrace(t, tc.uiAddr, "kinds=lifecycle,http")
		component("stop", "scheduler/"+leader)
		k.mustRun(t, "run", "waited", "--image", "nginx", "--restart", "Never")
		var next string
		eventually(t, time.Minute, "another scheduler takes the Lease", func() (bool, string) {
			m, err := leaseHolderMachine(ctx, client, "kube-scheduler")
			next = m
			return err == nil && m != "" && m != leader, fmt.Sprintf("holder %q (was %s) %v", m, leader, err)
		})
		tr.waitFor(t, 30*time.Second, "the trace's LeaseAcquired by scheduler/"+next, func(e *tracing.Event) bool {
			return e.Kind == tracing.KindLifecycle && e.Verb == "LeaseAcquired" && e.From == "scheduler/"+next
		})
		// The binding is the new leader's, in the trace as its own.
		tr.waitFor(t, time.Minute, "the binding sent by scheduler/"+next, func(e *tracing.Event) bool {
			return e.Kind == tracing.KindHTTP && e.From == "scheduler/"+next && e.Name == "waited" && strings.HasPrefix(e.To, "apiserver/cp-")
		})
		watchPodUntil(t, client, "default", "waited", time.Minute, "bound by the new leader", func(p *v1.Pod) (bool, string) {
			return p.Spec.NodeName != "", "unscheduled"
		})
		component("start", "scheduler/"+leader)
	})

	// Killed, a leader gives nothing up: the standbys wait for its Lease
	// to expire (8 s), and its kubelet starts it again 10 s later.
	t.Run("leading controller manager crashed", func(t *testing.T) {
		var leader string
		eventually(t, time.Minute, "a controller manager leads", func() (bool, string) {
			m, err := leaseHolderMachine(ctx, client, "kube-controller-manager")
			leader = m
			return err == nil && m != "", fmt.Sprint(m, err)
		})
		start := time.Now()
		component("crash", "controller-manager/"+leader)
		eventually(t, time.Minute, "another controller manager takes the Lease", func() (bool, string) {
			m, err := leaseHolderMachine(ctx, client, "kube-controller-manager")
			return err == nil && m != "" && m != leader, fmt.Sprintf("holder %q (was %s) %v", m, leader, err)
		})
		if took := time.Since(start); took < 3*time.Second {
			t.Errorf("taken over %v after the crash; a killed leader's Lease must expire first", took)
		}
		eventually(t, time.Minute, "the crashed controller manager started again", func() (bool, string) {
			for _, c := range tc.components(t) {
				if c.Name == "controller-manager/"+leader {
					return c.State == "running", c.State
				}
			}
			return false, "not listed"
		})
	})

	t.Run("quorum lost and back", func(t *testing.T) {
		component("stop", "etcd/cp-2")
		component("stop", "etcd/cp-3")
		out, err := k.run(t, "create", "configmap", "no-quorum", "--from-literal", "k=v", "--request-timeout", "20s")
		if err == nil {
			t.Fatalf("a write succeeded with two of three etcd members stopped:\n%s", out)
		}
		t.Logf("kubectl with two of three members stopped: %s", strings.TrimSpace(out))
		component("start", "etcd/cp-3")
		eventually(t, 2*time.Minute, "writes work again with two of three members", func() (bool, string) {
			out, err := k.run(t, "create", "configmap", "quorum-back", "--from-literal", "k=v")
			return err == nil || strings.Contains(out, "AlreadyExists"), out
		})
		component("start", "etcd/cp-2")
	})

	// A whole machine loses its power: its four components are killed at
	// once and stay down (its kubelet is gone too); the other two machines
	// carry the cluster. Started, the machine boots them all again.
	t.Run("control-plane machine crashed", func(t *testing.T) {
		component("crash", "cp-3")
		states := func() map[string]string {
			out := map[string]string{}
			for _, c := range tc.components(t) {
				out[c.Name] = c.State
			}
			return out
		}
		for _, id := range []string{"etcd/cp-3", "apiserver/cp-3", "scheduler/cp-3", "controller-manager/cp-3"} {
			if st := states()[id]; st != "crashed" {
				t.Errorf("%s is %s after its machine crashed", id, st)
			}
		}
		eventually(t, time.Minute, "a write with cp-3 down", func() (bool, string) {
			out, err := k.run(t, "create", "configmap", "cp3-down", "--from-literal", "k=v")
			return err == nil || strings.Contains(out, "AlreadyExists"), out
		})
		// Past the 10 s a kubelet would take to restart a static pod,
		// nothing of the dead machine came back by itself.
		time.Sleep(12 * time.Second)
		if st := states()["scheduler/cp-3"]; st != "crashed" {
			t.Errorf("scheduler/cp-3 is %s with its machine down", st)
		}
		component("start", "cp-3")
		for id, st := range states() {
			if strings.HasSuffix(id, "/cp-3") && st != "running" {
				t.Errorf("%s is %s after its machine started", id, st)
			}
		}
	})

	t.Run("data kept across a restart", func(t *testing.T) {
		if err := tc.stop(); err != nil {
			t.Fatal(err)
		}
		// The same directory in another topology is refused, saying how
		// to start it.
		cmd := wheelhouse(ctx, "up", "--data-dir", dir, "--api-port", strconv.Itoa(base))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--topology ha --control-planes 3") {
			t.Errorf("starting an HA data directory as single-control-plane: %v\n%s", err, out)
		}
		tc = startHACluster(t, dir, base)
		client = tc.client(t)
		if _, err := client.CoreV1().ConfigMaps("default").Get(ctx, "quorum-back", metav1.GetOptions{}); err != nil {
			t.Errorf("the ConfigMap written before the restart: %v", err)
		}
		if out, err := tc.etcdctl(t, "member", "list"); err != nil || strings.Count(out, ", started, ") != 3 {
			t.Errorf("etcd members after the restart: %v\n%s", err, out)
		}
	})
}

// The single-node topology runs the chapter's commands on one machine,
// "wheelhouse", which is a control-plane node and takes pods.
func TestSingleNode(t *testing.T) {
	tc, err := startCluster(shortTempDir(t), 1, "--topology", "single-node")
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	client := tc.client(t)
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Name != "wheelhouse" {
		t.Fatalf("nodes: %d, first %q; want one called wheelhouse", len(nodes.Items), nodes.Items[0].Name)
	}
	if _, ok := nodes.Items[0].Labels["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("the node's labels %v: want the control-plane role", nodes.Items[0].Labels)
	}
	// It takes pods: no taint once the node controller has seen it Ready
	// (the not-ready taint of its first seconds goes then).
	eventually(t, time.Minute, "the node has no taint", func() (bool, string) {
		n, err := client.CoreV1().Nodes().Get(context.Background(), "wheelhouse", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(n.Spec.Taints) == 0, fmt.Sprint(n.Spec.Taints)
	})
	k := embeddedKubectl(tc.kubeconfig())
	if out := k.mustRun(t, "get", "nodes"); !strings.Contains(out, "control-plane") {
		t.Errorf("kubectl get nodes does not show the role:\n%s", out)
	}
	k.mustRun(t, "create", "deployment", "web", "--image", "nginx", "--replicas", "2")
	eventually(t, time.Minute, "the Deployment is available on the one node", func() (bool, string) {
		out, _ := k.run(t, "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}")
		return out == "2", out
	})
	if out, err := tc.etcdctl(t, "get", "/registry/deployments/default/web", "--keys-only"); err != nil || !strings.Contains(out, "/registry/deployments/default/web") {
		t.Errorf("etcdctl get: %v\n%s", err, out)
	}
}
