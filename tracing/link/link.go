// Package link turns the collectors' separate streams into causal chains.
// It is the only writer of the bus: every event passes through it, gets
// classified (noise or not), gets its Cause, and is published in an order
// where a cause always has a smaller Seq than its effects.
//
// The rules follow how Kubernetes works:
//   - a write request causes the etcd write to the same object (the
//     response's resourceVersion is the etcd revision it wrote);
//   - an etcd write at revision R causes every watch event carrying R;
//   - a watch event delivered to a component about an object causes that
//     component's next request (or CRI call) about the same object, and each
//     of its requests about the object causes the next one: the scheduler's
//     binding follows the ADDED event it was sent, the kubelet's
//     RunPodSandbox follows the event that gave it the pod, its
//     StartContainer follows its CreateContainer, and its status PATCH
//     follows the StartContainer;
//   - a client's request for a pod's logs, exec, attach or port-forward
//     causes the apiserver's request to the pod's kubelet, which causes
//     the kubelet's CRI Exec, Attach or PortForward for it.
//
// Collectors see these events on different goroutines and in racy order:
// the etcd watch may report a write before the HTTP request that made it
// has returned, and the apiserver may deliver a watch event before the etcd
// collector has seen the write. The linker holds such an event briefly
// until its cause is published, so seq order is causal order.
package link

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Publisher stores an event and assigns its Seq (the bus).
type Publisher interface {
	Publish(tracing.Event) tracing.Event
}

// Options tune how long the linker waits for a cause that has not arrived.
type Options struct {
	// HoldEtcd bounds how long an etcd write waits for the HTTP request
	// that is writing the same object to complete (default 1s).
	HoldEtcd time.Duration
	// HoldWatch bounds how long a watch event waits for the etcd write it
	// carries to be seen (default 500ms).
	HoldWatch time.Duration
	// Queue is the number of submitted events that may wait for the
	// linker (default 65536). Submit never blocks; beyond this, events are
	// dropped and counted, and a dropped marker is published.
	Queue int
	// Forget drops per-component memory of an object after this long
	// without activity (default 10 minutes).
	Forget time.Duration
}

// WriteBegin announces a write request entering the apiserver, so an etcd
// write that is reported before the request completes can wait for it.
type WriteBegin struct {
	// ID pairs this notice with the request's http event (SubmitHTTP).
	ID        uint64
	Component string
	Resource  string
	Namespace string
	// Name is empty for a create whose name the server will choose
	// (generateName) or that is posted to the collection.
	Name string
}

type item struct {
	ev      tracing.Event
	reqID   uint64 // for http events: the WriteBegin ID, 0 if none
	begin   *WriteBegin
	flushed chan struct{}
}

// Linker links and publishes events.
type Linker struct {
	pub     Publisher
	opts    Options
	in      chan item
	ids     atomic.Uint64
	dropped atomic.Uint64
	done    chan struct{}

	// State below is owned by the Run goroutine.
	flights      map[uint64]*flight
	recentWrites map[string][]completedWrite
	etcdSeq      map[int64]uint64 // revision → seq of its etcd event
	etcdRevs     []int64          // FIFO of etcdSeq keys, for pruning
	lastEtcdRev  int64
	heldEtcd     map[string][]*heldEtcd // by object key, in etcd order
	heldWatch    map[int64][]*heldEvent
	last         map[string]map[string]involvement // component → object → last event
	proxied      map[string]proxiedRequest         // "pods/ns/name/exec" → the client's request
	streams      map[string]involvement            // "kubelet/node-1|pods/ns/name|Exec" → the apiserver's request
	origins      map[string]involvement            // "start|<container id>", "exec|<container id>" → the CRI call
}

// proxiedRequest is a client's request the apiserver will pass on to a
// kubelet: its event, and the apiserver that serves it.
type proxiedRequest struct {
	involvement
	server string
}

// streamCalls pairs what the apiserver asks of a kubelet with the CRI call
// the kubelet makes for it (logs need none: the kubelet reads the file).
func streamCalls() [3]struct{ kubelet, cri string } {
	return [3]struct{ kubelet, cri string }{{"exec", "Exec"}, {"attach", "Attach"}, {"portforward", "PortForward"}}
}

// streamCall is the CRI call for a kubelet verb, or "".
func streamCall(kubeletVerb string) string {
	for _, c := range streamCalls() {
		if c.kubelet == kubeletVerb {
			return c.cri
		}
	}
	return ""
}

// isStreamCall reports whether a CRI method opens a stream a client asked
// for (exec, attach, port-forward).
func isStreamCall(method string) bool {
	for _, c := range streamCalls() {
		if c.cri == method {
			return true
		}
	}
	return false
}

type flight struct {
	begin    WriteBegin
	started  time.Time
	finished bool
}

type completedWrite struct {
	seq     uint64
	rv      string
	at      time.Time
	matched bool
}

type heldEtcd struct {
	ev       tracing.Event
	rev      int64
	deadline time.Time
}

type heldEvent struct {
	ev       tracing.Event
	deadline time.Time
}

type involvement struct {
	seq uint64
	at  time.Time
}

// New creates a linker; call Run to start it.
func New(pub Publisher, opts Options) *Linker {
	if opts.HoldEtcd <= 0 {
		opts.HoldEtcd = time.Second
	}
	if opts.HoldWatch <= 0 {
		opts.HoldWatch = 500 * time.Millisecond
	}
	if opts.Queue <= 0 {
		opts.Queue = 1 << 16
	}
	if opts.Forget <= 0 {
		opts.Forget = 10 * time.Minute
	}
	return &Linker{
		pub:          pub,
		opts:         opts,
		in:           make(chan item, opts.Queue),
		done:         make(chan struct{}),
		flights:      map[uint64]*flight{},
		recentWrites: map[string][]completedWrite{},
		etcdSeq:      map[int64]uint64{},
		heldEtcd:     map[string][]*heldEtcd{},
		heldWatch:    map[int64][]*heldEvent{},
		last:         map[string]map[string]involvement{},
		proxied:      map[string]proxiedRequest{},
		streams:      map[string]involvement{},
		origins:      map[string]involvement{},
	}
}

// NextRequestID returns an ID for WriteBegin / SubmitHTTP.
func (l *Linker) NextRequestID() uint64 { return l.ids.Add(1) }

// Submit hands an event to the linker. It never blocks.
func (l *Linker) Submit(ev tracing.Event) { l.offer(item{ev: ev}) }

// SubmitHTTP hands over a completed request; reqID is its WriteBegin ID
// (0 for requests that announced none).
func (l *Linker) SubmitHTTP(ev tracing.Event, reqID uint64) { l.offer(item{ev: ev, reqID: reqID}) }

// BeginWrite announces a write request. It never blocks.
func (l *Linker) BeginWrite(b WriteBegin) { l.offer(item{begin: &b}) }

func (l *Linker) offer(it item) {
	select {
	case l.in <- it:
	default:
		l.dropped.Add(1)
	}
}

// Flush waits until everything submitted before it has been processed
// (events still held for a cause stay held). For tests and shutdown.
func (l *Linker) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case l.in <- item{flushed: ch}:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return nil
	}
}

// Run processes events until ctx ends, then publishes whatever is held.
func (l *Linker) Run(ctx context.Context) {
	defer close(l.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			l.drain()
			l.expire(time.Now().Add(24 * time.Hour))
			return
		case it := <-l.in:
			l.handle(it)
		case now := <-tick.C:
			l.expire(now)
			l.reportDrops()
		case now := <-prune.C:
			l.prune(now)
		}
	}
}

func (l *Linker) drain() {
	for {
		select {
		case it := <-l.in:
			l.handle(it)
		default:
			return
		}
	}
}

func (l *Linker) handle(it item) {
	switch {
	case it.flushed != nil:
		close(it.flushed)
	case it.begin != nil:
		l.flights[it.begin.ID] = &flight{begin: *it.begin, started: time.Now()}
	default:
		ev := it.ev
		tracing.Classify(&ev)
		switch ev.Kind {
		case tracing.KindHTTP:
			l.onHTTP(ev, it.reqID)
		case tracing.KindEtcd:
			l.onEtcd(ev)
		case tracing.KindWatch:
			l.onWatch(ev)
		case tracing.KindKubeletAPI:
			l.onKubeletAPI(ev)
		default:
			l.onOther(ev)
		}
	}
}

func (l *Linker) reportDrops() {
	if n := l.dropped.Swap(0); n > 0 {
		l.pub.Publish(tracing.Event{
			Kind:    tracing.KindDropped,
			From:    tracing.Wheelhouse,
			Summary: fmt.Sprintf("%d events lost: the tracing layer could not keep up", n),
			Detail:  map[string]any{"count": n},
		})
	}
}

// publish records ev's involvement of its component and returns its seq.
func (l *Linker) publish(ev tracing.Event) uint64 {
	ev = l.pub.Publish(ev)
	// A stream a client asked for (exec, attach, port-forward) is a side
	// branch: the kubelet's next call about the pod does not follow it.
	branch := ev.Kind == tracing.KindCRI && isStreamCall(ev.Verb)
	if !ev.Noise && !branch {
		if who := actor(&ev); who != "" {
			if key := ev.Object(); key != "" {
				m := l.last[who]
				if m == nil {
					m = map[string]involvement{}
					l.last[who] = m
				}
				m[key] = involvement{seq: ev.Seq, at: time.Now()}
			}
		}
	}
	return ev.Seq
}

// actor is the component an event involves as an actor: the client of a
// request, the receiver of a watch event, the kubelet making a CRI call.
func actor(ev *tracing.Event) string {
	switch ev.Kind {
	case tracing.KindHTTP, tracing.KindCRI:
		return ev.From
	case tracing.KindWatch:
		return ev.To
	}
	return ""
}

// lastCause is the previous non-noise event involving this component and
// object, if any.
func (l *Linker) lastCause(ev *tracing.Event) uint64 {
	if ev.Noise {
		return 0
	}
	who, key := actor(ev), ev.Object()
	if who == "" || key == "" {
		return 0
	}
	if inv, ok := l.last[who][key]; ok {
		return inv.seq
	}
	return 0
}

func (l *Linker) onOther(ev tracing.Event) {
	if ev.Cause == 0 && ev.Kind == tracing.KindCRI {
		ev.Cause = l.streamCause(&ev)
	}
	if ev.Cause == 0 && ev.Kind == tracing.KindNet {
		ev.Cause = l.netCause(&ev)
	}
	if ev.Cause == 0 {
		ev.Cause = l.lastCause(&ev)
	}
	seq := l.publish(ev)
	if ev.Kind == tracing.KindCRI {
		l.noteOrigin(&ev, seq)
	}
}

// noteOrigin remembers the CRI calls that start a container's programs:
// the container's creation and start (its own command), and each Exec
// (a kubectl exec's command: the latest one of the container).
func (l *Linker) noteOrigin(ev *tracing.Event, seq uint64) {
	id, _ := ev.Detail["containerId"].(string)
	if id == "" || ev.Status != "OK" {
		return
	}
	switch ev.Verb {
	case "CreateContainer", "StartContainer":
		l.origins["start|"+id] = involvement{seq: seq, at: time.Now()}
	case "Exec", "ExecSync":
		l.origins["exec|"+id] = involvement{seq: seq, at: time.Now()}
	case "RemoveContainer":
		delete(l.origins, "start|"+id)
		delete(l.origins, "exec|"+id)
	}
}

// netCause is what started the program a connection or DNS query comes
// from: the CRI Exec of the kubectl exec it runs in, or the start of its
// container (package podnet says which, by container id).
func (l *Linker) netCause(ev *tracing.Event) uint64 {
	id, _ := ev.Detail["containerId"].(string)
	if id == "" {
		return 0
	}
	key := "start|" + id
	if exec, _ := ev.Detail["exec"].(bool); exec {
		key = "exec|" + id
	}
	return l.origins[key].seq
}

func (l *Linker) onHTTP(ev tracing.Event, reqID uint64) {
	fl := l.flights[reqID]
	delete(l.flights, reqID)
	if ev.Cause == 0 {
		ev.Cause = l.lastCause(&ev)
	}
	seq := l.publish(ev)
	key := ev.Object()
	if ev.Resource == "pods" && tracing.ProxiedToKubelet(ev.Subresource) && key != "" {
		l.proxied[key+"/"+ev.Subresource] = proxiedRequest{involvement{seq: seq, at: time.Now()}, ev.To}
	}
	if ev.IsWrite() && success(ev.Status) && key != "" {
		l.recentWrites[key] = append(l.recentWrites[key], completedWrite{seq: seq, rv: ev.RV, at: time.Now()})
		if n := len(l.recentWrites[key]); n > 8 {
			l.recentWrites[key] = l.recentWrites[key][n-8:]
		}
	}
	if fl != nil {
		fl.finished = true
	}
	// Held etcd writes of this object (or, for a create named by the
	// server, of its collection) may now have their cause.
	if key != "" {
		l.releaseEtcd(key)
	}
}

// onKubeletAPI links a request to a kubelet's API to the client request
// the apiserver is passing on: the latest for the same pod and
// subresource. (The apiserver's request event goes out when the request
// reaches the API, before the apiserver dials the kubelet.)
//
// Each client request is matched once. On an HA control plane the
// request comes from the apiserver that served the client, which the
// kubelet cannot tell from the others (they share one client
// certificate): the client's request says which.
func (l *Linker) onKubeletAPI(ev tracing.Event) {
	key := ev.Object() + "/" + ev.Subresource
	if p, ok := l.proxied[key]; ok && ev.Cause == 0 {
		delete(l.proxied, key)
		ev.Cause = p.seq
		if ev.From == tracing.APIServer && p.server != "" && p.server != ev.From {
			ev.Summary = p.server + strings.TrimPrefix(ev.Summary, ev.From)
			ev.From = p.server
		}
	}
	seq := l.publish(ev)
	if call := streamCall(ev.Verb); call != "" && ev.Object() != "" {
		l.streams[ev.To+"|"+ev.Object()+"|"+call] = involvement{seq: seq, at: time.Now()}
	}
}

// streamCause is the apiserver's request a kubelet's CRI Exec, Attach or
// PortForward serves, used once: the kubelet's other calls about the pod
// (its next restart, a probe) are not caused by it.
func (l *Linker) streamCause(ev *tracing.Event) uint64 {
	key := ev.From + "|" + ev.Object() + "|" + ev.Verb
	if s, ok := l.streams[key]; ok {
		delete(l.streams, key)
		return s.seq
	}
	return 0
}

func success(status string) bool {
	code, err := strconv.Atoi(status)
	return err == nil && code >= 200 && code < 300
}

func revisionOf(ev *tracing.Event) int64 {
	if r, ok := ev.Detail["revision"].(int64); ok {
		return r
	}
	r, _ := strconv.ParseInt(ev.RV, 10, 64)
	return r
}

func (l *Linker) onEtcd(ev tracing.Event) {
	rev := revisionOf(&ev)
	if rev > l.lastEtcdRev {
		l.lastEtcdRev = rev
	}
	key := ev.Object()
	h := &heldEtcd{ev: ev, rev: rev, deadline: time.Now().Add(l.opts.HoldEtcd)}
	if key != "" && len(l.heldEtcd[key]) > 0 {
		// Keep one object's writes in etcd order.
		l.heldEtcd[key] = append(l.heldEtcd[key], h)
		return
	}
	if key != "" && l.tryPublishEtcd(h, false) {
		return
	}
	if key == "" || !l.writeInFlight(&ev) {
		l.publishEtcd(h, 0)
		return
	}
	l.heldEtcd[key] = append(l.heldEtcd[key], h)
}

// tryPublishEtcd publishes h if a completed write explains it. With force,
// it publishes h in any case (with no cause if none is found).
func (l *Linker) tryPublishEtcd(h *heldEtcd, force bool) bool {
	key := h.ev.Object()
	writes := l.recentWrites[key]
	rv := strconv.FormatInt(h.rev, 10)
	// Prefer the write whose response named this revision; otherwise the
	// oldest unmatched write that named none (a binding answers with a
	// Status, not the pod).
	pick := -1
	for i := range writes {
		if !writes[i].matched && writes[i].rv == rv {
			pick = i
			break
		}
	}
	if pick < 0 {
		for i := range writes {
			if !writes[i].matched && writes[i].rv == "" && time.Since(writes[i].at) < l.opts.HoldEtcd {
				pick = i
				break
			}
		}
	}
	if pick >= 0 {
		writes[pick].matched = true
		l.publishEtcd(h, writes[pick].seq)
		return true
	}
	if force {
		l.publishEtcd(h, 0)
		return true
	}
	return false
}

func (l *Linker) publishEtcd(h *heldEtcd, cause uint64) {
	if h.ev.Cause == 0 {
		h.ev.Cause = cause
	}
	seq := l.publish(h.ev)
	if h.rev > 0 {
		l.etcdSeq[h.rev] = seq
		l.etcdRevs = append(l.etcdRevs, h.rev)
		if len(l.etcdRevs) > 200_000 {
			delete(l.etcdSeq, l.etcdRevs[0])
			l.etcdRevs = l.etcdRevs[1:]
		}
		for _, w := range l.heldWatch[h.rev] {
			w.ev.Cause = seq
			l.publish(w.ev)
		}
		delete(l.heldWatch, h.rev)
	}
}

// writeInFlight reports whether a write request that may have caused ev is
// still being served.
func (l *Linker) writeInFlight(ev *tracing.Event) bool {
	for _, f := range l.flights {
		if f.finished || f.begin.Resource != ev.Resource || f.begin.Namespace != ev.Namespace {
			continue
		}
		if f.begin.Name == "" || f.begin.Name == ev.Name {
			return true
		}
	}
	return false
}

// releaseEtcd publishes the held writes of key that now have a cause, in
// order, stopping at the first that still waits.
func (l *Linker) releaseEtcd(key string) {
	q := l.heldEtcd[key]
	for len(q) > 0 {
		h := q[0]
		if !l.tryPublishEtcd(h, false) {
			if l.writeInFlight(&h.ev) && time.Now().Before(h.deadline) {
				break
			}
			l.publishEtcd(h, 0)
		}
		q = q[1:]
	}
	if len(q) == 0 {
		delete(l.heldEtcd, key)
	} else {
		l.heldEtcd[key] = q
	}
}

func (l *Linker) onWatch(ev tracing.Event) {
	rev, _ := strconv.ParseInt(ev.RV, 10, 64)
	if ev.Cause == 0 && ev.Verb != "BOOKMARK" && rev > 0 {
		if seq, ok := l.etcdSeq[rev]; ok {
			ev.Cause = seq
		} else if rev > l.lastEtcdRev || l.revisionHeld(rev) {
			l.heldWatch[rev] = append(l.heldWatch[rev], &heldEvent{ev: ev, deadline: time.Now().Add(l.opts.HoldWatch)})
			return
		}
	}
	l.publish(ev)
}

func (l *Linker) revisionHeld(rev int64) bool {
	for _, q := range l.heldEtcd {
		for _, h := range q {
			if h.rev == rev {
				return true
			}
		}
	}
	return false
}

// expire publishes, without a cause, whatever waited past its deadline.
func (l *Linker) expire(now time.Time) {
	for key, q := range l.heldEtcd {
		if len(q) > 0 && now.After(q[0].deadline) {
			l.tryPublishEtcd(q[0], true)
			l.heldEtcd[key] = q[1:]
			l.releaseEtcd(key)
		}
	}
	for rev, ws := range l.heldWatch {
		var keep []*heldEvent
		for _, w := range ws {
			if now.After(w.deadline) {
				if seq, ok := l.etcdSeq[rev]; ok {
					w.ev.Cause = seq
				}
				l.publish(w.ev)
			} else {
				keep = append(keep, w)
			}
		}
		if len(keep) == 0 {
			delete(l.heldWatch, rev)
		} else {
			l.heldWatch[rev] = keep
		}
	}
	// Requests that never completed (a panic, a hijacked connection) must
	// not hold anything forever.
	for id, f := range l.flights {
		if now.Sub(f.started) > 10*time.Minute {
			delete(l.flights, id)
		}
	}
}

func (l *Linker) prune(now time.Time) {
	for who, m := range l.last {
		for key, inv := range m {
			if now.Sub(inv.at) > l.opts.Forget {
				delete(m, key)
			}
		}
		if len(m) == 0 {
			delete(l.last, who)
		}
	}
	for key, p := range l.proxied {
		if now.Sub(p.at) > time.Minute {
			delete(l.proxied, key)
		}
	}
	for key, s := range l.streams {
		if now.Sub(s.at) > time.Minute {
			delete(l.streams, key)
		}
	}
	// A container's start is forgotten when it is removed; a day bounds
	// what a runtime that stopped without removing leaves.
	for key, o := range l.origins {
		if now.Sub(o.at) > 24*time.Hour {
			delete(l.origins, key)
		}
	}
	for key, ws := range l.recentWrites {
		if len(ws) > 0 && now.Sub(ws[len(ws)-1].at) > time.Minute {
			delete(l.recentWrites, key)
		}
	}
}
