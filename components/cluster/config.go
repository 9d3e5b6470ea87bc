package cluster

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/wheelhouse-k8s/wheelhouse/components/loadbalancer"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Config is everything `wheelhouse up` decides. Zero fields take the
// defaults of Default; Validate says what is wrong, field by field.
type Config struct {
	DataDir string
	// Topology is SingleNode, SingleControlPlane (the default) or HA.
	Topology string
	// ControlPlanes is how many control-plane machines HA has (3 or 5;
	// default 3); other topologies have one.
	ControlPlanes int
	// LeaderElection times the HA schedulers' and controller managers'
	// leader election (default DefaultLeaderElection).
	LeaderElection LeaderElection
	// APIPort is the apiserver's port, or in HA the load balancer's (the
	// apiservers take the ports after it; see machines).
	APIPort     int
	EtcdPort    int // the peer port is EtcdPort+1
	KubeletPort int // node-1 listens here, node-2 on the next port, …
	// SchedulerPort and ControllerManagerPort are their secure ports
	// (kubeadm's 10259 and 10257, which `kubectl get componentstatuses`
	// asks), on loopback.
	SchedulerPort         int
	ControllerManagerPort int
	Nodes                 int
	// ContainerdNodes is how many nodes (the first ones: node-1, node-2…)
	// run their containers in containerd; the others are simulated.
	ContainerdNodes int
	// ContainerdAddress, if set, is the socket of a containerd that is
	// already running; the one containerd node uses it instead of a
	// containerd of its own.
	ContainerdAddress string
	// PullBytesPerSecond is the simulated registry speed (0: default).
	PullBytesPerSecond int64
	// Verbose mirrors component logs to LogTerminal at klog -v=2.
	Verbose     bool
	LogTerminal io.Writer
	// Progress, if set, hears about each component as it becomes ready
	// during start-up.
	Progress func(Progress)
	// The tracing layer's hooks. APIServerFilters returns, for the
	// apiserver with component id apiserver (apiserver, apiserver/cp-1),
	// the filters that wrap its handler after authentication (inner) and
	// its whole handler chain (outer; see apiserver.Config).
	// RuntimeServerOptions returns a node's CRI server options
	// (interceptors). EtcdReady hears how to reach etcd as soon as a
	// member serves, before anything writes. LoadBalancerHooks returns
	// what hears the HA load balancer's choice for each connection and
	// each backend taken out or put back.
	APIServerFilters     func(apiserver string) (inner, outer func(http.Handler) http.Handler)
	RuntimeServerOptions func(node string) []grpc.ServerOption
	// KubeletAPIFilter returns the filter around a node's kubelet API
	// handler (it sees the apiserver's requests for logs, exec, attach
	// and port-forward); clientCAs are what the kubelet trusts for client
	// certificates.
	KubeletAPIFilter func(node string, clientCAs *x509.CertPool) func(http.Handler) http.Handler
	// EtcdServerOptions returns an etcd member's gRPC server options;
	// clients maps the common name of each etcd client certificate to the
	// component it stands for (the apiserver of the member's machine,
	// etcdctl, Wheelhouse's own reader).
	EtcdServerOptions func(member string, clients map[string]string) []grpc.ServerOption
	EtcdReady         func(EtcdAccess)
	LoadBalancerHooks func() (onRoute func(client net.Addr, backend loadbalancer.Backend), onHealth func(backend loadbalancer.Backend, healthy bool, reason string))
	// Lifecycle, if set, hears each component start, become ready, stop,
	// or crash (verb "started", "ready", "stopped", "crashed").
	Lifecycle func(component, verb string, err error)
	// NetEvents, if set, hears each connection a simulated pod opens
	// (a `net` event, see package podnet).
	NetEvents func(tracing.Event)
}

// MaxNodes bounds --nodes: each node is a kubelet, a kube-proxy and a
// runtime in this process (see docs/BENCHMARKS.md for what 50 cost).
const MaxNodes = 100

// Default is the configuration `wheelhouse up` starts with.
func Default() Config {
	return Config{
		DataDir:               DefaultDataDir(),
		APIPort:               6443,
		EtcdPort:              2379,
		KubeletPort:           10250,
		SchedulerPort:         10259,
		ControllerManagerPort: 10257,
		Nodes:                 3,
	}
}

// withDefaults fills in the zero fields from Default.
func (c Config) withDefaults() Config {
	d := Default()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.Topology == "" {
		c.Topology = SingleControlPlane
	}
	if c.Topology == HA && c.ControlPlanes == 0 {
		c.ControlPlanes = 3
	}
	if c.Topology == SingleNode && c.Nodes == 0 {
		c.Nodes = 1
	}
	if c.LeaderElection == (LeaderElection{}) {
		c.LeaderElection = DefaultLeaderElection
	}
	for _, p := range []struct{ field, def *int }{
		{&c.APIPort, &d.APIPort}, {&c.EtcdPort, &d.EtcdPort}, {&c.KubeletPort, &d.KubeletPort},
		{&c.SchedulerPort, &d.SchedulerPort}, {&c.ControllerManagerPort, &d.ControllerManagerPort},
		{&c.Nodes, &d.Nodes},
	} {
		if *p.field == 0 {
			*p.field = *p.def
		}
	}
	return c
}

// FieldError is what is wrong with one field of a Config. Field is the
// Config field's name, which the command line maps to its flag.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate returns every FieldError of c (joined; see errors.As), or nil.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch c.Topology {
	case SingleNode, SingleControlPlane, HA:
	default:
		bad("Topology", "must be one of %s, not %q", strings.Join(Topologies, ", "), c.Topology)
	}
	switch {
	case c.Topology == HA && c.ControlPlanes != 3 && c.ControlPlanes != 5:
		bad("ControlPlanes", "must be 3 or 5 (an etcd cluster of an odd size that survives losing one or two members), not %d", c.ControlPlanes)
	case c.Topology != HA && c.ControlPlanes > 1:
		bad("ControlPlanes", "applies to the ha topology only (this is %s)", c.Topology)
	}
	switch {
	case c.Topology == SingleNode && c.Nodes != 1:
		bad("Nodes", "the single-node topology is one machine, control plane and node at once; it has no other nodes")
	case c.Nodes < 1 || c.Nodes > MaxNodes:
		bad("Nodes", "must be from 1 to %d, not %d", MaxNodes, c.Nodes)
	}
	le := c.LeaderElection
	if c.Topology == HA && (le.RetryPeriod <= 0 || le.RenewDeadline <= le.RetryPeriod || le.LeaseDuration <= le.RenewDeadline) {
		bad("LeaderElection", "needs lease duration > renew deadline > retry period > 0, not %s, %s, %s", le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
	}
	switch {
	case c.ContainerdNodes < 0 || c.ContainerdNodes > c.Nodes:
		bad("ContainerdNodes", "must be from 0 to the number of nodes (%d), not %d", c.Nodes, c.ContainerdNodes)
	case c.ContainerdAddress != "" && c.ContainerdNodes != 1:
		bad("ContainerdAddress", "serves one node, but %d nodes would use containerd (use one node, or one containerd node)", c.ContainerdNodes)
	}
	cps := max(c.ControlPlanes, 1)
	if c.Topology != HA {
		cps = 1
	}
	apiSpan := 1
	if c.Topology == HA {
		apiSpan = 1 + cps // the load balancer, then one per apiserver
	}
	ports := []struct {
		field, what string
		port, span  int // span: how many ports from port on it takes
	}{
		{"APIPort", "the kube-apiserver port", c.APIPort, apiSpan},
		{"EtcdPort", "etcd's client and peer ports", c.EtcdPort, 2 * cps},
		{"SchedulerPort", "kube-scheduler's secure port", c.SchedulerPort, 1},
		{"ControllerManagerPort", "kube-controller-manager's secure port", c.ControllerManagerPort, 1},
	}
	if c.Topology == HA {
		// Their ports step by 100 per machine.
		ports[2].span, ports[3].span = 1, 1
		if top := c.SchedulerPort + 100*(cps-1); top > 65535 {
			bad("SchedulerPort", "%d leaves no room for %d schedulers' ports (each 100 above the last)", c.SchedulerPort, cps)
		}
		if top := c.ControllerManagerPort + 100*(cps-1); top > 65535 {
			bad("ControllerManagerPort", "%d leaves no room for %d controller managers' ports (each 100 above the last)", c.ControllerManagerPort, cps)
		}
	}
	for i, p := range ports {
		if p.port < 1 || p.port+p.span-1 > 65535 {
			bad(p.field, "must be a port from 1 to %d, not %d", 65536-p.span, p.port)
			continue
		}
		for _, q := range ports[:i] {
			if p.port < q.port+q.span && q.port < p.port+p.span {
				bad(p.field, "port %d overlaps %s (%d)", p.port, q.what, q.port)
			}
		}
	}
	if c.KubeletPort < 1 {
		bad("KubeletPort", "must be a port from 1 to 65535, not %d", c.KubeletPort)
	} else if ps := c.kubeletPorts(); len(ps) > 0 && ps[len(ps)-1] > 65535 {
		bad("KubeletPort", "%d leaves no room for %d kubelet ports below 65536", c.KubeletPort, c.Nodes)
	}
	if c.PullBytesPerSecond < 0 && c.PullBytesPerSecond != -1 {
		bad("PullBytesPerSecond", "must be positive, 0 (the default) or -1 (instant), not %d", c.PullBytesPerSecond)
	}
	return errors.Join(errs...)
}

// kubeletPorts are the nodes' kubelet API ports: node-1's is KubeletPort,
// each next node's the next port that no other component takes (with the
// defaults, 10250 on, skipping the scheduler's 10259 and the controller
// manager's 10257).
func (c Config) kubeletPorts() []int {
	taken := map[int]bool{c.APIPort: true}
	for _, m := range c.machines() {
		for _, p := range []int{m.etcdClient, m.etcdPeer, m.api, m.scheduler, m.controllerManager} {
			taken[p] = true
		}
	}
	out := make([]int, 0, c.Nodes)
	for p := c.KubeletPort; len(out) < c.Nodes; p++ {
		if !taken[p] {
			out = append(out, p)
		}
	}
	return out
}

// Progress reports one component reaching a state during start-up.
type Progress struct {
	Component string
	// Elapsed is the time from the start of Start to this moment.
	Elapsed time.Duration
	// Took is how long this component took itself, from its own start.
	Took time.Duration
}
