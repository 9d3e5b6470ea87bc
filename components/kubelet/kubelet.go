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
	"os"
	"path/filepath"
	"time"

	noopoteltrace "go.opentelemetry.io/otel/trace/noop"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/mount-utils"

	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"

	"github.com/wheelhouse-k8s/wheelhouse/components/stopdial"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	"k8s.io/kubernetes/pkg/kubelet"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	probetest "k8s.io/kubernetes/pkg/kubelet/prober/testing"
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
	// Address is where the kubelet API listens. The apiserver reaches it
	// at the node's InternalIP, which the kubelet takes from the host's
	// default interface, so this is that address.
	Address net.IP
	Port    int

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
	// (containerd): the kubelet then probes them for real, and the node
	// says so in its OS image.
	RealContainers bool
}

// Kubelet is a running node. It runs until the context given to Start
// ends, as if its process had died then: the node stops heartbeating and
// the control plane eventually marks it NotReady.
type Kubelet struct {
	name   string
	client kubernetes.Interface
}

// Start runs the kubelet and returns once its Node is Ready.
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
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	restCfg.Dial = stopdial.New(ctx, "kubelet "+cfg.NodeName).DialContext
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("creating kubelet client: %w", err)
	}

	flags := options.NewKubeletFlags()
	flags.RootDirectory = dirs["root"]
	flags.CertDirectory = dirs["certs"]
	flags.HostnameOverride = cfg.NodeName
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

	deps := &kubelet.Dependencies{
		KubeClient:                client,
		HeartbeatClient:           heartbeat,
		EventClient:               client.CoreV1(),
		CAdvisorInterface:         newMachine(cfg.NodeName, cfg.CPUCores, cfg.MemoryBytes, cfg.DiskBytes, cfg.RealContainers),
		ContainerManager:          cm.NewStubContainerManager(),
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
		Recorder: eventRecorder(ctx, client, cfg.NodeName),
	}
	auth, runCAReload, err := kubeletapp.BuildAuth(types.NodeName(cfg.NodeName), client, *kc)
	if err != nil {
		return nil, fmt.Errorf("building kubelet authentication: %w", err)
	}
	deps.Auth = auth
	if !cfg.RealContainers {
		// Probes need a network path into the container; a simulated
		// container has none, so the kubelet's probe results are taken as
		// healthy, as kubemark does. (With containerd the kubelet builds
		// its real prober.)
		deps.ProbeManager = probetest.FakeManager{}
	}

	runCAReload(ctx.Done())
	if err := kubelet.PreInitRuntimeService(ctx, kc, deps); err != nil {
		return nil, fmt.Errorf("connecting the kubelet to the container runtime at %s: %w", cfg.RuntimeEndpoint, err)
	}
	kubeServer := &options.KubeletServer{KubeletFlags: *flags, KubeletConfiguration: *kc}
	// RunKubelet starts the sync loop and the kubelet server in goroutines
	// and returns; unlike the kubelet command (and kubemark's Run) it never
	// exits the process.
	if err := kubeletapp.RunKubelet(ctx, kubeServer, deps); err != nil {
		return nil, fmt.Errorf("starting kubelet %s: %w", cfg.NodeName, err)
	}
	k := &Kubelet{name: cfg.NodeName, client: client}
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
	kc.MaxOpenFiles = 1024
	kc.VolumeStatsAggPeriod.Duration = time.Minute
}

// eventRecorder gives the kubelet a real event recorder (so `kubectl
// describe pod` shows Pulling, Created, Started, BackOff…) when it can.
// The kubelet also starts an OOM watcher that reads /dev/kmsg unless its
// recorder is the fake one; where /dev/kmsg cannot be read (no root, or
// kernel.dmesg_restrict) that watcher would stop the kubelet from starting,
// so there the kubelet gets the fake recorder and records no events.
func eventRecorder(ctx context.Context, client kubernetes.Interface, node string) record.EventRecorderLogger {
	logger := klog.FromContext(ctx)
	if f, err := os.Open("/dev/kmsg"); err == nil {
		f.Close()
		return nil // RunKubelet builds the real one
	}
	logger.Info("Cannot read /dev/kmsg; this kubelet will record no Events", "node", node)
	return &record.FakeRecorder{}
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
