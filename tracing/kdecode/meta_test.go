package kdecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// encodeBody encodes obj as the apiserver encodes a response body in
// mediaType.
func encodeBody(t *testing.T, mediaType string, obj runtime.Object) []byte {
	t.Helper()
	info := serializerInfo(t, mediaType)
	var buf bytes.Buffer
	enc := scheme.Codecs.EncoderForVersion(info.Serializer, testGroupVersions())
	if err := enc.Encode(obj, &buf); err != nil {
		t.Fatalf("encoding %T as %s: %v", obj, mediaType, err)
	}
	return buf.Bytes()
}

func TestObjectMetaOf(t *testing.T) {
	podList := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "2001"}, Items: []corev1.Pod{*testPod()}}
	// pods/binding answers 201 with a bare Status, and so does delete for
	// some resources.
	bindingStatus := &metav1.Status{Status: metav1.StatusSuccess, Code: 201}
	deleteStatus := &metav1.Status{
		Status:  metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: "nginx", Kind: "pods", UID: "0b6f7c4e-8f7a-4f5c-9a59-4a1f1d4b2d01"},
	}
	for _, mediaType := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		for _, tc := range []struct {
			name string
			obj  runtime.Object
			want ObjectMeta
		}{
			{"pod", testPod(), expectedMeta(t, testPod())},
			{"node", testNode(), expectedMeta(t, testNode())},
			{"lease", testLease(), expectedMeta(t, testLease())},
			{"pod list", podList, ObjectMeta{APIVersion: "v1", Kind: "PodList", ResourceVersion: "2001"}},
			{"binding status", bindingStatus, ObjectMeta{APIVersion: "v1", Kind: "Status"}},
			{"delete status", deleteStatus, ObjectMeta{APIVersion: "v1", Kind: "Status"}},
		} {
			t.Run(mediaType+"/"+tc.name, func(t *testing.T) {
				got, err := ObjectMetaOf(mediaType, encodeBody(t, mediaType, tc.obj))
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

func TestObjectMetaOfDeployment(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{
		Name: "web", Namespace: "shop", UID: "abcd", ResourceVersion: "77", GenerateName: "w-",
	}}
	info := serializerInfo(t, "application/vnd.kubernetes.protobuf")
	var buf bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, appsv1.SchemeGroupVersion).Encode(d, &buf); err != nil {
		t.Fatal(err)
	}
	got, err := ObjectMetaOf("application/vnd.kubernetes.protobuf", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := ObjectMeta{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Namespace: "shop", UID: "abcd", ResourceVersion: "77", GenerateName: "w-"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestObjectMetaOfCustomResource reads a custom resource, which only ever
// travels as JSON (or CBOR).
func TestObjectMetaOfCustomResource(t *testing.T) {
	body := []byte(`{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"my-crontab",` +
		`"namespace":"default","uid":"u-1","resourceVersion":"5","generation":1},"spec":{"cronSpec":"* * * * */5"},` +
		`"rows":"a custom field that happens to be called rows"}`)
	got, err := ObjectMetaOf("application/json; charset=utf-8", body)
	if err != nil {
		t.Fatal(err)
	}
	want := ObjectMeta{APIVersion: "stable.example.com/v1", Kind: "CronTab", Name: "my-crontab", Namespace: "default", UID: "u-1", ResourceVersion: "5"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestObjectMetaOfTable covers kubectl get --watch, which asks for Tables:
// each event's object is a one-row Table whose row holds the object's
// metadata.
func TestObjectMetaOfTable(t *testing.T) {
	pod := testPod()
	row := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		ObjectMeta: pod.ObjectMeta,
	}
	table := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "Name", Type: "string"}},
		Rows:              []metav1.TableRow{{Cells: []any{pod.Name}, Object: runtime.RawExtension{Object: row}}},
	}
	body, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ObjectMetaOf("application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	want := ObjectMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table", Name: pod.Name, Namespace: pod.Namespace,
		UID: string(pod.UID), ResourceVersion: pod.ResourceVersion, GenerateName: pod.GenerateName}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	table.Rows = append(table.Rows, table.Rows[0])
	body, err = json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	got, err = ObjectMetaOf("application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ObjectMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}); got != want {
		t.Fatalf("two-row table: got %+v, want %+v", got, want)
	}
}

func TestObjectMetaOfErrors(t *testing.T) {
	pb := encodeBody(t, "application/vnd.kubernetes.protobuf", testPod())
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		unsupported       bool
		wantIn            string
	}{
		{"yaml", "application/yaml", []byte("kind: Pod\n"), true, "unsupported"},
		{"cbor", "application/cbor", []byte{0xd9, 0xd9, 0xf7}, true, "unsupported"},
		{"no content type", "", []byte("{}"), true, "no content type"},
		{"protobuf without prefix", "application/vnd.kubernetes.protobuf", pb[4:], false, "prefix"},
		{"truncated protobuf", "application/vnd.kubernetes.protobuf", pb[:len(pb)/2], false, "protobuf"},
		{"json body as protobuf", "application/vnd.kubernetes.protobuf", []byte(`{"kind":"Pod"}`), false, "prefix"},
		{"protobuf body as json", "application/json", pb, false, "not a JSON object"},
		{"json array", "application/json", []byte(`[{"kind":"Pod"}]`), false, "not a JSON object"},
		{"json wrong metadata", "application/json", []byte(`{"kind":"Pod","metadata":{"name":3}}`), false, "JSON"},
		{"empty", "application/json", nil, false, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ObjectMetaOf(tc.contentType, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantIn)
			}
			if errors.Is(err, ErrUnsupportedContentType) != tc.unsupported {
				t.Fatalf("err = %v; wraps ErrUnsupportedContentType: %v, want %v", err, !tc.unsupported, tc.unsupported)
			}
		})
	}
}

// TestProtobufFieldNumbers pins the field numbers the decoder relies on to
// the generated types, independently of the serializer: an ObjectMeta and
// a ListMeta marshalled by their generated code read back field by field.
func TestProtobufFieldNumbers(t *testing.T) {
	//lint:ignore SA1019 selfLink still has a field number, which the decoder must skip
	om := metav1.ObjectMeta{Name: "n", GenerateName: "g", Namespace: "ns", SelfLink: "/s", UID: "u", ResourceVersion: "7", Generation: 3}
	b, err := om.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m ObjectMeta
	if err := parseObjectMeta(b, &m); err != nil {
		t.Fatal(err)
	}
	if want := (ObjectMeta{Name: "n", GenerateName: "g", Namespace: "ns", UID: "u", ResourceVersion: "7"}); m != want {
		t.Fatalf("ObjectMeta: got %+v, want %+v", m, want)
	}

	//lint:ignore SA1019 selfLink still has a field number, which the decoder must skip
	lm := metav1.ListMeta{SelfLink: "/s", ResourceVersion: "9", Continue: "c"}
	b, err = lm.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m = ObjectMeta{}
	if err := parseListMeta(b, &m); err != nil {
		t.Fatal(err)
	}
	if want := (ObjectMeta{ResourceVersion: "9"}); m != want {
		t.Fatalf("ListMeta: got %+v, want %+v", m, want)
	}

	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "example.com/v1", Kind: "Widget"}, Raw: []byte{1, 2}, ContentEncoding: "e", ContentType: "c"}
	b, err = unk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	env, err := parseEnvelope(append([]byte(protobufMagic), b...))
	if err != nil {
		t.Fatal(err)
	}
	if env.apiVersion != "example.com/v1" || env.kind != "Widget" || !bytes.Equal(env.raw, []byte{1, 2}) || env.contentEncoding != "e" || env.contentType != "c" {
		t.Fatalf("envelope: got %+v", env)
	}
}
