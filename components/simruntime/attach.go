package simruntime

import (
	"context"
	"io"
	"sync"
)

// Attach: `kubectl attach` (and `kubectl run -i`) joins a running
// container's own streams: from then on it receives what PID 1 writes,
// and, if the pod asked for stdin, what it types goes to PID 1's stdin,
// as containerd's shim joins a client to the container's fifos. Output
// still goes to the log as well.

// attachQueue bounds the output waiting for one attached client: one that
// cannot keep up loses output rather than slowing the container.
const attachQueue = 1024

// attachHub fans a container's output out to its attached clients, and
// their input in to its stdin.
type attachHub struct {
	mu      sync.Mutex
	clients map[*attachClient]struct{}
	// stdin is PID 1's stdin, for a container with stdin open; nil
	// otherwise. stdinOnce closes it after the first client detaches.
	stdinR    *io.PipeReader
	stdinW    *io.PipeWriter
	stdinOnce bool
}

type attachClient struct {
	q chan outputChunk
}

type outputChunk struct {
	stderr bool
	data   []byte
}

func newAttachHub(stdin, stdinOnce bool) *attachHub {
	h := &attachHub{clients: map[*attachClient]struct{}{}, stdinOnce: stdinOnce}
	if stdin {
		h.stdinR, h.stdinW = io.Pipe()
	}
	return h
}

// stdin is what PID 1 reads: the attached clients' input, or nothing
// until the container ends if nobody attaches.
func (h *attachHub) stdin() io.Reader {
	if h.stdinR == nil {
		return nil
	}
	return h.stdinR
}

// close ends PID 1's stdin (the container has stopped).
func (h *attachHub) close() {
	if h.stdinW != nil {
		_ = h.stdinW.Close()
		_ = h.stdinR.Close()
	}
}

// writer is the container's stdout (or stderr): next, and every client.
func (h *attachHub) writer(next io.Writer, stderr bool) io.Writer {
	return hubWriter{h: h, next: next, stderr: stderr}
}

type hubWriter struct {
	h      *attachHub
	next   io.Writer
	stderr bool
}

func (w hubWriter) Write(p []byte) (int, error) {
	n, err := w.next.Write(p)
	w.h.mu.Lock()
	for c := range w.h.clients {
		select {
		case c.q <- outputChunk{stderr: w.stderr, data: append([]byte(nil), p...)}:
		default:
		}
	}
	w.h.mu.Unlock()
	return n, err
}

// attach serves one client until ctx ends, a write to it fails, or the
// container ends. A client that disconnects is noticed at the container's
// next output (the streaming server's context outlives a hijacked
// connection), as containerd's attach notices it.
func (h *attachHub) attach(ctx context.Context, ended <-chan struct{}, in io.Reader, out, errw io.Writer) {
	c := &attachClient{q: make(chan outputChunk, attachQueue)}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
	}()
	if in != nil && h.stdinW != nil {
		go func() {
			// Ends when the client's input does (the streaming server
			// closes it once attach returns), or when the pipe is closed
			// with the container.
			_, _ = io.Copy(h.stdinW, in)
			if h.stdinOnce {
				_ = h.stdinW.Close()
			}
		}()
	}
	// deliver writes one chunk to the client; false if it has gone.
	deliver := func(ch outputChunk) bool {
		w := out
		if ch.stderr && errw != nil {
			w = errw
		}
		if w == nil {
			return true
		}
		_, err := w.Write(ch.data)
		return err == nil
	}
	for {
		select {
		case ch := <-c.q:
			if !deliver(ch) {
				return
			}
		case <-ctx.Done():
			return
		case <-ended:
			// What PID 1 wrote last is still queued.
			for {
				select {
				case ch := <-c.q:
					if !deliver(ch) {
						return
					}
				default:
					return
				}
			}
		}
	}
}
