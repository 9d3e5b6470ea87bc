package labs

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// checkKinds are the keys that say what a check is about.
func checkKinds() []string { return []string{"resource", "trace", "order"} }

// eventKinds are the trace event kinds a matcher may name (markers that
// only stream clients receive are left out).
func eventKinds() []string {
	var out []string
	for _, k := range []tracing.Kind{tracing.KindHTTP, tracing.KindWatch, tracing.KindEtcd, tracing.KindCRI, tracing.KindKubeletAPI, tracing.KindNet, tracing.KindLifecycle} {
		out = append(out, string(k))
	}
	return out
}

// matcherKeys are an event matcher's keys, in the order docs list them.
func matcherKeys() []string {
	var keys []string
	for _, f := range new(EventMatcher).fields() {
		keys = append(keys, f.key)
	}
	return keys
}

// check decodes one item of a step's checks.
func (d *decoder) check(n *yaml.Node) (Check, bool) {
	before := len(*d.errs)
	m := d.mapping(n, "a check", slices.Concat(checkKinds(), []string{"description"}), func(key string) string {
		return fmt.Sprintf("unknown check kind %q (want resource, trace or order)", key)
	})
	if m == nil {
		return Check{}, false
	}
	var kinds []string
	for _, k := range checkKinds() {
		if _, has := m[k]; has {
			kinds = append(kinds, k)
		}
	}
	var c Check
	switch len(kinds) {
	case 0:
		if len(*d.errs) == before { // not already reported as an unknown kind
			d.errorf(n.Line, "the check has no kind: give exactly one of resource, trace or order")
		}
		return Check{}, false
	case 1:
	default:
		d.errorf(m[kinds[1]].key.Line, "the check has both %s and %s: give exactly one of resource, trace or order", kinds[0], kinds[1])
		return Check{}, false
	}
	e := m[kinds[0]]
	switch kinds[0] {
	case "resource":
		c.Resource = d.resourceCheck(e)
	case "trace":
		if mt, ok := d.matcher(e, "trace"); ok {
			c.Trace = &mt
		}
	case "order":
		c.Order = d.orderCheck(e)
	}
	if de, has := m["description"]; has {
		c.Description, _ = d.text(de, "description")
	}
	if len(*d.errs) > before {
		return Check{}, false
	}
	if c.Description.EN == "" {
		c.Description = describe(&c)
	}
	return c, true
}

func (d *decoder) resourceCheck(e entry) *ResourceCheck {
	keys := []string{"resource", "namespace", "name", "absent", "field", "equals", "exists", "condition", "status", "selector", "count", "min"}
	m := d.mapping(e.val, "resource", keys, func(key string) string {
		if key != "kind" && slices.Contains(matcherKeys(), key) {
			// from, node, chain…: the author meant a trace check.
			return fmt.Sprintf("unknown key %q in resource: %s is a key of trace and order checks' event matchers (a resource check has %s)", key, key, strings.Join(keys, ", "))
		}
		return fmt.Sprintf("unknown key %q in resource (want %s)", key, strings.Join(keys, ", "))
	})
	if m == nil {
		return nil
	}
	before := len(*d.errs)
	rc := &ResourceCheck{}
	strField := func(key string, dst *string) {
		if f, has := m[key]; has {
			*dst, _ = d.str(f, key)
		}
	}
	strField("resource", &rc.Resource)
	strField("namespace", &rc.Namespace)
	strField("name", &rc.Name)
	strField("field", &rc.Field)
	strField("condition", &rc.Condition)
	strField("selector", &rc.Selector)
	if f, has := m["absent"]; has {
		rc.Absent, _ = d.boolean(f, "absent")
	}
	if f, has := m["exists"]; has {
		if b, ok := d.boolean(f, "exists"); ok {
			rc.Exists = &b
		}
	}
	if f, has := m["equals"]; has {
		if v, ok := d.scalarValue(f, "equals"); ok {
			rc.Equals = &v
		}
	}
	if f, has := m["status"]; has {
		if v, ok := d.scalarValue(f, "status"); ok {
			if f.val.Tag == "!!bool" {
				// status: False (unquoted) is a YAML bool; conditions
				// spell it "False".
				v = strings.ToUpper(v[:1]) + strings.ToLower(v[1:])
			}
			rc.Status = v
		}
	}
	if f, has := m["count"]; has {
		rc.Count, _ = d.count(f, "count")
	}
	if f, has := m["min"]; has {
		rc.Min, _ = d.count(f, "min")
	}
	if len(*d.errs) > before {
		return nil
	}

	line := func(key string) int {
		if f, has := m[key]; has {
			return f.key.Line
		}
		return e.val.Line
	}
	if _, has := m["resource"]; !has {
		d.errorf(e.val.Line, "resource check has no resource (the plural resource name, e.g. pods or deployments.apps)")
	} else if strings.ContainsAny(rc.Resource, " /") || strings.ToLower(rc.Resource) != rc.Resource {
		d.errorf(line("resource"), "resource %q is not a plural lower-case resource name (e.g. pods, deployments.apps)", rc.Resource)
	}
	if rc.Field != "" {
		if err := checkFieldPath(rc.Field); err != nil {
			d.errorf(line("field"), "field %q: %v", rc.Field, err)
		}
		switch {
		case rc.Equals == nil && rc.Exists == nil:
			d.errorf(line("field"), "field needs equals (the value it must have) or exists (true or false)")
		case rc.Equals != nil && rc.Exists != nil:
			d.errorf(line("exists"), "give field either equals or exists, not both")
		}
	} else {
		if rc.Equals != nil {
			d.errorf(line("equals"), "equals needs field (the path of the value to compare, e.g. status.phase)")
		}
		if rc.Exists != nil {
			d.errorf(line("exists"), "exists needs field (to check that the object itself exists, give only resource and name)")
		}
	}
	if rc.Condition != "" && rc.Field != "" {
		d.errorf(line("condition"), "give either field or condition, not both")
	}
	if rc.Status != "" && rc.Condition == "" {
		d.errorf(line("status"), "status needs condition (the status.conditions type, e.g. Ready)")
	}
	if rc.Condition != "" && rc.Status == "" {
		rc.Status = "True"
	}
	if rc.Name != "" {
		for _, key := range []string{"selector", "count", "min"} {
			if _, has := m[key]; has {
				d.errorf(line(key), "%s is for a list of objects; this check names one object (name: %s)", key, rc.Name)
			}
		}
		if rc.Absent && (rc.Field != "" || rc.Condition != "") {
			d.errorf(line("absent"), "absent cannot be combined with field or condition")
		}
	} else {
		switch {
		case rc.Count == nil && rc.Min == nil:
			d.errorf(e.val.Line, "resource check has no name: give name (one object) or count or min (how many objects a list must have)")
		case rc.Count != nil && rc.Min != nil:
			d.errorf(line("min"), "give either count or min, not both")
		}
		if rc.Absent {
			d.errorf(line("absent"), "absent needs name; for a list, use count: 0")
		}
	}
	if len(*d.errs) > before {
		return nil
	}
	return rc
}

// scalarValue reads equals: or status:, which may be any single value: a
// bool is written as JSON writes it, a null as null.
func (d *decoder) scalarValue(e entry, what string) (string, bool) {
	n := e.val
	switch {
	case n.Kind != yaml.ScalarNode:
		d.errorf(n.Line, "%s must be a single value, not %s", what, describeNode(n))
		return "", false
	case isNull(n):
		return "null", true
	case n.Tag == "!!bool":
		return strings.ToLower(n.Value), true
	}
	return n.Value, true
}

// checkFieldPath accepts dot-separated names and list indexes.
func checkFieldPath(p string) error {
	for _, seg := range strings.Split(p, ".") {
		switch {
		case seg == "":
			return fmt.Errorf("empty segment (a path is names separated by single dots, e.g. status.phase)")
		case strings.ContainsAny(seg, " \t[]\"'"):
			return fmt.Errorf("segment %q has a space, bracket or quote (write list indexes as numbers: spec.containers.0.image)", seg)
		}
	}
	return nil
}

func (d *decoder) matcher(e entry, what string) (EventMatcher, bool) {
	keys := matcherKeys()
	m := d.mapping(e.val, what, keys, func(key string) string {
		return fmt.Sprintf("unknown key %q in %s (an event matcher has %s)", key, what, strings.Join(keys, ", "))
	})
	if m == nil {
		return EventMatcher{}, false
	}
	if len(m) == 0 {
		d.errorf(e.val.Line, "%s matches every event: give at least one of %s", what, strings.Join(keys, ", "))
		return EventMatcher{}, false
	}
	before := len(*d.errs)
	var mt EventMatcher
	for _, field := range mt.fields() {
		key := field.key
		f, has := m[key]
		if !has {
			continue
		}
		v, ok := d.str(f, what+"."+key)
		if !ok {
			continue
		}
		if i := strings.IndexByte(v, '*'); i >= 0 && i != len(v)-1 {
			d.errorf(f.val.Line, "%s %q: * may only end a value (a prefix wildcard, e.g. kubelet/*)", key, v)
			continue
		}
		if key == "kind" && !strings.HasSuffix(v, "*") && !slices.Contains(eventKinds(), v) {
			d.errorf(f.val.Line, "unknown event kind %q (want %s)", v, strings.Join(eventKinds(), ", "))
			continue
		}
		if (key == "from" || key == "to") && isPodID(v) && !strings.HasSuffix(v, "*") {
			if ns, name, _ := strings.Cut(strings.TrimPrefix(v, podPrefix), "/"); ns == "" || name == "" || strings.Contains(name, "/") {
				d.errorf(f.val.Line, "%s %q names no pod: a pod is pod:<namespace>/<name> (pod:lab8/client), or a prefix ending in * (pod:lab8/*)", key, v)
				continue
			}
		}
		*field.val = v
	}
	// node and chain are about the way a pod's packet went: only net
	// events have them, so with another kind the matcher matches nothing.
	if mt.Kind != "" && !matchValue(mt.Kind, string(tracing.KindNet)) {
		for _, f := range []matcherField{{"node", &mt.Node}, {"chain", &mt.Chain}} {
			if *f.val != "" {
				d.errorf(m[f.key].key.Line, "%s matches only net events (kind: net), and this matcher has kind: %s", f.key, mt.Kind)
			}
		}
	}
	return mt, len(*d.errs) == before
}

func (d *decoder) orderCheck(e entry) *OrderCheck {
	m := d.mapping(e.val, "order", []string{"first", "then"}, nil)
	if m == nil {
		return nil
	}
	var oc OrderCheck
	ok := true
	for _, key := range []string{"first", "then"} {
		f, has := m[key]
		if !has {
			d.errorf(e.val.Line, "order has no %s (an order check is first: <event matcher>, then: <event matcher>)", key)
			ok = false
			continue
		}
		mt, ok2 := d.matcher(f, "order."+key)
		ok = ok && ok2
		if key == "first" {
			oc.First = mt
		} else {
			oc.Then = mt
		}
	}
	if !ok {
		return nil
	}
	return &oc
}
