package kjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDiff(t *testing.T) {
	d := NewDecoder()
	for _, tc := range []struct {
		name      string
		prev, cur string
		want      []Change
	}{
		{
			name: "no change",
			prev: `{"a":1,"b":[1,{"c":"x"}]}`,
			cur:  `{"b":[1,{"c":"x"}],"a":1}`,
		},
		{
			name: "added field",
			prev: `{"spec":{"containers":[]}}`,
			cur:  `{"spec":{"containers":[],"nodeName":"node-1"}}`,
			want: []Change{{Path: "spec.nodeName", Old: nil, New: "node-1"}},
		},
		{
			name: "removed field",
			prev: `{"metadata":{"name":"p","deletionTimestamp":"2026-03-01T12:00:00Z"}}`,
			cur:  `{"metadata":{"name":"p"}}`,
			want: []Change{{Path: "metadata.deletionTimestamp", Old: "2026-03-01T12:00:00Z", New: nil}},
		},
		{
			name: "changed scalar",
			prev: `{"status":{"phase":"Pending"}}`,
			cur:  `{"status":{"phase":"Running"}}`,
			want: []Change{{Path: "status.phase", Old: "Pending", New: "Running"}},
		},
		{
			name: "changed list element",
			prev: `{"status":{"conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False"}]}}`,
			cur:  `{"status":{"conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}]}}`,
			want: []Change{{Path: "status.conditions[1].status", Old: "False", New: "True"}},
		},
		{
			name: "list grows and shrinks",
			prev: `{"a":[1,2,3],"b":["x"]}`,
			cur:  `{"a":[1,2],"b":["x",{"y":true}]}`,
			want: []Change{
				{Path: "a[2]", Old: json.Number("3"), New: nil},
				{Path: "b[1]", Old: nil, New: map[string]any{"y": true}},
			},
		},
		{
			name: "nested object added as a whole",
			prev: `{"status":{}}`,
			cur:  `{"status":{"containerStatuses":[{"name":"c","ready":false}]}}`,
			want: []Change{{Path: "status.containerStatuses", Old: nil,
				New: []any{map[string]any{"name": "c", "ready": false}}}},
		},
		{
			name: "deeply nested",
			prev: `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}}}}`,
			cur:  `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}`,
			want: []Change{{Path: "spec.template.spec.containers[0].image", Old: "nginx:1.26", New: "nginx:1.27"}},
		},
		{
			name: "type change",
			prev: `{"a":{"b":1}}`,
			cur:  `{"a":[1]}`,
			want: []Change{{Path: "a", Old: map[string]any{"b": json.Number("1")}, New: []any{json.Number("1")}}},
		},
		{
			name: "resourceVersion and managedFields ignored, only at the top",
			prev: `{"metadata":{"resourceVersion":"1","managedFields":[{"manager":"a"}],"generation":1},"spec":{"resourceVersion":"1"}}`,
			cur:  `{"metadata":{"resourceVersion":"2","managedFields":[{"manager":"b"}],"generation":2},"spec":{"resourceVersion":"2"}}`,
			want: []Change{
				{Path: "metadata.generation", Old: json.Number("1"), New: json.Number("2")},
				{Path: "spec.resourceVersion", Old: "1", New: "2"},
			},
		},
		{
			name: "numbers compared by value, exactly",
			prev: `{"a":1,"b":9007199254740993,"c":1e2}`,
			cur:  `{"a":1.0,"b":9007199254740992,"c":100}`,
			want: []Change{{Path: "b", Old: json.Number("9007199254740993"), New: json.Number("9007199254740992")}},
		},
		{
			name: "null and absent are the same",
			prev: `{"a":null}`,
			cur:  `{}`,
		},
		{
			name: "keys that need quoting",
			prev: `{"metadata":{"labels":{"app.kubernetes.io/name":"a","pod-template-hash":"1"}}}`,
			cur:  `{"metadata":{"labels":{"app.kubernetes.io/name":"b","pod-template-hash":"2","":"e"}}}`,
			want: []Change{
				{Path: `metadata.labels[""]`, Old: nil, New: "e"},
				{Path: `metadata.labels["app.kubernetes.io/name"]`, Old: "a", New: "b"},
				{Path: "metadata.labels.pod-template-hash", Old: "1", New: "2"},
			},
		},
		{
			name: "sorted by path with indices in numeric order",
			prev: `{"z":0,"a":[0,0,0,0,0,0,0,0,0,0,0,0],"m":{"b":0,"a":0}}`,
			cur:  `{"z":1,"a":[0,0,1,0,0,0,0,0,0,0,1,0],"m":{"b":1,"a":1}}`,
			want: []Change{
				{Path: "a[2]", Old: json.Number("0"), New: json.Number("1")},
				{Path: "a[10]", Old: json.Number("0"), New: json.Number("1")},
				{Path: "m.a", Old: json.Number("0"), New: json.Number("1")},
				{Path: "m.b", Old: json.Number("0"), New: json.Number("1")},
				{Path: "z", Old: json.Number("0"), New: json.Number("1")},
			},
		},
		{
			name: "created: empty previous document",
			prev: ``,
			cur:  `{"kind":"Pod","metadata":{"name":"p","resourceVersion":"1"}}`,
			want: []Change{
				{Path: "kind", Old: nil, New: "Pod"},
				{Path: "metadata", Old: nil, New: map[string]any{"name": "p", "resourceVersion": "1"}},
			},
		},
		{
			name: "deleted: null current document",
			prev: `{"kind":"Pod"}`,
			cur:  `null`,
			want: []Change{{Path: "kind", Old: "Pod", New: nil}},
		},
		{
			name: "different document types",
			prev: `{"a":1}`,
			cur:  `[1]`,
			want: []Change{{Path: "", Old: map[string]any{"a": json.Number("1")}, New: []any{json.Number("1")}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Diff(json.RawMessage(tc.prev), json.RawMessage(tc.cur))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestDiffErrors(t *testing.T) {
	d := NewDecoder()
	for _, tc := range []struct{ prev, cur, wantIn string }{
		{`{"a":`, `{}`, "previous document"},
		{`{}`, `{"a":1}}`, "current document"},
		{`{}`, `nope`, "current document"},
	} {
		if _, err := d.Diff(json.RawMessage(tc.prev), json.RawMessage(tc.cur)); err == nil || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("Diff(%q, %q) error = %v, want one mentioning %q", tc.prev, tc.cur, err, tc.wantIn)
		}
	}
}

// TestDiffStoredPods diffs two etcd values as the inspector does: a pod
// before and after the scheduler binds it and the kubelet reports it
// started.
func TestDiffStoredPods(t *testing.T) {
	d := NewDecoder()
	before := testPod()
	before.Spec.NodeName = ""
	before.Status = corev1.PodStatus{Phase: corev1.PodPending}
	after := testPod()
	after.ResourceVersion = "1002"
	after.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: testTime()},
	}}
	prev, err := d.ToJSON(storedBytes(t, before, corev1.SchemeGroupVersion))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := d.ToJSON(storedBytes(t, after, corev1.SchemeGroupVersion))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Path: "spec.nodeName", Old: nil, New: "node-1"},
		{Path: "status.conditions", Old: nil, New: []any{map[string]any{
			"type": "PodScheduled", "status": "True", "lastProbeTime": nil, "lastTransitionTime": "2026-03-01T12:00:00Z",
		}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}
