package bus

import (
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

func scanSeqs(b *Bus, afterSeq uint64, stopAt uint64) []uint64 {
	var seqs []uint64
	b.Scan(afterSeq, func(e *tracing.Event) bool {
		seqs = append(seqs, e.Seq)
		return e.Seq != stopAt
	})
	return seqs
}

func TestScanVisitsStoredEventsAfterSeqInOrder(t *testing.T) {
	b := New(4)
	if got := scanSeqs(b, 0, 0); len(got) != 0 {
		t.Errorf("empty bus: scanned %v", got)
	}
	publishN(b, 10) // the ring keeps 7..10
	for _, tc := range []struct {
		after, stop uint64
		want        []uint64
	}{
		{0, 0, []uint64{7, 8, 9, 10}},
		{8, 0, []uint64{9, 10}},
		{10, 0, nil},
		{0, 8, []uint64{7, 8}}, // fn returning false stops the scan
	} {
		got := scanSeqs(b, tc.after, tc.stop)
		if len(got) != len(tc.want) {
			t.Errorf("Scan(%d) stopping at %d: %v, want %v", tc.after, tc.stop, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("Scan(%d) stopping at %d: %v, want %v", tc.after, tc.stop, got, tc.want)
				break
			}
		}
	}
}

func TestScanCrossesChunksAndIgnoresEventsPublishedDuringIt(t *testing.T) {
	b := New(0)
	n := 3*backlogScan + 7
	publishN(b, n)
	var last uint64
	count := 0
	b.Scan(0, func(e *tracing.Event) bool {
		if e.Seq != last+1 {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		count++
		// Events published while Scan runs are after the newest one it
		// began with, so it ends instead of chasing a busy bus.
		b.Publish(ev(0))
		return true
	})
	if count != n {
		t.Errorf("scanned %d events, want %d", count, n)
	}
}

func TestEventsCrossesChunksWithFilterAndLimit(t *testing.T) {
	b := New(0)
	n := 3*backlogScan + 7
	for i := range n {
		e := ev(i)
		if i%2 == 1 {
			e.Kind = tracing.KindWatch // seqs 2, 4, 6, …
		}
		b.Publish(e)
	}
	all := b.Events(Filter{}, 0, 0)
	if len(all) != n {
		t.Fatalf("Events returned %d events, want %d", len(all), n)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("Events[%d] has seq %d, want %d", i, e.Seq, i+1)
		}
	}
	// A limit larger than a chunk, with a filter that keeps every other
	// event: the answer spans several chunks and stops at the limit.
	limit := backlogScan + 3
	watch := b.Events(Filter{Kinds: []tracing.Kind{tracing.KindWatch}}, 1, limit)
	if len(watch) != limit {
		t.Fatalf("Events(watch, limit %d) returned %d events", limit, len(watch))
	}
	for i, e := range watch {
		if want := uint64(2 * (i + 1)); e.Seq != want || e.Kind != tracing.KindWatch {
			t.Fatalf("Events(watch)[%d] is %s seq %d, want watch seq %d", i, e.Kind, e.Seq, want)
		}
	}
}
