// Package controllermanager runs the real kube-controller-manager
// in-process: every default controller, each calling the apiserver with
// its own service-account identity so the trace can name the controller
// behind a request.
package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/configz"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// Config says how the controller manager is wired.
type Config struct {
	Kubeconfig string
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
	ExtraFlags          []string
}

// Flags renders the configuration as kube-controller-manager flags.
func (c Config) Flags() []string {
	return append([]string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
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
		return nil, fmt.Errorf("parsing kube-controller-manager flags: %w", err)
	}
	s.ParsedFlags = &named
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, fmt.Errorf("applying kube-controller-manager feature gates: %w", err)
	}
	c, err := s.Config(ctx, all, disabled, aliases)
	if err != nil {
		return nil, fmt.Errorf("building kube-controller-manager config: %w", err)
	}
	client, err := kubernetes.NewForConfig(c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("creating readiness client: %w", err)
	}

	cm := &ControllerManager{done: make(chan struct{})}
	go func() {
		defer close(cm.done)
		// Run registers its configuration under /configz; a controller
		// manager started again in the same process must find it free.
		defer configz.Delete(app.ConfigzName)
		defer releaseInformerName()
		if err := app.Run(ctx, c.Complete()); err != nil && !errors.Is(err, context.Canceled) {
			cm.err = err
			logger.Error(err, "kube-controller-manager stopped")
		}
	}()

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
