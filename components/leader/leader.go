// Package leader runs a control-plane component under leader election, as
// kube-scheduler and kube-controller-manager run with --leader-elect on an
// HA control plane: one instance holds a Lease in kube-system and works,
// the others wait to take it over.
//
// Both commands do their own leader election inside app.Run, and when it
// ends (even because they were asked to stop) they call os.Exit or klog's
// fatal exit, which would end every component in this process. So the
// components run with --leader-elect=false and this package elects
// around them, with client-go's own leaderelection and the same Lease
// names, identities (<host>_<uuid>) and timing a real one uses.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/component"
)

// Config is one instance's part in an election.
type Config struct {
	// Machine names the instance's machine: the holder identity is
	// "<machine>_<uuid>", as a real component's is "<hostname>_<uuid>".
	Machine string
	// LeaseDuration, RenewDeadline and RetryPeriod are the components'
	// --leader-elect-lease-duration, -renew-deadline and -retry-period.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// ErrLost is why an instance that led stops working: it could not renew
// its Lease in time (a real one exits then, and its kubelet restarts it).
var ErrLost = errors.New("leader election lost")

// Run takes part in the election for the Lease kube-system/<lease> with
// the client configuration given (the component's own identity, so its
// Lease requests are its own in the trace) and calls lead while this
// instance leads. It returns nil when ctx ends, and ErrLost if the
// instance led and lost the Lease while ctx was still on. Leaving on
// ctx, a leader gives its Lease up at once (ReleaseOnCancel), as
// kube-scheduler does on SIGTERM.
func Run(ctx context.Context, cfg Config, restCfg *rest.Config, lease string, lead func(context.Context)) error {
	id := cfg.Machine + "_" + string(uuid.NewUUID())
	client, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(restCfg), "leader-election"))
	if err != nil {
		return fmt.Errorf("creating the leader-election client: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metavHelper(lease),
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	logger := klog.FromContext(ctx)
	// client-go calls OnStartedLeading in a goroutine of its own and does
	// not wait for it; Run does, so a stopped instance has really stopped.
	var (
		mu       sync.Mutex
		leading  bool // lead was called
		finished bool // Run is returning: too late to lead
	)
	leadDone := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: cfg.LeaseDuration,
		RenewDeadline: cfg.RenewDeadline,
		RetryPeriod:   cfg.RetryPeriod,
		// Released by hand below, unless killed: a killed process
		// leaves its Lease to expire.
		ReleaseOnCancel: false,
		Name:            lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				mu.Lock()
				if finished {
					mu.Unlock()
					return
				}
				leading = true
				mu.Unlock()
				defer close(leadDone)
				logger.Info("Leading", "lease", lease, "identity", id)
				lead(ctx)
			},
			OnStoppedLeading: func() {
				if le := isLeading(&mu, &leading); le {
					logger.Info("No longer leading", "lease", lease, "identity", id)
				}
			},
			OnNewLeader: func(holder string) {
				if holder != id {
					logger.Info("Another instance leads", "lease", lease, "leader", holder)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("setting up leader election for %s: %w", lease, err)
	}
	le.Run(ctx)
	mu.Lock()
	finished = true
	led := leading
	mu.Unlock()
	if !led {
		return nil
	}
	<-leadDone
	if ctx.Err() != nil && !component.Killed(ctx) {
		release(lock, cfg.RenewDeadline, logger)
	}
	if ctx.Err() == nil {
		return ErrLost
	}
	return nil
}

func metavHelper(lease string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: lease}
}

func isLeading(mu *sync.Mutex, leading *bool) bool {
	mu.Lock()
	defer mu.Unlock()
	return *leading
}

// release gives the Lease up, as client-go's ReleaseOnCancel does (an
// empty holder, a one-second duration), so a standby takes over at its
// next retry instead of after the Lease expires. It is what a leader asked
// to stop does; one that was killed does not get to.
func release(lock *resourcelock.LeaseLock, within time.Duration, logger klog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	old, _, err := lock.Get(ctx)
	if err != nil || old.HolderIdentity != lock.Identity() {
		return
	}
	now := metav1.NewTime(time.Now())
	err = lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: old.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
	if err != nil {
		logger.Info("Could not give the Lease up; it expires instead", "err", err)
	}
}

// RunOrLead runs run until ctx ends: at once when cfg is nil (the one
// instance of a single control plane), or, when cfg is set, while this
// instance leads the election for lease (see Run). run's own error is
// logged as the component's; a lost Lease is returned as ErrLost.
func RunOrLead(ctx context.Context, cfg *Config, restCfg *rest.Config, lease string, run func(context.Context) error) error {
	if cfg == nil {
		return run(ctx)
	}
	return Run(ctx, *cfg, restCfg, lease, func(ctx context.Context) {
		if err := run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Stopped while leading", "lease", lease)
		}
	})
}
