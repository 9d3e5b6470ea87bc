// Package kubelet runs one compute node's kubelet: the real kubelet code
// (k8s.io/kubernetes/pkg/kubelet), started through kubeletapp.RunKubelet
// and wired the way kubemark's hollow node wires it (a stand-in for
// cAdvisor, the stub container manager, a fake mounter), talking CRI over
// a unix socket to the node's container runtime. It registers its Node,
// heartbeats through a Lease, and serves the kubelet API over TLS so the
// apiserver can fetch `kubectl logs` from it.
package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	noopoteltrace "go.opentelemetry.io/otel/trace/noop"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/mount-utils"

	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/capabilities"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/kubelet/config"

	"github.com/wheelhouse-k8s/wheelhouse/components/stopdial"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	"k8s.io/kubernetes/pkg/kubelet"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	"k8s.io/kubernetes/pkg/kubelet/server"
	kubetypes "k8s.io/kubernetes/pkg/kubelet/types"
	kubeletutil "k8s.io/kubernetes/pkg/kubelet/util"
	"k8s.io/kubernetes/pkg/util/oom"
	"k8s.io/kubernetes/pkg/volume/util/hostutil"
	"k8s.io/kubernetes/pkg/volume/util/subpath"
)

// Config is one node.
type Config struct {
	NodeName string
	// Dir is the node's own directory; everything the kubelet writes goes
	// under it.
	Dir string
	// Address is where the kubelet API listens: loopback, like every
	// listener of Wheelhouse's. The node's InternalIP is still the host's
	// address (the kubelet refuses one that is not on an interface of the
	// host, and loopback); the apiserver reaches the kubelet by the node's
	// Hostname address instead (see apiserver.Config.DialKubelet).
	Address net.IP
	Port    int
	// NodeIP is the node's InternalIP, an address of one of the host's
	// interfaces (the kubelet refuses any other). Given, as --node-ip would
	// be: otherwise the kubelet looks the node's name up in DNS on every
	// status update, which with many nodes at once waits for the
	// resolver's timeout (a node took 5 s more to register per lookup) and
	// sends queries off the machine.
	NodeIP net.IP
	// Observer is Wheelhouse's own client configuration, for the readiness
	// check, so that check is not traced as the kubelet's own traffic.
	Observer *rest.Config

	Kubeconfig      string
	ClientCAFile    string
	ServingCertFile string
	ServingKeyFile  string
	// RuntimeEndpoint is the CRI socket, e.g. unix:///…/runtime.sock.
	RuntimeEndpoint string

	Labels map[string]string
	Taints []v1.Taint

	CPUCores    int
	MemoryBytes uint64
	DiskBytes   uint64
	MaxPods     int

	ClusterDNS    []string
	ClusterDomain string

	// RealContainers is set when the runtime runs real containers
	// (containerd); the node says so in its OS image.
	RealContainers bool

	// APIFilter, if set, wraps the kubelet API's handler (the tracer's
	// view of the apiserver's requests to this node).
	APIFilter func(http.Handler) http.Handler
}

// Kubelet is a running node. It runs until the context given to Start
// ends, as if its process had died then: the node stops heartbeating and
// the control plane eventually marks it NotReady. Done is closed once it
// has stopped and given back what it held (its connections to the
// apiserver and the runtime, its API listener, its watches).
type Kubelet struct {
	name string
	// client is Wheelhouse's, not the kubelet's.
	client kubernetes.Interface
	done   chan struct{}
}

// Done is closed when the kubelet has stopped.
func (k *Kubelet) Done() <-chan struct{} { return k.done }

// Err is always nil: the kubelet stops only when its context ends.
func (k *Kubelet) Err() error { return nil }

// runStopTimeout bounds the wait for a stopping kubelet's sync loop.
const runStopTimeout = 10 * time.Second

// Start runs the kubelet and returns once its Node is Ready.
//
// It brings the kubelet up as kubeletapp.RunKubelet does (event recorder,
// NewMainKubelet, BirthCry, garbage collection, Run, the API server), but
// holding on to each piece, so that the kubelet can be stopped: RunKubelet
// keeps nothing a caller could stop, and its API server calls os.Exit when
// it cannot serve. Not started, because they have no shutdown and exit the
// process on error, and nothing here uses them: the pod-resources and
// pods gRPC sockets.
func Start(ctx context.Context, cfg Config) (_ *Kubelet, err error) {
	logger := klog.FromContext(ctx)
	started := time.Now()
	root, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving node directory: %w", err)
	}
	dirs := map[string]string{
		"root":    filepath.Join(root, "kubelet"),
		"podLogs": filepath.Join(root, "pod-logs"),
		"certs":   filepath.Join(root, "kubelet", "pki"),
		"volume":  filepath.Join(root, "kubelet", "volume-plugins"),
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	k := &Kubelet{name: cfg.NodeName, done: make(chan struct{})}
	// What must be given back when the kubelet stops, in reverse order.
	var cleanups []func()
	teardown := sync.OnceFunc(func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		close(k.done)
	})
	defer func() {
		if err != nil {
			cancel()
			teardown()
		}
	}()

	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubelet kubeconfig: %w", err)
	}
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.UserAgent = "kubelet/" + cfg.NodeName
	restCfg.QPS, restCfg.Burst = 50, 100
	// Some of the kubelet's informers run with wait.NeverStop, so their
	// watches would outlive the kubelet and keep the apiserver from
	// shutting down. All of its connections go through one dialer that is
	// closed when the kubelet stops, as a real kubelet's would be when its
	// process ends.
	restCfg.Dial = stopdial.New(ctx, "kubelet "+cfg.NodeName).DialContext
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("creating kubelet client: %w", err)
	}
	if k.client, err = kubernetes.NewForConfig(cfg.Observer); err != nil {
		return nil, fmt.Errorf("creating the readiness client: %w", err)
	}

	flags := options.NewKubeletFlags()
	flags.RootDirectory = dirs["root"]
	flags.CertDirectory = dirs["certs"]
	flags.HostnameOverride = cfg.NodeName
	flags.NodeIP = cfg.NodeIP.String()
	flags.NodeLabels = cfg.Labels
	flags.MinimumGCAge = metav1.Duration{Duration: time.Minute}
	flags.MaxContainerCount = 100
	flags.MaxPerPodContainerCount = 2

	kc, err := options.NewKubeletConfiguration()
	if err != nil {
		return nil, fmt.Errorf("defaulting kubelet configuration: %w", err)
	}
	configure(kc, cfg, dirs)

	// The heartbeat client (node status and Lease) gets its own
	// unthrottled connection with a timeout, as the kubelet command does.
	heartbeatCfg := *restCfg
	heartbeatCfg.Timeout = kc.NodeStatusUpdateFrequency.Duration
	if lease := time.Duration(kc.NodeLeaseDurationSeconds) * time.Second; heartbeatCfg.Timeout > lease {
		heartbeatCfg.Timeout = lease
	}
	heartbeatCfg.QPS = -1
	heartbeat, err := kubernetes.NewForConfig(&heartbeatCfg)
	if err != nil {
		return nil, fmt.Errorf("creating kubelet heartbeat client: %w", err)
	}

	// The event recorder, as RunKubelet's makeEventRecorder makes it, but
	// shut down with the kubelet.
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartStructuredLogging(3)
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	cleanups = append(cleanups, events.Shutdown)
	recorder := events.NewRecorder(legacyscheme.Scheme, v1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	deps := &kubelet.Dependencies{
		KubeClient:                client,
		HeartbeatClient:           heartbeat,
		EventClient:               client.CoreV1(),
		CAdvisorInterface:         newMachine(cfg.NodeName, cfg.CPUCores, cfg.MemoryBytes, cfg.DiskBytes, cfg.RealContainers),
		ContainerManager:          newContainerManager(),
		OSInterface:               confinedOS{root: root, hostname: cfg.NodeName},
		VolumePlugins:             volumePlugins(),
		OOMAdjuster:               oom.NewFakeOOMAdjuster(),
		Mounter:                   &mount.FakeMounter{},
		Subpather:                 &subpath.FakeSubpath{},
		HostUtil:                  hostutil.NewFakeHostUtil(nil),
		PodStartupLatencyTracker:  kubeletutil.NewPodStartupLatencyTracker(),
		NodeStartupLatencyTracker: kubeletutil.NewNodeStartupLatencyTracker(logger),
		TracerProvider:            noopoteltrace.NewTracerProvider(),
		TLSOptions: &server.TLSOptions{
			CertFile:     cfg.ServingCertFile,
			KeyFile:      cfg.ServingKeyFile,
			ClientCAFile: cfg.ClientCAFile,
		},
		Recorder: recorder,
		// deps.ProbeManager stays nil, so the kubelet builds its real
		// prober, on every node: a container is ready only once it runs
		// (and passes its readiness probe, if it has one), as on any node.
		// (Kubemark's fake manager would call every container ready, even
		// one that never started.)
	}
	auth, runCAReload, err := kubeletapp.BuildAuth(types.NodeName(cfg.NodeName), client, *kc)
	if err != nil {
		return nil, fmt.Errorf("building kubelet authentication: %w", err)
	}
	deps.Auth = auth
	runCAReload(ctx.Done())

	if err := kubelet.PreInitRuntimeService(ctx, kc, deps); err != nil {
		return nil, fmt.Errorf("connecting the kubelet to the container runtime at %s: %w", cfg.RuntimeEndpoint, err)
	}
	cleanups = append(cleanups, func() {
		// The kubelet never closes its CRI connections; its process ends.
		closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = deps.RemoteRuntimeService.Close(closeCtx)
		_ = deps.RemoteImageService.Close(closeCtx)
	})
	deps.PodConfig = config.NewPodConfig(recorder, deps.PodStartupLatencyTracker)

	// As RunKubelet does before it makes the kubelet. Both are process-wide
	// (Kubernetes keeps them in package variables) and every kubelet sets
	// them the same way, except the docker config path, which is the last
	// kubelet's root: no node here has a docker config.
	capabilities.Initialize(capabilities.Capabilities{AllowPrivileged: true})
	credentialprovider.SetPreferredDockercfgPath(flags.RootDirectory)

	kubeServer := &options.KubeletServer{KubeletFlags: *flags, KubeletConfiguration: *kc}
	kl, err := kubelet.NewMainKubelet(ctx,
		&kubeServer.KubeletConfiguration,
		deps,
		&kubeServer.ContainerRuntimeOptions,
		cfg.NodeName,
		types.NodeName(cfg.NodeName),
		[]net.IP{cfg.NodeIP},
		kubeServer.ProviderID,
		kubeServer.CloudProvider,
		kubeServer.CertDirectory,
		kubeServer.RootDirectory,
		kubeServer.PodLogsDir,
		kubeServer.ImageCredentialProviderConfigPath,
		kubeServer.ImageCredentialProviderBinDir,
		kubeServer.RegisterNode,
		kubeServer.RegisterWithTaints,
		kubeServer.AllowedUnsafeSysctls,
		kubeServer.ExperimentalMounterPath,
		kubeServer.KernelMemcgNotification,
		kubeServer.ExperimentalNodeAllocatableIgnoreEvictionThreshold,
		kubeServer.MinimumGCAge,
		kubeServer.MaxPerPodContainerCount,
		kubeServer.MaxContainerCount,
		kubeServer.NodeLabels,
		kubeServer.NodeStatusMaxImages,
		kubeServer.KubeletFlags.SeccompDefault || kubeServer.KubeletConfiguration.SeccompDefault)
	if err != nil {
		return nil, fmt.Errorf("creating kubelet %s: %w", cfg.NodeName, err)
	}
	in, err := reach(kl)
	if err != nil {
		return nil, err
	}
	in.bind(ctx)
	nodeSynced := func() bool { _, err := kl.GetNode(ctx); return err == nil }
	if err := watchAssignedPods(ctx, client, cfg.NodeName, nodeSynced, deps.PodConfig); err != nil {
		return nil, err
	}

	kl.BirthCry()
	kl.StartGarbageCollection(ctx)

	// Run's sync loop ends when its update channel closes, which the pod
	// config's never does: the kubelet is given a copy that closes with
	// its context.
	updates := make(chan kubetypes.PodUpdate)
	go func() {
		defer close(updates)
		for {
			select {
			case u := <-deps.PodConfig.Updates():
				select {
				case updates <- u:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		kl.Run(ctx, updates)
	}()
	cleanups = append(cleanups, func() {
		// Run returns once its sync loop reads the closed update channel;
		// a sync loop that waits for a dead runtime only gets there after
		// its back-off, so it is given a while, not forever.
		select {
		case <-ran:
		case <-time.After(runStopTimeout):
			logger.Info("The kubelet's sync loop has not ended; stopping the rest", "waited", runStopTimeout)
		}
		in.stop()
	})

	api, err := serveAPI(ctx, kl, deps, in, kc, cfg.APIFilter)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, api.stop)
	logger.Info("Started kubelet")
	context.AfterFunc(ctx, teardown)

	if err := k.waitReady(ctx, started); err != nil {
		return nil, err
	}
	return k, nil
}

// configure fills in the kubelet configuration the way a node
// provisioner would write /var/lib/kubelet/config.yaml.
func configure(kc *kubeletconfig.KubeletConfiguration, cfg Config, dirs map[string]string) {
	kc.ContainerRuntimeEndpoint = cfg.RuntimeEndpoint
	kc.ImageServiceEndpoint = cfg.RuntimeEndpoint
	kc.Address = cfg.Address.String()
	kc.Port = int32(cfg.Port)
	kc.ReadOnlyPort = 0
	// The healthz listener would need a port per node; the node's health
	// is what its Ready condition and Lease say.
	kc.HealthzPort = 0
	kc.TLSCertFile = cfg.ServingCertFile
	kc.TLSPrivateKeyFile = cfg.ServingKeyFile
	kc.Authentication.X509.ClientCAFile = cfg.ClientCAFile
	kc.Authentication.Webhook.Enabled = true
	kc.Authentication.Anonymous.Enabled = false
	kc.Authorization.Mode = kubeletconfig.KubeletAuthorizationModeWebhook
	kc.StaticPodPath = ""
	kc.PodLogsDir = dirs["podLogs"]
	kc.VolumePluginDir = dirs["volume"]
	kc.MaxPods = int32(cfg.MaxPods)
	kc.PodsPerCore = 0
	kc.ClusterDNS = cfg.ClusterDNS
	kc.ClusterDomain = cfg.ClusterDomain
	kc.ResolverConfig = kubetypes.ResolvConfDefault
	kc.ProviderID = "wheelhouse://" + cfg.NodeName
	kc.RegisterNode = true
	kc.RegisterWithTaints = cfg.Taints
	// No cgroups: the node's containers are simulated (or, with
	// containerd, placed by the runtime itself).
	kc.CgroupsPerQOS = false
	kc.CgroupRoot = ""
	kc.EnforceNodeAllocatable = nil
	kc.KubeletCgroups = ""
	kc.SystemCgroups = ""
	kc.FailSwapOn = false
	kc.ProtectKernelDefaults = false
	kc.LocalStorageCapacityIsolation = true
	kc.EnableControllerAttachDetach = true
	kc.EnableDebuggingHandlers = true
	kc.HairpinMode = kubeletconfig.HairpinNone
	// A kubelet running as root otherwise adds its chains to the host's
	// iptables (KUBE-FIREWALL, KUBE-KUBELET-CANARY, a localnet DROP rule)
	// and never removes them; a node's network rules are kube-proxy's,
	// which writes them to its own in-memory table.
	kc.MakeIPTablesUtilChains = false
	kc.MaxOpenFiles = 1024
	kc.VolumeStatsAggPeriod.Duration = time.Minute
}

// waitReady waits for the Node to be Ready as reported by this kubelet: a
// restarted cluster finds the Ready condition its previous run left in
// etcd, which says nothing about the kubelet now running.
func (k *Kubelet) waitReady(ctx context.Context, since time.Time) error {
	// Heartbeat times are stored with one-second precision.
	since = since.Truncate(time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		node, err := k.client.CoreV1().Nodes().Get(ctx, k.name, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for node %s to become Ready: %w", k.name, ctx.Err())
		case <-tick.C:
		}
	}
}
