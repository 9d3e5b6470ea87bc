package kjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// storedBytes encodes obj as the apiserver stores it in etcd: the storage
// codec is the protobuf serializer behind a versioning encoder for the
// storage version, which writes the "k8s\x00" envelope.
func storedBytes(t testing.TB, obj runtime.Object, gv schema.GroupVersion) []byte {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	var buf bytes.Buffer
	if err := scheme.Codecs.EncoderForVersion(info.Serializer, gv).Encode(obj, &buf); err != nil {
		t.Fatalf("encoding %T: %v", obj, err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte(protobufMagic)) {
		t.Fatal("the protobuf serializer wrote no envelope")
	}
	return buf.Bytes()
}

// testTime is whole seconds: metav1.Time's JSON form has no fractions.
func testTime() metav1.Time {
	return metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

func managedFields() []metav1.ManagedFieldsEntry {
	ts := testTime()
	return []metav1.ManagedFieldsEntry{{
		Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1",
		//lint:ignore SA1019 the wire format is what is tested; Raw is what goes on it
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`)},
	}}
}

func testPod() *corev1.Pod {
	ts := testTime()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "nginx-7c5ddbdf54-x2x9v", GenerateName: "nginx-7c5ddbdf54-", Namespace: "default",
			UID: "0b6f7c4e-8f7a-4f5c-9a59-4a1f1d4b2d01", ResourceVersion: "1001", CreationTimestamp: ts,
			Labels:        map[string]string{"app": "nginx", "pod-template-hash": "7c5ddbdf54"},
			ManagedFields: managedFields(),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
				Name: "nginx-7c5ddbdf54", UID: "5c0d8e3a-1111-2222-3333-444455556666", Controller: ptrTo(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Containers: []corev1.Container{{
				Name: "nginx", Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
				TerminationMessagePath: "/dev/termination-log", ImagePullPolicy: corev1.PullIfNotPresent,
			}},
			RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst,
			ServiceAccountName: "default", SchedulerName: "default-scheduler",
			TerminationGracePeriodSeconds: ptrTo[int64](30),
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](300)}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1.7", HostIP: "172.18.0.3",
			PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}}, QOSClass: corev1.PodQOSBurstable, StartTime: &ts,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "nginx", Ready: true, Started: ptrTo(true), Image: "docker.io/library/nginx:1.27",
				ImageID:     "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				ContainerID: "containerd://4f1b7c2d9e8a",
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts}},
			}},
		},
	}
}

func roundTripCases() []struct {
	name string
	obj  runtime.Object
	gv   schema.GroupVersion
	// into is an empty object of obj's type, to decode the JSON into.
	into runtime.Object
} {
	ts := testTime()
	renew := metav1.NewMicroTime(ts.Time)
	return []struct {
		name string
		obj  runtime.Object
		gv   schema.GroupVersion
		into runtime.Object
	}{
		{"pod", testPod(), corev1.SchemeGroupVersion, &corev1.Pod{}},
		{"deployment", &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "default", UID: "d-1", ResourceVersion: "900",
				Generation: 2, CreationTimestamp: ts, ManagedFields: managedFields(),
				Annotations: map[string]string{"deployment.kubernetes.io/revision": "1"}},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptrTo[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}},
				},
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
		}, appsv1.SchemeGroupVersion, &appsv1.Deployment{}},
		{"lease", &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease", UID: "l-1", ResourceVersion: "1200", CreationTimestamp: ts},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1"), LeaseDurationSeconds: ptrTo[int32](40),
				RenewTime: &renew},
		}, coordinationv1.SchemeGroupVersion, &coordinationv1.Lease{}},
		{"namespace", &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", UID: "n-1", ResourceVersion: "12", CreationTimestamp: ts,
				Labels: map[string]string{"kubernetes.io/metadata.name": "shop"}, ManagedFields: managedFields()},
			Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		}, corev1.SchemeGroupVersion, &corev1.Namespace{}},
		{"core event", &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: "nginx.1829f0", Namespace: "default", UID: "e-1", ResourceVersion: "1300", CreationTimestamp: ts},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "nginx", UID: "p-1", APIVersion: "v1",
				FieldPath: "spec.containers{nginx}"},
			Reason: "Pulled", Message: `Container image "nginx:1.27" already present on machine`,
			Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}, FirstTimestamp: ts, LastTimestamp: ts,
			Count: 1, Type: corev1.EventTypeNormal, ReportingController: "kubelet", ReportingInstance: "node-1",
		}, corev1.SchemeGroupVersion, &corev1.Event{}},
		{"events.k8s.io event", &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: "nginx.1829f1", Namespace: "default", UID: "e-2", ResourceVersion: "1301", CreationTimestamp: ts},
			EventTime:  renew, ReportingController: "default-scheduler", ReportingInstance: "default-scheduler-node-1",
			Action: "Binding", Reason: "Scheduled", Note: "Successfully assigned default/nginx to node-1", Type: "Normal",
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "nginx", UID: "p-1", APIVersion: "v1"},
		}, eventsv1.SchemeGroupVersion, &eventsv1.Event{}},
		// What the service IP allocator keeps at /registry/ranges/serviceips.
		{"range allocation", &corev1.RangeAllocation{
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "5", CreationTimestamp: ts},
			Range:      "10.96.0.0/12", Data: []byte{0x01, 0x80},
		}, corev1.SchemeGroupVersion, &corev1.RangeAllocation{}},
	}
}

func TestToJSONRoundTrip(t *testing.T) {
	d := NewDecoder()
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			out, err := d.ToJSON(storedBytes(t, tc.obj, tc.gv))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsAny(out, "\n\t") {
				t.Errorf("output is not compact: %s", out)
			}

			var generic map[string]any
			if err := json.Unmarshal(out, &generic); err != nil {
				t.Fatalf("output is not a JSON object: %v\n%s", err, out)
			}
			gvks, _, err := scheme.Scheme.ObjectKinds(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			if generic["apiVersion"] != tc.gv.String() || generic["kind"] != gvks[0].Kind {
				t.Errorf("apiVersion, kind = %v, %v; want %v, %v", generic["apiVersion"], generic["kind"], tc.gv, gvks[0].Kind)
			}
			md, _ := generic["metadata"].(map[string]any)
			if _, ok := md["managedFields"]; ok {
				t.Error("metadata.managedFields was not stripped")
			}

			// Field for field, the JSON is the object (less managedFields).
			if err := json.Unmarshal(out, tc.into); err != nil {
				t.Fatalf("decoding the output into %T: %v", tc.into, err)
			}
			want := tc.obj.DeepCopyObject()
			want.(metav1.Object).SetManagedFields(nil)
			want.GetObjectKind().SetGroupVersionKind(tc.gv.WithKind(gvks[0].Kind))
			if !apiequality.Semantic.DeepEqual(tc.into, want) {
				t.Errorf("the output decodes to\n%#v\nwant\n%#v", tc.into, want)
			}
		})
	}
}

// TestToJSONStatus covers the object of an ERROR watch event.
func TestToJSONStatus(t *testing.T) {
	st := &metav1.Status{Status: metav1.StatusFailure, Message: "too old resource version: 1 (1001)",
		Reason: metav1.StatusReasonExpired, Code: 410}
	out, err := NewDecoder().ToJSON(storedBytes(t, st, corev1.SchemeGroupVersion))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
		`"message":"too old resource version: 1 (1001)","reason":"Expired","code":410}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

// TestToJSONNotDefaulted checks that the stored form is shown as stored:
// a pod stored without a restartPolicy does not acquire one.
func TestToJSONNotDefaulted(t *testing.T) {
	d := NewDecoder()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	out, err := d.ToJSON(storedBytes(t, pod, corev1.SchemeGroupVersion))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("restartPolicy")) {
		t.Fatalf("output was defaulted: %s", out)
	}
}

// protoField appends a length-delimited protobuf field.
func protoField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func TestToJSONUnknownKind(t *testing.T) {
	om := metav1.ObjectMeta{Name: "w1", Namespace: "shop", UID: "w-uid", ResourceVersion: "77", Labels: map[string]string{"a": "b"}}
	omBytes, err := om.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Field 1 is the metadata, as in every Kubernetes type; field 2 stands
	// for a spec the decoder cannot know.
	body := protoField(protoField(nil, 1, omBytes), 2, []byte{0x08, 0x01})
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "example.com/v1", Kind: "Widget"}, Raw: body}
	unkBytes, err := unk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewDecoder().ToJSON(append([]byte(protobufMagic), unkBytes...))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"apiVersion": "example.com/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": "w1", "namespace": "shop", "uid": "w-uid", "resourceVersion": "77"},
		"note":       "decoded metadata only: Widget is not in the built-in scheme",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %s\nwant %v", out, want)
	}
}

// TestToJSONCustomResource covers JSON input: custom resources are stored
// as JSON, and JSON watches carry JSON objects.
func TestToJSONCustomResource(t *testing.T) {
	in := []byte(`{
	  "apiVersion": "stable.example.com/v1", "kind": "CronTab",
	  "metadata": {"name": "my-crontab", "namespace": "default", "resourceVersion": "5",
	    "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
	  "spec": {"cronSpec": "* * * * */5", "replicas": 12345678901234567890, "ratio": 0.10, "html": "<b>&</b>"}
	}`)
	out, err := NewDecoder().ToJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"stable.example.com/v1","kind":"CronTab",` +
		`"metadata":{"name":"my-crontab","namespace":"default","resourceVersion":"5"},` +
		`"spec":{"cronSpec":"* * * * */5","html":"\u003cb\u003e\u0026\u003c/b\u003e","ratio":0.10,"replicas":12345678901234567890}}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

func TestToJSONErrors(t *testing.T) {
	d := NewDecoder()
	pod := storedBytes(t, testPod(), corev1.SchemeGroupVersion)
	for _, tc := range []struct {
		name   string
		raw    []byte
		wantIn string
	}{
		{"encrypted", []byte("k8s:enc:aescbc:v1:key1:\x8f\x00\x12"), "encrypted at rest"},
		{"cbor", []byte("\xd9\xd9\xf7\xa1\x64kind\x63Pod"), "CBOR"},
		{"garbage", []byte("hello"), "neither protobuf"},
		{"empty", nil, "neither protobuf"},
		{"json array", []byte(`[{"kind":"Pod"}]`), "neither protobuf"},
		{"invalid json", []byte(`{"kind":`), "decoding JSON object"},
		{"trailing json", []byte(`{"kind":"Pod"} {}`), "trailing data"},
		{"truncated protobuf", pod[:len(pod)-7], "decoding protobuf"},
		{"bare magic", []byte(protobufMagic), "decoding protobuf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.ToJSON(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantIn)
			}
		})
	}
}

// TestToJSONConcurrent uses one Decoder from many goroutines; run with
// -race it checks the Decoder shares no mutable state between calls.
func TestToJSONConcurrent(t *testing.T) {
	d := NewDecoder()
	cases := roundTripCases()
	inputs := make([][]byte, len(cases))
	want := make([]json.RawMessage, len(cases))
	for i, tc := range cases {
		inputs[i] = storedBytes(t, tc.obj, tc.gv)
		out, err := d.ToJSON(inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for iter := range 50 {
				i := (g + iter) % len(inputs)
				out, err := d.ToJSON(inputs[i])
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(out, want[i]) {
					errs <- fmt.Errorf("goroutine %d: %s rendered differently", g, cases[i].name)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkNewDecoder(b *testing.B) {
	for b.Loop() {
		NewDecoder()
	}
}

func BenchmarkToJSONPod(b *testing.B) {
	d := NewDecoder()
	raw := storedBytes(b, testPod(), corev1.SchemeGroupVersion)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.ToJSON(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
