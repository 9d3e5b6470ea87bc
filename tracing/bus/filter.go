package bus

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Filter selects events on the server side, so a browser that watches one
// pod is not sent the whole cluster's traffic. The zero Filter matches every
// event except noise.
//
// KindDropped and KindError markers always match: a client must learn that
// it lost events or that its request was wrong, whatever it filters on.
type Filter struct {
	// Kinds keeps events of these kinds; empty keeps every kind.
	Kinds []tracing.Kind
	// Components keeps events whose From or To is one of these ids, or
	// starts with one of them followed by "/" (tracing.ComponentIs):
	// "kubelet" matches "kubelet/node-1", "kubelet/node-1" matches only
	// that kubelet.
	Components []string
	// Namespace keeps events in this namespace. Events without one
	// (cluster-scoped objects, lifecycle) do not match a non-empty
	// Namespace.
	Namespace string
	// Object keeps events whose Object() is exactly this
	// ("pods/default/nginx", "nodes/node-1").
	Object string
	// IncludeNoise keeps events marked Noise; they are dropped otherwise.
	IncludeNoise bool
}

// Match reports whether ev passes the filter. It does not allocate: it runs
// for every subscriber on every Publish.
func (f Filter) Match(ev *tracing.Event) bool {
	if ev.Kind == tracing.KindDropped || ev.Kind == tracing.KindError {
		return true
	}
	if ev.Noise && !f.IncludeNoise {
		return false
	}
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, ev.Kind) {
		return false
	}
	if f.Namespace != "" && ev.Namespace != f.Namespace {
		return false
	}
	if f.Object != "" && !objectIs(ev, f.Object) {
		return false
	}
	if len(f.Components) > 0 {
		for _, c := range f.Components {
			if tracing.ComponentIs(ev.From, c) || tracing.ComponentIs(ev.To, c) {
				return true
			}
		}
		return false
	}
	return true
}

// objectIs reports whether ev.Object() == key (key non-empty) without
// building the string.
func objectIs(ev *tracing.Event, key string) bool {
	if ev.Resource == "" || ev.Name == "" {
		return false
	}
	rest, ok := cutPart(key, ev.Resource)
	if ok && ev.Namespace != "" {
		rest, ok = cutPart(rest, ev.Namespace)
	}
	return ok && rest == ev.Name
}

// cutPart removes "part/" from the front of s.
func cutPart(s, part string) (string, bool) {
	if len(s) <= len(part) || s[:len(part)] != part || s[len(part)] != '/' {
		return "", false
	}
	return s[len(part)+1:], true
}

// clone copies the slices so a caller that reuses its Filter cannot race
// with Publish reading the subscriber's copy.
func (f Filter) clone() Filter {
	f.Kinds = slices.Clone(f.Kinds)
	f.Components = slices.Clone(f.Components)
	return f
}

// validKinds lists the kinds ParseQuery accepts, in the order docs use.
func validKinds() []tracing.Kind {
	return []tracing.Kind{
		tracing.KindHTTP, tracing.KindWatch, tracing.KindEtcd, tracing.KindCRI,
		tracing.KindKubeletAPI, tracing.KindNet, tracing.KindLifecycle, tracing.KindDropped, tracing.KindError,
	}
}

// queryParams are the parameters ParseQuery knows, in the order docs use.
func queryParams() []string {
	return []string{"kinds", "components", "namespace", "object", "noise", "since"}
}

// ParseQuery reads a stream request's query string (GET /ws/trace?…):
//
//	kinds=http,watch               comma-separated event kinds
//	components=scheduler,kubelet   comma-separated component ids (prefix rule as in Filter)
//	namespace=default              a namespace name
//	object=pods/default/nginx      resource/name or resource/namespace/name
//	noise=true                     true, false, 1 or 0 (default false)
//	since=1234                     resume after this seq; since=0 sends every
//	                               stored event first (absent: live only)
//
// kinds and components may also be repeated (kinds=http&kinds=watch); the
// others must appear at most once. Empty values mean "not given". Any other
// parameter is an error, so a typo ("kind=http") is reported instead of
// silently streaming everything. Errors are one line naming the parameter
// and what it expects.
func ParseQuery(q url.Values) (f Filter, since uint64, err error) {
	var unknown []string
	for name := range q {
		if !slices.Contains(queryParams(), name) {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		noun := "parameter"
		if len(unknown) > 1 {
			noun = "parameters"
		}
		return Filter{}, 0, fmt.Errorf("unknown query %s %s (valid: %s)",
			noun, strings.Join(unknown, ", "), strings.Join(queryParams(), ", "))
	}

	for _, k := range listParam(q["kinds"]) {
		if k == "" {
			return Filter{}, 0, fmt.Errorf("query parameter kinds=%q: empty kind in the list (expected comma-separated kinds: %s)",
				strings.Join(q["kinds"], ","), kindList())
		}
		kind := tracing.Kind(k)
		if !slices.Contains(validKinds(), kind) {
			return Filter{}, 0, fmt.Errorf("query parameter kinds: unknown kind %q (valid: %s)", k, kindList())
		}
		if !slices.Contains(f.Kinds, kind) {
			f.Kinds = append(f.Kinds, kind)
		}
	}

	for _, c := range listParam(q["components"]) {
		if err := checkComponent(c); err != nil {
			return Filter{}, 0, fmt.Errorf("query parameter components: %w", err)
		}
		if !slices.Contains(f.Components, c) {
			f.Components = append(f.Components, c)
		}
	}

	ns, err := single(q, "namespace")
	if err != nil {
		return Filter{}, 0, err
	}
	if ns != "" && !isDNSLabel(ns) {
		return Filter{}, 0, fmt.Errorf("query parameter namespace=%q: expected a namespace name (lowercase letters, digits and '-', at most 63 characters)", ns)
	}
	f.Namespace = ns

	obj, err := single(q, "object")
	if err != nil {
		return Filter{}, 0, err
	}
	if obj != "" {
		parts := strings.Split(obj, "/")
		if (len(parts) != 2 && len(parts) != 3) || slices.Contains(parts, "") {
			return Filter{}, 0, fmt.Errorf("query parameter object=%q: expected resource/name or resource/namespace/name, e.g. pods/default/nginx or nodes/node-1", obj)
		}
	}
	f.Object = obj

	noise, err := single(q, "noise")
	if err != nil {
		return Filter{}, 0, err
	}
	switch {
	case noise == "" || noise == "0" || strings.EqualFold(noise, "false"):
		f.IncludeNoise = false
	case noise == "1" || strings.EqualFold(noise, "true"):
		f.IncludeNoise = true
	default:
		return Filter{}, 0, fmt.Errorf("query parameter noise=%q: expected true, false, 1 or 0", noise)
	}

	s, err := single(q, "since")
	if err != nil {
		return Filter{}, 0, err
	}
	since = Live
	if s != "" {
		since, err = strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Filter{}, 0, fmt.Errorf("query parameter since=%q: expected a sequence number (a non-negative integer)", s)
		}
	}
	return f, since, nil
}

// listParam splits every value of a list parameter on commas, trimming
// spaces. An entirely empty parameter gives no items; an empty item inside
// a list ("http,,watch") is kept as "" so the caller can reject it.
func listParam(values []string) []string {
	var out []string
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		for item := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(item))
		}
	}
	return out
}

// single returns the one value of a scalar parameter ("" if absent).
func single(q url.Values, name string) (string, error) {
	v := q[name]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(v[0]), nil
	}
	return "", fmt.Errorf("query parameter %s is given %d times; give it once", name, len(v))
}

// checkComponent accepts "id" or "id/node" with non-empty parts.
func checkComponent(c string) error {
	parts := strings.Split(c, "/")
	if len(parts) > 2 || slices.Contains(parts, "") {
		return fmt.Errorf("bad component %q (expected an id like scheduler or kubelet, or id/node like kubelet/node-1)", c)
	}
	return nil
}

func kindList() string {
	var names []string
	for _, k := range validKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// isDNSLabel reports whether s is an RFC 1123 label, which every namespace
// name is.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
