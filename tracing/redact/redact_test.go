package redact

import (
	"encoding/json"
	"strings"
	"testing"
)

const secretJSON = `{"kind":"Secret","apiVersion":"v1",
 "metadata":{"name":"s1","namespace":"default","annotations":{
   "kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"aHVudGVyMg==\"}}","team":"blue"}},
 "type":"Opaque",
 "data":{"password":"aHVudGVyMg==","token":"c2VjcmV0LXRva2Vu"},
 "stringData":{"note":"plain words"}}`

// The values must be gone, in every encoding a reader could decode; the
// keys, sizes and everything else must stay.
func TestSecretHidesValuesAndKeepsKeysAndSizes(t *testing.T) {
	out := string(Secret(json.RawMessage(secretJSON)))
	for _, leak := range []string{"aHVudGVyMg", "hunter2", "c2VjcmV0LXRva2Vu", "secret-token", "plain words"} {
		if strings.Contains(out, leak) {
			t.Errorf("redacted Secret still contains %q:\n%s", leak, out)
		}
	}
	var got struct {
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Type       string            `json:"type"`
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("redacted Secret is not JSON: %v\n%s", err, out)
	}
	if got.Metadata.Name != "s1" || got.Type != "Opaque" || got.Metadata.Annotations["team"] != "blue" {
		t.Errorf("redaction lost what is not a value: %s", out)
	}
	if got.Data["password"] != Marker(7) || got.Data["token"] != Marker(12) || got.StringData["note"] != Marker(11) {
		t.Errorf("want keys with their decoded sizes, got data=%v stringData=%v", got.Data, got.StringData)
	}
	if !strings.HasPrefix(got.Metadata.Annotations[LastAppliedAnnotation], "‹hidden") {
		t.Errorf("last-applied annotation not hidden: %q", got.Metadata.Annotations[LastAppliedAnnotation])
	}
}

func TestSecretThatIsNotAnObjectIsHiddenWhole(t *testing.T) {
	out := string(Secret(json.RawMessage(`not json hunter2`)))
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "hidden") {
		t.Fatalf("got %s", out)
	}
}

func TestSensitivePaths(t *testing.T) {
	for path, want := range map[string]bool{
		"":                     true,
		"data":                 true,
		"data.password":        true,
		`data["tls.crt"]`:      true,
		"stringData.x":         true,
		"metadata":             true,
		"metadata.annotations": true,
		`metadata.annotations["` + LastAppliedAnnotation + `"]`: true,
		`metadata.annotations["team"]`:                          false,
		"metadata.name":                                         false,
		"type":                                                  false,
		"database":                                              false,
	} {
		if got := Sensitive(path); got != want {
			t.Errorf("Sensitive(%q) = %v, want %v", path, got, want)
		}
	}
}

// Value is what the diff of a Secret write shows: each change's old and
// new values, whatever part of the Secret the change is.
func TestValueHidesEveryShapeOfChange(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(secretJSON), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		v    any
	}{
		{"", doc},
		{"data", doc["data"]},
		{"data.password", "aHVudGVyMg=="},
		{"stringData", doc["stringData"]},
		{"metadata", doc["metadata"]},
		{"metadata.annotations", doc["metadata"].(map[string]any)["annotations"]},
		{`metadata.annotations["` + LastAppliedAnnotation + `"]`, `{"data":{"password":"aHVudGVyMg=="}}`},
	} {
		b, _ := json.Marshal(Value(tc.path, tc.v))
		if s := string(b); strings.Contains(s, "aHVudGVyMg") || strings.Contains(s, "plain words") || strings.Contains(s, "c2VjcmV0") {
			t.Errorf("Value(%q) leaks: %s", tc.path, s)
		}
	}
	if got := Value("type", "Opaque"); got != "Opaque" {
		t.Errorf("Value(type) = %v, want it unchanged", got)
	}
	// The original is not modified.
	if doc["data"].(map[string]any)["password"] != "aHVudGVyMg==" {
		t.Error("Value modified its argument")
	}
	// A whole-document value keeps its keys.
	whole := Value("", doc).(map[string]any)
	if _, ok := whole["data"].(map[string]any)["token"]; !ok {
		t.Errorf("whole-document value lost its keys: %v", whole)
	}
}
