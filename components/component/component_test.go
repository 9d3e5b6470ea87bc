package component

import (
	"context"
	"errors"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fake is a component that records what happens to it.
type fake struct {
	log     *eventLog
	id      string
	startIn time.Duration
	fail    error
	// crash, when closed, makes the running instance fail on its own.
	crash chan struct{}
}

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func (l *eventLog) index(s string) int { return slices.Index(l.list(), s) }

type handle struct {
	done chan struct{}
	err  error
}

func (h *handle) Done() <-chan struct{} { return h.done }
func (h *handle) Err() error            { return h.err }

func (f *fake) start(ctx context.Context) (Handle, error) {
	f.log.add("start " + f.id)
	select {
	case <-time.After(f.startIn):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.fail != nil {
		return nil, f.fail
	}
	h := &handle{done: make(chan struct{})}
	crash := f.crash
	go func() {
		defer close(h.done)
		select {
		case <-ctx.Done():
			f.log.add("stop " + f.id)
		case <-crash:
			h.err = errors.New("boom")
		}
	}()
	f.log.add("ready " + f.id)
	return h, nil
}

func registry(t *testing.T, log *eventLog, specs ...Spec) *Registry {
	t.Helper()
	r := New(Hooks{Lifecycle: func(id, verb string, err error) { log.add("hook " + verb + " " + id) }})
	for _, s := range specs {
		if err := r.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func spec(log *eventLog, id string, controllable bool, needs ...string) (Spec, *fake) {
	f := &fake{log: log, id: id, crash: make(chan struct{})}
	return Spec{ID: id, Needs: needs, Start: f.start, Controllable: controllable}, f
}

func TestStartAllFollowsNeedsAndStopAllReversesThem(t *testing.T) {
	log := &eventLog{}
	etcd, _ := spec(log, "etcd", false)
	api, fapi := spec(log, "apiserver", false, "etcd")
	fapi.startIn = 30 * time.Millisecond
	sched, _ := spec(log, "scheduler", true, "apiserver")
	rt, _ := spec(log, "runtime/n1", false)
	kl, _ := spec(log, "kubelet/n1", true, "apiserver", "runtime/n1")
	r := registry(t, log, etcd, api, sched, rt, kl)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := func(a, b string) {
		t.Helper()
		if ia, ib := log.index(a), log.index(b); ia < 0 || ib < 0 || ia > ib {
			t.Errorf("%q should come before %q: %v", a, b, log.list())
		}
	}
	before("ready etcd", "start apiserver")
	before("ready apiserver", "start scheduler")
	before("ready apiserver", "start kubelet/n1")
	before("ready runtime/n1", "start kubelet/n1")
	// The runtime needs nothing: it starts without waiting for etcd.
	before("start runtime/n1", "ready apiserver")
	for _, s := range r.List() {
		if s.State != Running {
			t.Errorf("%s is %s after StartAll", s.Name, s.State)
		}
	}
	r.StopAll(time.Second)
	before("stop kubelet/n1", "stop runtime/n1")
	before("stop kubelet/n1", "stop apiserver")
	before("stop scheduler", "stop apiserver")
	before("stop apiserver", "stop etcd")
	for _, s := range r.List() {
		if s.State != Stopped {
			t.Errorf("%s is %s after StopAll", s.Name, s.State)
		}
	}
	if err := r.Start(context.Background(), "scheduler"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after StopAll: %v", err)
	}
}

// StopAfter holds a component back in StopAll until others have stopped:
// every etcd member outlives every apiserver, not only its own machine's
// (which LB's needs would otherwise stop last).
func TestStopAfter(t *testing.T) {
	log := &eventLog{}
	e1, _ := spec(log, "etcd/cp-1", true)
	e2, _ := spec(log, "etcd/cp-2", true)
	e1.StopAfter = []string{"apiserver/cp-1", "apiserver/cp-2"}
	e2.StopAfter = e1.StopAfter
	a1, _ := spec(log, "apiserver/cp-1", true, "etcd/cp-1")
	a2, _ := spec(log, "apiserver/cp-2", true, "etcd/cp-2")
	lb, _ := spec(log, "load-balancer", true, "apiserver/cp-1")
	kl, _ := spec(log, "kubelet/n1", true, "load-balancer")
	r := registry(t, log, e1, e2, a1, a2, lb, kl)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.StopAll(time.Second)
	for _, member := range []string{"etcd/cp-1", "etcd/cp-2"} {
		for _, api := range []string{"apiserver/cp-1", "apiserver/cp-2"} {
			if ia, ie := log.index("stop "+api), log.index("stop "+member); ia < 0 || ie < 0 || ia > ie {
				t.Errorf("%s should stop before %s: %v", api, member, log.list())
			}
		}
	}
	// A cycle of StopAfter against Needs still stops everything.
	log2 := &eventLog{}
	x, _ := spec(log2, "x", true)
	y, _ := spec(log2, "y", true, "x")
	y.StopAfter = []string{"x"}
	r2 := registry(t, log2, x, y)
	if err := r2.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2.StopAll(time.Second)
	for _, s := range r2.List() {
		if s.State != Stopped {
			t.Errorf("with a cycle, %s is %s after StopAll", s.Name, s.State)
		}
	}
}

func TestAFailedStartStopsTheRest(t *testing.T) {
	log := &eventLog{}
	a, _ := spec(log, "a", false)
	b, fb := spec(log, "b", false, "a")
	fb.fail = errors.New("no port")
	c, _ := spec(log, "c", false, "b")
	r := registry(t, log, a, b, c)
	err := r.StartAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "starting b: no port") {
		t.Fatalf("StartAll: %v", err)
	}
	if log.index("start c") >= 0 {
		t.Errorf("c started although b failed: %v", log.list())
	}
	st := r.List()
	if st[1].State != Crashed || st[1].Error != "no port" {
		t.Errorf("b: %+v", st[1])
	}
	r.StopAll(time.Second)
	if log.index("stop a") < 0 {
		t.Errorf("a was not stopped: %v", log.list())
	}
}

func TestStopAndStartOneComponent(t *testing.T) {
	log := &eventLog{}
	api, _ := spec(log, "apiserver", false)
	sched, _ := spec(log, "scheduler", true, "apiserver")
	r := registry(t, log, api, sched)
	ctx := context.Background()
	if err := r.StartAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		do   func() error
		want error
	}{
		{func() error { return r.Stop(ctx, "apiserver") }, ErrNotStoppable},
		{func() error { return r.Stop(ctx, "etcd") }, ErrUnknown},
		{func() error { return r.Start(ctx, "scheduler") }, ErrWrongState},
	} {
		if err := tc.do(); !errors.Is(err, tc.want) {
			t.Errorf("got %v, want %v", err, tc.want)
		}
	}
	for i := 0; i < 3; i++ {
		if err := r.Stop(ctx, "scheduler"); err != nil {
			t.Fatal(err)
		}
		if err := r.Stop(ctx, "scheduler"); !errors.Is(err, ErrWrongState) || !strings.Contains(err.Error(), "is stopped") {
			t.Errorf("stopping twice: %v", err)
		}
		if err := r.Start(ctx, "scheduler"); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(strings.Join(log.list(), "\n"), "hook ready scheduler"); got != 4 {
		t.Errorf("scheduler ready %d times, want 4: %v", got, log.list())
	}
	if err := r.Stop(ctx, "etcd"); err == nil || !strings.Contains(err.Error(), "scheduler") {
		t.Errorf("the unknown-component error should list what can be stopped: %v", err)
	}
	r.StopAll(time.Second)
}

func TestACrashIsReportedAndCanBeStartedAgain(t *testing.T) {
	log := &eventLog{}
	sched, f := spec(log, "scheduler", true)
	r := registry(t, log, sched)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(f.crash)
	deadline := time.Now().Add(5 * time.Second)
	for r.List()[0].State != Crashed && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := r.List()[0]; st.State != Crashed || st.Error != "boom" {
		t.Fatalf("after a crash: %+v", st)
	}
	if log.index("hook crashed scheduler") < 0 {
		t.Errorf("the crash was not reported: %v", log.list())
	}
	f.crash = make(chan struct{})
	if err := r.Start(context.Background(), "scheduler"); err != nil {
		t.Fatal(err)
	}
	if st := r.List()[0]; st.State != Running || st.Error != "" {
		t.Errorf("started again: %+v", st)
	}
	r.StopAll(time.Second)
}

func TestAStartTheCallerGivesUpOnIsCancelled(t *testing.T) {
	log := &eventLog{}
	slow, f := spec(log, "scheduler", true)
	r := registry(t, log, slow)
	f.startIn = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.StartAll(ctx)
	if err == nil {
		t.Fatal("a start that cannot finish returned no error")
	}
	if st := r.List()[0]; st.State != Crashed {
		t.Errorf("after giving up: %+v", st)
	}
}

func TestAddRefusesUnknownNeedsAndDuplicates(t *testing.T) {
	log := &eventLog{}
	r := registry(t, log)
	a, _ := spec(log, "a", false, "b")
	if err := r.Add(a); err == nil {
		t.Error("a spec needing an unregistered component was added")
	}
	b, _ := spec(log, "b", false)
	if err := r.Add(b); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(b); err == nil {
		t.Error("a duplicate id was added")
	}
	if err := r.Add(Spec{ID: "x"}); err == nil {
		t.Error("a spec without a start was added")
	}
}

// A component's goroutines carry its label, so a fatal exit in one of them
// can be traced to it; Crash marks it crashed and stops the rest of it.
func TestCrashByLabel(t *testing.T) {
	log := &eventLog{}
	var label string
	s := Spec{ID: "kubelet/n1", Controllable: true, Start: func(ctx context.Context) (Handle, error) {
		got := make(chan string)
		go func() { v, _ := pprof.Label(ctx, Label); got <- v }()
		label = <-got
		h := &handle{done: make(chan struct{})}
		go func() { <-ctx.Done(); close(h.done) }()
		return h, nil
	}}
	r := registry(t, log, s)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if label != "kubelet/n1" {
		t.Errorf("the component's goroutine has label %q", label)
	}
	r.Crash("kubelet/n1", errors.New("klog.Fatal in csi"))
	<-r.Done("kubelet/n1")
	if st := r.List()[0]; st.State != Crashed || st.Error != "klog.Fatal in csi" {
		t.Errorf("after Crash: %+v", st)
	}
	if err := r.Start(context.Background(), "kubelet/n1"); err != nil {
		t.Errorf("starting a crashed component again: %v", err)
	}
	r.StopAll(time.Second)
}

// With RestartAfter a crashed component is started again by itself, as a
// kubelet restarts a static pod; a stopped one is not.
func TestRestartAfterACrash(t *testing.T) {
	log := &eventLog{}
	sched, f := spec(log, "scheduler/cp-1", true)
	sched.RestartAfter = 20 * time.Millisecond
	r := registry(t, log, sched)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := f.crash
	f.crash = make(chan struct{}) // the next instance's
	close(first)
	deadline := time.Now().Add(5 * time.Second)
	for log.index("hook crashed scheduler/cp-1") < 0 || r.List()[0].State != Running {
		if time.Now().After(deadline) {
			t.Fatalf("not started again after its crash: %v, %+v", log.list(), r.List()[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.Stop(context.Background(), "scheduler/cp-1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if st := r.List()[0]; st.State != Stopped {
		t.Errorf("a stopped component was started again: %+v", st)
	}
	r.StopAll(time.Second)
}

// Kill ends a component as kill -9 would: its context says so while it
// ends, it is reported crashed, and it is restarted only if asked.
func TestKill(t *testing.T) {
	log := &eventLog{}
	var sawKilled atomic.Bool
	s := Spec{ID: "etcd/cp-1", Controllable: true, RestartAfter: 20 * time.Millisecond, Start: func(ctx context.Context) (Handle, error) {
		h := &handle{done: make(chan struct{})}
		go func() {
			<-ctx.Done()
			sawKilled.Store(Killed(ctx))
			close(h.done)
		}()
		return h, nil
	}}
	r := registry(t, log, s)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Kill(context.Background(), "etcd/cp-1", false); err != nil {
		t.Fatal(err)
	}
	if !sawKilled.Load() {
		t.Error("the component's context did not say it was killed")
	}
	time.Sleep(100 * time.Millisecond)
	if st := r.List()[0]; st.State != Crashed || !strings.Contains(st.Error, "killed") {
		t.Errorf("after Kill without restart: %+v", st)
	}
	if err := r.Kill(context.Background(), "etcd/cp-1", false); !errors.Is(err, ErrWrongState) {
		t.Errorf("killing a crashed component: %v, want ErrWrongState", err)
	}
	if err := r.Start(context.Background(), "etcd/cp-1"); err != nil {
		t.Fatal(err)
	}
	if sawKilled.Store(false); r.Stop(context.Background(), "etcd/cp-1") != nil || sawKilled.Load() {
		t.Error("a stopped component's context said it was killed")
	}
	r.StopAll(time.Second)
}

// PowerOff (its machine lost power) keeps a component down whatever it
// was doing: one that crashed and waits for its restart is not restarted,
// one that is starting does not come up; Start brings it back.
func TestPowerOff(t *testing.T) {
	log := &eventLog{}
	sched, f := spec(log, "scheduler/cp-3", true)
	sched.RestartAfter = 50 * time.Millisecond
	r := registry(t, log, sched)
	defer r.StopAll(time.Second)
	if err := r.StartAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	state := func() State { return r.List()[0].State }

	// Crashed by itself (it lost its Lease), its restart pending.
	first := f.crash
	f.crash = make(chan struct{})
	close(first)
	for deadline := time.Now().Add(5 * time.Second); state() != Crashed; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no crash: %v", log.list())
		}
	}
	if err := r.PowerOff(context.Background(), "scheduler/cp-3"); err != nil {
		t.Fatalf("powering off a crashed component: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // well past RestartAfter
	if st := state(); st != Crashed {
		t.Fatalf("powered off, it came back by itself: %s", st)
	}
	if err := r.PowerOff(context.Background(), "scheduler/cp-3"); !errors.Is(err, ErrWrongState) {
		t.Errorf("powering off twice: %v, want ErrWrongState", err)
	}

	// Starting (slowly) when the power goes: it never becomes ready.
	f.startIn = time.Hour
	started := make(chan error, 1)
	go func() { started <- r.Start(context.Background(), "scheduler/cp-3") }()
	for deadline := time.Now().Add(5 * time.Second); state() != Starting; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not starting")
		}
	}
	if err := r.PowerOff(context.Background(), "scheduler/cp-3"); err != nil {
		t.Fatalf("powering off a starting component: %v", err)
	}
	if err := <-started; err == nil {
		t.Error("the start of a component powered off while starting succeeded")
	}
	time.Sleep(200 * time.Millisecond)
	if st := state(); st != Crashed {
		t.Fatalf("powered off while starting: %s", st)
	}

	// Running: killed, and not restarted.
	f.startIn = 0
	if err := r.Start(context.Background(), "scheduler/cp-3"); err != nil {
		t.Fatal(err)
	}
	if err := r.PowerOff(context.Background(), "scheduler/cp-3"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if st := r.List()[0]; st.State != Crashed || !strings.Contains(st.Error, "killed") {
		t.Errorf("powered off while running: %+v", st)
	}
	if err := r.Start(context.Background(), "scheduler/cp-3"); err != nil || state() != Running {
		t.Errorf("started again after the power came back: %v, %s", err, state())
	}
}
