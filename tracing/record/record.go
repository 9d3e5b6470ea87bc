// Package record saves trace events to a file and plays them back.
//
// A recording is JSON Lines: a header object on the first line, then one
// tracing.Event per line in seq order, exactly as the websocket stream sends
// them (docs/trace-format.md, "Recording files"). Recordings are small
// enough (a lab session is at most a few hundred thousand events) to be read
// into memory whole.
package record

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// RecordQueue is the subscription queue Record uses: about a minute of a
// very busy cluster, so a disk that stalls for a moment loses nothing.
const RecordQueue = 65536

// Header is the first line of a recording. WheelhouseTrace is always 1; it
// is what tells a recording apart from any other JSON Lines file.
type Header struct {
	WheelhouseTrace int `json:"wheelhouseTrace"`
	// FormatVersion is tracing.FormatVersion of the build that wrote it.
	FormatVersion int `json:"formatVersion"`
	// Started is when recording began (RFC 3339 with nanoseconds in JSON).
	Started time.Time `json:"started"`
}

// Writer writes a recording: the header, then one JSON line per event. It
// buffers; call Flush to push what was written to the underlying writer and
// Close when done. It is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	closed bool
}

// NewWriter starts a recording on w, stamped as started now. The header is
// buffered at once, so an error writing it is reported by the first Write,
// Flush or Close.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	h, _ := json.Marshal(Header{WheelhouseTrace: 1, FormatVersion: tracing.FormatVersion, Started: time.Now()}) // cannot fail: fixed types
	bw.Write(h)
	bw.WriteByte('\n')
	return &Writer{bw: bw}
}

// Write appends ev as one line. Detail values must be encodable by
// encoding/json (no channels, functions or NaN).
func (w *Writer) Write(ev tracing.Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode trace event seq %d: %w", ev.Seq, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("write trace event seq %d: recording already closed", ev.Seq)
	}
	w.bw.Write(line)
	if err := w.bw.WriteByte('\n'); err != nil {
		// bufio keeps the first error, so this also reports a failure of
		// an earlier flush or of the header.
		return fmt.Errorf("write trace event seq %d: %w", ev.Seq, err)
	}
	return nil
}

// Flush writes buffered lines to the underlying writer.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush trace recording: %w", err)
	}
	return nil
}

// Close flushes and refuses further writes. It does not close the
// underlying writer, which belongs to the caller. Closing twice is a no-op.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush trace recording: %w", err)
	}
	return nil
}

// Record writes every event published on b from now on, noise included, to
// w until ctx ends, then writes the events that were already queued when it
// ended, flushes and returns nil. It returns early only if writing fails.
//
// It flushes whenever it has caught up, so a recording of a quiet cluster is
// on disk within moments. If the disk is slower than the cluster for long
// enough to fill RecordQueue, the recording gets the bus's KindDropped
// marker in place of the lost events, so it says where it has a gap.
func Record(ctx context.Context, b *bus.Bus, w io.Writer) error {
	return record(ctx, b, w, RecordQueue)
}

func record(ctx context.Context, b *bus.Bus, w io.Writer, queue int) error {
	// since=0: everything the bus holds, so nothing published before the
	// recorder subscribed is missing from the file.
	sub := b.Subscribe(bus.Filter{IncludeNoise: true}, 0, queue)
	defer sub.Close()
	rw := NewWriter(w)
	// stopAt is the last seq to write once ctx has ended: what was
	// published before we noticed. Without it a busy cluster could keep
	// Record writing forever after it was told to stop.
	var stopping bool
	var stopAt uint64
	for {
		// Next returns queued events even when ctx is done, and ctx's
		// error only when the queue is empty.
		ev, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, ctx.Err()) {
				break
			}
			return fmt.Errorf("record trace: %w", err)
		}
		if ctx.Err() != nil {
			if !stopping {
				stopping, stopAt = true, b.LastSeq()
			}
			if ev.Seq > stopAt {
				break
			}
		}
		if err := rw.Write(ev); err != nil {
			return fmt.Errorf("record trace: %w", err)
		}
		if sub.Buffered() == 0 {
			if err := rw.Flush(); err != nil {
				return fmt.Errorf("record trace: %w", err)
			}
		}
	}
	if err := rw.Close(); err != nil {
		return fmt.Errorf("record trace: %w", err)
	}
	return nil
}
