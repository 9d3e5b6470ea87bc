package kdecode

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	restclientwatch "k8s.io/client-go/rest/watch"
)

type watchFormat struct {
	name, mediaType, contentType, encoding string
}

// formats are the two watch encodings, with the media type the apiserver
// negotiates and the Content-Type it then sets on the response
// (serveWatchHandler: ";stream=watch" is added for all but JSON).
func formats() []watchFormat {
	return []watchFormat{
		{"json", "application/json", jsonWatchContentType, EncodingJSON},
		{"protobuf", "application/vnd.kubernetes.protobuf", protobufWatchContentType, EncodingProtobuf},
	}
}

// perFlushGzipWriter mimics the apiserver's writer of the same name: a gzip
// member is started by the first write after a flush and finished by the
// flush.
type perFlushGzipWriter struct {
	w  io.Writer
	zw *gzip.Writer
}

func (p *perFlushGzipWriter) Write(b []byte) (int, error) {
	if p.zw == nil {
		p.zw = gzip.NewWriter(p.w)
	}
	return p.zw.Write(b)
}

func (p *perFlushGzipWriter) flush() error {
	if p.zw == nil {
		return nil
	}
	err := p.zw.Close()
	p.zw = nil
	return err
}

// teeResponseWriter is the tracer's position: it sees every Write the
// watch handler makes, in the same pieces.
type teeResponseWriter struct {
	http.ResponseWriter
	parser    *WatchParser
	writes    [][]byte
	parserErr error
}

func (t *teeResponseWriter) Write(p []byte) (int, error) {
	t.writes = append(t.writes, bytes.Clone(p))
	if _, err := t.parser.Write(p); err != nil && t.parserErr == nil {
		t.parserErr = err
	}
	return t.ResponseWriter.Write(p)
}

type serverResult struct {
	events    []WatchEvent
	writes    [][]byte
	parserErr error
	err       error
}

// TestWatchParserBehindHTTPServer serves watch streams written the way the
// apiserver writes them, parses them where the tracer does (wrapping the
// ResponseWriter), and reads them with client-go's watch decoder to show
// the stream is one a real client accepts.
func TestWatchParserBehindHTTPServer(t *testing.T) {
	events := testEvents()
	for _, f := range formats() {
		for _, contentEncoding := range []string{"", "gzip"} {
			t.Run(f.name+"/"+contentEncoding, func(t *testing.T) {
				info := serializerInfo(t, f.mediaType)
				results := make(chan serverResult, 1)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					results <- serveWatch(w, info, f.contentType, contentEncoding, events)
				}))
				defer srv.Close()

				req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				if contentEncoding == "gzip" {
					// As Go's transport does for client-go; set explicitly
					// so the test does not depend on transport defaults.
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body io.ReadCloser = resp.Body
				if resp.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(resp.Body)
					if err != nil {
						t.Fatal(err)
					}
					body = zr
				}
				clientEvents := readWithClientGo(t, info, body)
				res := <-results
				if res.err != nil {
					t.Fatal(res.err)
				}

				if len(clientEvents) != len(events) {
					t.Fatalf("client-go read %d events, want %d", len(clientEvents), len(events))
				}
				for i := range events {
					if clientEvents[i].Type != events[i].Type {
						t.Errorf("client-go event %d: type %s, want %s", i, clientEvents[i].Type, events[i].Type)
					}
					got, want := clientEvents[i].Object.DeepCopyObject(), events[i].Object.DeepCopyObject()
					got.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
					want.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
					if !apiequality.Semantic.DeepEqual(got, want) {
						t.Errorf("client-go event %d: object %#v, want %#v", i, got, want)
					}
				}

				if res.parserErr != nil {
					t.Fatalf("parser: %v", res.parserErr)
				}
				checkEvents(t, res.events, events, f.encoding)
				if contentEncoding == "" {
					checkAPIServerWrites(t, f.encoding, res.writes, len(events))
				}
			})
		}
	}
}

// serveWatch is the handler side of TestWatchParserBehindHTTPServer: the
// apiserver's WatchServer.HandleHTTP reduced to what shapes the bytes. It
// flushes after every third event, as the apiserver flushes whenever its
// event channel is momentarily empty.
func serveWatch(w http.ResponseWriter, info runtime.SerializerInfo, contentType, contentEncoding string, events []watch.Event) serverResult {
	var res serverResult
	parser, err := NewWatchParserWithEncoding(contentType, contentEncoding, func(ev WatchEvent) {
		res.events = append(res.events, ev)
	})
	if err != nil {
		res.err = err
		return res
	}
	flusher := w.(http.Flusher)
	tee := &teeResponseWriter{ResponseWriter: w, parser: parser}
	w.Header().Set("Content-Type", contentType)
	if contentEncoding != "" {
		w.Header().Set("Content-Encoding", contentEncoding)
	}
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	var out io.Writer = tee
	flush := func() error { flusher.Flush(); return nil }
	if contentEncoding == "gzip" {
		gz := &perFlushGzipWriter{w: tee}
		out = gz
		flush = func() error {
			err := gz.flush()
			flusher.Flush()
			return err
		}
	}
	aw := newAPIServerWatchWriter(info, out)
	for i, ev := range events {
		if err := aw.write(ev); err != nil {
			res.err = err
			return res
		}
		if i%3 == 2 || i == len(events)-1 {
			if err := flush(); err != nil {
				res.err = err
				return res
			}
		}
	}
	res.writes, res.parserErr = tee.writes, tee.parserErr
	if err := parser.Close(); err != nil && res.parserErr == nil {
		res.parserErr = err
	}
	return res
}

// readWithClientGo decodes a watch body as client-go's rest.Request.Watch
// does.
func readWithClientGo(t *testing.T, info runtime.SerializerInfo, body io.ReadCloser) []watch.Event {
	t.Helper()
	dec := restclientwatch.NewDecoder(
		streaming.NewDecoder(info.StreamSerializer.Framer.NewFrameReader(body), info.StreamSerializer.Serializer),
		scheme.Codecs.UniversalDeserializer())
	var out []watch.Event
	for {
		typ, obj, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("client-go decoder: %v", err)
		}
		out = append(out, watch.Event{Type: typ, Object: obj})
	}
}

// checkAPIServerWrites pins down how the apiserver's writes split events:
// the protobuf framer writes the 4-byte length and the event separately,
// and JSON events are written whole, each ending in a newline.
func checkAPIServerWrites(t *testing.T, encoding string, writes [][]byte, events int) {
	t.Helper()
	switch encoding {
	case EncodingProtobuf:
		if len(writes) != 2*events {
			t.Fatalf("%d writes for %d protobuf events, want 2 per event", len(writes), events)
		}
		for i := 0; i < len(writes); i += 2 {
			if len(writes[i]) != 4 {
				t.Errorf("write %d is %d bytes, want a 4-byte length header", i, len(writes[i]))
				continue
			}
			if n := binary.BigEndian.Uint32(writes[i]); int(n) != len(writes[i+1]) {
				t.Errorf("write %d: header says %d bytes, next write has %d", i, n, len(writes[i+1]))
			}
			if hasProtobufMagic(writes[i+1]) {
				t.Errorf("write %d: the watch event is enveloped; the apiserver writes it raw", i+1)
			}
		}
	case EncodingJSON:
		if len(writes) != events {
			t.Fatalf("%d writes for %d JSON events, want 1 per event", len(writes), events)
		}
		for i, w := range writes {
			if !bytes.HasSuffix(w, []byte("\n")) || bytes.Count(w, []byte("\n")) != 1 {
				t.Errorf("write %d does not end in its only newline: %q", i, w)
			}
		}
	}
}

// TestWatchParserEverySplit feeds a stream in two writes split at every
// byte, and one byte per write, and expects the events of the whole stream.
func TestWatchParserEverySplit(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			events := testEvents()
			stream, _ := watchStream(t, f.mediaType, events)
			want, err := parseChunks(t, f.contentType, "", stream)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, want, events, f.encoding)

			for i := 0; i <= len(stream); i++ {
				got, err := parseChunks(t, f.contentType, "", stream[:i], stream[i:])
				if err != nil {
					t.Fatalf("split at %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d: events differ from the unsplit stream", i)
				}
			}

			bytewise := make([][]byte, len(stream))
			for i := range stream {
				bytewise[i] = stream[i : i+1]
			}
			got, err := parseChunks(t, f.contentType, "", bytewise...)
			if err != nil {
				t.Fatalf("byte by byte: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatal("byte by byte: events differ from the unsplit stream")
			}
		})
	}
}

// randomChunks splits b into chunks of 1 to maxChunk bytes.
func randomChunks(rng *rand.Rand, b []byte, maxChunk int) [][]byte {
	var chunks [][]byte
	for len(b) > 0 {
		n := min(1+rng.IntN(maxChunk), len(b))
		chunks = append(chunks, b[:n])
		b = b[n:]
	}
	return chunks
}

func TestWatchParserRandomChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			events := testEvents()
			stream, _ := watchStream(t, f.mediaType, events)
			// A stream repeated makes chunks straddle many frames.
			stream = bytes.Repeat(stream, 3)
			events = append(append(events, events...), events...)
			want, err := parseChunks(t, f.contentType, "", stream)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, want, events, f.encoding)
			for iter := range 300 {
				maxChunk := []int{3, 64, 1500, 16 << 10}[iter%4]
				got, err := parseChunks(t, f.contentType, "", randomChunks(rng, stream, maxChunk)...)
				if err != nil {
					t.Fatalf("iteration %d: %v", iter, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("iteration %d (chunks ≤ %d bytes): events differ from the unsplit stream", iter, maxChunk)
				}
			}
		})
	}
}

// TestWatchParserGzip reads gzip watch-list streams: a member per flush,
// fed in random pieces, and — the point of reading members one at a time —
// every event of a member emitted by the Write that completes the member.
func TestWatchParserGzip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			events := testEvents()
			var groups [][]byte
			var perGroup []int
			for _, g := range [][]watch.Event{events[:3], events[3:4], events[4:7], events[7:]} {
				stream, _ := watchStream(t, f.mediaType, g)
				groups = append(groups, stream)
				perGroup = append(perGroup, len(g))
			}
			members := gzipMembers(t, groups...)

			var got []WatchEvent
			p, err := NewWatchParserWithEncoding(f.contentType, "gzip", func(ev WatchEvent) { got = append(got, ev) })
			if err != nil {
				t.Fatal(err)
			}
			emitted := 0
			for i, m := range members {
				if _, err := p.Write(m); err != nil {
					t.Fatalf("member %d: %v", i, err)
				}
				emitted += perGroup[i]
				if len(got) != emitted {
					t.Fatalf("after writing member %d: %d events emitted, want %d", i, len(got), emitted)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			checkEvents(t, got, events, f.encoding)

			compressed := bytes.Join(members, nil)
			for iter := range 100 {
				maxChunk := []int{1, 7, 100, 4096}[iter%4]
				split, err := parseChunks(t, f.contentType, "gzip", randomChunks(rng, compressed, maxChunk)...)
				if err != nil {
					t.Fatalf("iteration %d: %v", iter, err)
				}
				if !reflect.DeepEqual(split, got) {
					t.Fatalf("iteration %d (chunks ≤ %d bytes): events differ", iter, maxChunk)
				}
			}
		})
	}
}

func TestWatchParserGzipMalformed(t *testing.T) {
	stream, _ := watchStream(t, "application/json", testEvents())
	member := gzipMembers(t, stream)[0]

	t.Run("not gzip", func(t *testing.T) {
		_, err := parseChunks(t, jsonWatchContentType, "gzip", stream)
		if err == nil || !strings.Contains(err.Error(), "gzip") {
			t.Fatalf("err = %v, want a gzip header error", err)
		}
	})
	t.Run("truncated member", func(t *testing.T) {
		p, err := NewWatchParserWithEncoding(jsonWatchContentType, "gzip", func(WatchEvent) {})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(member[:len(member)-10]); err != nil {
			t.Fatalf("Write of a truncated member failed early: %v", err)
		}
		if err := p.Close(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Close = %v, want unexpected EOF", err)
		}
	})
	t.Run("corrupt checksum", func(t *testing.T) {
		bad := bytes.Clone(member)
		bad[len(bad)-8] ^= 0xff // the CRC-32 in the trailer
		_, err := parseChunks(t, jsonWatchContentType, "gzip", bad)
		if !errors.Is(err, gzip.ErrChecksum) {
			t.Fatalf("err = %v, want gzip.ErrChecksum", err)
		}
	})
	t.Run("malformed content", func(t *testing.T) {
		bad := gzipMembers(t, []byte("{\"type\":\"ADDED\"}\n"))[0]
		_, err := parseChunks(t, jsonWatchContentType, "gzip", bad)
		if err == nil || !strings.Contains(err.Error(), "JSON watch stream") {
			t.Fatalf("err = %v, want the JSON framer's error", err)
		}
	})
}

// TestWatchParserGzipEmitPanic checks that a panic in emit reaches the
// goroutine that called Write, as it does without gzip, and that the
// parser can still be closed.
func TestWatchParserGzipEmitPanic(t *testing.T) {
	stream, _ := watchStream(t, "application/json", testEvents()[:1])
	member := gzipMembers(t, stream)[0]
	p, err := NewWatchParserWithEncoding(jsonWatchContentType, "gzip", func(WatchEvent) { panic("emit failed") })
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if v := recover(); v != "emit failed" {
				t.Errorf("recovered %v, want the emit panic", v)
			}
		}()
		p.Write(member)
	}()
	if err := p.Close(); err == nil || !strings.Contains(err.Error(), "emit panicked") {
		t.Fatalf("Close = %v, want an error about the panic", err)
	}
}

func TestNewWatchParserContentTypes(t *testing.T) {
	emit := func(WatchEvent) {}
	for _, tc := range []struct {
		contentType, contentEncoding string
		unsupported                  bool // wantErr wraps ErrUnsupportedContentType
		wantErr                      bool
	}{
		{contentType: "application/json"},
		{contentType: "application/json;stream=watch"},
		{contentType: "application/json; charset=utf-8"},
		{contentType: "Application/JSON"},
		{contentType: "application/vnd.kubernetes.protobuf;stream=watch"},
		{contentType: "application/vnd.kubernetes.protobuf"},
		{contentType: "application/json", contentEncoding: "identity"},
		{contentType: "application/json", contentEncoding: "gzip"},
		{contentType: "application/cbor-seq", unsupported: true, wantErr: true},
		{contentType: "application/cbor", unsupported: true, wantErr: true},
		{contentType: "application/yaml", unsupported: true, wantErr: true},
		{contentType: "", unsupported: true, wantErr: true},
		{contentType: "application/json;;", unsupported: true, wantErr: true},
		{contentType: "application/json", contentEncoding: "br", wantErr: true},
	} {
		p, err := NewWatchParserWithEncoding(tc.contentType, tc.contentEncoding, emit)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q %q: err = %v, want error %v", tc.contentType, tc.contentEncoding, err, tc.wantErr)
		}
		if errors.Is(err, ErrUnsupportedContentType) != tc.unsupported {
			t.Errorf("%q %q: err = %v, want ErrUnsupportedContentType %v", tc.contentType, tc.contentEncoding, err, tc.unsupported)
		}
		if p != nil {
			if err := p.Close(); err != nil {
				t.Errorf("%q %q: Close of an empty stream: %v", tc.contentType, tc.contentEncoding, err)
			}
		}
	}
	if _, err := NewWatchParser("application/json", nil); err == nil {
		t.Error("NewWatchParser accepted a nil emit")
	}
}

// protobufFrame frames b as the apiserver's length-delimited framer does.
func protobufFrame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func TestWatchParserMalformed(t *testing.T) {
	pbStream, _ := watchStream(t, "application/vnd.kubernetes.protobuf", testEvents()[:2])
	jsonStream, _ := watchStream(t, "application/json", testEvents()[:2])
	// A watch event whose object is not enveloped.
	var rawPod bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(serializerInfo(t, "application/json").Serializer, corev1.SchemeGroupVersion).Encode(testPod(), &rawPod); err != nil {
		t.Fatal(err)
	}
	unenveloped, err := (&metav1.WatchEvent{Type: "ADDED", Object: runtime.RawExtension{Raw: rawPod.Bytes()}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	noType, err := (&metav1.WatchEvent{Object: runtime.RawExtension{Raw: pbStream[4:20]}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name        string
		contentType string
		chunks      [][]byte
		wantEvents  int    // events emitted before the error
		wantIn      string // the error mentions this
		atClose     bool   // the error comes from Close, not Write
	}{
		{name: "protobuf garbage", contentType: protobufWatchContentType,
			chunks: [][]byte{[]byte("hello, world: not a watch stream")}, wantIn: "exceeds"},
		{name: "protobuf oversized length", contentType: protobufWatchContentType,
			chunks: [][]byte{binary.BigEndian.AppendUint32(nil, MaxFrameSize+1)}, wantIn: "exceeds"},
		{name: "protobuf invalid frame after good ones", contentType: protobufWatchContentType,
			chunks: [][]byte{pbStream, protobufFrame([]byte{0x0a, 0xff, 0xff})}, wantEvents: 2, wantIn: "decoding watch event"},
		{name: "protobuf empty frame", contentType: protobufWatchContentType,
			chunks: [][]byte{protobufFrame(nil)}, wantIn: "empty frame"},
		{name: "protobuf object without envelope", contentType: protobufWatchContentType,
			chunks: [][]byte{protobufFrame(unenveloped)}, wantIn: "k8s"},
		{name: "protobuf event without type", contentType: protobufWatchContentType,
			chunks: [][]byte{protobufFrame(noType)}, wantIn: "no type"},
		{name: "protobuf truncated frame", contentType: protobufWatchContentType,
			chunks: [][]byte{pbStream[:len(pbStream)-5]}, wantEvents: 1, wantIn: "ended inside a frame", atClose: true},
		{name: "protobuf truncated header", contentType: protobufWatchContentType,
			chunks: [][]byte{pbStream[:2]}, wantIn: "frame header", atClose: true},
		{name: "json garbage", contentType: jsonWatchContentType,
			chunks: [][]byte{[]byte("hello")}, wantIn: "expected '{'"},
		{name: "json array", contentType: jsonWatchContentType,
			chunks: [][]byte{jsonStream, []byte("[1,2]")}, wantEvents: 2, wantIn: "expected '{'"},
		{name: "json invalid object", contentType: jsonWatchContentType,
			chunks: [][]byte{[]byte(`{"type":"ADDED","object":{"kind":}}`)}, wantIn: "decoding event"},
		{name: "json event without type", contentType: jsonWatchContentType,
			chunks: [][]byte{[]byte(`{"object":{"kind":"Pod"}}`)}, wantIn: "no type"},
		{name: "json object not an object", contentType: jsonWatchContentType,
			chunks: [][]byte{[]byte(`{"type":"ADDED","object":"pod"}`)}, wantIn: "not a JSON object"},
		{name: "json truncated event", contentType: jsonWatchContentType,
			chunks: [][]byte{jsonStream[:len(jsonStream)-20]}, wantEvents: 1, wantIn: "ended inside an event", atClose: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []WatchEvent
			p, err := NewWatchParser(tc.contentType, func(ev WatchEvent) { got = append(got, ev) })
			if err != nil {
				t.Fatal(err)
			}
			var writeErr error
			for _, c := range tc.chunks {
				if _, err := p.Write(c); err != nil {
					writeErr = err
					break
				}
			}
			closeErr := p.Close()
			err = writeErr
			if tc.atClose {
				if writeErr != nil {
					t.Fatalf("Write failed (%v); want the error from Close", writeErr)
				}
				err = closeErr
			} else if closeErr != nil {
				t.Errorf("Close after a Write error = %v, want nil (the error is reported once)", closeErr)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantIn)
			}
			if len(got) != tc.wantEvents {
				t.Errorf("%d events before the error, want %d", len(got), tc.wantEvents)
			}
			if p.Err() != err {
				t.Errorf("Err() = %v, want %v", p.Err(), err)
			}
		})
	}
}

// TestWatchParserStopsAfterError checks that after a malformed stream the
// parser reports the error once and then accepts and ignores bytes, even
// valid ones.
func TestWatchParserStopsAfterError(t *testing.T) {
	stream, _ := watchStream(t, "application/json", testEvents())
	var got []WatchEvent
	p, err := NewWatchParser(jsonWatchContentType, func(ev WatchEvent) { got = append(got, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("]")); err == nil {
		t.Fatal("Write of garbage succeeded")
	}
	if n, err := p.Write(stream); n != len(stream) || err != nil {
		t.Fatalf("Write after the error = %d, %v; want %d, nil", n, err, len(stream))
	}
	if len(got) != 0 {
		t.Fatalf("%d events emitted after the error", len(got))
	}
	if p.Err() == nil {
		t.Fatal("Err() = nil after a malformed stream")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := p.Write(stream); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// TestWatchParserLargeFrames checks the bound on buffering: a JSON event
// just over MaxFrameSize fails as soon as it crosses it, and a protobuf
// length at the limit is accepted until its bytes fail to arrive.
func TestWatchParserLargeFrames(t *testing.T) {
	p, err := NewWatchParser(jsonWatchContentType, func(WatchEvent) { t.Error("unexpected event") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte(`{"type":"ADDED","object":{"data":"`)); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	var writeErr error
	written := 0
	for written <= MaxFrameSize && writeErr == nil {
		_, writeErr = p.Write(chunk)
		written += len(chunk)
	}
	if writeErr == nil || !strings.Contains(writeErr.Error(), "exceeds") {
		t.Fatalf("after %d bytes: err = %v, want the size limit", written, writeErr)
	}
	if written > MaxFrameSize+len(chunk) {
		t.Fatalf("the limit was enforced only after %d bytes", written)
	}

	p, err = NewWatchParser(protobufWatchContentType, func(WatchEvent) { t.Error("unexpected event") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(binary.BigEndian.AppendUint32(nil, MaxFrameSize)); err != nil {
		t.Fatalf("a frame of exactly MaxFrameSize was refused: %v", err)
	}
	if err := p.Close(); err == nil {
		t.Fatal("Close of an unfinished frame succeeded")
	}
}

// TestWatchParserRawIsACopy checks that events do not alias the bytes
// passed to Write, which the apiserver reuses (its encoders write from a
// pooled buffer).
func TestWatchParserRawIsACopy(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.name, func(t *testing.T) {
			events := testEvents()
			stream, _ := watchStream(t, f.mediaType, events)
			got, err := parseChunks(t, f.contentType, "", stream)
			if err != nil {
				t.Fatal(err)
			}
			clear(stream)
			checkEvents(t, got, events, f.encoding)
		})
	}
}

// TestWatchParserEnvelopedEvent checks the tolerance described in
// parseProtobufWatchEvent: a watch event with a "k8s\x00" envelope of its
// own, as the non-raw protobuf serializer writes one, reads the same.
func TestWatchParserEnvelopedEvent(t *testing.T) {
	info := serializerInfo(t, "application/vnd.kubernetes.protobuf")
	var obj bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion).Encode(testPod(), &obj); err != nil {
		t.Fatal(err)
	}
	var ev bytes.Buffer
	if err := info.Serializer.Encode(&metav1.WatchEvent{Type: "ADDED", Object: runtime.RawExtension{Raw: obj.Bytes()}}, &ev); err != nil {
		t.Fatal(err)
	}
	if !hasProtobufMagic(ev.Bytes()) {
		t.Fatal("the enveloping serializer wrote no envelope")
	}
	got, err := parseChunks(t, protobufWatchContentType, "", protobufFrame(ev.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, got, []watch.Event{{Type: watch.Added, Object: testPod()}}, EncodingProtobuf)
}
