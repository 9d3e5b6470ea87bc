package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// hangGuard bounds how long a test may wait for an event that should come.
// It turns a bug that loses an event into a failure instead of a hung test
// run; it is not a timing assertion, and passing tests never come near it.
const hangGuard = time.Minute

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

func ev(i int) tracing.Event {
	return tracing.Event{Kind: tracing.KindHTTP, From: "kubectl", To: tracing.APIServer, Summary: "event " + strconv.Itoa(i)}
}

func publishN(b *Bus, n int) {
	for i := 0; i < n; i++ {
		b.Publish(ev(i))
	}
}

// next reads one event or fails the test.
func next(t *testing.T, ctx context.Context, s *Subscription) tracing.Event {
	t.Helper()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

// wantSeqs reads len(want) events and checks they are those seqs, in order,
// and none of them a marker.
func wantSeqs(t *testing.T, ctx context.Context, s *Subscription, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		e := next(t, ctx, s)
		if e.Kind == tracing.KindDropped || e.Seq != seq {
			t.Fatalf("got %s seq %d (%s), want event seq %d", e.Kind, e.Seq, e.Summary, seq)
		}
	}
}

// wantMarker reads one event and checks it is a dropped marker for
// [from, to] with the given count.
func wantMarker(t *testing.T, ctx context.Context, s *Subscription, count, from, to uint64) {
	t.Helper()
	e := next(t, ctx, s)
	if e.Kind != tracing.KindDropped {
		t.Fatalf("got %s seq %d (%s), want a dropped marker", e.Kind, e.Seq, e.Summary)
	}
	got := [3]any{e.Detail["count"], e.Detail["fromSeq"], e.Detail["toSeq"]}
	if want := [3]any{count, from, to}; got != want {
		t.Fatalf("marker detail count,fromSeq,toSeq = %v, want %v (%s)", got, want, e.Summary)
	}
	if e.Seq != to {
		t.Fatalf("marker seq %d, want toSeq %d", e.Seq, to)
	}
}

// wantNothingQueued checks that Next has nothing to return without waiting.
func wantNothingQueued(t *testing.T, s *Subscription) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with nothing queued = %s seq %d, %v; want context.Canceled", e.Kind, e.Seq, err)
	}
}

func TestPublishAssignsSeqAndTime(t *testing.T) {
	b := New(0)
	if b.Capacity() != DefaultCapacity {
		t.Fatalf("capacity %d, want %d", b.Capacity(), DefaultCapacity)
	}
	e := ev(0)
	e.Seq = 99 // ignored: the bus numbers events itself
	got := b.Publish(e)
	if got.Seq != 1 || got.Time.IsZero() {
		t.Fatalf("first publish: seq %d time %v, want seq 1 and a time", got.Seq, got.Time)
	}
	at := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	e = ev(1)
	e.Time = at
	got = b.Publish(e)
	if got.Seq != 2 || !got.Time.Equal(at) {
		t.Fatalf("second publish: seq %d time %v, want seq 2 and the given time", got.Seq, got.Time)
	}
	if b.LastSeq() != 2 || b.Len() != 2 {
		t.Fatalf("LastSeq %d Len %d, want 2 2", b.LastSeq(), b.Len())
	}
	if stored, ok := b.Get(2); !ok || stored.Summary != "event 1" || !stored.Time.Equal(at) {
		t.Fatalf("Get(2) = %+v, %v", stored, ok)
	}
	if _, ok := b.Get(0); ok {
		t.Fatal("Get(0) found an event")
	}
	if _, ok := b.Get(3); ok {
		t.Fatal("Get(3) found an event that was never published")
	}
}

// Concurrent publishers: seqs are 1..N without gaps, the ring holds them in
// seq order, each publisher's events keep its order, and a subscriber
// receives exactly the ring's order.
func TestConcurrentPublishersOrder(t *testing.T) {
	const publishers, each = 8, 2000
	const total = publishers * each
	b := New(total)
	sub := b.Subscribe(Filter{}, Live, total)
	defer sub.Close()

	var wg sync.WaitGroup
	returned := make([][]uint64, publishers)
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				e := b.Publish(tracing.Event{Kind: tracing.KindEtcd, From: tracing.APIServer, To: tracing.Etcd,
					Name: strconv.Itoa(p), Summary: strconv.Itoa(i)})
				returned[p] = append(returned[p], e.Seq)
			}
		})
	}
	wg.Wait()

	seen := map[uint64]bool{}
	for p, seqs := range returned {
		for i, s := range seqs {
			if seen[s] {
				t.Fatalf("seq %d returned twice", s)
			}
			seen[s] = true
			if i > 0 && s <= seqs[i-1] {
				t.Fatalf("publisher %d: seq %d after %d", p, s, seqs[i-1])
			}
		}
	}
	stored := b.Events(Filter{}, 0, 0)
	if len(stored) != total || b.LastSeq() != total {
		t.Fatalf("stored %d events, LastSeq %d; want %d", len(stored), b.LastSeq(), total)
	}
	nextIndex := make([]int, publishers)
	ctx := testCtx(t)
	for i, e := range stored {
		if e.Seq != uint64(i+1) {
			t.Fatalf("ring position %d holds seq %d", i, e.Seq)
		}
		p, _ := strconv.Atoi(e.Name)
		if e.Summary != strconv.Itoa(nextIndex[p]) {
			t.Fatalf("seq %d is publisher %d's event %s, want its event %d", e.Seq, p, e.Summary, nextIndex[p])
		}
		nextIndex[p]++
		if got := next(t, ctx, sub); got.Seq != e.Seq || got.Summary != e.Summary || got.Name != e.Name {
			t.Fatalf("subscriber got seq %d (%s/%s), ring has seq %d (%s/%s)", got.Seq, got.Name, got.Summary, e.Seq, e.Name, e.Summary)
		}
	}
}

func TestRingOverwritesOldest(t *testing.T) {
	b := New(10)
	publishN(b, 25)
	if b.Len() != 10 || b.LastSeq() != 25 {
		t.Fatalf("Len %d LastSeq %d, want 10 25", b.Len(), b.LastSeq())
	}
	if _, ok := b.Get(15); ok {
		t.Fatal("Get(15) found an overwritten event")
	}
	for seq := uint64(16); seq <= 25; seq++ {
		if e, ok := b.Get(seq); !ok || e.Seq != seq || e.Summary != "event "+strconv.Itoa(int(seq-1)) {
			t.Fatalf("Get(%d) = seq %d %q, %v", seq, e.Seq, e.Summary, ok)
		}
	}
	all := b.Events(Filter{}, 0, 0)
	if len(all) != 10 || all[0].Seq != 16 || all[9].Seq != 25 {
		t.Fatalf("Events: %d events from %d to %d, want 10 from 16 to 25", len(all), all[0].Seq, all[len(all)-1].Seq)
	}
}

func TestEventsQuery(t *testing.T) {
	b := New(100)
	for i := range 30 {
		e := ev(i)
		if i%3 == 0 {
			e.Kind = tracing.KindWatch
		}
		b.Publish(e)
	}
	// Watch events are seqs 1, 4, 7, …, 28.
	got := b.Events(Filter{Kinds: []tracing.Kind{tracing.KindWatch}}, 4, 3)
	if len(got) != 3 || got[0].Seq != 7 || got[1].Seq != 10 || got[2].Seq != 13 {
		t.Fatalf("Events(watch, after 4, limit 3) = %v", seqsOf(got))
	}
	if got := b.Events(Filter{}, 30, 0); len(got) != 0 {
		t.Fatalf("Events after the last seq = %v, want none", seqsOf(got))
	}
	if got := b.Events(Filter{}, 25, 0); len(got) != 5 || got[0].Seq != 26 {
		t.Fatalf("Events after 25 = %v, want 26..30", seqsOf(got))
	}
}

func seqsOf(evs []tracing.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func TestSinceZeroIsLiveOnly(t *testing.T) {
	ctx := testCtx(t)
	b := New(100)
	publishN(b, 5)
	s := b.Subscribe(Filter{}, Live, 0)
	defer s.Close()
	wantNothingQueued(t, s)
	publishN(b, 2)
	wantSeqs(t, ctx, s, 6, 7)
}

func TestSinceBacklogThenLive(t *testing.T) {
	ctx := testCtx(t)
	b := New(100)
	publishN(b, 10)
	s := b.Subscribe(Filter{}, 4, 0)
	defer s.Close()
	publishN(b, 3)
	wantSeqs(t, ctx, s, 5, 13)
	wantNothingQueued(t, s)

	// since at or beyond the last seq: nothing to catch up on.
	s2 := b.Subscribe(Filter{}, 13, 0)
	defer s2.Close()
	s3 := b.Subscribe(Filter{}, 1000, 0)
	defer s3.Close()
	wantNothingQueued(t, s2)
	wantNothingQueued(t, s3)
	publishN(b, 1)
	wantSeqs(t, ctx, s2, 14, 14)
	wantSeqs(t, ctx, s3, 14, 14)
}

func TestSinceBacklogIsFiltered(t *testing.T) {
	ctx := testCtx(t)
	b := New(100)
	for i := range 20 {
		e := ev(i)
		e.Namespace = []string{"a", "b"}[i%2] // odd seqs in "a"
		b.Publish(e)
	}
	s := b.Subscribe(Filter{Namespace: "a"}, 10, 0)
	defer s.Close()
	for _, want := range []uint64{11, 13, 15, 17, 19} {
		if e := next(t, ctx, s); e.Seq != want {
			t.Fatalf("got seq %d, want %d", e.Seq, want)
		}
	}
	wantNothingQueued(t, s)
}

// The handover from backlog to live must lose and repeat nothing while a
// publisher is running: subscribe at many moments during a publishing run
// and check that each subscriber sees every seq after its since exactly
// once, in order.
func TestSinceHandoverUnderConcurrentPublish(t *testing.T) {
	const before, after, subscribers = 1000, 5000, 40
	// Large enough that nothing is overwritten and no queue overflows, so
	// any missing or repeated seq is a handover bug. Both grow lazily.
	const room = 1 << 22
	ctx := testCtx(t)
	b := New(room)
	publishN(b, before)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b.Publish(ev(0))
			select {
			case <-stop:
				publishN(b, after)
				return
			default:
			}
			// Let the subscribing goroutine run even on one CPU, so the
			// run stays short.
			runtime.Gosched()
		}
	}()

	type sub struct {
		s     *Subscription
		since uint64
	}
	var subs []sub
	prev := b.LastSeq()
	for i := range subscribers {
		// Each subscription happens after the publisher has published
		// more, and before it is told to stop: all are concurrent with it.
		for b.LastSeq() == prev {
			runtime.Gosched()
		}
		prev = b.LastSeq()
		since := max(1, prev*uint64(i)/subscribers) // from 1 up to near the last seq
		subs = append(subs, sub{b.Subscribe(Filter{}, since, room), since})
	}
	close(stop)
	<-done
	total := b.LastSeq()
	t.Logf("%d events published, %d of them while subscribing", total, prev-before)

	var wg sync.WaitGroup
	for _, x := range subs {
		wg.Go(func() {
			defer x.s.Close()
			want := x.since + 1
			for want <= total {
				e, err := x.s.Next(ctx)
				if err != nil {
					t.Errorf("since %d: waiting for seq %d: %v", x.since, want, err)
					return
				}
				if e.Seq != want || e.Kind == tracing.KindDropped {
					t.Errorf("since %d: got %s seq %d, want seq %d", x.since, e.Kind, e.Seq, want)
					return
				}
				want++
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if e, err := x.s.Next(cancelled); err == nil {
				t.Errorf("since %d: extra %s event seq %d after the last seq", x.since, e.Kind, e.Seq)
			}
		})
	}
	wg.Wait()
}

func TestSinceOlderThanRingGetsMarker(t *testing.T) {
	ctx := testCtx(t)
	b := New(10)
	publishN(b, 25) // 16..25 stored, 1..15 overwritten
	s := b.Subscribe(Filter{}, 5, 0)
	defer s.Close()
	wantMarker(t, ctx, s, 10, 6, 15) // 6..15 lost
	wantSeqs(t, ctx, s, 16, 25)
	publishN(b, 1)
	wantSeqs(t, ctx, s, 26, 26)

	// The marker passes any filter: the lost events might have matched.
	f := b.Subscribe(Filter{Kinds: []tracing.Kind{tracing.KindCRI}}, 1, 0)
	defer f.Close()
	wantMarker(t, ctx, f, 15, 2, 16)
	wantNothingQueued(t, f)
}

// A subscriber reading a large backlog slowly can have the rest of it
// overwritten under it; it gets a marker for exactly the part it lost.
func TestBacklogOverwrittenWhileReading(t *testing.T) {
	ctx := testCtx(t)
	const capacity = 3 * backlogScan
	b := New(capacity)
	publishN(b, capacity)
	s := b.Subscribe(Filter{}, 1, 4*capacity)
	defer s.Close()
	// The first Next copies the first chunk (seqs 2..backlogScan+1).
	wantSeqs(t, ctx, s, 2, 2)
	// Overwrite seqs 1..2*backlogScan.
	publishN(b, 2*backlogScan)
	chunkEnd := uint64(backlogScan + 1)
	wantSeqs(t, ctx, s, 3, chunkEnd)
	lostTo := uint64(2 * backlogScan)
	wantMarker(t, ctx, s, lostTo-chunkEnd, chunkEnd+1, lostTo)
	wantSeqs(t, ctx, s, lostTo+1, 5*backlogScan)
	wantNothingQueued(t, s)
}

// A subscriber that does not read loses what does not fit in its queue,
// gets one marker per overflow episode with the exact count, in the place
// of the lost events, as soon as it has read what came before them; a
// fast subscriber on the same bus gets everything.
func TestSlowSubscriberGetsOneMarkerPerEpisode(t *testing.T) {
	ctx := testCtx(t)
	b := New(1000)
	slow := b.Subscribe(Filter{}, Live, 10)
	defer slow.Close()
	fast := b.Subscribe(Filter{}, Live, 0)
	defer fast.Close()
	const last = 126 // the number of events this test publishes
	fastGot := make(chan []uint64)
	go func() {
		var got []uint64
		for {
			e, err := fast.Next(ctx)
			if err != nil {
				t.Errorf("fast subscriber: %v", err)
				fastGot <- got
				return
			}
			got = append(got, e.Seq)
			if e.Seq == last {
				fastGot <- got
				return
			}
		}
	}()

	// Episode 1: 1..10 queued, 11..100 dropped. The marker comes once the
	// queue is drained, without waiting for another event.
	publishN(b, 100)
	if n := slow.Buffered(); n != 11 {
		t.Fatalf("Buffered() = %d, want 10 events and the marker", n)
	}
	wantSeqs(t, ctx, slow, 1, 10)
	wantMarker(t, ctx, slow, 90, 11, 100)
	wantNothingQueued(t, slow)
	publishN(b, 5)
	wantSeqs(t, ctx, slow, 101, 105)
	wantNothingQueued(t, slow)

	// Episode 2: 106..115 queued, 116..125 dropped; reading two makes
	// room, and the next event (126) is queued after the marker.
	publishN(b, 20)
	wantSeqs(t, ctx, slow, 106, 107)
	publishN(b, 1)
	wantSeqs(t, ctx, slow, 108, 115)
	wantMarker(t, ctx, slow, 10, 116, 125)
	wantSeqs(t, ctx, slow, 126, 126)
	wantNothingQueued(t, slow)
	if slow.Dropped() != 100 {
		t.Fatalf("Dropped() = %d, want 100", slow.Dropped())
	}

	got := <-fastGot
	if len(got) != last {
		t.Fatalf("fast subscriber got %d events, want 126", len(got))
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("fast subscriber's event %d has seq %d", i, s)
		}
	}
	if fast.Dropped() != 0 {
		t.Fatalf("fast subscriber dropped %d", fast.Dropped())
	}
}

// Drop accounting under a concurrent publisher and a reader that keeps
// falling behind: every seq is either received or counted in exactly one
// marker, each marker stands exactly for the gap between the events around
// it, and there are never two markers in a row.
func TestDropAccountingUnderConcurrentPublish(t *testing.T) {
	const total = 50000
	ctx := testCtx(t)
	b := New(total)
	slow := b.Subscribe(Filter{}, Live, 8)
	defer slow.Close()
	fast := b.Subscribe(Filter{}, Live, total)
	defer fast.Close()

	go publishN(b, total)

	var prev tracing.Event // the previous event received (Seq 0 at first)
	markers := 0
	for prev.Seq < total {
		e := next(t, ctx, slow)
		if e.Kind == tracing.KindDropped {
			markers++
			if prev.Kind == tracing.KindDropped {
				t.Fatalf("two markers in a row: %v then %v", prev.Detail, e.Detail)
			}
			from, to, count := e.Detail["fromSeq"].(uint64), e.Detail["toSeq"].(uint64), e.Detail["count"].(uint64)
			if from != prev.Seq+1 || to < from || count != to-from+1 || e.Seq != to {
				t.Fatalf("after seq %d: marker seq %d %v", prev.Seq, e.Seq, e.Detail)
			}
		} else if e.Seq != prev.Seq+1 {
			t.Fatalf("seq %d after %d with no marker between", e.Seq, prev.Seq)
		}
		prev = e
	}
	t.Logf("slow subscriber: %d markers, %d events dropped", markers, slow.Dropped())
	wantSeqs(t, ctx, fast, 1, total)
}

func TestCloseReleasesTheSubscription(t *testing.T) {
	b := New(100)
	a := b.Subscribe(Filter{}, Live, 0)
	c := b.Subscribe(Filter{}, Live, 0)
	if b.Subscribers() != 2 {
		t.Fatalf("Subscribers() = %d, want 2", b.Subscribers())
	}

	// A Next waiting for an event returns ErrClosed when closed.
	errc := make(chan error)
	go func() {
		_, err := a.Next(context.Background())
		errc <- err
	}()
	a.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Next after Close: %v, want ErrClosed", err)
	}
	a.Close() // twice is fine

	// A closed subscription returns nothing more, not even its backlog.
	withBacklog := b.Subscribe(Filter{}, Live, 0)
	publishN(b, 3)
	backlog := b.Subscribe(Filter{}, 1, 0)
	withBacklog.Close()
	backlog.Close()
	if _, err := backlog.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on a closed subscription with a backlog: %v, want ErrClosed", err)
	}
	if _, err := withBacklog.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on a closed subscription with queued events: %v, want ErrClosed", err)
	}
	if b.Subscribers() != 1 {
		t.Fatalf("Subscribers() = %d after one Close, want 1", b.Subscribers())
	}
	publishN(b, 3) // offered to c only
	if _, err := a.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}

	ch := c.C()
	ctx := testCtx(t)
	for want := uint64(1); want <= 6; want++ {
		select {
		case e := <-ch:
			if e.Seq != want {
				t.Fatalf("C delivered seq %d, want %d", e.Seq, want)
			}
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	c.Close()
	if b.Subscribers() != 0 {
		t.Fatalf("Subscribers() = %d after closing both, want 0", b.Subscribers())
	}
	for range ch { // closed by Close; drains at most one in-flight event
	}
}

// seqOrMarker names an event by its seq, a marker by what it counts.
func seqOrMarker(e tracing.Event) string {
	if e.Kind == tracing.KindDropped {
		return fmt.Sprintf("dropped%v", e.Detail["count"])
	}
	return strconv.FormatUint(e.Seq, 10)
}

func TestCDeliversWhatNextWould(t *testing.T) {
	ctx := testCtx(t)
	b := New(5)
	publishN(b, 10) // 6..10 stored
	s := b.Subscribe(Filter{}, 2, 0)
	defer s.Close()
	publishN(b, 3) // 11..13 live; the ring now holds 9..13
	var got []string
	ch := s.C()
	for len(got) < 6 {
		select {
		case e := <-ch:
			got = append(got, seqOrMarker(e))
		case <-ctx.Done():
			t.Fatalf("got %v, then %v", got, ctx.Err())
		}
	}
	// 3..8 were overwritten before the subscriber read them.
	if want := "[dropped6 9 10 11 12 13]"; fmt.Sprint(got) != want {
		t.Fatalf("C delivered %v, want %s", got, want)
	}
}

// A batch is what Next would return one at a time, in order, markers
// included, never more than asked for and never empty; NextBatch waits
// only for its first event.
func TestBatchesDeliverWhatNextWould(t *testing.T) {
	ctx := testCtx(t)
	b := New(5)
	publishN(b, 10) // 6..10 stored
	s := b.Subscribe(Filter{}, 2, 0)
	defer s.Close()
	publishN(b, 3) // 11..13 live; the ring now holds 9..13
	var got []string
	var sizes []int
	ch := s.Batches(4)
	for len(got) < 6 {
		select {
		case evs := <-ch:
			sizes = append(sizes, len(evs))
			for _, e := range evs {
				got = append(got, seqOrMarker(e))
			}
		case <-ctx.Done():
			t.Fatalf("got %v, then %v", got, ctx.Err())
		}
	}
	if want := "[dropped6 9 10 11 12 13]"; fmt.Sprint(got) != want {
		t.Fatalf("Batches delivered %v, want %s", got, want)
	}
	// Everything was there at once: a full batch, then the rest.
	if fmt.Sprint(sizes) != "[4 2]" {
		t.Errorf("batch sizes %v, want [4 2]", sizes)
	}
	// A later event comes alone, as soon as it is published.
	b.Publish(ev(99))
	select {
	case evs := <-ch:
		if len(evs) != 1 || evs[0].Seq != 14 {
			t.Fatalf("after one more publish: %v", seqsOf(evs))
		}
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	s.Close()
	for range ch { // closed by Close
	}
}

func TestNextBatchWaitsForOneAndTakesWhatIsThere(t *testing.T) {
	ctx := testCtx(t)
	b := New(100)
	s := b.Subscribe(Filter{}, Live, 0)
	defer s.Close()
	done := make(chan []tracing.Event)
	go func() {
		evs, err := s.NextBatch(ctx, 10)
		if err != nil {
			t.Error(err)
		}
		done <- evs
	}()
	b.Publish(ev(1))
	if evs := <-done; len(evs) < 1 || evs[0].Seq != 1 {
		t.Fatalf("first batch %v, want it to start at seq 1", seqsOf(evs))
	} else if len(evs) == 1 {
		publishN(b, 25)
		for want, batch := uint64(2), 0; want <= 26; batch++ {
			evs, err := s.NextBatch(ctx, 10)
			if err != nil || len(evs) == 0 || len(evs) > 10 {
				t.Fatalf("batch %d: %v, %v", batch, seqsOf(evs), err)
			}
			for _, e := range evs {
				if e.Seq != want {
					t.Fatalf("batch %d has seq %d, want %d", batch, e.Seq, want)
				}
				want++
			}
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if evs, err := s.NextBatch(cancelled, 10); !errors.Is(err, context.Canceled) || evs != nil {
		t.Fatalf("NextBatch with nothing queued = %v, %v; want context.Canceled", seqsOf(evs), err)
	}
}

func TestNextReturnsQueuedEventsEvenWhenCtxIsDone(t *testing.T) {
	b := New(10)
	s := b.Subscribe(Filter{}, Live, 0)
	defer s.Close()
	publishN(b, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for want := uint64(1); want <= 2; want++ {
		if e, err := s.Next(ctx); err != nil || e.Seq != want {
			t.Fatalf("Next(cancelled) = seq %d, %v; want seq %d", e.Seq, err, want)
		}
	}
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next(cancelled) with nothing queued: %v, want context.Canceled", err)
	}
}

func TestPublishRecordedKeepsSeqs(t *testing.T) {
	ctx := testCtx(t)
	b := New(4)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	s := b.Subscribe(Filter{}, Live, 0)
	defer s.Close()
	for _, seq := range []uint64{5, 6, 9, 20, 21} {
		e := ev(int(seq))
		e.Seq, e.Time = seq, at
		if got := b.PublishRecorded(e); got.Seq != seq || !got.Time.Equal(at) {
			t.Fatalf("PublishRecorded(seq %d) stored seq %d time %v", seq, got.Seq, got.Time)
		}
	}
	// Not greater than the last seq: numbered like Publish.
	e := ev(0)
	e.Seq = 3
	if got := b.PublishRecorded(e); got.Seq != 22 {
		t.Fatalf("PublishRecorded(seq 3 after 21) stored seq %d, want 22", got.Seq)
	}
	for _, want := range []uint64{5, 6, 9, 20, 21, 22} {
		if e := next(t, ctx, s); e.Seq != want {
			t.Fatalf("subscriber got seq %d, want %d", e.Seq, want)
		}
	}
	// Ring of 4 holds 9, 20, 21, 22; gaps are not "lost".
	if _, ok := b.Get(20); !ok {
		t.Fatal("Get(20) failed")
	}
	if _, ok := b.Get(19); ok {
		t.Fatal("Get(19) found a seq that was never published")
	}
	if got := seqsOf(b.Events(Filter{}, 10, 0)); fmt.Sprint(got) != "[20 21 22]" {
		t.Fatalf("Events after 10 = %v", got)
	}
	// Backlog after 7: only 5 and 6 were evicted, and the seqs 7, 8 and
	// 10..19 never existed, so 9, 20, 21, 22 with no marker.
	s2 := b.Subscribe(Filter{}, 7, 0)
	defer s2.Close()
	for _, want := range []uint64{9, 20, 21, 22} {
		if e := next(t, ctx, s2); e.Seq != want || e.Kind == tracing.KindDropped {
			t.Fatalf("backlog after 7: got %s seq %d, want seq %d", e.Kind, e.Seq, want)
		}
	}
	// Backlog after 4: 5 and 6 were evicted.
	s3 := b.Subscribe(Filter{}, 4, 0)
	defer s3.Close()
	wantMarker(t, ctx, s3, 2, 5, 6)
}

func TestSinceZeroStartsAtTheOldestStoredEvent(t *testing.T) {
	b := New(4)
	for i := 0; i < 6; i++ { // seqs 3..6 stay in the ring
		b.Publish(tracing.Event{Kind: tracing.KindHTTP, Summary: "x"})
	}
	s := b.Subscribe(Filter{}, 0, 0)
	defer s.Close()
	for want := uint64(3); want <= 6; want++ {
		ev, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != want || ev.Kind == tracing.KindDropped {
			t.Fatalf("since=0: got %+v, want seq %d and no marker", ev, want)
		}
	}
}
