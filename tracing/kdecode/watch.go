package kdecode

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// WatchEvent is one event the apiserver wrote to a watcher.
type WatchEvent struct {
	// Type is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
	Type string
	// Object identifies the event's object. A BOOKMARK's object carries only
	// a resourceVersion; an ERROR's is a Status.
	Object ObjectMeta
	// Raw is the object's bytes as written: a JSON object, or the protobuf
	// envelope ("k8s\x00" followed by a runtime.Unknown). It is the event's
	// own copy; the parser keeps no reference to it.
	Raw []byte
	// Encoding is EncodingJSON or EncodingProtobuf.
	Encoding string
}

// WatchParser turns the bytes the apiserver writes to one watcher into
// events. It is an io.Writer so that it can sit behind the watch's
// http.ResponseWriter: the bytes may arrive split at any point (the
// protobuf framer writes each length header with its own Write call), and
// events are emitted, in order, as soon as their last byte arrives.
//
// A WatchParser is not safe for concurrent use; the apiserver writes each
// watch from one goroutine.
type WatchParser struct {
	dec    streamDecoder
	stop   func() // ends the gzip goroutine; nil for identity streams
	err    error  // why the parser stopped, once it has
	closed bool
}

// streamDecoder is one layer of a watch stream: a framing, or gzip around a
// framing.
type streamDecoder interface {
	// feed consumes all of p, emitting every event it completes, or
	// returns the error that makes the rest of the stream unreadable.
	feed(p []byte) error
	// finish is called at the end of the stream and reports one that ended
	// in the middle of an event.
	finish() error
}

// NewWatchParser returns a parser for a watch response with the given
// Content-Type and no Content-Encoding. emit is called once per event, on
// the goroutine calling Write, before that Write returns.
//
// JSON (application/json, with or without ;stream=watch) and protobuf
// (application/vnd.kubernetes.protobuf;stream=watch) are supported; other
// content types, such as CBOR, fail with ErrUnsupportedContentType.
func NewWatchParser(contentType string, emit func(WatchEvent)) (*WatchParser, error) {
	return NewWatchParserWithEncoding(contentType, "", emit)
}

// NewWatchParserWithEncoding is NewWatchParser for a response with a
// Content-Encoding. The apiserver gzips watch-list streams
// (sendInitialEvents=true, feature WatchListCompression, on by default since
// 1.37) for clients that accept gzip, which client-go's informers do unless
// DisableCompression is set; the bytes its ResponseWriter sees are then a
// series of gzip members, one per flush. contentEncoding may be "",
// "identity" or "gzip".
//
// A gzip parser decompresses on a goroutine of its own, in lockstep with
// Write: Write returns once the goroutine has consumed every byte and
// emitted every event those bytes completed, so emit still runs before
// Write returns (though not on its goroutine). Call Close when the response
// ends to stop the goroutine; a parser that becomes unreachable is stopped
// by the garbage collector as a safety net.
func NewWatchParserWithEncoding(contentType, contentEncoding string, emit func(WatchEvent)) (*WatchParser, error) {
	if emit == nil {
		return nil, errors.New("kdecode: NewWatchParser needs an emit function")
	}
	enc, err := encodingOf(contentType)
	if err != nil {
		return nil, fmt.Errorf("watch stream: %w", err)
	}
	var dec streamDecoder
	if enc == EncodingJSON {
		dec = &jsonFramer{emit: emit}
	} else {
		dec = &protobufFramer{emit: emit}
	}
	p := &WatchParser{dec: dec}
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
	case "gzip":
		g := newGunzipDecoder(dec)
		p.dec, p.stop = g, g.stop
		// Only the channel-closing stop function is captured, never p, so
		// a forgotten parser does not keep itself alive.
		runtime.AddCleanup(p, func(stop func()) { stop() }, g.stop)
	default:
		return nil, fmt.Errorf("watch stream: unsupported Content-Encoding %q", contentEncoding)
	}
	return p, nil
}

// Write feeds the next bytes of the stream. It fails only for a malformed
// stream: it then returns the error once and ignores everything after it,
// accepting the bytes, so that a caller teeing the apiserver's writes can
// keep serving the watcher. It never panics on any input, and never buffers
// more than MaxFrameSize bytes for one event.
func (p *WatchParser) Write(b []byte) (int, error) {
	if p.closed {
		return 0, errors.New("kdecode: write to a closed WatchParser")
	}
	if p.err != nil {
		return len(b), nil
	}
	if err := p.dec.feed(b); err != nil {
		p.err = err
		if p.stop != nil {
			p.stop()
		}
		return 0, err
	}
	return len(b), nil
}

// Close ends the stream. It reports a stream that stopped in the middle of
// an event (a truncated frame), unless Write already reported an error.
// It stops a gzip parser's goroutine and is safe to call more than once.
func (p *WatchParser) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.err != nil {
		if p.stop != nil {
			p.stop()
		}
		return nil
	}
	if err := p.dec.finish(); err != nil {
		p.err = err
		return err
	}
	return nil
}

// Err returns the error that stopped the parser, or nil.
func (p *WatchParser) Err() error {
	return p.err
}

// protobufFramer reads the protobuf watch framing. The apiserver's framer
// (apimachinery/pkg/util/framer, via protobuf.LengthDelimitedFramer) writes
// each event as a 4-byte big-endian length and then the event, with two
// Write calls. The event is a metav1.WatchEvent encoded by the *raw*
// protobuf serializer (the protobuf StreamSerializer), so unlike every
// other protobuf body it has no "k8s\x00" envelope:
//
//	1 type   string
//	2 object runtime.RawExtension { 1 raw bytes }
//
// and raw is the object encoded by the regular serializer, envelope and all.
type protobufFramer struct {
	emit func(WatchEvent)

	header    [4]byte
	headerLen int    // bytes of header received; 4 while in a frame body
	frameLen  int    // length of the current frame, once the header is in
	buf       []byte // the current frame body, when it spans writes
}

func (f *protobufFramer) feed(p []byte) error {
	for {
		if f.headerLen < len(f.header) {
			if len(p) == 0 {
				return nil
			}
			n := copy(f.header[f.headerLen:], p)
			f.headerLen += n
			p = p[n:]
			if f.headerLen < len(f.header) {
				return nil
			}
			size := binary.BigEndian.Uint32(f.header[:])
			if size > MaxFrameSize {
				return fmt.Errorf("protobuf watch stream: frame of %d bytes exceeds the %d byte limit", size, MaxFrameSize)
			}
			f.frameLen = int(size)
		}
		need := f.frameLen - len(f.buf)
		if len(f.buf) == 0 && len(p) >= need {
			// The whole frame is in this write, as it is when the
			// apiserver writes it: decode it in place.
			if err := f.frame(p[:need]); err != nil {
				return err
			}
			p = p[need:]
		} else {
			take := min(need, len(p))
			f.buf = append(f.buf, p[:take]...)
			p = p[take:]
			if len(f.buf) < f.frameLen {
				return nil
			}
			if err := f.frame(f.buf); err != nil {
				return err
			}
			f.buf = releaseLarge(f.buf)
		}
		f.headerLen = 0
	}
}

func (f *protobufFramer) finish() error {
	if f.headerLen == 0 {
		return nil
	}
	if f.headerLen < len(f.header) {
		return fmt.Errorf("protobuf watch stream ended inside a frame header (%d of 4 bytes)", f.headerLen)
	}
	return fmt.Errorf("protobuf watch stream ended inside a frame (%d of %d bytes)", len(f.buf), f.frameLen)
}

func (f *protobufFramer) frame(b []byte) error {
	ev, err := parseProtobufWatchEvent(b)
	if err != nil {
		return fmt.Errorf("protobuf watch stream: %w", err)
	}
	f.emit(ev)
	return nil
}

func parseProtobufWatchEvent(b []byte) (WatchEvent, error) {
	if len(b) == 0 {
		return WatchEvent{}, errors.New("empty frame")
	}
	// The apiserver never envelopes the event itself (see protobufFramer),
	// but an enveloped one is unambiguous — a raw WatchEvent starts with the
	// tag of field 1, 0x0a, never 'k' — so accept it too.
	if hasProtobufMagic(b) {
		env, err := parseEnvelope(b)
		if err != nil {
			return WatchEvent{}, fmt.Errorf("decoding watch event: %w", err)
		}
		b = env.raw
	}
	var typ string
	var object []byte
	err := walkFields(b, func(num protowire.Number, wt protowire.Type, v []byte) error {
		switch num {
		case 1:
			if wt != protowire.BytesType {
				return wireTypeError("WatchEvent.type", wt)
			}
			typ = string(v)
		case 2:
			if wt != protowire.BytesType {
				return wireTypeError("WatchEvent.object", wt)
			}
			return walkFields(v, func(num protowire.Number, wt protowire.Type, v []byte) error {
				if num != 1 {
					return nil
				}
				if wt != protowire.BytesType {
					return wireTypeError("RawExtension.raw", wt)
				}
				object = v
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return WatchEvent{}, fmt.Errorf("decoding watch event: %w", err)
	}
	if typ == "" {
		return WatchEvent{}, errors.New("decoding watch event: no type")
	}
	if len(object) == 0 {
		return WatchEvent{}, fmt.Errorf("decoding %s watch event: no object", typ)
	}
	meta, err := protobufObjectMeta(object)
	if err != nil {
		return WatchEvent{}, fmt.Errorf("decoding the object of a %s watch event: %w", typ, err)
	}
	return WatchEvent{Type: typ, Object: meta, Raw: bytes.Clone(object), Encoding: EncodingProtobuf}, nil
}

// jsonFramer reads the JSON watch framing: the JSON framer writes events
// straight through (they are self-delimiting) and the JSON serializer
// encodes each one with encoding/json's Encoder, so the stream is a series
// of objects {"type":…,"object":{…}}, each followed by a newline, one Write
// call per event. Readers (framer.NewJSONFramedReader) accept any
// whitespace between objects, and so does this.
//
// Objects are delimited by tracking bracket depth outside of strings, which
// needs no buffering of its own; encoding/json then validates each one.
type jsonFramer struct {
	emit func(WatchEvent)

	inValue  bool // between the first '{' and its matching '}'
	depth    int
	inString bool
	escaped  bool   // the previous byte was a backslash inside a string
	size     int    // bytes of the current value so far
	buf      []byte // the current value, when it spans writes
}

func (f *jsonFramer) feed(p []byte) error {
	for len(p) > 0 {
		if !f.inValue {
			i := 0
			for i < len(p) && isJSONSpace(p[i]) {
				i++
			}
			p = p[i:]
			if len(p) == 0 {
				return nil
			}
			if p[0] != '{' {
				return fmt.Errorf("JSON watch stream: expected '{' to start an event, found %q", p[0])
			}
			f.inValue, f.depth, f.inString, f.escaped, f.size = true, 0, false, false, 0
		}
		end, complete := f.scan(p)
		f.size += end
		if f.size > MaxFrameSize {
			return fmt.Errorf("JSON watch stream: event exceeds the %d byte limit", MaxFrameSize)
		}
		if !complete {
			f.buf = append(f.buf, p...)
			return nil
		}
		value := p[:end]
		if len(f.buf) > 0 {
			f.buf = append(f.buf, value...)
			value = f.buf
		}
		err := f.event(value)
		f.buf = releaseLarge(f.buf)
		f.inValue = false
		if err != nil {
			return err
		}
		p = p[end:]
	}
	return nil
}

// scan advances the delimiter state over p and returns how many bytes of p
// belong to the current value and whether they complete it.
func (f *jsonFramer) scan(p []byte) (int, bool) {
	for i, c := range p {
		switch {
		case f.inString:
			switch {
			case f.escaped:
				f.escaped = false
			case c == '\\':
				f.escaped = true
			case c == '"':
				f.inString = false
			}
		case c == '"':
			f.inString = true
		case c == '{' || c == '[':
			f.depth++
		case c == '}' || c == ']':
			f.depth--
			if f.depth == 0 {
				return i + 1, true
			}
		}
	}
	return len(p), false
}

func (f *jsonFramer) finish() error {
	if f.inValue {
		return fmt.Errorf("JSON watch stream ended inside an event (%d bytes)", f.size)
	}
	return nil
}

func (f *jsonFramer) event(b []byte) error {
	var ev struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return fmt.Errorf("JSON watch stream: decoding event: %w", err)
	}
	if ev.Type == "" {
		return errors.New("JSON watch stream: event has no type")
	}
	// json.RawMessage holds a copy, so Raw does not alias the caller's bytes.
	meta, err := jsonObjectMeta(ev.Object)
	if err != nil {
		return fmt.Errorf("JSON watch stream: decoding the object of a %s event: %w", ev.Type, err)
	}
	f.emit(WatchEvent{Type: ev.Type, Object: meta, Raw: ev.Object, Encoding: EncodingJSON})
	return nil
}

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// releaseLarge empties a frame buffer for reuse, but lets go of one grown
// by an unusually large event rather than pinning it for the watch's life.
func releaseLarge(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b[:0]
}
