// Package redact hides Secret values from those who may not see them.
//
// Wheelhouse shows what etcd stores and what each write changed. For a
// Secret that would hand its values to anyone who can open the UI, while
// the apiserver itself refuses them to an anonymous client. So, without
// the admin token, a Secret is shown with its keys and their sizes, and
// every place a value could be read from is replaced by a marker: the
// data and stringData maps, and kubectl's last-applied-configuration
// annotation (which holds the whole manifest kubectl applied, values and
// all).
//
// The package is pure: it knows the shape of a Secret's JSON and nothing
// else of Kubernetes.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// SecretKeyPrefix is where kube-apiserver keeps Secrets in etcd.
const SecretKeyPrefix = "/registry/secrets/"

// LastAppliedAnnotation is kubectl apply's copy of the applied manifest.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// IsSecretKey reports whether an etcd key holds a Secret.
func IsSecretKey(key string) bool { return strings.HasPrefix(key, SecretKeyPrefix) }

// Marker is what replaces one hidden value: its size, and where to get it.
func Marker(size int) string {
	return fmt.Sprintf("‹hidden: %d bytes; open Wheelhouse with its admin token to see Secret values›", size)
}

// Secret returns doc (a Secret's JSON) with its values hidden. A document
// that is not a JSON object is replaced by a marker as a whole: what
// cannot be read cannot be shown in part.
func Secret(doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 {
		return doc
	}
	var obj map[string]any
	if err := json.Unmarshal(doc, &obj); err != nil {
		out, _ := json.Marshal(Marker(len(doc)))
		return out
	}
	hideObject(obj)
	out, err := json.Marshal(obj)
	if err != nil {
		out, _ = json.Marshal(Marker(len(doc)))
	}
	return out
}

// hideObject hides the values of a decoded Secret in place.
func hideObject(obj map[string]any) {
	for _, field := range []string{"data", "stringData"} {
		if m, ok := obj[field].(map[string]any); ok {
			for k, v := range m {
				m[k] = hideValue(field, v)
			}
		} else if v, ok := obj[field]; ok && v != nil {
			obj[field] = Marker(size(v))
		}
	}
	if meta, ok := obj["metadata"].(map[string]any); ok {
		if ann, ok := meta["annotations"].(map[string]any); ok {
			if v, ok := ann[LastAppliedAnnotation]; ok {
				ann[LastAppliedAnnotation] = Marker(size(v))
			}
		}
	}
}

// hideValue is the marker for one value of data (base64, so its size is
// that of the decoded bytes, as `kubectl describe secret` shows it) or of
// stringData.
func hideValue(field string, v any) string {
	if s, ok := v.(string); ok && field == "data" {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return Marker(len(b))
		}
	}
	return Marker(size(v))
}

func size(v any) int {
	if s, ok := v.(string); ok {
		return len(s)
	}
	b, _ := json.Marshal(v)
	return len(b)
}

// Sensitive reports whether a path into a Secret (as the trace's diff and
// the lab checks write them: "data.password", "data[\"a.b\"]",
// metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"])
// leads to or into a value. The empty path is the whole document.
func Sensitive(path string) bool {
	if path == "" {
		return true
	}
	for _, field := range []string{"data", "stringData"} {
		if path == field || strings.HasPrefix(path, field+".") || strings.HasPrefix(path, field+"[") {
			return true
		}
	}
	return strings.HasPrefix(path, `metadata.annotations["`+LastAppliedAnnotation+`"]`) ||
		path == "metadata.annotations" || path == "metadata"
}

// Value hides v, the value at path in a Secret, if it is or holds a
// Secret value: a whole object keeps its keys (a map of markers for data,
// the Secret hidden for the whole document), anything else becomes one
// marker.
func Value(path string, v any) any {
	if v == nil || !Sensitive(path) {
		return v
	}
	switch path {
	case "":
		if obj, ok := v.(map[string]any); ok {
			cp := deepCopy(obj)
			hideObject(cp)
			return cp
		}
	case "metadata", "metadata.annotations":
		obj, ok := v.(map[string]any)
		if !ok {
			break
		}
		cp := deepCopy(obj)
		wrapped := map[string]any{"metadata": cp}
		if path == "metadata.annotations" {
			wrapped = map[string]any{"metadata": map[string]any{"annotations": cp}}
		}
		hideObject(wrapped)
		return cp
	case "data", "stringData":
		if m, ok := v.(map[string]any); ok {
			out := make(map[string]any, len(m))
			for k, x := range m {
				out[k] = hideValue(path, x)
			}
			return out
		}
	}
	if strings.HasPrefix(path, "data") {
		return hideValue("data", v)
	}
	return Marker(size(v))
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
