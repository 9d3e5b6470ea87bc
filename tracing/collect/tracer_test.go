package collect

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/kjson"
)

// The inspector's view of a Secret write (the stored object, the one
// before and what changed) shows the Secret's keys and sizes to everyone,
// and its values only to the admin.
func TestDetailHidesSecretValuesUnlessRevealed(t *testing.T) {
	tr := New(Options{Capacity: 10, Decoder: kjson.NewDecoder()})
	const key = "/registry/secrets/default/topsecret"
	before := `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"topsecret","namespace":"default"},"data":{"password":"b2xkLXBhc3M="}}`
	after := `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"topsecret","namespace":"default","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"bmV3LXBhc3M=\"}}"}},"data":{"password":"bmV3LXBhc3M=","user":"YWRtaW4="}}`
	tr.Etcd.values.Put(7, key, []byte(before))
	tr.Etcd.values.Put(9, key, []byte(after))
	ev := tracing.Event{Kind: tracing.KindEtcd, Verb: "put", Resource: "secrets", Namespace: "default", Name: "topsecret",
		Detail: map[string]any{"key": key, "revision": int64(9), "prevRevision": int64(7)}}
	values := []string{"b2xkLXBhc3M", "bmV3LXBhc3M", "YWRtaW4", "old-pass", "new-pass"}

	hidden, err := tr.Detail(context.Background(), ev, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(hidden)
	out := string(b)
	for _, v := range values {
		if strings.Contains(out, v) {
			t.Errorf("without the token the inspector shows %q:\n%s", v, out)
		}
	}
	for _, want := range []string{`"password"`, `"user"`, "hidden: 8 bytes", "hidden: 5 bytes", `"redacted"`, `"changes"`} {
		if !strings.Contains(out, want) {
			t.Errorf("without the token the inspector lacks %s:\n%s", want, out)
		}
	}

	shown, err := tr.Detail(context.Background(), ev, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(shown)
	if !strings.Contains(string(b), "bmV3LXBhc3M=") || strings.Contains(string(b), `"redacted"`) {
		t.Errorf("with the token the inspector should show the values:\n%s", b)
	}

	// Other objects are shown as they are, token or not.
	const cm = "/registry/configmaps/default/c"
	tr.Etcd.values.Put(11, cm, []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"},"data":{"k":"visible"}}`))
	plain, err := tr.Detail(context.Background(), tracing.Event{Kind: tracing.KindEtcd, Verb: "put",
		Detail: map[string]any{"key": cm, "revision": int64(11)}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(plain); !strings.Contains(string(b), "visible") {
		t.Errorf("a ConfigMap's data should be shown: %s", b)
	}
}
