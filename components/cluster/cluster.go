// Package cluster starts, wires and stops the embedded Kubernetes cluster:
// etcd, kube-apiserver, kube-scheduler, kube-controller-manager and, per
// compute node, a container runtime, a kubelet and a kube-proxy.
//
// Every component runs under one model (package component): it is
// registered with what it needs, started as soon as that is ready, and
// stopped in the reverse order, etcd last, so no data is lost. The same
// registry stops and starts one component on its own (components.go has
// one start function per component).
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/apiserver"
	"github.com/wheelhouse-k8s/wheelhouse/components/component"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubeproxy"
	_ "github.com/wheelhouse-k8s/wheelhouse/components/kubeversion" // report v1.37.2
	"github.com/wheelhouse-k8s/wheelhouse/components/loadbalancer"
	"github.com/wheelhouse-k8s/wheelhouse/components/logs"
	"github.com/wheelhouse-k8s/wheelhouse/components/pki"
	"github.com/wheelhouse-k8s/wheelhouse/components/podnet"
	"github.com/wheelhouse-k8s/wheelhouse/components/unixsocket"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Network layout, as a kubeadm cluster with a flannel-style pod network
// would have it.
const (
	ClusterCIDR   = "10.244.0.0/16"
	ServiceCIDR   = "10.96.0.0/16"
	ClusterDomain = "cluster.local"
	// ClusterDNSIP is where kubeadm puts the cluster DNS Service (the DNS
	// add-on's kube-dns, see dns.go). Pods are told to use it.
	ClusterDNSIP = "10.96.0.10"
	nodeMaskSize = 24

	// loopback is where every component listens.
	loopback = "127.0.0.1"
	// The secure-port serving certificates' names.
	schedulerServing         = "kube-scheduler"
	controllerManagerServing = "kube-controller-manager"
	// stopBound bounds the wait for one component to stop.
	stopBound = 15 * time.Second
)

// EtcdAccess is how Wheelhouse's own etcd reader (the trace's etcd watch
// and the etcd browser) reaches etcd: its client URLs and a TLS
// configuration with the read-only client certificate of the etcd CA.
type EtcdAccess struct {
	Endpoints []string
	TLS       *tls.Config
}

// Cluster is a running cluster.
type Cluster struct {
	cfg         Config
	lock        *dataDirLock
	logs        *logs.Logs
	restoreKlog func()
	pki         *pki.PKI
	started     time.Time
	nodeIP      net.IP
	// observer is Wheelhouse's own client configuration (its readiness
	// checks); its requests are traced as Wheelhouse's.
	observer *rest.Config
	// containerdBinary is the containerd the containerd nodes run.
	containerdBinary string

	components *component.Registry
	machines   []machine
	nodes      []*Node
	// network is the simulated pods' network, which routes by each node's
	// iptables (Node.tables) as kube-proxy wrote them.
	network *podnet.Network

	stopOnce      sync.Once
	etcdReadyOnce sync.Once
	etcdTurn      sync.Mutex // the members' starts take turns (etcd.Config.Turn)

	lbMu sync.Mutex
	lb   *loadbalancer.LoadBalancer // the HA load balancer while it runs
}

// DefaultDataDir is $XDG_DATA_HOME/wheelhouse or ~/.local/share/wheelhouse.
func DefaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "wheelhouse")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "wheelhouse")
	}
	return filepath.Join(home, ".local", "share", "wheelhouse")
}

// NodeName is the name of compute node i (1-based).
func NodeName(i int) string { return fmt.Sprintf("node-%d", i) }

// Start brings the whole cluster up and returns once it is usable: every
// node Ready and the default ServiceAccount present. The cluster runs until
// Stop is called; ctx bounds start-up only.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, started: time.Now()}
	// containerd nodes need things only root and an installed containerd
	// give; say what is missing before anything starts.
	switch {
	case cfg.ContainerdAddress != "":
		if err := containerd.ThisHost().CheckExternal(ctx, cfg.ContainerdAddress); err != nil {
			return nil, err
		}
	case cfg.ContainerdNodes > 0:
		if c.containerdBinary, err = containerd.ThisHost().Check(ctx); err != nil {
			return nil, err
		}
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	c.cfg.DataDir = dataDir
	if err := checkSocketPaths(dataDir, cfg.NodeNames()); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if c.lock, err = lockDataDir(dataDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := checkTopology(dataDir, c.cfg); err != nil {
		return nil, err
	}
	c.machines = c.cfg.machines()

	verbosity := 0
	if cfg.Verbose {
		verbosity = 2
	}
	c.components = component.New(component.Hooks{
		Lifecycle: cfg.Lifecycle,
		Ready:     func(id string, took time.Duration) { c.progress(id, time.Now().Add(-took)) },
		Context: func(ctx context.Context, id string) context.Context {
			return klog.NewContext(ctx, c.logs.Logger(id))
		},
	})
	logOpts := logs.Options{Dir: c.path("logs"), Verbosity: verbosity, OnFatal: c.fatal}
	if cfg.Verbose {
		logOpts.Terminal = cfg.LogTerminal
	}
	if c.logs, err = logs.New(logOpts); err != nil {
		return nil, err
	}
	restoreKlog := c.logs.Install()
	// The apiservers' etcd clients log to the apiserver's log, not the
	// terminal (see apiserver.RouteEtcdClientLog).
	restoreEtcdClientLog := apiserver.RouteEtcdClientLog(c.logs.Logger(tracing.APIServer))
	c.restoreKlog = func() {
		restoreEtcdClientLog()
		restoreKlog()
	}

	if c.nodeIP, err = utilnet.ChooseHostInterface(); err != nil {
		return nil, fmt.Errorf("finding this machine's address (each node reports it as its InternalIP): %w", err)
	}
	if err := checkPorts(c.portClaims()); err != nil {
		return nil, err
	}

	// Identities first: every component authenticates with its own, and
	// Wheelhouse with its own.
	t := time.Now()
	if err := c.ensurePKI(); err != nil {
		return nil, err
	}
	c.progress("certificates", t)

	// A run that crashed left its containerd addresses behind; they must
	// not send `wheelhouse images import` to a containerd of that run.
	names := c.cfg.NodeNames()
	c.nodes = make([]*Node, len(names))
	ports := c.cfg.kubeletPorts()
	c.network = podnet.New(cfg.NetEvents)
	nodeAddr, _ := netip.AddrFromSlice(c.nodeIP.To4())
	for i, name := range names {
		n := &Node{Name: name, zone: zones[i%len(zones)], port: ports[i], containerd: i < cfg.ContainerdNodes,
			controlPlane: cfg.Topology == SingleNode, tables: kubeproxy.NewTables()}
		c.nodes[i] = n
		c.network.AddNode(name, []netip.Addr{nodeAddr}, n.tables.Save)
		c.forgetContainerdAddress(name)
	}

	if err := c.register(); err != nil {
		return nil, err
	}
	// Where `wheelhouse etcdctl` finds the members.
	if err := os.WriteFile(filepath.Join(dataDir, EtcdEndpointsFile), []byte(strings.Join(c.etcdEndpoints(), ",")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("recording etcd's endpoints: %w", err)
	}
	if err := c.components.StartAll(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("starting the cluster: %w", context.Canceled)
		}
		return nil, err
	}
	if c.dnsAddon() {
		if err := c.installDNS(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// The cluster runs on without cluster DNS, as a kubeadm
			// cluster whose addon phase failed would; the log says why.
			c.logs.Logger(tracing.CoreDNS).Error(err, "The cluster has no DNS add-on")
		}
	}
	return c, nil
}

// fatal hears that a goroutine of a component called klog's fatal exit:
// the component is reported crashed and what is left of it stopped.
func (c *Cluster) fatal(component, message string) {
	err := errors.New(message)
	if component != "" {
		c.components.Crash(component, err)
		return
	}
	if c.cfg.Lifecycle != nil {
		c.cfg.Lifecycle(tracing.Wheelhouse, "crashed", fmt.Errorf("a goroutine of no component %w", err))
	}
}

// portClaims are the ports the cluster listens on, with their flags.
func (c *Cluster) portClaims() []portClaim {
	cfg := c.cfg
	var claims []portClaim
	if cfg.Topology == HA {
		claims = append(claims, portClaim{loopback, cfg.APIPort, "the apiservers' load balancer", "--api-port"})
	}
	for _, m := range cfg.machines() {
		claims = append(claims, m.portClaims()...)
	}
	names := cfg.NodeNames()
	for i, port := range cfg.kubeletPorts() {
		claims = append(claims, portClaim{loopback, port, "kubelet API of " + names[i], "--kubelet-port"})
	}
	return claims
}

func (c *Cluster) ensurePKI() (err error) {
	ids := []pki.Identity{pki.Admin, pki.Wheelhouse, pki.KubeProxy, pki.APIServerKubeletClient}
	for _, m := range c.cfg.machines() {
		ids = append(ids, c.schedulerIdentity(m), c.controllerManagerIdentity(m))
	}
	names := c.cfg.NodeNames()
	for _, n := range names {
		ids = append(ids, pki.Node(n))
	}
	var members []string
	for _, m := range c.cfg.machines() {
		members = append(members, m.etcdMember())
	}
	c.pki, err = pki.Ensure(pki.Config{
		Dir:             c.path("pki"),
		Server:          fmt.Sprintf("https://127.0.0.1:%d", c.cfg.APIPort),
		ServingIPs:      []net.IP{net.ParseIP("10.96.0.1")},
		Identities:      ids,
		KubeletServing:  names,
		KubeletIPs:      []net.IP{c.nodeIP},
		LoopbackServing: []string{schedulerServing, controllerManagerServing},
		EtcdMembers:     members,
		EtcdClients:     []pki.EtcdClient{pki.EtcdAPIServerClient, pki.EtcdTraceClient, pki.EtcdAdmin},
	})
	if err != nil {
		return fmt.Errorf("preparing certificates: %w", err)
	}
	if c.observer, err = clientcmd.BuildConfigFromFlags("", c.pki.Kubeconfig(pki.Wheelhouse)); err != nil {
		return fmt.Errorf("loading Wheelhouse's own kubeconfig: %w", err)
	}
	c.observer.UserAgent = tracing.WheelhouseUserAgent
	return nil
}

func (c *Cluster) progress(component string, since time.Time) {
	if c.cfg.Progress != nil {
		now := time.Now()
		c.cfg.Progress(Progress{Component: component, Elapsed: now.Sub(c.started), Took: now.Sub(since)})
	}
}

// checkSocketPaths refuses a data directory too deep for the sockets the
// nodes create in it (the longest: a containerd node's ttrpc socket), so
// that no component finds out halfway through start-up.
func checkSocketPaths(dataDir string, nodes []string) error {
	name := ""
	for _, n := range nodes {
		if len(n) > len(name) {
			name = n
		}
	}
	longest := filepath.Join(dataDir, "nodes", name, "containerd", "containerd.sock.ttrpc")
	if len(longest) > unixsocket.MaxPathLen {
		return fmt.Errorf("the data directory %s is too deep: the kubelets' sockets under it (such as %s, %d characters) must fit in %d characters; choose a shorter --data-dir",
			dataDir, longest, len(longest), unixsocket.MaxPathLen)
	}
	return nil
}

// zones spread the nodes over three failure domains, as a cloud would.
var zones = []string{"zone-a", "zone-b", "zone-c"}

// etcdAccess is how a client holding id's certificate reaches etcd.
func (c *Cluster) etcdAccess(id pki.EtcdClient) (EtcdAccess, error) {
	tlsInfo := transport.TLSInfo{
		CertFile:      c.pki.EtcdClientCertFile(id),
		KeyFile:       c.pki.EtcdClientKeyFile(id),
		TrustedCAFile: c.pki.EtcdCAFile(),
	}
	tc, err := tlsInfo.ClientConfig()
	if err != nil {
		return EtcdAccess{}, fmt.Errorf("loading the etcd client certificate %s: %w", id.Name, err)
	}
	return EtcdAccess{Endpoints: c.etcdEndpoints(), TLS: tc}, nil
}

// etcdEndpoints are every etcd member's client URL.
func (c *Cluster) etcdEndpoints() []string {
	var out []string
	for _, m := range c.machines {
		out = append(out, m.etcdURL())
	}
	return out
}

// dialKubelet is how the apiserver connects to a kubelet. It is given the
// node's Hostname address ("node-2:10251"): every kubelet listens on
// loopback, so a node's name resolves to 127.0.0.1 here, as /etc/hosts
// would make it on a real machine. Other addresses are dialled as given.
func (c *Cluster) dialKubelet(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && c.Node(host) != nil {
		addr = net.JoinHostPort(loopback, port)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// EtcdEndpointsFile, in the data directory, lists the etcd members' client
// URLs, comma-separated, as etcdctl's --endpoints takes them.
const EtcdEndpointsFile = "etcd.endpoints"

// ControlPlaneNames are the HA control-plane machines (cp-1 …); none in
// the other topologies.
func (c *Cluster) ControlPlaneNames() []string {
	var out []string
	for _, m := range c.machines {
		if m.name != "" {
			out = append(out, m.name)
		}
	}
	return out
}

// Topology is the cluster's topology (SingleNode, SingleControlPlane, HA).
func (c *Cluster) Topology() string { return c.cfg.Topology }

// ContainerdAddressFile, in a node's directory, holds the socket of the
// node's containerd while the cluster runs.
const ContainerdAddressFile = "containerd.address"

func (c *Cluster) forgetContainerdAddress(node string) {
	_ = os.Remove(filepath.Join(c.nodeDir(node), ContainerdAddressFile))
}

// NodeDir is a node's directory under a data directory.
func NodeDir(dataDir, node string) string { return filepath.Join(dataDir, "nodes", node) }

func (c *Cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.cfg.DataDir}, parts...)...)
}

func (c *Cluster) nodeDir(name string) string { return NodeDir(c.cfg.DataDir, name) }

// DataDir is where everything lives.
func (c *Cluster) DataDir() string { return c.cfg.DataDir }

// AdminKubeconfig is the kubeconfig a learner uses.
func (c *Cluster) AdminKubeconfig() string { return c.pki.Kubeconfig(pki.Admin) }

// LogDir holds one log file per component.
func (c *Cluster) LogDir() string { return c.path("logs") }

// AdminConfig is a client configuration with the admin identity.
func (c *Cluster) AdminConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig())
}

// WheelhouseConfig is a client configuration with Wheelhouse's own
// identity, for Wheelhouse's own reads of the cluster (the UI's cache, the
// lab checks); the trace names that traffic as Wheelhouse's. userAgent
// says which part of Wheelhouse calls.
func (c *Cluster) WheelhouseConfig(userAgent string) *rest.Config {
	cfg := rest.CopyConfig(c.observer)
	cfg.UserAgent = userAgent
	return cfg
}

// Nodes are the compute nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node is the compute node called name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Stop stops every component in order (nodes, controllers, scheduler,
// apiserver, etcd last) and keeps the data. It is safe to call twice.
func (c *Cluster) Stop() {
	c.stopOnce.Do(c.stop)
}

func (c *Cluster) stop() {
	log := klog.Background()
	if c.logs != nil {
		log = c.logs.Logger("wheelhouse")
	}
	if c.components != nil {
		t := time.Now()
		c.components.StopAll(stopBound)
		log.Info("Stopped every component", "took", time.Since(t).Round(time.Millisecond).String())
	}
	privateContainerd := false
	for _, n := range c.nodes {
		privateContainerd = privateContainerd || (n.containerd && c.cfg.ContainerdAddress == "")
		c.forgetContainerdAddress(n.Name)
	}
	if privateContainerd {
		if err := containerd.RemoveBridge(containerd.BridgeName); err != nil {
			log.Error(err, "Removing the pod bridge")
		}
	}
	if c.restoreKlog != nil {
		klog.Flush()
		c.restoreKlog()
	}
	if c.logs != nil {
		_ = c.logs.Close()
	}
	if c.lock != nil {
		c.lock.release()
	}
}

// schedulerIdentity is machine m's scheduler's client certificate. On an
// HA control plane every scheduler is system:kube-scheduler, as kubeadm
// makes them, with one more group naming its machine
// (tracing.MachineGroupPrefix + "cp-2"), so the trace can tell which
// scheduler sent a request; no RBAC rule refers to that group.
func (c *Cluster) schedulerIdentity(m machine) pki.Identity {
	return machineIdentity(pki.Scheduler, m)
}

// controllerManagerIdentity is machine m's controller manager's, as
// schedulerIdentity.
func (c *Cluster) controllerManagerIdentity(m machine) pki.Identity {
	return machineIdentity(pki.ControllerManager, m)
}

func machineIdentity(id pki.Identity, m machine) pki.Identity {
	if m.name == "" {
		return id
	}
	id.Name += "-" + m.name
	id.Groups = append(slices.Clone(id.Groups), tracing.MachineGroupPrefix+m.name)
	return id
}
