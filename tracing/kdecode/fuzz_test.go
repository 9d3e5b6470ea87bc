package kdecode

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// fuzzModes are the parser configurations FuzzWatchParser picks from.
func fuzzModes() []struct{ contentType, contentEncoding string } {
	return []struct{ contentType, contentEncoding string }{
		{jsonWatchContentType, ""},
		{protobufWatchContentType, ""},
		{jsonWatchContentType, "gzip"},
		{protobufWatchContentType, "gzip"},
	}
}

// FuzzWatchParser checks that no input makes the parser panic, and that
// the way the input is split across writes changes nothing: the same
// events, the same success or failure. It also checks that events do not
// alias the written bytes.
func FuzzWatchParser(f *testing.F) {
	// Small seeds (a BOOKMARK and an ERROR event) keep the fuzzer's
	// minimization of each new input, which retries it byte by byte, short.
	events := testEvents()[6:]
	jsonStream, _ := watchStream(f, "application/json", events)
	pbStream, _ := watchStream(f, "application/vnd.kubernetes.protobuf", events)
	f.Add(uint8(0), uint16(10), jsonStream)
	f.Add(uint8(1), uint16(4), pbStream)
	f.Add(uint8(2), uint16(30), gzipMembers(f, jsonStream)[0])
	f.Add(uint8(3), uint16(2), bytes.Join(gzipMembers(f, pbStream[:50], pbStream[50:]), nil))
	f.Add(uint8(0), uint16(1), []byte(`{"type":"ADDED","object":{"a":"\"}"}}`+"\n"+`{]`))
	f.Add(uint8(1), uint16(3), binary.BigEndian.AppendUint32(nil, 3))
	f.Add(uint8(1), uint16(0), []byte("k8s\x00"))

	f.Fuzz(func(t *testing.T, mode uint8, split uint16, data []byte) {
		m := fuzzModes()[int(mode)%len(fuzzModes())]
		run := func(chunks ...[]byte) ([]WatchEvent, bool) {
			var got []WatchEvent
			p, err := NewWatchParserWithEncoding(m.contentType, m.contentEncoding, func(ev WatchEvent) { got = append(got, ev) })
			if err != nil {
				t.Fatal(err)
			}
			failed := false
			for _, c := range chunks {
				if _, err := p.Write(c); err != nil {
					failed = true
					break
				}
			}
			if err := p.Close(); err != nil {
				failed = true
			}
			return got, failed
		}

		whole := bytes.Clone(data)
		wantEvents, wantFailed := run(whole)
		clear(whole) // events must not see this

		s := int(split) % (len(data) + 1)
		gotEvents, gotFailed := run(data[:s], data[s:])
		if gotFailed != wantFailed || !reflect.DeepEqual(gotEvents, wantEvents) {
			t.Fatalf("split at %d: %d events, failed %v; unsplit: %d events, failed %v",
				s, len(gotEvents), gotFailed, len(wantEvents), wantFailed)
		}
		if len(data) <= 256 {
			chunks := make([][]byte, len(data))
			for i := range data {
				chunks[i] = data[i : i+1]
			}
			gotEvents, gotFailed = run(chunks...)
			if gotFailed != wantFailed || !reflect.DeepEqual(gotEvents, wantEvents) {
				t.Fatalf("byte by byte: %d events, failed %v; unsplit: %d events, failed %v",
					len(gotEvents), gotFailed, len(wantEvents), wantFailed)
			}
		}
	})
}
