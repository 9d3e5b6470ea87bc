package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// The chapter's three cluster topologies.
const (
	// SingleNode is one machine that is control plane and node at once,
	// as minikube runs: the node is called "wheelhouse", is labelled
	// node-role.kubernetes.io/control-plane and takes pods.
	SingleNode = "single-node"
	// SingleControlPlane is one control-plane machine (etcd, apiserver,
	// scheduler, controller manager) and Nodes compute nodes.
	SingleControlPlane = "single-control-plane"
	// HA is ControlPlanes control-plane machines (cp-1 …), each with an
	// etcd member, an apiserver, a scheduler and a controller manager, as
	// kubeadm's stacked topology has them, a load balancer in front of the
	// apiservers, and Nodes compute nodes.
	HA = "ha"
)

// Topologies are the valid Config.Topology values.
var Topologies = []string{SingleNode, SingleControlPlane, HA}

// SingleNodeName is the one node of the single-node topology.
const SingleNodeName = "wheelhouse"

// LeaderElection is how the schedulers and controller managers of an HA
// control plane elect their leaders (Leases kube-scheduler and
// kube-controller-manager in kube-system). The defaults are shorter than
// Kubernetes' (15 s, 10 s, 2 s) so a class watches a failover within
// seconds; a standby takes over at most LeaseDuration+RetryPeriod after a
// leader dies.
type LeaderElection struct {
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// DefaultLeaderElection is what `up --topology ha` uses.
var DefaultLeaderElection = LeaderElection{LeaseDuration: 8 * time.Second, RenewDeadline: 6 * time.Second, RetryPeriod: 2 * time.Second}

// machine is one control-plane machine and the ports its components
// listen on. In the single-control-plane and single-node topologies there
// is one, with no name, and component ids have no machine suffix
// ("apiserver"); in HA they are "apiserver/cp-1" and so on.
type machine struct {
	name                         string
	etcdClient, etcdPeer         int
	api                          int
	scheduler, controllerManager int
}

// id is the component id of kind on this machine.
func (m machine) id(kind string) string {
	if m.name == "" {
		return kind
	}
	return tracing.NodeComponent(kind, m.name)
}

// etcdMember is the member's name: the machine's, or "wheelhouse" for
// the one member of a single control plane (as clusters made before the
// topologies have it).
func (m machine) etcdMember() string {
	if m.name == "" {
		return "wheelhouse"
	}
	return m.name
}

func (m machine) etcdURL() string { return fmt.Sprintf("https://%s:%d", loopback, m.etcdClient) }

// dir is where the machine's components keep their files: the data
// directory itself for the one control plane (as clusters made before the
// topologies have it), machines/<name> in HA.
func (m machine) dir(dataDir string) string {
	if m.name == "" {
		return dataDir
	}
	return filepath.Join(dataDir, "machines", m.name)
}

func (m machine) portClaims() []portClaim {
	on := ""
	if m.name != "" {
		on = " on " + m.name
	}
	return []portClaim{
		{loopback, m.api, "kube-apiserver" + on, "--api-port"},
		{loopback, m.etcdClient, "etcd clients" + on, "--etcd-port"},
		{loopback, m.etcdPeer, "etcd peers" + on, "--etcd-port"},
		{loopback, m.scheduler, "kube-scheduler's secure port" + on, "--scheduler-port"},
		{loopback, m.controllerManager, "kube-controller-manager's secure port" + on, "--controller-manager-port"},
	}
}

// ControlPlaneName is the name of control-plane machine i (1-based).
func ControlPlaneName(i int) string { return fmt.Sprintf("cp-%d", i) }

// LoadBalancer is the HA load balancer's component id.
const LoadBalancer = "load-balancer"

// machines are the control-plane machines. In HA the load balancer takes
// APIPort and apiserver i listens on APIPort+i; etcd member i on
// EtcdPort+2(i-1) and the port after it; scheduler and controller manager
// i on their ports + 100(i-1).
func (c Config) machines() []machine {
	if c.Topology != HA {
		return []machine{{etcdClient: c.EtcdPort, etcdPeer: c.EtcdPort + 1, api: c.APIPort, scheduler: c.SchedulerPort, controllerManager: c.ControllerManagerPort}}
	}
	out := make([]machine, c.ControlPlanes)
	for i := range out {
		out[i] = machine{
			name:       ControlPlaneName(i + 1),
			etcdClient: c.EtcdPort + 2*i, etcdPeer: c.EtcdPort + 2*i + 1,
			api:               c.APIPort + 1 + i,
			scheduler:         c.SchedulerPort + 100*i,
			controllerManager: c.ControllerManagerPort + 100*i,
		}
	}
	return out
}

// NodeNames are the compute nodes' names.
func (c Config) NodeNames() []string {
	if c.Topology == SingleNode {
		return []string{SingleNodeName}
	}
	out := make([]string, c.Nodes)
	for i := range out {
		out[i] = NodeName(i + 1)
	}
	return out
}

// topologyFile, in the data directory, records the topology the cluster
// was made in: its etcd data, certificates and nodes belong to that shape.
const topologyFile = "topology"

func (c Config) topologyStamp() string {
	if c.Topology == HA {
		return fmt.Sprintf("%s %d", HA, c.ControlPlanes)
	}
	return c.Topology
}

// checkTopology refuses a data directory made in another topology, and
// records the topology of a new one. A directory from before topologies
// existed that has etcd data was a single control plane.
func checkTopology(dataDir string, cfg Config) error {
	path := filepath.Join(dataDir, topologyFile)
	want := cfg.topologyStamp()
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		got := strings.TrimSpace(string(b))
		if got == want {
			return nil
		}
		return &TopologyMismatchError{DataDir: dataDir, Have: got, Want: want}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading the data directory's topology: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "etcd", "member")); err == nil && want != SingleControlPlane {
		return &TopologyMismatchError{DataDir: dataDir, Have: SingleControlPlane, Want: want}
	}
	if err := os.WriteFile(path, []byte(want+"\n"), 0o600); err != nil {
		return fmt.Errorf("recording the data directory's topology: %w", err)
	}
	return nil
}

// TopologyMismatchError is a data directory that holds a cluster of
// another topology than the one asked for.
type TopologyMismatchError struct {
	DataDir, Have, Want string
}

func (e *TopologyMismatchError) Error() string {
	have, _, _ := strings.Cut(e.Have, " ")
	flags := "--topology " + have
	if n, ok := strings.CutPrefix(e.Have, HA+" "); ok {
		flags += " --control-planes " + n
	}
	return fmt.Sprintf("the data directory %s holds a %s cluster, not %s: start it with %s, or give another --data-dir for a new %s cluster",
		e.DataDir, e.Have, e.Want, flags, e.Want)
}
