// Package scheduler runs the real kube-scheduler in-process. With one
// control plane leader election is off; on an HA control plane each
// machine's scheduler takes part in the election for the kube-scheduler
// Lease (package leader) and schedules only while it leads. It serves its secure port on
// loopback as kubeadm's static pod does (/healthz, /readyz, /metrics with
// delegated authentication and authorization), which is where the
// apiserver's componentstatuses look for it.
package scheduler

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/configz"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"

	"github.com/wheelhouse-k8s/wheelhouse/components/leader"
)

// Config says how the scheduler reaches the apiserver and where it serves.
type Config struct {
	Kubeconfig string
	// Listener is its secure port (on loopback, 10259 by default). The
	// caller opens it, so a port in use is named with its flag, and the
	// scheduler closes it when it stops, so a restart can listen again.
	Listener net.Listener
	// CertFile and KeyFile are its serving certificate.
	CertFile, KeyFile string
	// LeaderElection, if set, runs this scheduler as one of several: it
	// waits for the kube-scheduler Lease and works while it holds it.
	LeaderElection *leader.Config
	ExtraFlags     []string
}

// runMu lets one kube-scheduler run at a time in this process, which an
// HA control plane needs during a handover (the new leader starts while
// the old one may still be shutting down): app.Run registers the
// process-wide /configz name "componentconfig" and fails if it is taken.
// Only leaders run, and two lead at once only for those moments.
var runMu sync.Mutex

// Flags renders the configuration as kube-scheduler flags. They go through
// the scheduler's own flag parsing because Setup re-defaults the component
// configuration and then applies only the flags that were changed.
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
	}, c.ExtraFlags...)
}

// Scheduler is a running kube-scheduler.
type Scheduler struct {
	done chan struct{}
	err  error
}

// Start builds the scheduler, runs it and returns once its pod and node
// informers have synced, i.e. once it can place pods.
func Start(ctx context.Context, cfg Config) (*Scheduler, error) {
	logger := klog.FromContext(ctx)
	opts := options.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, f := range opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(cfg.Flags()); err != nil {
		cfg.Listener.Close()
		return nil, fmt.Errorf("parsing kube-scheduler flags: %w", err)
	}
	// The listener given replaces --secure-port (SecureServingOptions
	// uses a Listener as it is).
	opts.SecureServing.Listener = cfg.Listener
	informerName := "kube-scheduler"
	if cfg.LeaderElection != nil {
		// Several schedulers' informers live in this process at once.
		informerName += "-" + cfg.LeaderElection.Machine
	}
	name, err := cache.NewInformerName(informerName)
	if err != nil {
		cfg.Listener.Close()
		return nil, fmt.Errorf("naming kube-scheduler informers: %w", err)
	}
	opts.InformerName = name
	cc, sched, err := app.Setup(ctx, opts)
	if err != nil {
		name.Release()
		cfg.Listener.Close()
		return nil, fmt.Errorf("setting up kube-scheduler: %w", err)
	}
	// Ask for the informers Run will start, so readiness can be observed.
	pods := cc.InformerFactory.Core().V1().Pods().Informer()
	nodes := cc.InformerFactory.Core().V1().Nodes().Informer()

	s := &Scheduler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer name.Release()
		// Run waits for its secure server to stop listening; closing the
		// listener again is harmless and covers a Run that failed early.
		defer cfg.Listener.Close()
		run := func(ctx context.Context) error {
			runMu.Lock()
			defer runMu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			// Run registers its configuration under /configz; a scheduler
			// started again in the same process must find the name free.
			defer configz.Delete("componentconfig")
			err := app.Run(ctx, cc, sched)
			if ctx.Err() != nil {
				// Without leader election Run always ends in an error
				// ("finished without leader elect"), also when asked to.
				return nil
			}
			return err
		}
		if err := leader.RunOrLead(ctx, cfg.LeaderElection, cc.KubeConfig, "kube-scheduler", run); err != nil {
			s.err = err
			logger.Error(err, "kube-scheduler stopped")
		}
	}()
	if cfg.LeaderElection != nil {
		// A standby is ready once it takes part in the election; its
		// caches fill when it starts to lead.
		return s, nil
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !pods.HasSynced() || !nodes.HasSynced() {
		select {
		case <-s.done:
			return nil, fmt.Errorf("kube-scheduler stopped before it was ready: %v", s.err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	return s, nil
}

// Done is closed when the scheduler has stopped.
func (s *Scheduler) Done() <-chan struct{} { return s.done }

// Err is why it stopped, if it failed.
func (s *Scheduler) Err() error { return s.err }
