// Package component is the one model every embedded component runs under,
// in the spirit of etcd's embed (a start that returns a handle) and k3s's
// executor (each component starts once what it needs is ready).
//
// A Spec says how to start a component and which components it needs. The
// Registry starts them all in dependency order, each as soon as the ones
// it needs are ready, stops them in the reverse order, and stops and
// starts one of them on its own (the API, the UI and `wheelhouse
// component` all go through it). It reports each change of state (started,
// ready, stopped, crashed) to its hooks, under the component's trace id.
//
// The package knows nothing of Kubernetes.
package component

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Label is the pprof label that names the component a goroutine belongs
// to: Start runs under it, and the goroutines a component starts inherit
// it, so a goroutine that ends the process (klog.Fatal) can be traced to
// its component (see package logs).
const Label = "wheelhouse.component"

// Handle is a started component. Done is closed once it has stopped
// (because its context ended, or because it failed) and released what it
// held; Err says why it stopped if it failed.
type Handle interface {
	Done() <-chan struct{}
	Err() error
}

// Spec is one component.
type Spec struct {
	// ID is its component id in the trace: "scheduler", "kubelet/node-2".
	ID string
	// Needs are the ids of components that must be ready before it starts.
	Needs []string
	// Start starts the component and returns once it is ready. It runs
	// until ctx ends; ctx also bounds the start.
	Start func(ctx context.Context) (Handle, error)
	// Controllable components can be stopped and started on their own.
	Controllable bool
	// RestartAfter, if set, starts the component again that long after it
	// crashed (not after a stop), as a kubelet restarts a static pod whose
	// process exited: an HA scheduler or controller manager exits when it
	// loses its leader Lease, and its kubelet brings it back.
	RestartAfter time.Duration
	// StopAfter are the ids of components that StopAll stops before this
	// one, besides those that need it: an etcd member of several outlives
	// every apiserver, not only its own machine's, or the last apiservers
	// stopping find etcd without a quorum and wait on it.
	StopAfter []string
}

// State is where a component is in its life.
type State string

const (
	Pending  State = "pending" // not started yet
	Starting State = "starting"
	Running  State = "running"
	Stopping State = "stopping"
	Stopped  State = "stopped"
	Crashed  State = "crashed"
)

// Status describes one component.
type Status struct {
	Name         string    `json:"name"`
	State        State     `json:"state"`
	Since        time.Time `json:"since"`
	Controllable bool      `json:"controllable"`
	// Error is why it last failed, if it did.
	Error string `json:"error,omitempty"`
}

// Errors of Stop and Start, to be tested with errors.Is.
var (
	ErrUnknown      = errors.New("no such component")
	ErrWrongState   = errors.New("component is not in a state for that")
	ErrNotStoppable = errors.New("component cannot be stopped on its own")
	ErrClosed       = errors.New("the cluster is stopping")
)

// Hooks hear what happens.
type Hooks struct {
	// Lifecycle hears each component start, become ready, stop or crash
	// (verb "started", "ready", "stopped", "crashed").
	Lifecycle func(id, verb string, err error)
	// Ready hears how long a component took to become ready.
	Ready func(id string, took time.Duration)
	// Context gives a component's context its extras (its logger); nil
	// leaves it as it is.
	Context func(ctx context.Context, id string) context.Context
}

// Registry runs a set of components.
type Registry struct {
	hooks Hooks

	mu      sync.Mutex
	order   []string // in the order they were added
	entries map[string]*entry
	closed  bool
}

type entry struct {
	spec  Spec
	state State
	since time.Time
	err   string
	// ready is closed the first time the component is ready; dependants
	// wait on it.
	ready     chan struct{}
	readyOnce sync.Once
	// The current instance: cancel ends it, done is closed when it has;
	// killed is set before cancel when it is to end as a killed process
	// does (see Killed).
	cancel context.CancelFunc
	done   chan struct{}
	killed *atomic.Bool
	// poweredOff: its machine is down (see PowerOff), so it is not
	// restarted by itself; Start clears it.
	poweredOff bool
}

type killedKey struct{}

// Killed says whether the component whose context this is is being
// stopped as a process is killed (kill -9), not asked to end (SIGTERM):
// nothing it would do on its way out is done (an etcd leader hands over
// no leadership, a leader gives up no Lease).
func Killed(ctx context.Context) bool {
	k, _ := ctx.Value(killedKey{}).(*atomic.Bool)
	return k != nil && k.Load()
}

// New returns an empty registry.
func New(hooks Hooks) *Registry {
	return &Registry{hooks: hooks, entries: map[string]*entry{}}
}

// Add registers spec; ids are unique, and needs must name components
// added before it (so the dependencies have no cycle).
func (r *Registry) Add(spec Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if spec.ID == "" || spec.Start == nil {
		return errors.New("component: a spec needs an id and a start")
	}
	if _, ok := r.entries[spec.ID]; ok {
		return fmt.Errorf("component %s is registered twice", spec.ID)
	}
	for _, n := range spec.Needs {
		if _, ok := r.entries[n]; !ok {
			return fmt.Errorf("component %s needs %s, which is not registered before it", spec.ID, n)
		}
	}
	r.order = append(r.order, spec.ID)
	r.entries[spec.ID] = &entry{spec: spec, state: Pending, since: time.Now(), ready: make(chan struct{})}
	return nil
}

// StartAll starts every pending component, each once the components it
// needs are ready, as many at once as that allows, and returns when all
// are ready or one failed (then it stops those it started). ctx bounds
// the start only.
func (r *Registry) StartAll(ctx context.Context) error {
	r.mu.Lock()
	var pending []*entry
	for _, id := range r.order {
		if e := r.entries[id]; e.state == Pending {
			pending = append(pending, e)
		}
	}
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(pending))
	for _, e := range pending {
		go func() {
			for _, n := range e.spec.Needs {
				r.mu.Lock()
				dep := r.entries[n]
				r.mu.Unlock()
				select {
				case <-dep.ready:
				case <-ctx.Done():
					errs <- nil // another start failed; that one reports
					return
				}
			}
			err := r.start(ctx, e)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range pending {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	return ctx.Err()
}

// start runs one instance of e. The instance's own context is not ctx (it
// runs on after the start), but giving up on ctx cancels the start.
func (r *Registry) start(ctx context.Context, e *entry) error {
	id := e.spec.ID
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	killed := &atomic.Bool{}
	runCtx, cancel := context.WithCancel(context.WithValue(context.Background(), killedKey{}, killed))
	done := make(chan struct{})
	e.state, e.since, e.err, e.cancel, e.done, e.killed = Starting, time.Now(), "", cancel, done, killed
	r.mu.Unlock()
	if r.hooks.Context != nil {
		runCtx = r.hooks.Context(runCtx, id)
	}
	r.lifecycle(id, "started", nil)
	giveUp := context.AfterFunc(ctx, cancel)
	t := time.Now()
	var running Handle
	var err error
	pprof.Do(runCtx, pprof.Labels(Label, id), func(ctx context.Context) {
		running, err = e.spec.Start(ctx)
	})
	stoppedEarly := !giveUp()
	if err == nil && stoppedEarly {
		err = ctx.Err() // ready, but the caller had gone
	}
	if err != nil {
		cancel()
		if running != nil {
			<-running.Done()
		}
		close(done)
		r.mu.Lock()
		e.state, e.since, e.err = Crashed, time.Now(), err.Error()
		r.mu.Unlock()
		r.lifecycle(id, "crashed", err)
		return fmt.Errorf("starting %s: %w", id, err)
	}
	r.mu.Lock()
	e.state, e.since = Running, time.Now()
	r.mu.Unlock()
	e.readyOnce.Do(func() { close(e.ready) })
	r.lifecycle(id, "ready", nil)
	if r.hooks.Ready != nil {
		r.hooks.Ready(id, time.Since(t))
	}
	go r.watch(e, running, done)
	return nil
}

// watch waits for an instance to end: asked to (a stop) or not (a crash).
func (r *Registry) watch(e *entry, running Handle, done chan struct{}) {
	<-running.Done()
	close(done)
	r.mu.Lock()
	crashed := e.state == Running && !r.closed
	if crashed {
		e.state, e.since = Crashed, time.Now()
		if err := running.Err(); err != nil {
			e.err = err.Error()
		} else {
			e.err = "it stopped by itself"
		}
	}
	r.mu.Unlock()
	if crashed {
		err := running.Err()
		if err == nil {
			err = errors.New("it stopped by itself")
		}
		r.lifecycle(e.spec.ID, "crashed", err)
		r.scheduleRestart(e)
	}
}

// scheduleRestart starts a crashed component with RestartAfter again once
// that time has passed.
func (r *Registry) scheduleRestart(e *entry) {
	d := e.spec.RestartAfter
	if d <= 0 {
		return
	}
	r.mu.Lock()
	at := e.since
	r.mu.Unlock()
	time.AfterFunc(d, func() { r.restart(e, at) })
}

// restart starts a crashed component again, unless it has been started
// or stopped since it crashed at, or the registry is closing.
func (r *Registry) restart(e *entry, at time.Time) {
	r.mu.Lock()
	old := e.done
	r.mu.Unlock()
	if old != nil {
		<-old // what is left of the crashed instance has stopped
	}
	r.mu.Lock()
	ok := !r.closed && e.state == Crashed && e.since.Equal(at) && !e.poweredOff
	r.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = r.start(ctx, e) // a failed start is reported crashed by start
}

func (r *Registry) lifecycle(id, verb string, err error) {
	if r.hooks.Lifecycle != nil {
		r.hooks.Lifecycle(id, verb, err)
	}
}

func (r *Registry) entry(id string) (*entry, error) {
	e, ok := r.entries[id]
	if !ok {
		return nil, fmt.Errorf("%w %q (these can be stopped and started: %s)", ErrUnknown, id, strings.Join(r.controllableLocked(), ", "))
	}
	return e, nil
}

func (r *Registry) controllableLocked() []string {
	var out []string
	for _, id := range r.order {
		if r.entries[id].spec.Controllable {
			out = append(out, id)
		}
	}
	return out
}

// Crash records that id failed on its own (err says how) and stops what
// is left of it, so it can be started again. Crashing a component that is
// not running does nothing.
func (r *Registry) Crash(id string, err error) { r.crash(id, err, true) }

func (r *Registry) crash(id string, err error, restart bool) {
	r.mu.Lock()
	e, ok := r.entries[id]
	if !ok || e.state != Running || r.closed {
		r.mu.Unlock()
		return
	}
	e.state, e.since, e.err = Crashed, time.Now(), err.Error()
	cancel := e.cancel
	r.mu.Unlock()
	r.lifecycle(id, "crashed", err)
	cancel()
	if restart {
		r.scheduleRestart(e)
	}
}

// Kill ends a controllable running component as a killed process ends
// (see Killed), reports it crashed, and returns once it has given back
// what it held. A component with RestartAfter is started again later if
// restart (its kubelet would restart it; not when its machine is gone).
func (r *Registry) Kill(ctx context.Context, id string, restart bool) error {
	r.mu.Lock()
	e, err := r.runningControllableLocked(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	e.killed.Store(true)
	done := e.done
	r.mu.Unlock()
	r.crash(id, errors.New("killed (as with kill -9)"), restart)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to end: %w", id, ctx.Err())
	}
}

// runningControllableLocked is the entry of id if it may be stopped or
// killed now; the caller holds r.mu.
func (r *Registry) runningControllableLocked(id string) (*entry, error) {
	e, err := r.controllableEntryLocked(id)
	if err == nil && e.state != Running {
		err = fmt.Errorf("%w: %s is %s", ErrWrongState, id, e.state)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// controllableEntryLocked is the entry of id if it may be stopped and
// started on its own, whatever its state; the caller holds r.mu.
func (r *Registry) controllableEntryLocked(id string) (*entry, error) {
	if r.closed {
		return nil, ErrClosed
	}
	e, err := r.entry(id)
	if err == nil && !e.spec.Controllable {
		err = fmt.Errorf("%w: %s", ErrNotStoppable, id)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Stop stops a controllable component as its process ends when asked to
// (see Kill for a killed one), and returns once it has given back what it
// held.
func (r *Registry) Stop(ctx context.Context, id string) error {
	r.mu.Lock()
	e, err := r.runningControllableLocked(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	e.state, e.since = Stopping, time.Now()
	cancel, done := e.cancel, e.done
	r.mu.Unlock()
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		// It lands in Stopped when it ends (see finishStop).
		go func() { <-done; r.finishStop(e) }()
		return fmt.Errorf("waiting for %s to stop: %w", id, ctx.Err())
	}
	r.finishStop(e)
	return nil
}

func (r *Registry) finishStop(e *entry) {
	r.mu.Lock()
	if e.state == Stopping {
		e.state, e.since = Stopped, time.Now()
	}
	r.mu.Unlock()
	r.lifecycle(e.spec.ID, "stopped", nil)
}

// Start starts a stopped (or crashed) controllable component again and
// returns once it is ready.
func (r *Registry) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	e, err := r.controllableEntryLocked(id)
	if err == nil && e.state != Stopped && e.state != Crashed {
		err = fmt.Errorf("%w: %s is %s", ErrWrongState, id, e.state)
	}
	if err != nil {
		r.mu.Unlock()
		return err
	}
	e.poweredOff = false
	r.mu.Unlock()
	return r.start(ctx, e)
}

// PowerOff ends a controllable component as its machine losing power
// does, whatever it was doing: a running one is killed (see Kill), one
// that is starting is killed before it is ready, and one that crashed and
// waits for its restart (RestartAfter) is not restarted. Until it is
// started again (Start), it does not restart by itself. A component
// already stopped, or already powered off, is in no state for that.
func (r *Registry) PowerOff(ctx context.Context, id string) error {
	r.mu.Lock()
	e, err := r.controllableEntryLocked(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	was := e.poweredOff
	e.poweredOff = true
	state, killed, cancel, done := e.state, e.killed, e.cancel, e.done
	r.mu.Unlock()
	switch {
	case state == Running:
		if err := r.Kill(ctx, id, false); !errors.Is(err, ErrWrongState) {
			return err
		}
		// It crashed or stopped meanwhile; powered off it stays down.
		return nil
	case state == Starting:
		// Its start fails (it is reported crashed) or, if it was ready
		// already, it ends at once; either way it is not restarted.
		killed.Store(true)
		cancel()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to end: %w", id, ctx.Err())
		}
	case state == Crashed && !was:
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrWrongState, id, state)
}

// StopAll stops every component, those that need others first, waiting
// up to bound for each, and refuses every later Stop and Start.
func (r *Registry) StopAll(bound time.Duration) {
	r.mu.Lock()
	r.closed = true
	order := slices.Clone(r.order)
	r.mu.Unlock()
	for len(order) > 0 {
		// A wave is every remaining component that no other remaining
		// component needs; it stops at once, then the next.
		var wave []*entry
		var rest []string
		r.mu.Lock()
		for _, id := range order {
			needed := false
			for _, other := range order {
				if slices.Contains(r.entries[other].spec.Needs, id) || slices.Contains(r.entries[id].spec.StopAfter, other) {
					needed = true
					break
				}
			}
			if needed {
				rest = append(rest, id)
			} else {
				wave = append(wave, r.entries[id])
			}
		}
		r.mu.Unlock()
		if len(wave) == 0 {
			// StopAfter against Needs made a cycle: stop the rest at once
			// rather than never.
			for _, id := range rest {
				wave = append(wave, r.entries[id])
			}
			rest = nil
		}
		order = rest
		var wg sync.WaitGroup
		for _, e := range wave {
			wg.Go(func() { r.stopForGood(e, bound) })
		}
		wg.Wait()
	}
}

func (r *Registry) stopForGood(e *entry, bound time.Duration) {
	r.mu.Lock()
	cancel, done, state := e.cancel, e.done, e.state
	if state == Running || state == Starting {
		e.state, e.since = Stopping, time.Now()
	}
	r.mu.Unlock()
	if cancel == nil || done == nil {
		return // never started
	}
	cancel()
	select {
	case <-done:
	case <-time.After(bound):
	}
	r.mu.Lock()
	wasUp := state == Running || state == Starting
	if e.state == Stopping {
		e.state, e.since = Stopped, time.Now()
	}
	r.mu.Unlock()
	if wasUp {
		r.lifecycle(e.spec.ID, "stopped", nil)
	}
}

// List describes every component, in the order they were added (which is
// an order their dependencies allow).
func (r *Registry) List() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.order))
	for _, id := range r.order {
		e := r.entries[id]
		out = append(out, Status{Name: id, State: e.state, Since: e.since, Controllable: e.spec.Controllable, Error: e.err})
	}
	return out
}

// Done is closed when the current instance of id ends; nil if it never ran.
func (r *Registry) Done(id string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[id]; ok && e.done != nil {
		return e.done
	}
	return nil
}
