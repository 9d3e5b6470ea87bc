package server

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// ClusterState is the UI's picture of the cluster: the answer of GET
// /api/state, and what the state frames of /ws/trace?state=true carry.
type ClusterState struct {
	Mode    string      `json:"mode"`
	Version string      `json:"version"`
	Nodes   []NodeState `json:"nodes"`
	Pods    []PodState  `json:"pods"`
	// Topology is single-node, single-control-plane or ha; ControlPlanes
	// are the HA control-plane machines (cp-1 …).
	Topology      string   `json:"topology"`
	ControlPlanes []string `json:"controlPlanes,omitempty"`
	// Leaders, in HA, are the component ids that lead: "etcd" (the Raft
	// leader), "scheduler" and "controller-manager" (their Lease holders);
	// a role nobody leads is absent.
	Leaders map[string]string `json:"leaders,omitempty"`
	// Components are the cluster's own components and their states, as
	// GET /api/components lists them.
	Components []ComponentState `json:"components,omitempty"`
}

// ComponentState is one component's state (component.State's names:
// pending, starting, running, stopping, stopped, crashed).
type ComponentState struct {
	Name         string `json:"name"`
	State        string `json:"state"`
	Controllable bool   `json:"controllable"`
	Error        string `json:"error,omitempty"`
}

// NodeState is one Node as the diagram draws it.
type NodeState struct {
	Name    string `json:"name"`
	Ready   bool   `json:"ready"`
	Zone    string `json:"zone"`
	PodCIDR string `json:"podCIDR"`
	Runtime string `json:"runtime"`
}

// PodState is one Pod as the diagram draws it.
type PodState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Node      string `json:"node"`
	Phase     string `json:"phase"`
	// Reason is what `kubectl get pods` shows as STATUS when it differs
	// from the phase (ContainerCreating, CrashLoopBackOff, Terminating…).
	Reason string `json:"reason"`
	IP     string `json:"ip"`
}

func (p PodState) key() string { return p.Namespace + "/" + p.Name }

// stateHistory is how many recent changes the feed keeps encoded. A
// stream that has fallen further behind is sent the whole state again.
const stateHistory = 64

// stateSettle is how long the feed waits after a change before it reads
// the state, so that a burst (a Deployment's pods scheduled at once)
// becomes one frame rather than one per object.
const stateSettle = 100 * time.Millisecond

// StateFeed turns the cluster's state into frames for every page's one
// stream: the whole state when a stream starts (or has fallen too far
// behind), then only what changed, numbered so that each stream applies
// every change once and in order. Each change is read and encoded once,
// however many pages follow it: a hundred viewers cost what one does.
type StateFeed struct {
	read func(context.Context) (ClusterState, error)
	head func() uint64

	mu      sync.Mutex
	version uint64 // of the newest change; 0 until the state is first read
	tag     uint64 // the trace's last seq when it was read
	meta    ClusterState
	pods    map[string]PodState
	changes [stateHistory]stateChange
	whole   []byte // the frame of the whole state at version, once asked for
	wakes   map[chan struct{}]struct{}
	done    chan struct{}
}

type stateChange struct {
	version uint64
	frame   []byte
}

// StateFeedConfig is what a StateFeed reads.
type StateFeedConfig struct {
	// Read returns the current state (from informer caches: it is cheap);
	// an error means it is not known yet, and is tried again later.
	Read func(context.Context) (ClusterState, error)
	// Changed is sent to (without blocking) when something in the state
	// may have changed. The state is also read every second, for what no
	// watch reports (the etcd leader).
	Changed <-chan struct{}
	// Head is the trace's newest seq, the frames' tag: a page keeps a
	// frame's pods until its animation has played the events up to the
	// tag, so a pod turns Running when the packets that made it Running
	// arrive, not before.
	Head func() uint64
}

// StartStateFeed reads the state until ctx ends.
func StartStateFeed(ctx context.Context, cfg StateFeedConfig) *StateFeed {
	f := &StateFeed{read: cfg.Read, head: cfg.Head, pods: map[string]PodState{},
		wakes: map[chan struct{}]struct{}{}, done: make(chan struct{})}
	if f.head == nil {
		f.head = func() uint64 { return 0 }
	}
	go f.run(ctx, cfg.Changed)
	return f
}

// Done is closed when the feed has stopped.
func (f *StateFeed) Done() <-chan struct{} { return f.done }

func (f *StateFeed) run(ctx context.Context, changed <-chan struct{}) {
	defer close(f.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	settle := time.NewTimer(0) // the first read at once
	for {
		select {
		case <-ctx.Done():
			settle.Stop()
			return
		case <-changed:
			settle.Reset(stateSettle)
			continue
		case <-tick.C:
		case <-settle.C:
		}
		f.refresh(ctx)
	}
}

// refresh reads the state and, if it differs from the last one, records
// the difference as the next change and wakes the streams.
func (f *StateFeed) refresh(ctx context.Context) {
	tag := f.head() // before the read: the state shows at least these events
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := f.read(readCtx)
	cancel()
	if err != nil {
		return
	}
	pods := make(map[string]PodState, len(st.Pods))
	for _, p := range st.Pods {
		pods[p.key()] = p
	}
	meta := st
	meta.Pods = nil

	f.mu.Lock()
	defer f.mu.Unlock()
	set, gone := []PodState{}, []string{}
	for _, p := range st.Pods {
		if old, ok := f.pods[p.key()]; !ok || old != p {
			set = append(set, p)
		}
	}
	for k := range f.pods {
		if _, ok := pods[k]; !ok {
			gone = append(gone, k)
		}
	}
	if f.version > 0 && len(set) == 0 && len(gone) == 0 && reflect.DeepEqual(meta, f.meta) {
		return
	}
	frame, err := json.Marshal(stateFrame{Type: "state", Version: f.version + 1, Tag: tag, State: &meta, Set: set, Gone: gone})
	if err != nil {
		return
	}
	f.version++
	f.tag, f.meta, f.pods, f.whole = tag, meta, pods, nil
	f.changes[f.version%stateHistory] = stateChange{version: f.version, frame: frame}
	for w := range f.wakes {
		select {
		case w <- struct{}{}:
		default: // already woken
		}
	}
}

// stateFrame is one state frame of the stream (docs/trace-format.md):
// the whole state when Full, else what changed since Version-1.
type stateFrame struct {
	Type    string        `json:"type"`
	Full    bool          `json:"full,omitempty"`
	Version uint64        `json:"version"`
	Tag     uint64        `json:"tag"`
	State   *ClusterState `json:"state"`
	Set     []PodState    `json:"set,omitempty"`
	Gone    []string      `json:"gone,omitempty"`
}

// watch returns a channel that receives (coalesced) whenever there is a
// newer version, and the function that stops it.
func (f *StateFeed) watch() (<-chan struct{}, func()) {
	w := make(chan struct{}, 1)
	f.mu.Lock()
	f.wakes[w] = struct{}{}
	if f.version > 0 {
		w <- struct{}{} // the first frame is due at once
	}
	f.mu.Unlock()
	return w, func() {
		f.mu.Lock()
		delete(f.wakes, w)
		f.mu.Unlock()
	}
}

// framesAfter returns the frames that bring a stream at version have to
// the newest: the changes since, or the whole state when have is 0 or
// too old. It returns the version they bring it to.
func (f *StateFeed) framesAfter(have uint64) ([][]byte, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.version == 0 || have >= f.version {
		return nil, have
	}
	if have > 0 && f.version-have <= stateHistory {
		frames := make([][]byte, 0, f.version-have)
		for v := have + 1; v <= f.version; v++ {
			frames = append(frames, f.changes[v%stateHistory].frame)
		}
		return frames, f.version
	}
	if f.whole == nil {
		st := f.meta
		st.Pods = make([]PodState, 0, len(f.pods))
		for _, p := range f.pods {
			st.Pods = append(st.Pods, p)
		}
		sortPods(st.Pods)
		b, err := json.Marshal(stateFrame{Type: "state", Full: true, Version: f.version, Tag: f.tag, State: &st})
		if err != nil {
			return nil, have
		}
		f.whole = b
	}
	return [][]byte{f.whole}, f.version
}

func sortPods(pods []PodState) {
	slices.SortFunc(pods, func(a, b PodState) int { return strings.Compare(a.key(), b.key()) })
}
