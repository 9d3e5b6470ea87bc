// Package kdecode reads Kubernetes wire formats without the Kubernetes
// scheme: watch streams the apiserver writes to its watchers (JSON and
// protobuf), single response bodies, and etcd keys. It extracts only what
// the tracer needs to label an interaction — kind, name, namespace, uid and
// resourceVersion — and keeps the object's bytes for anyone who wants more.
//
// The package deliberately imports nothing from k8s.io: the tracer sits in
// the apiserver's hot path and its pure parts build and test in seconds.
// The formats it understands are pinned down by tests that produce bytes
// with the real apimachinery serializers.
package kdecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// ObjectMeta is the identity of one object as read off the wire. For lists,
// Status and Table it holds the ListMeta's resourceVersion only (and, for a
// single-row Table, the identity of the row's object).
type ObjectMeta struct {
	APIVersion      string
	Kind            string
	Name            string
	Namespace       string
	UID             string
	ResourceVersion string
	GenerateName    string
}

// Encodings reported in WatchEvent.Encoding.
const (
	EncodingJSON     = "json"
	EncodingProtobuf = "protobuf"
)

// MaxFrameSize bounds the bytes a WatchParser buffers for one event. The
// apiserver refuses to store objects over ~1.5 MiB (etcd's request limit),
// so a frame this large means the stream is not what we think it is.
const MaxFrameSize = 64 << 20

// ErrUnsupportedContentType is wrapped by the errors for content types this
// package cannot read (CBOR, YAML, …); callers skip such bodies and streams.
var ErrUnsupportedContentType = errors.New("unsupported content type")

const (
	// protobufMagic starts every protobuf-encoded object (the serializer's
	// "k8s\x00" prefix), in responses, in etcd and inside watch events.
	protobufMagic = "k8s\x00"

	mediaTypeJSON     = "application/json"
	mediaTypeProtobuf = "application/vnd.kubernetes.protobuf"
)

// encodingOf maps a Content-Type header to the encoding this package reads.
// Parameters (stream=watch, charset, as=Table) do not change the encoding.
func encodingOf(contentType string) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return "", fmt.Errorf("%w: no content type", ErrUnsupportedContentType)
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: parsing %q: %v", ErrUnsupportedContentType, contentType, err)
	}
	switch mediaType {
	case mediaTypeJSON:
		return EncodingJSON, nil
	case mediaTypeProtobuf:
		return EncodingProtobuf, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedContentType, contentType)
}

// ObjectMetaOf returns the identity of the object in a single response body
// (not a watch stream) encoded as contentType. It is meant for responses to
// create, update, patch and delete. A metav1.Status (pods/binding returns
// one, delete may) yields Kind "Status" and no name; a list yields its kind
// and the list's resourceVersion.
func ObjectMetaOf(contentType string, body []byte) (ObjectMeta, error) {
	enc, err := encodingOf(contentType)
	if err != nil {
		return ObjectMeta{}, err
	}
	if enc == EncodingJSON {
		m, err := jsonObjectMeta(body)
		if err != nil {
			return ObjectMeta{}, fmt.Errorf("decoding JSON response body: %w", err)
		}
		return m, nil
	}
	m, err := protobufObjectMeta(body)
	if err != nil {
		return ObjectMeta{}, fmt.Errorf("decoding protobuf response body: %w", err)
	}
	return m, nil
}

// jsonMeta is the part of ObjectMeta (or ListMeta: its resourceVersion has
// the same JSON name) the tracer reads.
type jsonMeta struct {
	Name            string `json:"name"`
	GenerateName    string `json:"generateName"`
	Namespace       string `json:"namespace"`
	UID             string `json:"uid"`
	ResourceVersion string `json:"resourceVersion"`
}

type jsonObject struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   jsonMeta `json:"metadata"`
	// Rows stays raw: only a Table's rows are read, and a custom resource
	// may well have a top-level "rows" field of another shape.
	Rows json.RawMessage `json:"rows"`
}

func jsonObjectMeta(b []byte) (ObjectMeta, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return ObjectMeta{}, errors.New("not a JSON object")
	}
	var o jsonObject
	if err := json.Unmarshal(b, &o); err != nil {
		return ObjectMeta{}, err
	}
	m := ObjectMeta{
		APIVersion:      o.APIVersion,
		Kind:            o.Kind,
		Name:            o.Metadata.Name,
		GenerateName:    o.Metadata.GenerateName,
		Namespace:       o.Metadata.Namespace,
		UID:             o.Metadata.UID,
		ResourceVersion: o.Metadata.ResourceVersion,
	}
	if o.Kind == "Table" && len(o.Rows) > 0 {
		tableRowIdentity(o.Rows, &m)
	}
	return m, nil
}

// tableRowIdentity fills m from the object of a single-row Table. kubectl
// get --watch asks for Tables, and the apiserver converts each watch event
// into a one-row Table whose row carries the object (or its metadata); the
// row is what the event is about. Tables with several rows or rows without
// objects are left as they are: there is no single identity to report.
func tableRowIdentity(rows json.RawMessage, m *ObjectMeta) {
	var rs []struct {
		Object *jsonObject `json:"object"`
	}
	if err := json.Unmarshal(rows, &rs); err != nil || len(rs) != 1 || rs[0].Object == nil {
		return
	}
	row := rs[0].Object.Metadata
	m.Name, m.GenerateName, m.Namespace, m.UID = row.Name, row.GenerateName, row.Namespace, row.UID
	if m.ResourceVersion == "" {
		m.ResourceVersion = row.ResourceVersion
	}
}

// envelope is a decoded runtime.Unknown, the wrapper the protobuf serializer
// puts after the magic prefix (k8s.io/apimachinery/pkg/runtime/generated.proto):
//
//	1 typeMeta        (runtime.TypeMeta: 1 apiVersion, 2 kind)
//	2 raw             the object's own protobuf
//	3 contentEncoding
//	4 contentType
//
// Note runtime.TypeMeta numbers apiVersion 1 and kind 2, the reverse of
// metav1.TypeMeta.
type envelope struct {
	apiVersion, kind string
	raw              []byte
	contentEncoding  string
	contentType      string
}

func hasProtobufMagic(b []byte) bool {
	return len(b) >= len(protobufMagic) && string(b[:len(protobufMagic)]) == protobufMagic
}

func parseEnvelope(b []byte) (envelope, error) {
	if !hasProtobufMagic(b) {
		return envelope{}, errors.New(`missing the "k8s\x00" protobuf prefix`)
	}
	var env envelope
	err := walkFields(b[len(protobufMagic):], func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return wireTypeError("runtime.Unknown.typeMeta", typ)
			}
			return walkFields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch num {
				case 1, 2:
					if typ != protowire.BytesType {
						return wireTypeError("runtime.TypeMeta", typ)
					}
					if num == 1 {
						env.apiVersion = string(v)
					} else {
						env.kind = string(v)
					}
				}
				return nil
			})
		case 2, 3, 4:
			if typ != protowire.BytesType {
				return wireTypeError("runtime.Unknown", typ)
			}
			switch num {
			case 2:
				env.raw = v
			case 3:
				env.contentEncoding = string(v)
			case 4:
				env.contentType = string(v)
			}
		}
		return nil
	})
	if err != nil {
		return envelope{}, fmt.Errorf("decoding runtime.Unknown envelope: %w", err)
	}
	return env, nil
}

// protobufObjectMeta reads the identity of an enveloped protobuf object.
func protobufObjectMeta(b []byte) (ObjectMeta, error) {
	env, err := parseEnvelope(b)
	if err != nil {
		return ObjectMeta{}, err
	}
	// The serializer never sets these; an envelope that does carries
	// something other than a plain protobuf object.
	if env.contentEncoding != "" {
		return ObjectMeta{}, fmt.Errorf("%s %s: unsupported envelope contentEncoding %q", env.apiVersion, env.kind, env.contentEncoding)
	}
	if env.contentType != "" && env.contentType != mediaTypeProtobuf {
		return ObjectMeta{}, fmt.Errorf("%s %s: unsupported envelope contentType %q", env.apiVersion, env.kind, env.contentType)
	}
	m := ObjectMeta{APIVersion: env.apiVersion, Kind: env.kind}
	if err := parseObjectBody(env.kind, env.raw, &m); err != nil {
		return ObjectMeta{}, fmt.Errorf("%s %s: %w", env.apiVersion, env.kind, err)
	}
	return m, nil
}

// usesListMeta reports whether a kind's field 1 is a metav1.ListMeta rather
// than a metav1.ObjectMeta. Both are field 1 of every top-level type, but
// their numbering differs, so the kind decides how to read it. Built-in
// kinds ending in "List" are all lists; only built-in kinds are protobuf.
func usesListMeta(kind string) bool {
	return kind == "Status" || kind == "Table" || strings.HasSuffix(kind, "List")
}

// parseObjectBody reads field 1 (metadata) of an object's own protobuf.
func parseObjectBody(kind string, raw []byte, m *ObjectMeta) error {
	listMeta := usesListMeta(kind)
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 1 {
			return nil
		}
		if typ != protowire.BytesType {
			return wireTypeError("metadata", typ)
		}
		if listMeta {
			return parseListMeta(v, m)
		}
		return parseObjectMeta(v, m)
	})
}

// parseObjectMeta reads metav1.ObjectMeta (apis/meta/v1/generated.proto):
// 1 name, 2 generateName, 3 namespace, 4 selfLink, 5 uid, 6 resourceVersion,
// 7 generation, 8 creationTimestamp, … 12 annotations, 17 managedFields.
func parseObjectMeta(b []byte, m *ObjectMeta) error {
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		var dst *string
		switch num {
		case 1:
			dst = &m.Name
		case 2:
			dst = &m.GenerateName
		case 3:
			dst = &m.Namespace
		case 5:
			dst = &m.UID
		case 6:
			dst = &m.ResourceVersion
		default:
			return nil
		}
		if typ != protowire.BytesType {
			return wireTypeError("ObjectMeta", typ)
		}
		*dst = string(v)
		return nil
	})
}

// parseListMeta reads metav1.ListMeta: 1 selfLink, 2 resourceVersion,
// 3 continue, 4 remainingItemCount.
func parseListMeta(b []byte, m *ObjectMeta) error {
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 2 {
			return nil
		}
		if typ != protowire.BytesType {
			return wireTypeError("ListMeta", typ)
		}
		m.ResourceVersion = string(v)
		return nil
	})
}

// walkFields calls fn for every field of a protobuf message, in order. v is
// the payload of length-delimited fields and nil for the others, which are
// skipped after validation. Fields the caller does not know are ignored,
// as protobuf requires, but the message must be well-formed throughout.
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

func wireTypeError(what string, typ protowire.Type) error {
	return fmt.Errorf("%s: unexpected wire type %d", what, typ)
}
