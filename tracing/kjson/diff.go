package kjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Change is one difference between two JSON documents.
type Change struct {
	// Path locates the value: object keys joined by dots and array indices
	// in brackets, e.g. "spec.nodeName" or "status.conditions[1].status".
	// Keys that would make the path ambiguous (containing '.', '[', ']',
	// '"' or whitespace, or empty) are written quoted in brackets, as in
	// metadata.labels["app.kubernetes.io/name"]. The whole document is "".
	Path string
	// Old and New are the JSON values at Path before and after, as
	// encoding/json decodes them (map[string]any, []any, string, bool,
	// nil), except that numbers are json.Number, exact as written. An
	// absent value is nil: an added field has Old nil, a removed one New
	// nil. A field that is null on one side and absent on the other is
	// therefore not a change.
	Old, New any
}

// Diff compares two JSON documents structurally, for the inspector's "what
// this write changed" view. Objects are compared key by key and arrays
// index by index, so a value added or removed as a whole is one Change,
// and an element inserted into an array shows as changes to it and every
// element after it. metadata.resourceVersion (which every write changes)
// and metadata.managedFields (bookkeeping) are ignored. An empty or null
// document counts as an empty object, so diffing a created object against
// nothing lists its top-level fields as added.
//
// Changes are sorted by path, segment by segment: object keys in byte
// order, array indices numerically (status.conditions[2] before [10]).
func (d *Decoder) Diff(prevJSON, curJSON json.RawMessage) ([]Change, error) {
	prev, err := decodeDocument(prevJSON)
	if err != nil {
		return nil, fmt.Errorf("diff: decoding the previous document: %w", err)
	}
	cur, err := decodeDocument(curJSON)
	if err != nil {
		return nil, fmt.Errorf("diff: decoding the current document: %w", err)
	}
	var changes []Change
	// The walk visits keys in sorted order and indices in ascending order,
	// which is the order documented above; nothing needs sorting after.
	diffValues(nil, prev, cur, &changes)
	return changes, nil
}

func decodeDocument(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]any{}, nil
	}
	return v, nil
}

// segment is one step of a path: a key, or an index when key is nil.
type segment struct {
	key   *string
	index int
}

func diffValues(path []segment, a, b any, out *[]Change) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			diffObjects(path, av, bv, out)
			return
		}
	case []any:
		if bv, ok := b.([]any); ok {
			diffArrays(path, av, bv, out)
			return
		}
	}
	if !equalJSON(a, b) {
		*out = append(*out, Change{Path: formatPath(path), Old: a, New: b})
	}
}

func diffObjects(path []segment, a, b map[string]any, out *[]Change) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if ignored(path, k) {
			continue
		}
		diffValues(append(slices.Clip(path), segment{key: &k}), a[k], b[k], out)
	}
}

func diffArrays(path []segment, a, b []any, out *[]Change) {
	for i := range max(len(a), len(b)) {
		var av, bv any
		if i < len(a) {
			av = a[i]
		}
		if i < len(b) {
			bv = b[i]
		}
		p := append(slices.Clip(path), segment{index: i})
		if i >= len(a) || i >= len(b) {
			// An element added or removed is one change, even if it
			// is null.
			*out = append(*out, Change{Path: formatPath(p), Old: av, New: bv})
			continue
		}
		diffValues(p, av, bv, out)
	}
}

// ignored reports whether key under path is one Diff leaves out: the
// top-level metadata's resourceVersion and managedFields.
func ignored(path []segment, key string) bool {
	return len(path) == 1 && path[0].key != nil && *path[0].key == "metadata" &&
		(key == "resourceVersion" || key == "managedFields")
}

// equalJSON compares two decoded JSON scalars (or values of different
// types). Numbers are equal if they are the same number however written
// ("1" and "1.0"), compared exactly rather than through float64.
func equalJSON(a, b any) bool {
	an, aok := a.(json.Number)
	bn, bok := b.(json.Number)
	if aok && bok {
		if an == bn {
			return true
		}
		ar, aok := new(big.Rat).SetString(string(an))
		br, bok := new(big.Rat).SetString(string(bn))
		return aok && bok && ar.Cmp(br) == 0
	}
	switch a.(type) {
	case map[string]any, []any:
		// Only reached when b is not of the same type.
		return false
	}
	return a == b
}

func formatPath(path []segment) string {
	var sb strings.Builder
	for _, s := range path {
		switch {
		case s.key == nil:
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
		case plainKey(*s.key):
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(*s.key)
		default:
			sb.WriteByte('[')
			sb.WriteString(strconv.Quote(*s.key))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// plainKey reports whether a key can appear in a path unquoted without
// being mistaken for more than one segment.
func plainKey(k string) bool {
	return k != "" && !strings.ContainsAny(k, ".[]\" \t\r\n")
}
