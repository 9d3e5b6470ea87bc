// Package kubeproxy runs the real kube-proxy for one node: its informers
// watch Services and EndpointSlices through the apiserver and its iptables
// proxier computes the node's service rules, exactly as on a real node. The
// rules are written to an in-memory iptables (the one Kubernetes' own tests
// use) instead of the kernel, so no root is needed and learners can read
// what kube-proxy would have programmed.
package kubeproxy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	sysctltest "k8s.io/component-helpers/node/util/sysctl/testing"
	"k8s.io/klog/v2"
	"k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/proxy/apis"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyconfigscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	proxyconfig "k8s.io/kubernetes/pkg/proxy/config"
	"k8s.io/kubernetes/pkg/proxy/iptables"
	"k8s.io/kubernetes/pkg/proxy/runner"
	proxyutil "k8s.io/kubernetes/pkg/proxy/util"
	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
	iptablestest "k8s.io/kubernetes/pkg/util/iptables/testing"

	"github.com/wheelhouse-k8s/wheelhouse/components/stopdial"
)

// Config is one node's kube-proxy.
type Config struct {
	NodeName    string
	NodeIP      net.IP
	Kubeconfig  string
	ClusterCIDR string
	// Tables are the node's iptables, which outlive the kube-proxy (nil:
	// tables of its own). A stopped kube-proxy leaves its rules there, as
	// on a real node, and the next one takes them over.
	Tables *Tables
}

// Tables is a node's in-memory iptables (the one Kubernetes' own tests
// use): kube-proxy writes them, and the pod network routes new
// connections by them.
type Tables struct {
	mu   sync.Mutex
	fake *iptablestest.FakeIPTables
}

// NewTables is a node's empty iptables.
func NewTables() *Tables { return &Tables{fake: iptablestest.NewFake()} }

// Save is what `iptables-save` would print for the nat and filter tables
// ("" before kube-proxy first wrote them).
func (t *Tables) Save() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var buf bytes.Buffer
	for _, table := range []utiliptables.Table{utiliptables.TableNAT, utiliptables.TableFilter} {
		_ = t.fake.SaveInto(table, &buf)
	}
	return buf.String()
}

// Proxy is a running kube-proxy. It runs until the context given to Start
// ends; Done is closed once its informers and sync loop have stopped.
type Proxy struct {
	ipt  *syncedIPTables
	done chan struct{}
}

// Done is closed when kube-proxy has stopped.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Err is always nil: kube-proxy stops only when told to.
func (p *Proxy) Err() error { return nil }

// Start runs kube-proxy and returns once its proxier has written the first
// full set of rules, which it does only after it has seen every Service and
// EndpointSlice.
//
// It runs kube-proxy as ProxyServer.Run does (the same informers and
// config sources feeding the same proxier, the birth-cry event, the sync
// loop), but with the kube-proxy's own lifetime: Run starts its informers
// and the proxier's sync loop with wait.NeverStop and never returns, as
// kube-proxy lives as long as its process. Its healthz and metrics
// servers are not started (several proxies share this process's ports).
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	logger := klog.FromContext(ctx)
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kube-proxy kubeconfig: %w", err)
	}
	// Every node's proxy has the one identity system:kube-proxy (as with
	// kubeadm); the user agent says which node's it is.
	restCfg.UserAgent = "kube-proxy/" + cfg.NodeName
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.Dial = stopdial.New(ctx, "kube-proxy on "+cfg.NodeName).DialContext
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("creating kube-proxy client: %w", err)
	}

	config, err := defaultConfig()
	if err != nil {
		return nil, err
	}
	config.Mode = kubeproxyconfig.ProxyModeIPTables
	config.HostnameOverride = cfg.NodeName
	config.DetectLocalMode = kubeproxyconfig.LocalModeClusterCIDR
	config.DetectLocal.ClusterCIDRs = []string{cfg.ClusterCIDR}
	config.HealthzBindAddress = ""
	config.MetricsBindAddress = ""
	// Do not touch this process's OOM score.
	config.Linux.OOMScoreAdj = nil

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	recorder := broadcaster.NewRecorder(legacyscheme.Scheme, "kube-proxy")
	tables := cfg.Tables
	if tables == nil {
		tables = NewTables()
	}
	ipt := &syncedIPTables{t: tables, synced: make(chan struct{})}
	nodeIP := cfg.NodeIP
	proxier, err := iptables.NewProxier(ctx, config, v1.IPv4Protocol, ipt, sysctltest.NewFake(),
		proxyutil.NewDetectLocalByCIDR(cfg.ClusterCIDR), cfg.NodeName, nodeIP, recorder, nil, false)
	if err != nil {
		return nil, fmt.Errorf("creating kube-proxy's iptables proxier: %w", err)
	}
	syncRunner, err := proxierSyncRunner(proxier)
	if err != nil {
		return nil, err
	}

	p := &Proxy{ipt: ipt, done: make(chan struct{})}
	broadcaster.StartRecordingToSink(ctx.Done())
	nodeRef := &v1.ObjectReference{Kind: "Node", Name: cfg.NodeName, APIVersion: "v1"}

	// The informers ProxyServer.Run makes: Services (without headless ones
	// and those another proxy serves), EndpointSlices (without headless
	// ones), and ServiceCIDRs.
	noProxyName, _ := labels.NewRequirement(apis.LabelServiceProxyName, selection.DoesNotExist, nil)
	noHeadless, _ := labels.NewRequirement(v1.IsHeadlessService, selection.DoesNotExist, nil)
	trimManagedFields := func(obj any) (any, error) {
		if accessor, err := meta.Accessor(obj); err == nil {
			accessor.SetManagedFields(nil)
		}
		return obj, nil
	}
	period := config.ConfigSyncPeriod.Duration
	all := informers.NewSharedInformerFactoryWithOptions(client, period, informers.WithTransform(trimManagedFields))
	slices := informers.NewSharedInformerFactoryWithOptions(client, period, informers.WithTransform(trimManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labels.NewSelector().Add(*noHeadless).String() }))
	services := informers.NewSharedInformerFactoryWithOptions(client, period, informers.WithTransform(trimManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.NewSelector().Add(*noProxyName).String()
			o.FieldSelector = fields.OneTermNotEqualSelector("spec.clusterIP", v1.ClusterIPNone).String()
		}))
	serviceConfig := proxyconfig.NewServiceConfig(ctx, services.Core().V1().Services(), period)
	serviceConfig.RegisterEventHandler(proxier)
	sliceConfig := proxyconfig.NewEndpointSliceConfig(ctx, slices.Discovery().V1().EndpointSlices(), period)
	sliceConfig.RegisterEventHandler(proxier)
	var cidrConfig *proxyconfig.ServiceCIDRConfig
	if utilfeature.DefaultFeatureGate.Enabled(features.MultiCIDRServiceAllocator) {
		cidrConfig = proxyconfig.NewServiceCIDRConfig(ctx, all.Networking().V1().ServiceCIDRs(), period)
		cidrConfig.RegisterEventHandler(proxier)
	}
	var wg sync.WaitGroup
	wg.Go(func() { serviceConfig.Run(ctx.Done()) })
	wg.Go(func() { sliceConfig.Run(ctx.Done()) })
	if cidrConfig != nil {
		wg.Go(func() { cidrConfig.Run(ctx.Done()) })
	}
	for _, f := range []informers.SharedInformerFactory{all, slices, services} {
		f.Start(ctx.Done())
	}
	recorder.Eventf(nodeRef, nil, v1.EventTypeNormal, "Starting", "StartKubeProxy", "")
	// Proxier.SyncLoop, with a stop.
	wg.Go(func() { syncRunner.Loop(ctx.Done()) })
	go func() {
		defer close(p.done)
		<-ctx.Done()
		wg.Wait()
		for _, f := range []informers.SharedInformerFactory{all, slices, services} {
			f.Shutdown()
		}
		broadcaster.Shutdown()
		logger.V(2).Info("kube-proxy stopped")
	}()

	select {
	case <-ipt.synced:
		return p, nil
	case <-ctx.Done():
		<-p.done
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("kube-proxy on %s wrote no rules within 60s", cfg.NodeName)
	}
}

// proxierSyncRunner is the proxier's rule-sync runner, which SyncLoop runs
// with wait.NeverStop; Wheelhouse runs it with the kube-proxy's context.
// The field is unexported in k8s.io/kubernetes v1.37.2's pkg/proxy/iptables.
func proxierSyncRunner(p *iptables.Proxier) (*runner.BoundedFrequencyRunner, error) {
	f := reflect.ValueOf(p).Elem().FieldByName("syncRunner")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*runner.BoundedFrequencyRunner]() {
		return nil, fmt.Errorf("kube-proxy internals: the iptables proxier has no syncRunner of the expected type (Kubernetes changed)")
	}
	return *(**runner.BoundedFrequencyRunner)(unsafe.Pointer(f.UnsafeAddr())), nil
}

// Rules is what `iptables-save` would print for the nat and filter tables
// on this node.
func (p *Proxy) Rules() string { return p.ipt.t.Save() }

func defaultConfig() (*kubeproxyconfig.KubeProxyConfiguration, error) {
	versioned := &v1alpha1.KubeProxyConfiguration{}
	proxyconfigscheme.Scheme.Default(versioned)
	internal, err := proxyconfigscheme.Scheme.ConvertToVersion(versioned, kubeproxyconfig.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("defaulting kube-proxy configuration: %w", err)
	}
	return internal.(*kubeproxyconfig.KubeProxyConfiguration), nil
}

// syncedIPTables is one kube-proxy's view of the node's tables: access
// serialised (the in-memory iptables is not safe for the proxier's sync
// loop and a reader at once), and the first full restore noted.
type syncedIPTables struct {
	t      *Tables
	once   sync.Once
	synced chan struct{}
}

var _ utiliptables.Interface = (*syncedIPTables)(nil)

func (s *syncedIPTables) EnsureChain(t utiliptables.Table, c utiliptables.Chain) (bool, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.EnsureChain(t, c)
}

func (s *syncedIPTables) FlushChain(t utiliptables.Table, c utiliptables.Chain) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.FlushChain(t, c)
}

func (s *syncedIPTables) DeleteChain(t utiliptables.Table, c utiliptables.Chain) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.DeleteChain(t, c)
}

func (s *syncedIPTables) ChainExists(t utiliptables.Table, c utiliptables.Chain) (bool, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.ChainExists(t, c)
}

func (s *syncedIPTables) EnsureRule(p utiliptables.RulePosition, t utiliptables.Table, c utiliptables.Chain, args ...string) (bool, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.EnsureRule(p, t, c, args...)
}

func (s *syncedIPTables) DeleteRule(t utiliptables.Table, c utiliptables.Chain, args ...string) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.DeleteRule(t, c, args...)
}

func (s *syncedIPTables) IsIPv6() bool                    { return false }
func (s *syncedIPTables) Protocol() utiliptables.Protocol { return utiliptables.ProtocolIPv4 }
func (s *syncedIPTables) Present() error                  { return nil }

func (s *syncedIPTables) SaveInto(t utiliptables.Table, buf *bytes.Buffer) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.SaveInto(t, buf)
}

func (s *syncedIPTables) Restore(t utiliptables.Table, data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.fake.Restore(t, data, flush, counters)
}

func (s *syncedIPTables) RestoreAll(data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	s.t.mu.Lock()
	err := s.t.fake.RestoreAll(data, flush, counters)
	s.t.mu.Unlock()
	if err == nil {
		s.once.Do(func() { close(s.synced) })
	}
	return err
}

func (s *syncedIPTables) Monitor(canary utiliptables.Chain, tables []utiliptables.Table, reload func(), interval time.Duration, stopCh <-chan struct{}) {
	// An in-memory table is never flushed behind kube-proxy's back.
}
