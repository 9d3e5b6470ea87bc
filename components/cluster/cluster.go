// Package cluster starts, wires and stops the embedded Kubernetes cluster:
// etcd, kube-apiserver, kube-scheduler, kube-controller-manager and, per
// compute node, a container runtime, a kubelet and a kube-proxy. Each
// component starts only once what it needs is ready, and they stop in the
// reverse order, etcd last, so no data is lost.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/apiserver"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
	"github.com/wheelhouse-k8s/wheelhouse/components/controllermanager"
	"github.com/wheelhouse-k8s/wheelhouse/components/criproxy"
	"github.com/wheelhouse-k8s/wheelhouse/components/etcd"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubelet"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubeproxy"
	_ "github.com/wheelhouse-k8s/wheelhouse/components/kubeversion" // report v1.37.2
	"github.com/wheelhouse-k8s/wheelhouse/components/logs"
	"github.com/wheelhouse-k8s/wheelhouse/components/pki"
	"github.com/wheelhouse-k8s/wheelhouse/components/runtime"
	"github.com/wheelhouse-k8s/wheelhouse/components/scheduler"

	"github.com/wheelhouse-k8s/wheelhouse/components/unixsocket"
)

// Network layout, as a kubeadm cluster with a flannel-style pod network
// would have it.
const (
	ClusterCIDR   = "10.244.0.0/16"
	ServiceCIDR   = "10.96.0.0/16"
	ClusterDomain = "cluster.local"
	// ClusterDNSIP is where kubeadm puts the cluster DNS Service. Pods are
	// told to use it, as in any cluster; the DNS add-on (CoreDNS) itself is
	// not installed.
	ClusterDNSIP = "10.96.0.10"
	nodeMaskSize = 24
)

// Config is everything `wheelhouse up` decides.
type Config struct {
	DataDir     string
	APIPort     int
	EtcdPort    int // the peer port is EtcdPort+1
	KubeletPort int // node-1 listens here, node-2 on the next port, …
	Nodes       int
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
	// Progress, if set, hears about each component as it becomes ready.
	Progress func(Progress)
	// The tracing layer's hooks. APIServerInnerFilter wraps the
	// apiserver's handler after authentication, APIServerOuterFilter its
	// whole handler chain (see apiserver.Config). RuntimeServerOptions
	// returns a node's CRI server options (interceptors). EtcdReady hears
	// etcd's client URL as soon as etcd serves, before anything writes.
	APIServerInnerFilter func(next http.Handler) http.Handler
	APIServerOuterFilter func(next http.Handler) http.Handler
	RuntimeServerOptions func(node string) []grpc.ServerOption
	EtcdReady            func(endpoint string)
	// Lifecycle, if set, hears each component start, become ready, stop,
	// or crash (verb "started", "ready", "stopped", "crashed").
	Lifecycle func(component, verb string, err error)
}

// Progress reports one component reaching a state during start-up.
type Progress struct {
	Component string
	// Elapsed is the time from the start of Start to this moment.
	Elapsed time.Duration
	// Took is how long this component took itself, from its own start.
	Took time.Duration
}

// Node is one compute node. Its containers run either in the simulated
// Runtime or in Containerd, which the kubelet reaches through CRIProxy.
type Node struct {
	Name       string
	Runtime    *runtime.Runtime
	Containerd *containerd.Containerd
	CRIProxy   *criproxy.Proxy
	Proxy      *kubeproxy.Proxy
	zone       string
}

// RuntimeEndpoint is the CRI endpoint the node's kubelet uses.
func (n *Node) RuntimeEndpoint() string {
	if n.CRIProxy != nil {
		return n.CRIProxy.Endpoint()
	}
	return n.Runtime.Endpoint()
}

func (n *Node) closeRuntime() {
	if n.Runtime != nil {
		_ = n.Runtime.Close()
	}
	if n.CRIProxy != nil {
		_ = n.CRIProxy.Close()
	}
	if n.Containerd != nil {
		_ = n.Containerd.Close()
	}
}

// Cluster is a running cluster.
type Cluster struct {
	cfg         Config
	lock        *dataDirLock
	logs        *logs.Logs
	restoreKlog func()
	pki         *pki.PKI
	started     time.Time

	etcd      *etcd.Server
	apiserver *apiserver.Server
	nodes     []*Node
	nodeIP    net.IP

	mu       sync.Mutex // guards cancels, stopping, controls and nodes' Kubelet
	cancels  map[string]context.CancelFunc
	stopping bool
	stopOnce sync.Once
	// controls are the components a lab may stop and start (see control.go).
	controls map[string]*control
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

func (c *Cluster) componentContext(parent context.Context, name string) context.Context {
	ctx, cancel := context.WithCancel(parent)
	c.mu.Lock()
	c.cancels[name] = cancel
	c.mu.Unlock()
	c.lifecycle(name, "started", nil)
	return klog.NewContext(ctx, c.logs.Logger(name))
}

func (c *Cluster) lifecycle(component, verb string, err error) {
	if c.cfg.Lifecycle != nil {
		c.cfg.Lifecycle(component, verb, err)
	}
}

func (c *Cluster) report(component string, since time.Time) {
	switch component {
	case "certificates", "cluster usable": // steps, not components
	default:
		c.lifecycle(component, "ready", nil)
	}
	if c.cfg.Progress != nil {
		now := time.Now()
		c.cfg.Progress(Progress{Component: component, Elapsed: now.Sub(c.started), Took: now.Sub(since)})
	}
}

// Start brings the whole cluster up and returns once it is usable: every
// node Ready and the default ServiceAccount present. The cluster runs until
// Stop is called; ctx bounds start-up only.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("--nodes must be at least 1, got %d", cfg.Nodes)
	}
	// containerd nodes need things only root and an installed containerd
	// give; say what is missing before anything starts.
	var containerdBinary string
	switch {
	case cfg.ContainerdNodes < 0 || cfg.ContainerdNodes > cfg.Nodes:
		return nil, fmt.Errorf("--containerd-nodes must be between 0 and --nodes (%d), got %d", cfg.Nodes, cfg.ContainerdNodes)
	case cfg.ContainerdAddress != "" && cfg.ContainerdNodes != 1:
		return nil, fmt.Errorf("--containerd-address serves one node, but %d nodes would use containerd (use --nodes 1, or --containerd-nodes 1)", cfg.ContainerdNodes)
	case cfg.ContainerdAddress != "":
		if err := containerd.ThisHost().CheckExternal(ctx, cfg.ContainerdAddress); err != nil {
			return nil, err
		}
	case cfg.ContainerdNodes > 0:
		if containerdBinary, err = containerd.ThisHost().Check(ctx); err != nil {
			return nil, err
		}
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	cfg.DataDir = dataDir
	if err := checkSocketPaths(dataDir, cfg.Nodes); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	c := &Cluster{cfg: cfg, started: time.Now(), cancels: map[string]context.CancelFunc{}, controls: map[string]*control{}}
	if c.lock, err = lockDataDir(dataDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	verbosity := 0
	if cfg.Verbose {
		verbosity = 2
	}
	var term io.Writer
	if cfg.Verbose {
		term = cfg.LogTerminal
	}
	if c.logs, err = logs.New(logs.Options{Dir: c.path("logs"), Verbosity: verbosity, Terminal: term}); err != nil {
		return nil, err
	}
	c.restoreKlog = c.logs.Install()

	nodeIP, err := utilnet.ChooseHostInterface()
	if err != nil {
		return nil, fmt.Errorf("finding this machine's address (each node reports it as its InternalIP): %w", err)
	}
	claims := []portClaim{
		{"127.0.0.1", cfg.APIPort, "kube-apiserver", "--api-port"},
		{"127.0.0.1", cfg.EtcdPort, "etcd clients", "--etcd-port"},
		{"127.0.0.1", cfg.EtcdPort + 1, "etcd peers", "--etcd-port"},
	}
	for i := 1; i <= cfg.Nodes; i++ {
		claims = append(claims, portClaim{nodeIP.String(), cfg.KubeletPort + i - 1, "kubelet API of " + NodeName(i), "--kubelet-port"})
	}
	if err := checkPorts(claims); err != nil {
		return nil, err
	}

	// Identities first: every component authenticates with its own.
	t := time.Now()
	nodeNames := make([]string, cfg.Nodes)
	ids := []pki.Identity{pki.Admin, pki.Scheduler, pki.ControllerManager, pki.KubeProxy, pki.APIServerKubeletClient}
	for i := range nodeNames {
		nodeNames[i] = NodeName(i + 1)
		ids = append(ids, pki.Node(nodeNames[i]))
	}
	c.pki, err = pki.Ensure(pki.Config{
		Dir:            c.path("pki"),
		Server:         fmt.Sprintf("https://127.0.0.1:%d", cfg.APIPort),
		ServingIPs:     []net.IP{net.ParseIP("10.96.0.1")},
		Identities:     ids,
		KubeletServing: nodeNames,
		KubeletIPs:     []net.IP{nodeIP},
	})
	if err != nil {
		return nil, fmt.Errorf("preparing certificates: %w", err)
	}
	c.report("certificates", t)

	t = time.Now()
	c.lifecycle("etcd", "started", nil)
	c.etcd, err = etcd.Start(ctx, etcd.Config{
		DataDir:    c.path("etcd"),
		ClientPort: cfg.EtcdPort,
		PeerPort:   cfg.EtcdPort + 1,
		LogFile:    c.logs.Path("etcd"),
		Verbose:    cfg.Verbose,
	})
	if err != nil {
		return nil, err
	}
	c.report("etcd", t)
	if cfg.EtcdReady != nil {
		cfg.EtcdReady(c.etcd.Endpoint())
	}

	// The runtimes need nothing from the control plane; they start first,
	// so each kubelet finds its runtime serving.
	c.nodeIP = nodeIP
	// A run that crashed left its containerd addresses behind; they must
	// not send `wheelhouse images import` to a containerd of that run.
	for _, name := range nodeNames {
		c.forgetContainerdAddress(name)
	}
	c.nodes = make([]*Node, cfg.Nodes)
	for i, name := range nodeNames {
		var opts []grpc.ServerOption
		if cfg.RuntimeServerOptions != nil {
			opts = cfg.RuntimeServerOptions(name)
		}
		if i < cfg.ContainerdNodes {
			n, err := c.startContainerdNode(ctx, name, containerdBinary, opts)
			if err != nil {
				return nil, err
			}
			n.zone = zones[i%len(zones)]
			c.nodes[i] = n
			continue
		}
		rt, err := runtime.Start(c.componentContext(context.Background(), "runtime/"+name), runtime.Config{
			NodeName:           name,
			SocketPath:         filepath.Join(c.nodeDir(name), "runtime.sock"),
			PullBytesPerSecond: cfg.PullBytesPerSecond,
			ServerOptions:      opts,
			Logger:             c.logs.Logger("runtime/" + name),
		})
		if err != nil {
			return nil, fmt.Errorf("starting the container runtime of %s: %w", name, err)
		}
		c.nodes[i] = &Node{Name: name, Runtime: rt, zone: zones[i%len(zones)]}
	}

	t = time.Now()
	c.apiserver, err = apiserver.Start(c.componentContext(context.Background(), "apiserver"), apiserver.Config{
		EtcdServers:             []string{c.etcd.Endpoint()},
		BindAddress:             "127.0.0.1",
		Port:                    cfg.APIPort,
		CertDir:                 c.path("apiserver"),
		ClientCAFile:            c.pki.CAFile(),
		ServingCertFile:         c.pki.ServingCertFile(),
		ServingKeyFile:          c.pki.ServingKeyFile(),
		ServiceAccountKeyFile:   c.pki.ServiceAccountKeyFile(),
		ServiceAccountPubFile:   c.pki.ServiceAccountPubFile(),
		KubeletClientCertFile:   c.pki.CertFile(pki.APIServerKubeletClient),
		KubeletClientKeyFile:    c.pki.KeyFile(pki.APIServerKubeletClient),
		ServiceClusterIPRange:   ServiceCIDR,
		ServiceAccountIssuerURL: "https://kubernetes.default.svc." + ClusterDomain,
		InnerFilter:             cfg.APIServerInnerFilter,
		OuterFilter:             cfg.APIServerOuterFilter,
	})
	if err != nil {
		return nil, err
	}
	c.report("apiserver", t)
	go func() {
		// The apiserver cannot be stopped alone, but it can crash.
		<-c.apiserver.Done()
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if !stopping {
			c.lifecycle("apiserver", "crashed", c.apiserver.Err())
		}
	}()

	// Everything else only needs the apiserver: start it all at once.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	wg.Go(func() {
		if err := c.startScheduler(); err != nil {
			fail(err)
		}
	})
	wg.Go(func() {
		if err := c.startControllerManager(); err != nil {
			fail(err)
		}
	})
	for i, node := range c.nodes {
		wg.Go(func() {
			if err := c.startKubelet(node, cfg.KubeletPort+i); err != nil {
				fail(err)
			}
		})
		wg.Go(func() {
			t := time.Now()
			p, err := kubeproxy.Start(c.componentContext(context.Background(), "kube-proxy/"+node.Name), kubeproxy.Config{
				NodeName:    node.Name,
				NodeIP:      nodeIP,
				Kubeconfig:  c.pki.Kubeconfig(pki.KubeProxy),
				ClusterCIDR: ClusterCIDR,
			})
			if err != nil {
				fail(fmt.Errorf("starting kube-proxy on %s: %w", node.Name, err))
				return
			}
			node.Proxy = p
			c.report("kube-proxy/"+node.Name, t)
		})
	}
	wait := make(chan struct{})
	go func() { wg.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, fmt.Errorf("starting the cluster: %w", ctx.Err())
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.report("cluster usable", c.started)
	return c, nil
}

// checkSocketPaths refuses a data directory too deep for the sockets the
// nodes create in it. The kubelet's own socket servers exit the whole
// process when they cannot listen, so this must be caught before.
func checkSocketPaths(dataDir string, nodes int) error {
	longest := filepath.Join(dataDir, "nodes", NodeName(nodes), "kubelet", "pod-resources", "kubelet.sock")
	if len(longest) > unixsocket.MaxPathLen {
		return fmt.Errorf("the data directory %s is too deep: the kubelets' sockets under it (such as %s, %d characters) must fit in %d characters; choose a shorter --data-dir",
			dataDir, longest, len(longest), unixsocket.MaxPathLen)
	}
	return nil
}

// zones spread the nodes over three failure domains, as a cloud would.
var zones = []string{"zone-a", "zone-b", "zone-c"}

func (c *Cluster) startScheduler() error {
	t := time.Now()
	s, err := scheduler.Start(c.componentContext(context.Background(), "scheduler"), scheduler.Config{Kubeconfig: c.pki.Kubeconfig(pki.Scheduler)})
	if err != nil {
		c.cancel("scheduler")
		return err
	}
	c.setControl("scheduler", s.Done(), s.Err)
	c.report("scheduler", t)
	return nil
}

func (c *Cluster) startControllerManager() error {
	t := time.Now()
	cm, err := controllermanager.Start(c.componentContext(context.Background(), "controller-manager"), controllermanager.Config{
		Kubeconfig:             c.pki.Kubeconfig(pki.ControllerManager),
		RootCAFile:             c.pki.CAFile(),
		ServiceAccountKeyFile:  c.pki.ServiceAccountKeyFile(),
		ClusterSigningCertFile: c.pki.CAFile(),
		ClusterSigningKeyFile:  c.pki.CAKeyFile(),
		ClusterCIDR:            ClusterCIDR,
		NodeCIDRMaskSize:       nodeMaskSize,
		ServiceClusterIPRange:  ServiceCIDR,
		FlexVolumePluginDir:    c.path("controller-manager", "flexvolume"),
	})
	if err != nil {
		c.cancel("controller-manager")
		return err
	}
	c.setControl("controller-manager", cm.Done(), cm.Err)
	c.report("controller-manager", t)
	return nil
}

// startKubelet starts node's kubelet serving on port.
func (c *Cluster) startKubelet(node *Node, port int) error {
	t := time.Now()
	name := "kubelet/" + node.Name
	_, err := kubelet.Start(c.componentContext(context.Background(), name), kubelet.Config{
		NodeName:        node.Name,
		Dir:             c.nodeDir(node.Name),
		Address:         c.nodeIP,
		Port:            port,
		Kubeconfig:      c.pki.Kubeconfig(pki.Node(node.Name)),
		ClientCAFile:    c.pki.CAFile(),
		ServingCertFile: c.pki.KubeletServingCertFile(node.Name),
		ServingKeyFile:  c.pki.KubeletServingKeyFile(node.Name),
		RuntimeEndpoint: node.RuntimeEndpoint(),
		RealContainers:  node.Containerd != nil,
		Labels:          map[string]string{"topology.kubernetes.io/zone": node.zone},
		CPUCores:        4,
		MemoryBytes:     8 << 30,
		DiskBytes:       100 << 30,
		MaxPods:         110,
		ClusterDNS:      []string{ClusterDNSIP},
		ClusterDomain:   ClusterDomain,
	})
	if err != nil {
		c.cancel(name)
		return fmt.Errorf("starting kubelet on %s: %w", node.Name, err)
	}
	c.setControl(name, nil, nil)
	c.report(name, t)
	return nil
}

// startContainerdNode starts a node's containerd (or connects to the one
// given) with the busybox and pause images in it, and the CRI proxy in
// front of it that the kubelet talks to, served with the same options
// (tracing interceptors) as a simulated runtime.
func (c *Cluster) startContainerdNode(ctx context.Context, name, binary string, opts []grpc.ServerOption) (_ *Node, err error) {
	n := &Node{Name: name}
	defer func() {
		if err != nil {
			n.closeRuntime()
		}
	}()
	component := "runtime/" + name
	c.lifecycle(component, "started", nil)
	if err := os.MkdirAll(c.nodeDir(name), 0o755); err != nil {
		return nil, err
	}
	if c.cfg.ContainerdAddress != "" {
		n.Containerd, err = containerd.Connect(ctx, c.cfg.ContainerdAddress)
	} else {
		n.Containerd, err = containerd.Start(ctx, containerd.Config{
			NodeName:    name,
			Dir:         filepath.Join(c.nodeDir(name), "containerd"),
			Binary:      binary,
			ClusterCIDR: ClusterCIDR,
			LogFile:     c.logs.Path("containerd/" + name),
			Logger:      c.logs.Logger(component),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("starting containerd for %s: %w", name, err)
	}
	if err := n.Containerd.EnsureImages(ctx); err != nil {
		return nil, fmt.Errorf("containerd of %s: %w", name, err)
	}
	// Where `wheelhouse images import` finds this node's containerd.
	if err := os.WriteFile(filepath.Join(c.nodeDir(name), ContainerdAddressFile), []byte(n.Containerd.Address()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("recording the containerd address of %s: %w", name, err)
	}
	n.CRIProxy, err = criproxy.Start(ctx, criproxy.Config{
		SocketPath:    filepath.Join(c.nodeDir(name), "runtime.sock"),
		Upstream:      n.Containerd.Address(),
		ServerOptions: append(opts, grpc.ChainUnaryInterceptor(n.Containerd.Interceptor())),
		Logger:        c.logs.Logger(component),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the CRI proxy of %s: %w", name, err)
	}
	return n, nil
}

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

// Nodes are the compute nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Stop stops every component in order (nodes, controllers, scheduler,
// apiserver, etcd last) and keeps the data. It is safe to call twice.
func (c *Cluster) Stop() {
	c.stopOnce.Do(c.stop)
}

func (c *Cluster) stop() {
	const bound = 15 * time.Second
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	log := klog.Background()
	if c.logs != nil {
		log = c.logs.Logger("wheelhouse")
	}
	step := func(what string, f func()) {
		t := time.Now()
		f()
		log.Info("Stopped", "what", what, "took", time.Since(t).Round(time.Millisecond).String())
		if what == "nodes" {
			for _, n := range c.nodes {
				if n != nil {
					for _, comp := range []string{"kubelet/", "kube-proxy/", "runtime/"} {
						c.lifecycle(comp+n.Name, "stopped", nil)
					}
				}
			}
			return
		}
		c.lifecycle(what, "stopped", nil)
	}
	waitFor := func(done <-chan struct{}) {
		if done == nil {
			return
		}
		select {
		case <-done:
		case <-time.After(bound):
		}
	}
	step("nodes", func() {
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			c.cancel("kubelet/" + n.Name)
			c.cancel("kube-proxy/" + n.Name)
		}
		var wg sync.WaitGroup
		privateContainerd := false
		for _, n := range c.nodes {
			if n != nil {
				privateContainerd = privateContainerd || (n.Containerd != nil && n.Containerd.Owned())
				wg.Go(n.closeRuntime)
				c.forgetContainerdAddress(n.Name)
			}
		}
		wg.Wait()
		if privateContainerd {
			if err := containerd.RemoveBridge(containerd.BridgeName); err != nil {
				log.Error(err, "Removing the pod bridge")
			}
		}
	})
	step("controller-manager", func() {
		c.cancel("controller-manager")
		waitFor(c.done("controller-manager"))
	})
	step("scheduler", func() {
		c.cancel("scheduler")
		waitFor(c.done("scheduler"))
	})
	step("apiserver", func() {
		c.cancel("apiserver")
		if c.apiserver != nil {
			waitFor(c.apiserver.Done())
		}
	})
	step("etcd", func() {
		if c.etcd != nil {
			c.etcd.Close()
		}
	})
	c.mu.Lock()
	for _, cancel := range c.cancels {
		cancel()
	}
	c.mu.Unlock()
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

func (c *Cluster) cancel(name string) {
	c.mu.Lock()
	cancel, ok := c.cancels[name]
	c.mu.Unlock()
	if ok {
		cancel()
	}
}
