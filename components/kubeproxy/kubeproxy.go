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
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	sysctltest "k8s.io/component-helpers/node/util/sysctl/testing"
	"k8s.io/klog/v2"
	"k8s.io/kube-proxy/config/v1alpha1"
	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyconfigscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	"k8s.io/kubernetes/pkg/proxy/iptables"
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
}

// Proxy is a running kube-proxy.
type Proxy struct {
	ipt *syncedIPTables
}

// Start runs kube-proxy and returns once its proxier has written the first
// full set of rules, which it does only after it has seen every Service and
// EndpointSlice.
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
	// ProxyServer.Run starts its informers with wait.NeverStop, so their
	// watches would outlive ctx and keep the apiserver from shutting down;
	// closing the connections when ctx ends stops them.
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
	// No listeners: several proxies share one process and its ports.
	config.HealthzBindAddress = ""
	config.MetricsBindAddress = ""
	// Do not touch this process's OOM score.
	config.Linux.OOMScoreAdj = nil

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	recorder := broadcaster.NewRecorder(legacyscheme.Scheme, "kube-proxy")
	ipt := &syncedIPTables{fake: iptablestest.NewFake(), synced: make(chan struct{})}
	proxier, err := iptables.NewProxier(ctx, config, v1.IPv4Protocol, ipt, sysctltest.NewFake(),
		proxyutil.NewDetectLocalByCIDR(cfg.ClusterCIDR), cfg.NodeName, cfg.NodeIP, recorder, nil, false)
	if err != nil {
		return nil, fmt.Errorf("creating kube-proxy's iptables proxier: %w", err)
	}
	server := &proxyapp.ProxyServer{
		Config:          config,
		Client:          client,
		Broadcaster:     broadcaster,
		Recorder:        recorder,
		NodeRef:         &v1.ObjectReference{Kind: "Node", Name: cfg.NodeName, UID: "", APIVersion: "v1"},
		NodeName:        cfg.NodeName,
		PrimaryIPFamily: v1.IPv4Protocol,
		NodeIPs:         map[v1.IPFamily]net.IP{v1.IPv4Protocol: cfg.NodeIP},
		Proxier:         proxier,
	}
	// ProxyServer.Run does not return when ctx ends (its informers use
	// wait.NeverStop); its handlers do stop with ctx. It lives as long as
	// the process, as kube-proxy does on a node.
	go func() {
		if err := server.Run(ctx); err != nil {
			logger.Error(err, "kube-proxy stopped")
		}
	}()
	select {
	case <-ipt.synced:
		return &Proxy{ipt: ipt}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("kube-proxy on %s wrote no rules within 60s", cfg.NodeName)
	}
}

// Rules is what `iptables-save` would print for the nat and filter tables
// on this node.
func (p *Proxy) Rules() string {
	var buf bytes.Buffer
	for _, t := range []utiliptables.Table{utiliptables.TableNAT, utiliptables.TableFilter} {
		_ = p.ipt.SaveInto(t, &buf)
	}
	return buf.String()
}

func defaultConfig() (*kubeproxyconfig.KubeProxyConfiguration, error) {
	versioned := &v1alpha1.KubeProxyConfiguration{}
	proxyconfigscheme.Scheme.Default(versioned)
	internal, err := proxyconfigscheme.Scheme.ConvertToVersion(versioned, kubeproxyconfig.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("defaulting kube-proxy configuration: %w", err)
	}
	return internal.(*kubeproxyconfig.KubeProxyConfiguration), nil
}

// syncedIPTables serialises access to the in-memory iptables, which is not
// safe for the proxier's sync loop and a reader at once, and notes the
// first full restore.
type syncedIPTables struct {
	mu     sync.Mutex
	fake   *iptablestest.FakeIPTables
	once   sync.Once
	synced chan struct{}
}

var _ utiliptables.Interface = (*syncedIPTables)(nil)

func (s *syncedIPTables) EnsureChain(t utiliptables.Table, c utiliptables.Chain) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.EnsureChain(t, c)
}

func (s *syncedIPTables) FlushChain(t utiliptables.Table, c utiliptables.Chain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.FlushChain(t, c)
}

func (s *syncedIPTables) DeleteChain(t utiliptables.Table, c utiliptables.Chain) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.DeleteChain(t, c)
}

func (s *syncedIPTables) ChainExists(t utiliptables.Table, c utiliptables.Chain) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.ChainExists(t, c)
}

func (s *syncedIPTables) EnsureRule(p utiliptables.RulePosition, t utiliptables.Table, c utiliptables.Chain, args ...string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.EnsureRule(p, t, c, args...)
}

func (s *syncedIPTables) DeleteRule(t utiliptables.Table, c utiliptables.Chain, args ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.DeleteRule(t, c, args...)
}

func (s *syncedIPTables) IsIPv6() bool                    { return false }
func (s *syncedIPTables) Protocol() utiliptables.Protocol { return utiliptables.ProtocolIPv4 }
func (s *syncedIPTables) Present() error                  { return nil }

func (s *syncedIPTables) SaveInto(t utiliptables.Table, buf *bytes.Buffer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.SaveInto(t, buf)
}

func (s *syncedIPTables) Restore(t utiliptables.Table, data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake.Restore(t, data, flush, counters)
}

func (s *syncedIPTables) RestoreAll(data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	s.mu.Lock()
	err := s.fake.RestoreAll(data, flush, counters)
	s.mu.Unlock()
	if err == nil {
		s.once.Do(func() { close(s.synced) })
	}
	return err
}

func (s *syncedIPTables) Monitor(canary utiliptables.Chain, tables []utiliptables.Table, reload func(), interval time.Duration, stopCh <-chan struct{}) {
	// An in-memory table is never flushed behind kube-proxy's back.
}
