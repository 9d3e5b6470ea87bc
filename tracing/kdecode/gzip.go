package kdecode

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"
)

// gunzipDecoder decompresses a gzip watch stream into another decoder.
//
// compress/gzip can only pull bytes from a reader, while the parser is
// pushed bytes by Write, so the decompressor runs on its own goroutine and
// reads from a channel. The two take turns: feed hands over a chunk and
// waits until the goroutine has used it up and asks for the next, so events
// are emitted before feed returns and the chunk is never touched afterwards
// (the caller may reuse it).
//
// The apiserver (perFlushGzipWriter in apiserver/pkg/endpoints/handlers)
// ends the gzip member at every flush and starts a new one with the next
// write. Members are read one at a time (Multistream(false)) so that a
// member's last events are emitted as soon as the member is complete, not
// only once the next member's header arrives.
type gunzipDecoder struct {
	inner streamDecoder

	chunks   chan []byte     // feed → goroutine
	consumed chan struct{}   // goroutine → feed: chunk used up, send more
	exited   chan gunzipExit // goroutine → feed/finish, once
	stop     func()          // closes chunks, once; safe from any goroutine
	result   *gunzipExit     // how the goroutine ended, once known
}

type gunzipExit struct {
	err      error
	panicked bool
	panicVal any
}

func newGunzipDecoder(inner streamDecoder) *gunzipDecoder {
	chunks := make(chan []byte)
	g := &gunzipDecoder{
		inner:    inner,
		chunks:   chunks,
		consumed: make(chan struct{}),
		exited:   make(chan gunzipExit, 1),
		stop:     sync.OnceFunc(func() { close(chunks) }),
	}
	src := &chunkReader{chunks: chunks, consumed: g.consumed}
	go g.run(src)
	return g
}

// run is the decompressing goroutine. A panic in the inner decoder (that
// is, in the caller's emit) is carried back to the goroutine calling Write
// and re-raised there, as it would be for an identity stream.
func (g *gunzipDecoder) run(src *chunkReader) {
	var exit gunzipExit
	defer func() {
		if v := recover(); v != nil {
			exit = gunzipExit{panicked: true, panicVal: v}
		}
		g.exited <- exit
	}()
	exit.err = g.decompress(src)
}

func (g *gunzipDecoder) decompress(src *chunkReader) error {
	// chunkReader is an io.ByteReader, so neither gzip nor flate wraps it in
	// a bufio.Reader that would read ahead into the next member.
	zr := new(gzip.Reader)
	out := feedWriter{g.inner}
	buf := make([]byte, 32<<10)
	for member := 0; ; member++ {
		if err := zr.Reset(src); err != nil {
			if err == io.EOF {
				return nil // the stream ended between members
			}
			return fmt.Errorf("gzip watch stream: reading the header of member %d: %w", member, err)
		}
		zr.Multistream(false)
		if _, err := io.CopyBuffer(out, zr, buf); err != nil {
			var fe feedError
			if errors.As(err, &fe) {
				return fe.err
			}
			return fmt.Errorf("gzip watch stream: decompressing member %d: %w", member, err)
		}
	}
}

// feedWriter adapts the inner decoder for io.Copy, marking its errors so
// they are not reported as decompression errors.
type feedWriter struct{ d streamDecoder }

type feedError struct{ err error }

func (e feedError) Error() string { return e.err.Error() }

func (w feedWriter) Write(p []byte) (int, error) {
	if err := w.d.feed(p); err != nil {
		return 0, feedError{err}
	}
	return len(p), nil
}

func (g *gunzipDecoder) feed(p []byte) error {
	if g.result != nil {
		return g.result.err
	}
	if len(p) == 0 {
		return nil
	}
	select {
	case g.chunks <- p:
	case e := <-g.exited:
		return g.exit(e)
	}
	select {
	case <-g.consumed:
		return nil
	case e := <-g.exited:
		return g.exit(e)
	}
}

func (g *gunzipDecoder) finish() error {
	if g.result == nil {
		g.stop()
		if err := g.exit(<-g.exited); err != nil {
			return err
		}
	}
	if g.result.err != nil {
		return g.result.err
	}
	return g.inner.finish()
}

// exit records how the goroutine ended and returns its error, re-raising a
// panic once on the calling goroutine (later calls just report it). The
// goroutine only ends without an error at the end of input, after stop.
func (g *gunzipDecoder) exit(e gunzipExit) error {
	if e.panicked {
		g.result = &gunzipExit{err: fmt.Errorf("gzip watch stream: emit panicked: %v", e.panicVal)}
		panic(e.panicVal)
	}
	g.result = &e
	return e.err
}

// chunkReader is the decompressor's end of the hand-over: it reads the
// chunks feed sends and, each time one is used up, tells feed so before
// waiting for the next. A closed channel is the end of the stream.
type chunkReader struct {
	chunks   <-chan []byte
	consumed chan<- struct{}
	cur      []byte
	started  bool
	eof      bool
}

func (r *chunkReader) fill() bool {
	for len(r.cur) == 0 {
		if r.eof {
			return false
		}
		if r.started {
			r.consumed <- struct{}{}
		}
		r.started = true
		chunk, ok := <-r.chunks
		if !ok {
			r.eof = true
			return false
		}
		r.cur = chunk
	}
	return true
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !r.fill() {
		return 0, io.EOF
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) ReadByte() (byte, error) {
	if !r.fill() {
		return 0, io.EOF
	}
	c := r.cur[0]
	r.cur = r.cur[1:]
	return c, nil
}
