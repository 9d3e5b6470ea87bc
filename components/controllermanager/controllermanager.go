// Package controllermanager runs the real kube-controller-manager
// in-process: every default controller, each calling the apiserver with
// its own service-account identity so the trace can name the controller
// behind a request.
package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/configz"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/wheelhouse-k8s/wheelhouse/components/leader"
)

// Config says how the controller manager is wired.
type Config struct {
	Kubeconfig string
	// Listener is its secure port (on loopback, 10257 by default), where
	// it serves /healthz (which componentstatuses reads) and /metrics with
	// delegated authentication and authorization. The caller opens it; the
	// controller manager closes it when it stops, so a restart can listen
	// again (app.Run does not wait for its server to stop).
	Listener net.Listener
	// CertFile and KeyFile are its serving certificate.
	CertFile, KeyFile string
	// Observer is Wheelhouse's own client configuration, for the readiness
	// check, so that check is not traced as the controller manager's.
	Observer *rest.Config
	// RootCAFile is published into every namespace (kube-root-ca.crt) and
	// put in service-account token secrets.
	RootCAFile string
	// ServiceAccountKeyFile signs legacy service-account token secrets.
	ServiceAccountKeyFile string
	// ClusterSigningCertFile and ClusterSigningKeyFile sign approved
	// CertificateSigningRequests.
	ClusterSigningCertFile string
	ClusterSigningKeyFile  string
	// ClusterCIDR is split into one podCIDR per node by the node IPAM
	// controller; the container runtime hands out pod IPs from it.
	ClusterCIDR           string
	NodeCIDRMaskSize      int
	ServiceClusterIPRange string
	// FlexVolumePluginDir must be under the data dir: the default is a
	// host path the controller manager would create.
	FlexVolumePluginDir string
	// LeaderElection, if set, runs this controller manager as one of
	// several: it waits for the kube-controller-manager Lease and runs
	// its controllers while it holds it.
	LeaderElection *leader.Config
	ExtraFlags     []string
}

// runMu lets one kube-controller-manager run at a time in this process,
// which an HA control plane needs during a handover: app.Run registers
// the process-wide /configz name and informer name, and fails if either
// is taken. Only leaders run.
var runMu sync.Mutex

// Flags renders the configuration as kube-controller-manager flags.
func (c Config) Flags() []string {
	return append([]string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + c.CertFile,
		"--tls-private-key-file=" + c.KeyFile,
		// Its own leader election ends the process when it stops (see
		// package leader); LeaderElection elects around it instead.
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--root-ca-file=" + c.RootCAFile,
		"--service-account-private-key-file=" + c.ServiceAccountKeyFile,
		"--cluster-signing-cert-file=" + c.ClusterSigningCertFile,
		"--cluster-signing-key-file=" + c.ClusterSigningKeyFile,
		"--allocate-node-cidrs=true",
		"--cluster-cidr=" + c.ClusterCIDR,
		fmt.Sprintf("--node-cidr-mask-size=%d", c.NodeCIDRMaskSize),
		"--service-cluster-ip-range=" + c.ServiceClusterIPRange,
		"--flex-volume-plugin-dir=" + c.FlexVolumePluginDir,
		"--profiling=false",
		// With its own identity per controller, the controller manager
		// makes ~150 requests at start-up (a ServiceAccount and a token
		// per controller, API discovery). At the default client limit of
		// 20 requests/s that alone took 5 s; one local control plane can
		// serve them at once, and the apiserver's priority and fairness
		// still protects it.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		// A node that stops heartbeating is marked NotReady after this
		// long without a Lease renewal (the default is 50 s). 20 s keeps
		// a lab's "stop the kubelet" step short while staying well above
		// the kubelet's 10 s renewal period, so a busy machine does not
		// flap nodes.
		"--node-monitor-grace-period=20s",
	}, c.ExtraFlags...)
}

// ControllerManager is a running kube-controller-manager.
type ControllerManager struct {
	done chan struct{}
	err  error
}

// Start runs the controller manager and returns once its controllers are
// doing work: the service-account controller has put the "default"
// ServiceAccount into the "default" namespace, without which no pod can be
// created.
func Start(ctx context.Context, cfg Config) (*ControllerManager, error) {
	logger := klog.FromContext(ctx)
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, fmt.Errorf("creating kube-controller-manager options: %w", err)
	}
	all, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	named := s.Flags(all, disabled, aliases)
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(cfg.Flags()); err != nil {
		cfg.Listener.Close()
		return nil, fmt.Errorf("parsing kube-controller-manager flags: %w", err)
	}
	s.SecureServing.Listener = cfg.Listener
	s.ParsedFlags = &named
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		cfg.Listener.Close()
		return nil, fmt.Errorf("applying kube-controller-manager feature gates: %w", err)
	}
	c, err := s.Config(ctx, all, disabled, aliases)
	if err != nil {
		cfg.Listener.Close()
		return nil, fmt.Errorf("building kube-controller-manager config: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg.Observer)
	if err != nil {
		cfg.Listener.Close()
		return nil, fmt.Errorf("creating readiness client: %w", err)
	}

	cm := &ControllerManager{done: make(chan struct{})}
	completed := c.Complete()
	go func() {
		defer close(cm.done)
		defer cfg.Listener.Close()
		run := func(ctx context.Context) error {
			runMu.Lock()
			defer runMu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			// Run registers its configuration under /configz and its
			// informer name; one started again in the same process must
			// find both free.
			defer configz.Delete(app.ConfigzName)
			defer releaseInformerName()
			if err := app.Run(ctx, completed); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				return err
			}
			return nil
		}
		if err := leader.RunOrLead(ctx, cfg.LeaderElection, c.Kubeconfig, "kube-controller-manager", run); err != nil {
			cm.err = err
			logger.Error(err, "kube-controller-manager stopped")
		}
	}()
	if cfg.LeaderElection != nil {
		// A standby is ready once it takes part in the election.
		return cm, nil
	}

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return cm, nil
		}
		if !apierrors.IsNotFound(err) {
			logger.V(2).Info("Waiting for the default ServiceAccount", "err", err)
		}
		select {
		case <-cm.done:
			return nil, fmt.Errorf("kube-controller-manager stopped before it was ready: %v", cm.err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// Done is closed when the controller manager has stopped.
func (cm *ControllerManager) Done() <-chan struct{} { return cm.done }

// Err is why it stopped, if it failed.
func (cm *ControllerManager) Err() error { return cm.err }
