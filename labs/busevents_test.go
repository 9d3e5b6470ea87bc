package labs

import (
	"context"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

func seqsSince(t *testing.T, src EventSource, since time.Time) []uint64 {
	t.Helper()
	var seqs []uint64
	err := src.EventsSince(context.Background(), since, func(ev *tracing.Event) bool {
		seqs = append(seqs, ev.Seq)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBusEventsSince(t *testing.T) {
	b := bus.New(100)
	src := NewBusEvents(b)
	clock := t0
	src.now = func() time.Time { return clock }

	// Events 1..3 happen at t0-3s, t0-2s, t0-1s.
	for i := 3; i >= 1; i-- {
		b.Publish(tracing.Event{Kind: tracing.KindHTTP, Time: t0.Add(-time.Duration(i) * time.Second)})
	}
	if got := seqsSince(t, src, t0.Add(-2*time.Second)); !equalSeqs(got, []uint64{2, 3}) {
		t.Errorf("since t0-2s: %v, want [2 3]", got)
	}
	// That query left a mark: at t0, the last seq was 3.

	clock = t0.Add(10 * time.Second)
	// Event 4 is an HTTP request that arrived before the step began but
	// was published after the mark; event 5 happened after the step began.
	b.Publish(tracing.Event{Kind: tracing.KindHTTP, Time: t0.Add(4 * time.Second)})
	b.Publish(tracing.Event{Kind: tracing.KindCRI, Time: t0.Add(6 * time.Second)})
	since := t0.Add(5 * time.Second)
	if after := src.startAfter(since); after != 3 {
		t.Errorf("scan for since=t0+5s starts after seq %d, want 3 (the mark before since)", after)
	}
	if got := seqsSince(t, src, since); !equalSeqs(got, []uint64{5}) {
		t.Errorf("since t0+5s: %v, want [5]", got)
	}
	// No mark is before a since that early: the whole ring is scanned.
	if after := src.startAfter(t0.Add(-time.Hour)); after != 0 {
		t.Errorf("scan for an early since starts after %d, want 0", after)
	}
	if got := seqsSince(t, src, t0.Add(-time.Hour)); !equalSeqs(got, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("since an hour ago: %v", got)
	}

	// yield returning false stops the scan.
	n := 0
	_ = src.EventsSince(context.Background(), time.Time{}, func(*tracing.Event) bool { n++; return false })
	if n != 1 {
		t.Errorf("yield called %d times after returning false, want 1", n)
	}
}

func TestBusEventsMarksStayBounded(t *testing.T) {
	b := bus.New(0)
	src := NewBusEvents(b)
	clock := t0
	src.now = func() time.Time { return clock }
	for i := 0; i < 3*maxMarks; i++ {
		b.Publish(tracing.Event{Kind: tracing.KindHTTP, Time: clock})
		clock = clock.Add(time.Second)
		src.startAfter(clock)
	}
	if len(src.marks) > maxMarks {
		t.Errorf("%d marks, want at most %d", len(src.marks), maxMarks)
	}
	// Thinned marks still cover the oldest half of the past: a since early
	// on starts from an early seq, and every event since it is still seen.
	since := t0.Add(100 * time.Second)
	// Events up to seq 100 happened before since; marks are now at most
	// 4 seconds (4 events) apart.
	if after := src.startAfter(since); after > 100 || after < 90 {
		t.Errorf("start after %d for since=t0+100s, want a seq in [90, 100]", after)
	}
	if got := seqsSince(t, src, since); len(got) != 3*maxMarks-100 || got[0] != 101 {
		t.Errorf("since t0+100s: %d events from %v, want %d from 101", len(got), got[:1], 3*maxMarks-100)
	}
}
