package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"k8s.io/client-go/rest"

	"github.com/wheelhouse-k8s/wheelhouse/components/apiserver"
	"github.com/wheelhouse-k8s/wheelhouse/components/component"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
	"github.com/wheelhouse-k8s/wheelhouse/components/controllermanager"
	"github.com/wheelhouse-k8s/wheelhouse/components/criproxy"
	"github.com/wheelhouse-k8s/wheelhouse/components/etcd"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubelet"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubeproxy"
	"github.com/wheelhouse-k8s/wheelhouse/components/leader"
	"github.com/wheelhouse-k8s/wheelhouse/components/loadbalancer"
	"github.com/wheelhouse-k8s/wheelhouse/components/pki"
	"github.com/wheelhouse-k8s/wheelhouse/components/scheduler"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// The cluster's components, one start function each. Each returns once
// its component is ready and hands back what tells when it has stopped;
// its context is its lifetime.

// Node is one compute node. Its containers run either in the simulated
// Runtime or in Containerd, which the kubelet reaches through CRIProxy.
type Node struct {
	Name string
	zone string
	// port is the kubelet API's.
	port       int
	containerd bool
	// controlPlane marks the single-node topology's one machine.
	controlPlane bool

	mu         sync.Mutex
	runtime    *simruntime.Runtime
	containerD *containerd.Containerd
	criProxy   *criproxy.Proxy
	proxy      *kubeproxy.Proxy
	// tables are the node's iptables: they outlive its kube-proxy, whose
	// last rules keep routing the node's pods while it is stopped.
	tables *kubeproxy.Tables
}

// Rules is the node's iptables as `iptables-save` prints them (its nat
// and filter tables, which kube-proxy wrote; "" before it first did).
// They stay while its kube-proxy is stopped, as a real node's do.
func (n *Node) Rules() string { return n.tables.Save() }

// labels are the node's labels the kubelet registers it with. The
// single-node topology's machine is marked a control-plane node, as
// minikube marks its one node, and takes pods (it has no taint).
func (n *Node) labels() map[string]string {
	l := map[string]string{"topology.kubernetes.io/zone": n.zone}
	if n.controlPlane {
		l["node-role.kubernetes.io/control-plane"] = ""
	}
	return l
}

// Runtime is the node's simulated runtime while it runs (nil on a
// containerd node).
func (n *Node) Runtime() *simruntime.Runtime {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runtime
}

// Containerd is the node's containerd while it runs (nil on a simulated
// node).
func (n *Node) Containerd() *containerd.Containerd {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.containerD
}

// KubeProxy is the node's kube-proxy while it runs.
func (n *Node) KubeProxy() *kubeproxy.Proxy {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proxy
}

// runtimeSocket is where the node's kubelet finds its CRI runtime (the
// simulated runtime, or the CRI proxy in front of containerd).
func (c *Cluster) runtimeSocket(n *Node) string {
	return filepath.Join(c.nodeDir(n.Name), "runtime.sock")
}

// register adds every component with what it needs.
//
// Every component can be stopped and started on its own, as a process on
// a real machine can be killed: etcd (the apiserver then fails its
// requests until etcd is back), the apiserver (every client retries), a
// node's runtime (its containers die with it; the kubelet reports the
// runtime down and recreates the pods when it is back).
func (c *Cluster) register() error {
	add := func(s component.Spec) error {
		s.Controllable = true
		return c.components.Add(s)
	}
	// etcd members first and all at once: a member of several is ready
	// only once a quorum of them has elected a leader.
	var apiservers []string
	for _, m := range c.machines {
		apiservers = append(apiservers, m.id(tracing.APIServer))
	}
	for _, m := range c.machines {
		// Every member outlives every apiserver when the cluster stops: the
		// last apiserver to stop still needs a quorum for its shutdown's
		// writes.
		if err := add(component.Spec{ID: m.id(tracing.Etcd), StopAfter: apiservers, Start: func(ctx context.Context) (component.Handle, error) { return c.startEtcd(ctx, m) }}); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		start := func(ctx context.Context) (component.Handle, error) { return c.startRuntime(ctx, n) }
		if n.containerd {
			start = func(ctx context.Context) (component.Handle, error) { return c.startContainerd(ctx, n) }
		}
		if err := add(component.Spec{ID: tracing.NodeComponent(tracing.Runtime, n.Name), Start: start}); err != nil {
			return err
		}
	}
	// Each apiserver talks to its own machine's etcd member, as kubeadm's
	// stacked control plane does (--etcd-servers=https://127.0.0.1:2379).
	for i, m := range c.machines {
		if err := add(component.Spec{ID: apiservers[i], Needs: []string{m.id(tracing.Etcd)}, Start: func(ctx context.Context) (component.Handle, error) { return c.startAPIServer(ctx, m) }}); err != nil {
			return err
		}
	}
	// Every client reaches the apiservers through the API port: the one
	// apiserver itself, or in HA the load balancer in front of them all.
	needAPI := apiservers
	if c.cfg.Topology == HA {
		if err := add(component.Spec{ID: LoadBalancer, Needs: apiservers[:1], Start: c.startLoadBalancer}); err != nil {
			return err
		}
		needAPI = []string{LoadBalancer}
	}
	// An HA scheduler or controller manager that loses its Lease exits,
	// and its machine's kubelet starts it again after the first crash
	// back-off (10 s).
	var restart time.Duration
	if c.cfg.Topology == HA {
		restart = 10 * time.Second
	}
	for _, m := range c.machines {
		for _, s := range []component.Spec{
			{ID: m.id(tracing.Scheduler), Needs: needAPI, RestartAfter: restart, Start: func(ctx context.Context) (component.Handle, error) { return c.startScheduler(ctx, m) }},
			{ID: m.id(tracing.ControllerManager), Needs: needAPI, RestartAfter: restart, Start: func(ctx context.Context) (component.Handle, error) { return c.startControllerManager(ctx, m) }},
		} {
			if err := add(s); err != nil {
				return err
			}
		}
	}
	for _, n := range c.nodes {
		if err := add(component.Spec{
			ID:    tracing.NodeComponent(tracing.Kubelet, n.Name),
			Needs: append(slices.Clone(needAPI), tracing.NodeComponent(tracing.Runtime, n.Name)),
			Start: func(ctx context.Context) (component.Handle, error) { return c.startKubelet(ctx, n) },
		}); err != nil {
			return err
		}
		if err := add(component.Spec{
			ID:    tracing.NodeComponent(tracing.KubeProxy, n.Name),
			Needs: needAPI,
			Start: func(ctx context.Context) (component.Handle, error) { return c.startKubeProxy(ctx, n) },
		}); err != nil {
			return err
		}
	}
	return nil
}

// handle is a component.Handle for a component that runs until its
// context ends and then needs stop to give everything back.
type handle struct {
	done chan struct{}
}

func (h *handle) Done() <-chan struct{} { return h.done }
func (h *handle) Err() error            { return nil }

// untilDone runs stop once ctx ends and reports the component done after.
func untilDone(ctx context.Context, stop func()) *handle {
	h := &handle{done: make(chan struct{})}
	context.AfterFunc(ctx, func() {
		stop()
		close(h.done)
	})
	return h
}

func (c *Cluster) startEtcd(ctx context.Context, m machine) (component.Handle, error) {
	member := m.etcdMember()
	cfg := etcd.Config{
		Name:          member,
		DataDir:       filepath.Join(m.dir(c.cfg.DataDir), "etcd"),
		ClientPort:    m.etcdClient,
		PeerPort:      m.etcdPeer,
		TrustedCAFile: c.pki.EtcdCAFile(),
		CertFile:      c.pki.EtcdServerCertFile(member),
		KeyFile:       c.pki.EtcdServerKeyFile(member),
		PeerCertFile:  c.pki.EtcdPeerCertFile(member),
		PeerKeyFile:   c.pki.EtcdPeerKeyFile(member),
		LogFile:       c.logs.Path(m.id(tracing.Etcd)),
		Verbose:       c.cfg.Verbose,
		Turn:          &c.etcdTurn,
	}
	if c.cfg.EtcdServerOptions != nil {
		// Each apiserver's --etcd-servers is its own machine's member, so
		// the apiserver certificate a member sees is its machine's
		// apiserver.
		cfg.ServerOptions = c.cfg.EtcdServerOptions(member, map[string]string{
			pki.EtcdAPIServerClient.CN: m.id(tracing.APIServer),
			pki.EtcdAdmin.CN:           tracing.Etcdctl,
			pki.EtcdTraceClient.CN:     tracing.Wheelhouse,
		})
	}
	if len(c.machines) > 1 {
		var peers []string
		for _, o := range c.machines {
			peers = append(peers, fmt.Sprintf("%s=https://%s:%d", o.etcdMember(), loopback, o.etcdPeer))
		}
		cfg.InitialCluster = strings.Join(peers, ",")
	}
	s, err := etcd.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if c.cfg.EtcdReady == nil {
		return s, nil
	}
	// The trace's etcd reader is started once, when the first member
	// serves; it follows every member's URL, and reconnects to a member
	// that was stopped and started again and resumes its watch.
	var err2 error
	c.etcdReadyOnce.Do(func() {
		access, err := c.etcdAccess(pki.EtcdTraceClient)
		if err != nil {
			err2 = err
			return
		}
		c.cfg.EtcdReady(access)
	})
	return s, err2
}

func (c *Cluster) serverOptions(node string) []grpc.ServerOption {
	if c.cfg.RuntimeServerOptions == nil {
		return nil
	}
	return c.cfg.RuntimeServerOptions(node)
}

func (c *Cluster) startRuntime(ctx context.Context, n *Node) (component.Handle, error) {
	rt, err := simruntime.Start(ctx, simruntime.Config{
		NodeName:           n.Name,
		SocketPath:         c.runtimeSocket(n),
		PullBytesPerSecond: c.cfg.PullBytesPerSecond,
		ServerOptions:      c.serverOptions(n.Name),
		Logger:             c.logs.Logger(tracing.NodeComponent(tracing.Runtime, n.Name)),
		Network:            c.network,
		Programs:           c.programs(),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the container runtime of %s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.runtime = rt
	n.mu.Unlock()
	return untilDone(ctx, func() {
		_ = rt.Close()
		n.mu.Lock()
		n.runtime = nil
		n.mu.Unlock()
	}), nil
}

// startContainerd starts a node's containerd (or connects to the one
// given) with the busybox and pause images in it, and the CRI proxy in
// front of it that the kubelet talks to, served with the same options
// (tracing interceptors) as a simulated runtime.
func (c *Cluster) startContainerd(ctx context.Context, n *Node) (_ component.Handle, err error) {
	var cd *containerd.Containerd
	var proxy *criproxy.Proxy
	stop := func() {
		if proxy != nil {
			_ = proxy.Close()
		}
		if cd != nil {
			_ = cd.Close()
		}
		c.forgetContainerdAddress(n.Name)
		n.mu.Lock()
		n.containerD, n.criProxy = nil, nil
		n.mu.Unlock()
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	component := tracing.NodeComponent(tracing.Runtime, n.Name)
	if err := os.MkdirAll(c.nodeDir(n.Name), 0o755); err != nil {
		return nil, err
	}
	if c.cfg.ContainerdAddress != "" {
		cd, err = containerd.Connect(ctx, c.cfg.ContainerdAddress)
	} else {
		cd, err = containerd.Start(ctx, containerd.Config{
			NodeName:    n.Name,
			Dir:         filepath.Join(c.nodeDir(n.Name), "containerd"),
			Binary:      c.containerdBinary,
			ClusterCIDR: ClusterCIDR,
			LogFile:     c.logs.Path("containerd/" + n.Name),
			Logger:      c.logs.Logger(component),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("starting containerd for %s: %w", n.Name, err)
	}
	if err := cd.EnsureImages(ctx); err != nil {
		return nil, fmt.Errorf("containerd of %s: %w", n.Name, err)
	}
	// Where `wheelhouse images import` finds this node's containerd.
	if err := os.WriteFile(filepath.Join(c.nodeDir(n.Name), ContainerdAddressFile), []byte(cd.Address()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("recording the containerd address of %s: %w", n.Name, err)
	}
	proxy, err = criproxy.Start(ctx, criproxy.Config{
		SocketPath:    c.runtimeSocket(n),
		Upstream:      cd.Address(),
		ServerOptions: append(c.serverOptions(n.Name), grpc.ChainUnaryInterceptor(cd.Interceptor())),
		Logger:        c.logs.Logger(component),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the CRI proxy of %s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.containerD, n.criProxy = cd, proxy
	n.mu.Unlock()
	return untilDone(ctx, stop), nil
}

func (c *Cluster) startAPIServer(ctx context.Context, m machine) (component.Handle, error) {
	id := m.id(tracing.APIServer)
	cfg := apiserver.Config{
		EtcdServers:             []string{m.etcdURL()},
		EtcdCAFile:              c.pki.EtcdCAFile(),
		EtcdCertFile:            c.pki.EtcdClientCertFile(pki.EtcdAPIServerClient),
		EtcdKeyFile:             c.pki.EtcdClientKeyFile(pki.EtcdAPIServerClient),
		KubeletCAFile:           c.pki.CAFile(),
		DialKubelet:             c.dialKubelet,
		Observer:                c.observerAt(m.api),
		BindAddress:             loopback,
		Port:                    m.api,
		CertDir:                 filepath.Join(m.dir(c.cfg.DataDir), "apiserver"),
		ClientCAFile:            c.pki.CAFile(),
		ServingCertFile:         c.pki.ServingCertFile(),
		ServingKeyFile:          c.pki.ServingKeyFile(),
		ServiceAccountKeyFile:   c.pki.ServiceAccountKeyFile(),
		ServiceAccountPubFile:   c.pki.ServiceAccountPubFile(),
		KubeletClientCertFile:   c.pki.CertFile(pki.APIServerKubeletClient),
		KubeletClientKeyFile:    c.pki.KeyFile(pki.APIServerKubeletClient),
		ServiceClusterIPRange:   ServiceCIDR,
		ServiceAccountIssuerURL: "https://kubernetes.default.svc." + ClusterDomain,
	}
	if m.name != "" {
		// The identity a real apiserver derives from its host's name
		// (its Lease in kube-system), from its machine's name here: all
		// apiservers share this process's host name.
		cfg.Hostname = m.name
	}
	if c.cfg.APIServerFilters != nil {
		cfg.InnerFilter, cfg.OuterFilter = c.cfg.APIServerFilters(id)
	}
	return apiserver.Start(ctx, cfg)
}

// observerAt is Wheelhouse's own client configuration aimed at one
// apiserver's port (its readiness checks), rather than the API port.
func (c *Cluster) observerAt(port int) *rest.Config {
	cfg := rest.CopyConfig(c.observer)
	cfg.Host = fmt.Sprintf("https://%s:%d", loopback, port)
	return cfg
}

// startLoadBalancer starts the HA load balancer on the API port, in front
// of every apiserver.
func (c *Cluster) startLoadBalancer(ctx context.Context) (component.Handle, error) {
	l, err := listen(portClaim{loopback, c.cfg.APIPort, "the apiservers' load balancer", "--api-port"})
	if err != nil {
		return nil, err
	}
	var backends []loadbalancer.Backend
	for _, m := range c.machines {
		backends = append(backends, loadbalancer.Backend{ID: m.id(tracing.APIServer), Addr: fmt.Sprintf("%s:%d", loopback, m.api)})
	}
	pool, err := c.pki.CAPool()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("the load balancer's health checks: %w", err)
	}
	cfg := loadbalancer.Config{
		Listener:  l,
		Backends:  backends,
		HealthTLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		UserAgent: tracing.LoadBalancerUserAgent,
	}
	if c.cfg.LoadBalancerHooks != nil {
		cfg.OnRoute, cfg.OnHealth = c.cfg.LoadBalancerHooks()
	}
	lb, err := loadbalancer.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting the load balancer: %w", err)
	}
	c.lbMu.Lock()
	c.lb = lb
	c.lbMu.Unlock()
	return lb, nil
}

func (c *Cluster) startScheduler(ctx context.Context, m machine) (component.Handle, error) {
	l, err := listen(portClaim{loopback, m.scheduler, "kube-scheduler's secure port", "--scheduler-port"})
	if err != nil {
		return nil, err
	}
	cfg := scheduler.Config{
		Kubeconfig: c.pki.Kubeconfig(c.schedulerIdentity(m)),
		Listener:   l,
		CertFile:   c.pki.LoopbackServingCertFile(schedulerServing),
		KeyFile:    c.pki.LoopbackServingKeyFile(schedulerServing),
	}
	if m.name != "" {
		cfg.LeaderElection = c.leaderElection(m)
	}
	return scheduler.Start(ctx, cfg)
}

func (c *Cluster) startControllerManager(ctx context.Context, m machine) (component.Handle, error) {
	l, err := listen(portClaim{loopback, m.controllerManager, "kube-controller-manager's secure port", "--controller-manager-port"})
	if err != nil {
		return nil, err
	}
	cfg := controllermanager.Config{
		Kubeconfig:             c.pki.Kubeconfig(c.controllerManagerIdentity(m)),
		Listener:               l,
		CertFile:               c.pki.LoopbackServingCertFile(controllerManagerServing),
		KeyFile:                c.pki.LoopbackServingKeyFile(controllerManagerServing),
		Observer:               c.observer,
		RootCAFile:             c.pki.CAFile(),
		ServiceAccountKeyFile:  c.pki.ServiceAccountKeyFile(),
		ClusterSigningCertFile: c.pki.CAFile(),
		ClusterSigningKeyFile:  c.pki.CAKeyFile(),
		ClusterCIDR:            ClusterCIDR,
		NodeCIDRMaskSize:       nodeMaskSize,
		ServiceClusterIPRange:  ServiceCIDR,
		FlexVolumePluginDir:    filepath.Join(m.dir(c.cfg.DataDir), "controller-manager", "flexvolume"),
	}
	if m.name != "" {
		cfg.LeaderElection = c.leaderElection(m)
	}
	return controllermanager.Start(ctx, cfg)
}

// leaderElection is how machine m's scheduler or controller manager takes
// part in its leader election.
func (c *Cluster) leaderElection(m machine) *leader.Config {
	le := c.cfg.LeaderElection
	return &leader.Config{
		Machine:       m.name,
		LeaseDuration: le.LeaseDuration,
		RenewDeadline: le.RenewDeadline,
		RetryPeriod:   le.RetryPeriod,
	}
}

func (c *Cluster) startKubelet(ctx context.Context, n *Node) (component.Handle, error) {
	apiFilter, err := c.kubeletAPIFilter(n.Name)
	if err != nil {
		return nil, err
	}
	k, err := kubelet.Start(ctx, kubelet.Config{
		NodeName:        n.Name,
		Dir:             c.nodeDir(n.Name),
		Address:         net.ParseIP(loopback),
		Port:            n.port,
		NodeIP:          c.nodeIP,
		Observer:        c.observer,
		Kubeconfig:      c.pki.Kubeconfig(pki.Node(n.Name)),
		ClientCAFile:    c.pki.CAFile(),
		ServingCertFile: c.pki.KubeletServingCertFile(n.Name),
		ServingKeyFile:  c.pki.KubeletServingKeyFile(n.Name),
		RuntimeEndpoint: "unix://" + c.runtimeSocket(n),
		RealContainers:  n.containerd,
		Labels:          n.labels(),
		CPUCores:        4,
		MemoryBytes:     8 << 30,
		DiskBytes:       100 << 30,
		MaxPods:         110,
		ClusterDNS:      []string{ClusterDNSIP},
		ClusterDomain:   ClusterDomain,
		APIFilter:       apiFilter,
	})
	if err != nil {
		return nil, fmt.Errorf("starting kubelet on %s: %w", n.Name, err)
	}
	return k, nil
}

// kubeletAPIFilter is the tracer's filter for node's kubelet API, which
// names callers by the certificates the kubelet trusts: the cluster CA's.
func (c *Cluster) kubeletAPIFilter(node string) (func(http.Handler) http.Handler, error) {
	if c.cfg.KubeletAPIFilter == nil {
		return nil, nil
	}
	pool, err := c.pki.CAPool()
	if err != nil {
		return nil, fmt.Errorf("tracing node %s's kubelet API: %w", node, err)
	}
	return c.cfg.KubeletAPIFilter(node, pool), nil
}

func (c *Cluster) startKubeProxy(ctx context.Context, n *Node) (component.Handle, error) {
	p, err := kubeproxy.Start(ctx, kubeproxy.Config{
		NodeName:    n.Name,
		NodeIP:      c.nodeIP,
		Kubeconfig:  c.pki.Kubeconfig(pki.KubeProxy),
		ClusterCIDR: ClusterCIDR,
		Tables:      n.tables,
	})
	if err != nil {
		return nil, fmt.Errorf("starting kube-proxy on %s: %w", n.Name, err)
	}
	n.mu.Lock()
	n.proxy = p
	n.mu.Unlock()
	return p, nil
}
