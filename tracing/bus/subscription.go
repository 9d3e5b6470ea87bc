package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// DefaultQueue is the live-event queue length Subscribe uses when asked for
// queue <= 0: a browser that stalls for a few seconds on a busy cluster
// catches up without losing anything.
const DefaultQueue = 4096

// backlogScan is how many stored events a reader looks at per read lock (a
// subscriber catching up on its backlog, Scan, Events), so that a large
// backlog with a sparse filter never holds publishers up for long.
const backlogScan = 1024

// Live, as Subscribe's since, asks for live events only.
const Live = ^uint64(0)

// ErrClosed is returned by Next once the subscription is closed.
var ErrClosed = errors.New("trace subscription closed")

// Subscription is one subscriber's view of the bus: first its backlog
// (stored events after the seq it asked for), then live events, in seq
// order, with no gap and no duplicate between the two.
//
// Read it either with Next or with C, from one goroutine, and Close it when
// done: an open subscription costs every Publish a filter match. Events'
// Detail maps are shared with the bus and every other subscriber: read them,
// never modify them.
//
// Every event a subscriber receives has a greater Seq than the one before,
// markers included: a KindDropped marker carries the Seq of the last event
// it stands for (Detail["toSeq"]), so a client that resumes with
// since=<last seq it received> neither sees an event twice nor asks again
// for the events it was told it lost.
type Subscription struct {
	bus      *Bus
	filter   Filter
	queueCap int

	// notify has room for one token; Publish puts one after queueing an
	// event into an empty queue so a waiting Next wakes up. A stale token
	// only costs one extra loop.
	notify    chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// readMu serialises readers. The backlog fields below belong to the
	// reader and are touched only with readMu held.
	readMu sync.Mutex
	// cursor is the next seq to read from the ring; liveFrom is the first
	// seq that goes through the live queue instead. The backlog is
	// [cursor, liveFrom); it is empty for since == Live.
	cursor   uint64
	liveFrom uint64
	backlog  []*tracing.Event
	bi       int

	// mu guards the live queue and the drop accounting. Lock order: the
	// bus's mu before mu (offer runs under the bus's lock); Next never
	// holds mu while it takes the bus's lock.
	mu     sync.Mutex
	closed bool
	q      queue
	// The current overflow episode: how many matching events were dropped,
	// the first and last of their seqs and the last one's time. dropped is
	// 0 between episodes.
	dropped          uint64
	dropFrom, dropTo uint64
	dropTime         time.Time
	totalDropped     uint64

	chOnce  sync.Once
	ch      chan tracing.Event
	batches chan []tracing.Event
}

// Subscribe returns a subscription to the events that match f.
//
// With since == Live it receives live events only: those published after
// Subscribe returns. A since at or beyond LastSeq (a client resuming after
// the process restarted and numbering began again) also means live only.
// Otherwise since is the last seq the subscriber already has (0: none), and
// it first receives every stored event with Seq > since that matches f (the
// backlog), then live events, with no event missed or repeated in between.
// since == 0 starts at the oldest stored event, without a marker for what
// the ring has already let go. If events after a since > 0 have already
// been overwritten in the ring, the backlog starts with one KindDropped
// marker whose Detail["count"] is the number of events lost (whether or not
// they would have matched f: they are gone, so nobody can tell).
//
// queue bounds how many live events wait for the reader (DefaultQueue if
// queue <= 0). When the queue is full, further matching events are dropped
// for this subscriber only and counted; the reader then receives one
// KindDropped marker, with the count, right after the events queued before
// the drop and before any event after it. The backlog is read from the
// ring, not the queue, so it does not count against queue.
func (b *Bus) Subscribe(f Filter, since uint64, queue int) *Subscription {
	if queue <= 0 {
		queue = DefaultQueue
	}
	s := &Subscription{
		bus:      b,
		filter:   f.clone(),
		queueCap: queue,
		notify:   make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	// Registering the subscriber and fixing liveFrom in one critical
	// section with Publish is the whole no-gap/no-duplicate argument: every
	// event with Seq < liveFrom was stored before the subscriber existed and
	// is read from the ring; every event with Seq >= liveFrom is published
	// after it was registered and goes through offer.
	b.mu.Lock()
	s.liveFrom = b.lastSeq + 1
	s.cursor = s.liveFrom
	switch {
	case since == 0:
		s.cursor = b.oldestSeq()
	case since != Live && since < b.lastSeq:
		s.cursor = since + 1
	}
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	return s
}

// Next returns the next event, waiting for one if none is ready. It returns
// an event that is already queued even if ctx is done, so a caller can drain
// a subscription with a cancelled context; it returns ctx's error only when
// it would have to wait, and ErrClosed once the subscription is closed.
// Do not call Next after C.
func (s *Subscription) Next(ctx context.Context) (tracing.Event, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for {
		ev, ok, err := s.take()
		if err != nil || ok {
			return ev, err
		}
		if err := s.wait(ctx); err != nil {
			return tracing.Event{}, err
		}
	}
}

// NextBatch is Next for writers that send many events at once: it waits
// for one event as Next does, then adds, without waiting, those already
// there (backlog or queue), up to max in all. A stream writer that sends
// a batch in one write makes one system call and one wake-up where it
// would make max, which is what lets one process feed a hundred browsers.
func (s *Subscription) NextBatch(ctx context.Context, max int) ([]tracing.Event, error) {
	if max < 1 {
		max = 1
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	var out []tracing.Event
	for {
		ev, ok, err := s.take()
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ev)
			if len(out) < max {
				continue
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if err := s.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// take returns the next event if one is there (backlog first, then the
// queue, then a drop marker), without waiting. readMu must be held.
func (s *Subscription) take() (tracing.Event, bool, error) {
	select {
	case <-s.done:
		return tracing.Event{}, false, ErrClosed
	default:
	}
	if ev, ok := s.nextBacklog(); ok {
		return ev, true, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return tracing.Event{}, false, ErrClosed
	}
	if p := s.q.pop(); p != nil {
		return *p, true, nil
	}
	if s.dropped > 0 {
		// The queue is empty and no event after the drop was queued
		// (queueing one ends the episode), so the marker goes here.
		return *s.takeMarker(), true, nil
	}
	return tracing.Event{}, false, nil
}

// wait parks the reader until Publish queues something, the subscription
// closes or ctx ends.
func (s *Subscription) wait(ctx context.Context) error {
	select {
	case <-s.notify:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("waiting for trace events: %w", ctx.Err())
	}
}

// C returns a channel that delivers the same events Next would and is
// closed when the subscription is closed, for writer loops that also select
// on other things (pings, ctx). The first call starts one goroutine that
// feeds the channel, so C must be followed by Close. The goroutine holds at
// most one event taken from the queue, so the effective buffer is queue+1.
// Do not call Next after C.
func (s *Subscription) C() <-chan tracing.Event {
	s.chOnce.Do(func() {
		s.ch = make(chan tracing.Event)
		go pump(s, s.ch, func() (tracing.Event, error) { return s.Next(context.Background()) })
	})
	return s.ch
}

// Batches is C for batch writers: each value is what NextBatch(max)
// would return. The same rules hold: one goroutine feeds it, Close must
// follow, and C and Next must not be used with it.
func (s *Subscription) Batches(max int) <-chan []tracing.Event {
	s.chOnce.Do(func() {
		s.batches = make(chan []tracing.Event)
		go pump(s, s.batches, func() ([]tracing.Event, error) { return s.NextBatch(context.Background(), max) })
	})
	return s.batches
}

// pump feeds ch with what next returns until the subscription closes.
// next is Next or NextBatch with a background context: they return
// ErrClosed when Close is called, which is this goroutine's only way out,
// so it needs no context of its own.
func pump[T any](s *Subscription, ch chan T, next func() (T, error)) {
	defer close(ch)
	for {
		v, err := next()
		if err != nil {
			return
		}
		select {
		case ch <- v:
		case <-s.done:
			return
		}
	}
}

// Close releases the subscription from the bus; Publish stops offering it
// events at once. A pending Next returns ErrClosed and C's channel is
// closed. Queued events are discarded. Close may be called more than once
// and from any goroutine.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		b := s.bus
		b.mu.Lock()
		for i, x := range b.subs {
			if x == s {
				copy(b.subs[i:], b.subs[i+1:])
				b.subs[len(b.subs)-1] = nil
				b.subs = b.subs[:len(b.subs)-1]
				break
			}
		}
		b.mu.Unlock()
		s.mu.Lock()
		s.closed = true
		s.q = queue{}
		s.mu.Unlock()
		close(s.done)
	})
}

// Buffered is how many live events (and markers) are queued for the reader
// now, not counting a backlog still being read from the ring. A writer can
// use it to flush its output when it has caught up.
func (s *Subscription) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.q.len()
	if s.dropped > 0 {
		n++ // the marker Next will return
	}
	return n
}

// Dropped is the total number of matching live events this subscriber has
// lost because its queue was full (backlog losses are not included).
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalDropped
}

// offer queues p or counts it as dropped. It runs under the bus's write
// lock, in seq order, and never blocks. It reports whether the queue went
// from empty to non-empty: only then can the reader be parked in Next (it
// parks only after seeing an empty queue), so only then must the caller
// call wake.
func (s *Subscription) offer(p *tracing.Event) (wake bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.q.len() >= s.queueCap {
		if s.dropped == 0 {
			s.dropFrom = p.Seq
		}
		s.dropped++
		s.totalDropped++
		s.dropTo = p.Seq
		s.dropTime = p.Time
		return false
	}
	wake = s.q.len() == 0
	if s.dropped > 0 {
		// There is room again: the episode ends here, and its marker goes
		// before this event. The queue may hold queueCap+1 entries because
		// of it; that bound is what keeps the marker from being delayed.
		s.q.push(s.takeMarker())
	}
	s.q.push(p)
	return wake
}

// wake lets a reader parked in Next look at the queue again. The token
// stays in the channel if nobody is parked, so a reader that is between
// seeing an empty queue and parking does not miss it.
func (s *Subscription) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// takeMarker builds the marker for the current overflow episode and ends
// it. Callers hold s.mu.
func (s *Subscription) takeMarker() *tracing.Event {
	m := droppedMarker(s.dropped, s.dropFrom, s.dropTo, s.dropTime,
		fmt.Sprintf("%s dropped: this client was too slow", events(s.dropped)))
	s.dropped, s.dropFrom, s.dropTo, s.dropTime = 0, 0, 0, time.Time{}
	return m
}

// nextBacklog returns the next backlog event (or lost-events marker), or
// false once the backlog is exhausted. Callers hold s.readMu.
func (s *Subscription) nextBacklog() (tracing.Event, bool) {
	for {
		if s.bi < len(s.backlog) {
			p := s.backlog[s.bi]
			s.backlog[s.bi] = nil // let the GC have it once the ring does
			s.bi++
			return *p, true
		}
		if s.cursor >= s.liveFrom {
			s.backlog = nil
			return tracing.Event{}, false
		}
		select {
		case <-s.done:
			return tracing.Event{}, false
		default:
		}
		if m := s.fillBacklog(); m != nil {
			return *m, true
		}
	}
}

// fillBacklog copies the next chunk of matching backlog events out of the
// ring, or returns a marker if the ring has overwritten events at cursor.
// Callers hold s.readMu.
func (s *Subscription) fillBacklog() *tracing.Event {
	b := s.bus
	s.backlog = s.backlog[:0]
	s.bi = 0
	b.mu.RLock()
	defer b.mu.RUnlock()
	if s.cursor <= b.evictedThrough {
		// Events [cursor, to] were overwritten before we got to them: at
		// Subscribe (since was too old) or while we were reading a large
		// backlog slowly.
		from, to := s.cursor, min(b.evictedThrough, s.liveFrom-1)
		s.cursor = to + 1
		// The oldest stored event follows the gap; its time keeps the
		// stream's times in order.
		t := b.at(0).Time
		n := to - from + 1
		return droppedMarker(n, from, to, t, fmt.Sprintf(
			"%s dropped: no longer in the server's buffer of the last %d events", events(n), b.capacity))
	}
	backlog, last, done := b.chunk(s.backlog, s.cursor-1, s.liveFrom-1, &s.filter)
	s.backlog = backlog
	s.cursor = last + 1
	if done {
		// No stored event is left before liveFrom: seqs up to liveFrom-1
		// that are not stored never existed (a replayed recording's gaps).
		s.cursor = s.liveFrom
	}
	return nil
}

// droppedMarker builds a KindDropped marker. Its Seq is toSeq, the last
// event it stands for; Detail's numbers are uint64 (JSON numbers on the
// wire).
func droppedMarker(count, fromSeq, toSeq uint64, t time.Time, summary string) *tracing.Event {
	return &tracing.Event{
		Seq:     toSeq,
		Time:    t,
		Kind:    tracing.KindDropped,
		Summary: summary,
		Detail: map[string]any{
			"count":   count,
			"fromSeq": fromSeq,
			"toSeq":   toSeq,
		},
	}
}

// events is "1 event" or "n events".
func events(n uint64) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}

// queue is a FIFO of event pointers on a ring buffer that grows by doubling,
// so a subscriber with a large bound but a fast reader stays small.
type queue struct {
	buf  []*tracing.Event
	head int
	n    int
}

func (q *queue) len() int { return q.n }

func (q *queue) push(p *tracing.Event) {
	if q.n == len(q.buf) {
		nb := make([]*tracing.Event, max(16, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = p
	q.n++
}

func (q *queue) pop() *tracing.Event {
	if q.n == 0 {
		return nil
	}
	p := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return p
}
