package kdecode

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

const (
	jsonWatchContentType     = "application/json"
	protobufWatchContentType = "application/vnd.kubernetes.protobuf;stream=watch"
)

// serializerInfo is what the apiserver negotiates for a media type, from
// the same kind of CodecFactory (client-go's scheme has the same types).
func serializerInfo(t testing.TB, mediaType string) runtime.SerializerInfo {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		t.Fatalf("no serializer for %s", mediaType)
	}
	return info
}

// testGroupVersions lets one test stream carry core and coordination
// objects; a real watch carries one resource, which makes no difference
// to the framing.
func testGroupVersions() runtime.GroupVersioner {
	return schema.GroupVersions{corev1.SchemeGroupVersion, coordinationv1.SchemeGroupVersion}
}

// apiserverWatchWriter writes watch events the way the apiserver does
// (apiserver/pkg/endpoints/handlers: serveWatchHandler, WatchServer.HandleHTTP
// and watchEncoder.doEncode): the object is encoded by the negotiated
// serializer, wrapped in a metav1.WatchEvent, the event is encoded by the
// stream serializer into a buffer, and the buffer goes to the framer in
// one Write.
type apiserverWatchWriter struct {
	framer   io.Writer
	embedded runtime.Encoder
	outer    runtime.Encoder
}

func newAPIServerWatchWriter(info runtime.SerializerInfo, w io.Writer) *apiserverWatchWriter {
	return &apiserverWatchWriter{
		framer:   info.StreamSerializer.Framer.NewFrameWriter(w),
		embedded: scheme.Codecs.EncoderForVersion(info.Serializer, testGroupVersions()),
		outer:    scheme.Codecs.EncoderForVersion(info.StreamSerializer.Serializer, testGroupVersions()),
	}
}

func (a *apiserverWatchWriter) write(ev watch.Event) error {
	var obj bytes.Buffer
	if err := a.embedded.Encode(ev.Object, &obj); err != nil {
		return fmt.Errorf("encoding %T: %w", ev.Object, err)
	}
	out := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: obj.Bytes()}}
	var buf bytes.Buffer
	if err := a.outer.Encode(out, &buf); err != nil {
		return fmt.Errorf("encoding watch event: %w", err)
	}
	if _, err := a.framer.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing watch event: %w", err)
	}
	return nil
}

// recordingWriter keeps every Write call separately.
type recordingWriter struct{ writes [][]byte }

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordingWriter) bytes() []byte { return bytes.Join(r.writes, nil) }

// watchStream encodes events as the apiserver would and returns the stream
// and the individual Write calls that made it.
func watchStream(t testing.TB, mediaType string, events []watch.Event) (stream []byte, writes [][]byte) {
	t.Helper()
	rec := &recordingWriter{}
	w := newAPIServerWatchWriter(serializerInfo(t, mediaType), rec)
	for _, ev := range events {
		if err := w.write(ev); err != nil {
			t.Fatal(err)
		}
	}
	return rec.bytes(), rec.writes
}

// gzipMembers compresses each group of bytes as its own gzip member, as the
// apiserver's perFlushGzipWriter does between flushes.
func gzipMembers(t testing.TB, groups ...[]byte) [][]byte {
	t.Helper()
	var members [][]byte
	for _, g := range groups {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(g); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		members = append(members, buf.Bytes())
	}
	return members
}

// testTime is whole seconds: metav1.Time's JSON form has no fractions.
func testTime() metav1.Time {
	return metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

func testPod() *corev1.Pod {
	ts := testTime()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "nginx-7c5ddbdf54-x2x9v",
			GenerateName:      "nginx-7c5ddbdf54-",
			Namespace:         "default",
			UID:               types.UID("0b6f7c4e-8f7a-4f5c-9a59-4a1f1d4b2d01"),
			ResourceVersion:   "1001",
			CreationTimestamp: ts,
			Labels:            map[string]string{"app": "nginx", "pod-template-hash": "7c5ddbdf54"},
			Annotations:       map[string]string{"kubernetes.io/config.seen": "2026-03-01T12:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "nginx-7c5ddbdf54",
				UID: "5c0d8e3a-1111-2222-3333-444455556666",
			}},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1",
				//lint:ignore SA1019 the wire format is what is tested; Raw is what goes on it
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}}}`)},
			}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Containers: []corev1.Container{{
				Name:  "nginx",
				Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("100m"),
					corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
			}},
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  "10.244.1.7",
			HostIP: "172.18.0.3",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ts},
			},
			StartTime: &ts,
		},
	}
}

func testNode() *corev1.Node {
	ts := testTime()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "node-1", UID: "8d0c6d55-aaaa-bbbb-cccc-ddddeeeeffff",
			ResourceVersion: "1002", CreationTimestamp: ts,
			Labels: map[string]string{"kubernetes.io/hostname": "node-1"},
		},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: ts}},
			Capacity:   corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")},
		},
	}
}

func testConfigMap() *corev1.ConfigMap {
	ts := testTime()
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kube-root-ca.crt", Namespace: "kube-system", UID: "f00dfeed-0000-1111-2222-333344445555",
			ResourceVersion: "1003", CreationTimestamp: ts,
		},
		// Quotes, backslashes, braces and newlines inside strings exercise
		// the JSON framer's string handling.
		Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\\\"}{][\n-----END CERTIFICATE-----\n"},
	}
}

func testLease() *coordinationv1.Lease {
	holder := "node-1"
	duration := int32(40)
	ts := testTime()
	renew := metav1.NewMicroTime(ts.Time)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: "node-1", Namespace: "kube-node-lease", UID: "11112222-3333-4444-5555-666677778888",
			ResourceVersion: "1004", CreationTimestamp: ts,
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &duration, RenewTime: &renew},
	}
}

// testBookmark is what the watch cache sends to end the initial events of
// a watch-list request: an empty object of the watched type with only a
// resourceVersion and the initial-events-end annotation.
func testBookmark() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		ResourceVersion: "1006",
		Annotations:     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
	}}
}

// testStatus is the ERROR event's object for a watch started from a
// compacted resourceVersion.
func testStatus() *metav1.Status {
	return &metav1.Status{
		Status:  metav1.StatusFailure,
		Message: "too old resource version: 1 (1001)",
		Reason:  metav1.StatusReasonExpired,
		Code:    410,
	}
}

// testEvents covers every event type and a namespaced, a cluster-scoped
// and a non-core object.
func testEvents() []watch.Event {
	modified := testPod()
	modified.ResourceVersion = "1005"
	modified.Status.Phase = corev1.PodSucceeded
	return []watch.Event{
		{Type: watch.Added, Object: testPod()},
		{Type: watch.Added, Object: testNode()},
		{Type: watch.Added, Object: testConfigMap()},
		{Type: watch.Modified, Object: testLease()},
		{Type: watch.Modified, Object: modified},
		{Type: watch.Deleted, Object: modified},
		{Type: watch.Bookmark, Object: testBookmark()},
		{Type: watch.Error, Object: testStatus()},
	}
}

// expectedMeta is what the parser should report for obj, from the typed
// object rather than from any wire format.
func expectedMeta(t testing.TB, obj runtime.Object) ObjectMeta {
	t.Helper()
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	m := ObjectMeta{APIVersion: gvks[0].GroupVersion().String(), Kind: gvks[0].Kind}
	if _, isStatus := obj.(*metav1.Status); isStatus {
		return m
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	m.Name, m.Namespace, m.UID = a.GetName(), a.GetNamespace(), string(a.GetUID())
	m.ResourceVersion, m.GenerateName = a.GetResourceVersion(), a.GetGenerateName()
	return m
}

// checkEvents asserts that got are the parsed forms of want: type,
// identity, encoding, and a Raw that decodes back to the same object.
func checkEvents(t testing.TB, got []WatchEvent, want []watch.Event, encoding string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Type != string(want[i].Type) {
			t.Errorf("event %d: Type = %q, want %q", i, got[i].Type, want[i].Type)
		}
		if wm := expectedMeta(t, want[i].Object); got[i].Object != wm {
			t.Errorf("event %d: Object = %+v, want %+v", i, got[i].Object, wm)
		}
		if got[i].Encoding != encoding {
			t.Errorf("event %d: Encoding = %q, want %q", i, got[i].Encoding, encoding)
		}
		checkRawDecodes(t, got[i].Raw, want[i].Object)
	}
}

// checkRawDecodes decodes raw with the real deserializer and compares it
// with want, ignoring TypeMeta (which encoding sets and decoding fills in).
func checkRawDecodes(t testing.TB, raw []byte, want runtime.Object) {
	t.Helper()
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		t.Errorf("Raw does not decode: %v", err)
		return
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	want = want.DeepCopyObject()
	want.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	if !apiequality.Semantic.DeepEqual(obj, want) {
		t.Errorf("Raw decodes to %#v, want %#v", obj, want)
	}
}

// parseChunks feeds chunks to a new parser and returns its events and the
// first error from Write or Close.
func parseChunks(t testing.TB, contentType, contentEncoding string, chunks ...[]byte) ([]WatchEvent, error) {
	t.Helper()
	var got []WatchEvent
	p, err := NewWatchParserWithEncoding(contentType, contentEncoding, func(ev WatchEvent) { got = append(got, ev) })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		n, err := p.Write(c)
		if err != nil {
			p.Close()
			return got, err
		}
		if n != len(c) {
			t.Fatalf("Write returned %d for %d bytes and no error", n, len(c))
		}
	}
	return got, p.Close()
}
