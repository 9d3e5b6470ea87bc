package labs

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// maxMarks bounds BusEvents' memory of (time, seq) marks; when full, every
// other mark is dropped, so the marks thin out but keep covering the past.
const maxMarks = 1024

// BusEvents is the EventSource of a live trace bus.
//
// The bus keeps events in seq order but cannot find the first event at or
// after a time: event times are when things happened (an HTTP request's
// arrival), which can be earlier than when they were published. So
// BusEvents remembers, at every query, the bus's last seq and the time:
// every event up to that seq was published, and so happened, before that
// time. A later query for the events since a time after a mark starts
// scanning after the mark's seq instead of at the oldest stored event. The
// UI polls about once a second, so marks are dense around the moment a
// step begins.
type BusEvents struct {
	bus *bus.Bus
	now func() time.Time

	mu    sync.Mutex
	marks []mark // in time order
}

type mark struct {
	at  time.Time
	seq uint64
}

// NewBusEvents returns an EventSource reading b.
func NewBusEvents(b *bus.Bus) *BusEvents {
	return &BusEvents{bus: b, now: time.Now}
}

// EventsSince implements EventSource.
func (s *BusEvents) EventsSince(ctx context.Context, since time.Time, yield func(*tracing.Event) bool) error {
	after := s.startAfter(since)
	n := 0
	s.bus.Scan(after, func(ev *tracing.Event) bool {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return false
		}
		if ev.Time.Before(since) {
			return true
		}
		return yield(ev)
	})
	return ctx.Err()
}

// startAfter records a mark for now and returns the seq after which the
// events at or after since must be.
func (s *BusEvents) startAfter(since time.Time) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The seq is read before the time, so every event up to it was
	// published before the mark's time. Round(0) drops the monotonic
	// reading: since comes from a wall clock (the browser's).
	m := mark{seq: s.bus.LastSeq()}
	m.at = s.now().Round(0)
	if n := len(s.marks); n == 0 || m.at.After(s.marks[n-1].at) && m.seq > s.marks[n-1].seq {
		if n == maxMarks {
			kept := s.marks[:0]
			for i := 1; i < n; i += 2 {
				kept = append(kept, s.marks[i])
			}
			s.marks = kept
		}
		s.marks = append(s.marks, m)
	}
	// The newest mark strictly before since: its events all happened
	// before since.
	i := sort.Search(len(s.marks), func(i int) bool { return !s.marks[i].at.Before(since) })
	if i == 0 {
		return 0
	}
	return s.marks[i-1].seq
}
