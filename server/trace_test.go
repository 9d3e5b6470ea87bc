package server

import (
	"encoding/json"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// An event is encoded once for every stream; a dropped-events marker,
// which shares its seq with the last lost event, is each stream's own.
func TestFramesAreEncodedOncePerEvent(t *testing.T) {
	var c frameCache
	ev := tracing.Event{Seq: 7, Kind: tracing.KindHTTP, Summary: "GET /api/v1/pods"}
	a, err := c.frame(ev)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.frame(ev)
	if &a[0] != &b[0] {
		t.Error("the second stream's frame of event 7 was encoded again")
	}
	var back tracing.Event
	if err := json.Unmarshal(a, &back); err != nil || back.Seq != 7 || back.Summary != ev.Summary {
		t.Errorf("frame %s decodes to %+v, %v", a, back, err)
	}
	marker := tracing.Event{Seq: 7, Kind: tracing.KindDropped, Detail: map[string]any{"count": 3}}
	m, _ := c.frame(marker)
	if err := json.Unmarshal(m, &back); err != nil || back.Kind != tracing.KindDropped {
		t.Errorf("the marker came out as %s", m)
	}
	if again, _ := c.frame(ev); string(again) != string(a) {
		t.Errorf("after a marker with its seq, event 7's frame is %s", again)
	}
	// A newer event in the same slot replaces the old one.
	later := tracing.Event{Seq: 7 + frameCacheSize, Kind: tracing.KindHTTP, Summary: "later"}
	if f, _ := c.frame(later); json.Unmarshal(f, &back) != nil || back.Summary != "later" {
		t.Errorf("the slot's new event came out as %s", f)
	}
}
