// Package scheduler runs the real kube-scheduler in-process. There is one
// control plane, so leader election is off, and it serves no port of its
// own: learners watch it through the requests it makes to the apiserver.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/configz"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// Config says how the scheduler reaches the apiserver.
type Config struct {
	Kubeconfig string
	ExtraFlags []string
}

// Flags renders the configuration as kube-scheduler flags. They go through
// the scheduler's own flag parsing because Setup re-defaults the component
// configuration and then applies only the flags that were changed.
func (c Config) Flags() []string {
	return append([]string{
		"--kubeconfig=" + c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
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
		return nil, fmt.Errorf("parsing kube-scheduler flags: %w", err)
	}
	name, err := cache.NewInformerName("kube-scheduler")
	if err != nil {
		return nil, fmt.Errorf("naming kube-scheduler informers: %w", err)
	}
	opts.InformerName = name
	cc, sched, err := app.Setup(ctx, opts)
	if err != nil {
		name.Release()
		return nil, fmt.Errorf("setting up kube-scheduler: %w", err)
	}
	// Ask for the informers Run will start, so readiness can be observed.
	pods := cc.InformerFactory.Core().V1().Pods().Informer()
	nodes := cc.InformerFactory.Core().V1().Nodes().Informer()

	s := &Scheduler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer name.Release()
		// Run registers its configuration under /configz; a scheduler
		// started again in the same process must find the name free.
		defer configz.Delete("componentconfig")
		if err := app.Run(ctx, cc, sched); err != nil && !errors.Is(err, context.Canceled) {
			s.err = err
			logger.Error(err, "kube-scheduler stopped")
		}
	}()
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
