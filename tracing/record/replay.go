package record

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// Replay publishes rec's events into b in order, keeping their recorded
// Seq and Time (bus.PublishRecorded), so Cause links and since-resumption
// work as they did live. It paces them by their recorded times: an event
// recorded d after the first one is published d/speed after Replay started.
// speed <= 0 (or +Inf, or NaN) publishes as fast as possible.
//
// b must be fresh, or at least not have reached the recording's first seq:
// otherwise the recorded seqs could not be kept and Replay refuses to start.
// Replay returns nil when every event is published and ctx's error
// (wrapped) if ctx ends first.
func Replay(ctx context.Context, rec *Recording, b *bus.Bus, speed float64) error {
	if len(rec.Events) == 0 {
		return nil
	}
	if last := b.LastSeq(); last >= rec.Events[0].Seq {
		return fmt.Errorf("replay %s: the bus already has events up to seq %d and the recording starts at seq %d; replay into a fresh bus",
			rec.Name, last, rec.Events[0].Seq)
	}
	paced := speed > 0 && !math.IsInf(speed, 1)
	start := time.Now()
	t0 := rec.Events[0].Time
	// One timer for the whole replay, rather than one per event.
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for i, ev := range rec.Events {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay %s: stopped before event %d of %d: %w", rec.Name, i+1, len(rec.Events), err)
		}
		if paced {
			// Measured from the start rather than from the previous event,
			// so time spent publishing does not accumulate as drift. An
			// event recorded before the one ahead of it (http events carry
			// their arrival time but are published on completion) is due at
			// once.
			if wait := time.Until(start.Add(scale(ev.Time.Sub(t0), speed))); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return fmt.Errorf("replay %s: stopped before event %d of %d: %w", rec.Name, i+1, len(rec.Events), ctx.Err())
				}
			}
		}
		b.PublishRecorded(ev)
	}
	return nil
}

// scale divides d by speed, saturating instead of overflowing for very slow
// speeds.
func scale(d time.Duration, speed float64) time.Duration {
	f := float64(d) / speed
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}
