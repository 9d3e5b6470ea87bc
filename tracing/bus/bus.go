// Package bus is where collectors publish trace events and where stream
// clients (the browser's websocket, the recorder) subscribe to them.
//
// The bus keeps the most recent events in a bounded ring, so a client that
// reconnects can ask for what it missed (Subscribe's since) and the HTTP API
// can answer queries (Get, Events). Publish is called from the apiserver's
// request path, so it never waits for a subscriber: each subscriber has its
// own bounded queue, and a subscriber that falls behind loses events and is
// told how many with one tracing.KindDropped marker.
//
// Ordering: one mutex serialises Publish, so sequence numbers, ring order and
// the order in which every subscriber receives events are the same.
package bus

import (
	"sort"
	"sync"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// DefaultCapacity is the ring size New uses when asked for capacity <= 0.
// At a few hundred events a second (a busy lab session) it holds about ten
// minutes of history, enough for a browser tab that was asleep to catch up.
const DefaultCapacity = 200_000

// Bus is a bounded, ordered store of events with subscribers. The zero value
// is not usable; call New. All methods are safe for concurrent use.
type Bus struct {
	capacity int

	// mu guards everything below. Publish takes it for writing; queries and
	// subscribers reading their backlog take it for reading.
	mu sync.RWMutex
	// ring holds the stored events, oldest at head once the ring is full.
	// Events are stored by pointer so that one heap copy is shared by the
	// ring and every subscriber queue: publishing to 50 subscribers copies
	// 50 pointers, not 50 events. Stored events are never modified.
	ring []*tracing.Event
	head int
	// lastSeq is the highest Seq ever published (0 before the first event).
	lastSeq uint64
	// evictedThrough is the Seq of the newest event overwritten in the ring
	// (0 if none was). A backlog request that starts at or before it has
	// lost events.
	evictedThrough uint64
	subs           []*Subscription
}

// New returns an empty bus that keeps the last capacity events
// (DefaultCapacity if capacity <= 0).
func New(capacity int) *Bus {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	// The ring grows by append up to capacity, so an idle bus with a large
	// capacity costs nothing up front.
	return &Bus{capacity: capacity}
}

// Capacity is how many events the ring keeps.
func (b *Bus) Capacity() int { return b.capacity }

// Publish stores ev and offers it to every subscriber whose filter matches.
// It assigns ev.Seq (1, 2, 3… per bus, whatever ev.Seq was), sets ev.Time
// to now if it is zero, and returns the stored event.
//
// Publish never waits for a subscriber: a subscriber whose queue is full
// loses the event (and is told later, see Subscription), and a subscriber's
// own lock is only ever held for a few instructions. The caller must not
// modify ev.Detail after publishing: the map is shared with every reader.
func (b *Bus) Publish(ev tracing.Event) tracing.Event {
	return b.publish(ev, false)
}

// PublishRecorded is Publish for replaying a recording: it keeps ev.Seq when
// ev.Seq is greater than the bus's last seq, so that Cause links (which name
// seqs) stay valid, and keeps ev.Time (it sets it to now only if it is
// zero). If ev.Seq is not greater than LastSeq, which a well-formed
// recording replayed into a fresh bus never causes, ev gets the next seq as
// in Publish, so seqs stay strictly increasing. Recorded seqs may have gaps
// (a recording that started late, or that lost events); Get, Events and
// Subscribe's backlog handle them, and a gap is not reported as lost.
func (b *Bus) PublishRecorded(ev tracing.Event) tracing.Event {
	return b.publish(ev, true)
}

func (b *Bus) publish(ev tracing.Event, keepSeq bool) tracing.Event {
	// Allocate outside the lock; the copy is what every reader will share.
	p := new(tracing.Event)
	*p = ev

	b.mu.Lock()
	if keepSeq && p.Seq > b.lastSeq {
		b.lastSeq = p.Seq
	} else {
		b.lastSeq++
		p.Seq = b.lastSeq
	}
	if p.Time.IsZero() {
		// Under the lock, so that events the bus timestamps have
		// non-decreasing times in seq order.
		p.Time = time.Now()
	}
	b.store(p)
	// Offering under the same lock is what makes delivery order equal seq
	// order for every subscriber. offer never blocks: it appends a pointer
	// to a bounded queue or counts a drop.
	var wakeBuf [64]*Subscription
	wake := wakeBuf[:0]
	for _, s := range b.subs {
		if s.filter.Match(p) && s.offer(p) {
			wake = append(wake, s)
		}
	}
	b.mu.Unlock()
	// Waking a parked reader is the most expensive step (the runtime readies
	// its goroutine), so it happens after the lock is released, where it
	// does not hold up concurrent publishers. Order does not matter here:
	// the events are already queued in order.
	for _, s := range wake {
		s.wake()
	}
	return *p
}

// store appends p to the ring, overwriting the oldest event when full.
// Callers hold b.mu for writing.
func (b *Bus) store(p *tracing.Event) {
	if len(b.ring) < b.capacity {
		b.ring = append(b.ring, p)
		return
	}
	b.evictedThrough = b.ring[b.head].Seq
	b.ring[b.head] = p
	b.head++
	if b.head == len(b.ring) {
		b.head = 0
	}
}

// oldestSeq is the seq of the oldest stored event (lastSeq+1 when the ring
// is empty). Callers hold b.mu.
func (b *Bus) oldestSeq() uint64 {
	if len(b.ring) == 0 {
		return b.lastSeq + 1
	}
	return b.at(0).Seq
}

// at returns the i-th oldest stored event. Callers hold b.mu.
func (b *Bus) at(i int) *tracing.Event {
	j := b.head + i
	if j >= len(b.ring) {
		j -= len(b.ring)
	}
	return b.ring[j]
}

// indexAfter returns the ring index of the oldest stored event whose Seq is
// greater than seq (len(b.ring) if there is none). Callers hold b.mu.
func (b *Bus) indexAfter(seq uint64) int {
	n := len(b.ring)
	if n == 0 {
		return 0
	}
	first := b.at(0).Seq
	if seq < first {
		return 0
	}
	if seq >= b.at(n-1).Seq {
		return n
	}
	// Fast path: seqs published by Publish are contiguous, so the index is
	// a subtraction. Replayed recordings may have gaps; then search.
	if d := seq - first + 1; d < uint64(n) && b.at(int(d)).Seq == seq+1 {
		return int(d)
	}
	return sort.Search(n, func(i int) bool { return b.at(i).Seq > seq })
}

// Get returns the stored event with the given seq, if it is still stored.
func (b *Bus) Get(seq uint64) (tracing.Event, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if seq == 0 {
		return tracing.Event{}, false
	}
	i := b.indexAfter(seq - 1)
	if i < len(b.ring) {
		if p := b.at(i); p.Seq == seq {
			return *p, true
		}
	}
	return tracing.Event{}, false
}

// Events returns up to limit stored events (all of them if limit <= 0) with
// Seq > afterSeq that match f, in ascending seq order. It is Scan with a
// filter and copies: it sees the events published before it was called,
// and the read lock is held only while a chunk of pointers is copied out,
// so a query for the whole ring does not hold up publishers. Events the
// ring overwrites while it runs are skipped.
func (b *Bus) Events(f Filter, afterSeq uint64, limit int) []tracing.Event {
	var out []tracing.Event
	b.Scan(afterSeq, func(p *tracing.Event) bool {
		if f.Match(p) {
			out = append(out, *p)
		}
		return limit <= 0 || len(out) < limit
	})
	return out
}

// Scan calls fn with each stored event whose Seq is greater than afterSeq,
// in ascending seq order, until fn returns false or it reaches the newest
// event published when Scan began. Unlike Events it copies nothing: fn
// gets the stored event, shared with every reader, and must not modify it.
// The read lock is held only while a chunk of pointers is copied out, never
// while fn runs, so a long scan does not hold up publishers. Events the
// ring overwrites while Scan runs are skipped.
func (b *Bus) Scan(afterSeq uint64, fn func(*tracing.Event) bool) {
	var buf [backlogScan]*tracing.Event
	b.mu.RLock()
	through := b.lastSeq
	b.mu.RUnlock()
	for done := afterSeq >= through; !done; {
		var chunk []*tracing.Event
		b.mu.RLock()
		chunk, afterSeq, done = b.chunk(buf[:0], afterSeq, through, nil)
		b.mu.RUnlock()
		for _, p := range chunk {
			if !fn(p) {
				return
			}
		}
	}
}

// chunk appends to dst, in seq order, the stored events with
// afterSeq < Seq <= through that f matches (every one if f is nil). It
// looks at no more than backlogScan events, so that a reader going through
// many holds the read lock briefly each time. It returns the seq of the
// last event it looked at (afterSeq if none), from which the next chunk
// goes on, and done when no stored event in the range is left after that.
// Callers hold b.mu.
func (b *Bus) chunk(dst []*tracing.Event, afterSeq, through uint64, f *Filter) (_ []*tracing.Event, last uint64, done bool) {
	last = afterSeq
	i := b.indexAfter(afterSeq)
	for end := min(len(b.ring), i+backlogScan); i < end; i++ {
		p := b.at(i)
		if p.Seq > through {
			return dst, last, true
		}
		if f == nil || f.Match(p) {
			dst = append(dst, p)
		}
		last = p.Seq
	}
	return dst, last, i == len(b.ring) || last >= through
}

// LastSeq is the seq of the newest event published (0 if none was).
func (b *Bus) LastSeq() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.lastSeq
}

// Len is how many events the ring holds now (at most Capacity).
func (b *Bus) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.ring)
}

// Subscribers is how many subscriptions are open, for status pages and for
// checking that closed subscriptions are released.
func (b *Bus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}
