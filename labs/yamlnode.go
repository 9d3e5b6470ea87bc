package labs

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder reads one YAML file through yaml.Node, so that every problem can
// name the line it is on. It records problems instead of stopping at the
// first, so an author sees all of a file's mistakes at once.
type decoder struct {
	file  string // as shown in messages
	errs  *[]LoadError
	warns *[]LoadError
}

func (d *decoder) errorf(line int, format string, args ...any) {
	*d.errs = append(*d.errs, LoadError{File: d.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnf(line int, format string, args ...any) {
	*d.warns = append(*d.warns, LoadError{File: d.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// yamlErrLine picks the line out of go-yaml's "yaml: line 3: …" messages.
var yamlErrLine = regexp.MustCompile(`^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)

// parse returns the document's top-level node, or nil after recording why
// there is none.
func (d *decoder) parse(data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimSpace(err.Error())
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			d.errorf(line, "YAML syntax error: %s", m[2])
		} else {
			d.errorf(0, "YAML syntax error: %s", strings.TrimPrefix(msg, "yaml: "))
		}
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errorf(0, "the file is empty")
		return nil
	}
	return resolve(doc.Content[0])
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// entry is one key of a mapping, with the key node for its line.
type entry struct {
	key, val *yaml.Node
}

// mapping checks that n is a mapping whose keys are all in allowed and
// appear once, and returns its entries by key (nil if n is not a mapping).
// unknown, if non-nil, words the message for a key not in allowed.
func (d *decoder) mapping(n *yaml.Node, what string, allowed []string, unknown func(key string) string) map[string]entry {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "%s must be a mapping (key: value lines), not %s", what, describeNode(n))
		return nil
	}
	out := make(map[string]entry, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, "%s has a key that is not a plain name", what)
			continue
		}
		if !slices.Contains(allowed, key) {
			if unknown != nil {
				d.errorf(k.Line, "%s", unknown(key))
			} else {
				d.errorf(k.Line, "unknown key %q in %s (want %s)", key, what, strings.Join(allowed, ", "))
			}
			continue
		}
		if prev, dup := out[key]; dup {
			d.errorf(k.Line, "%s has %s twice (first at line %d)", what, key, prev.key.Line)
			continue
		}
		out[key] = entry{k, v}
	}
	return out
}

// str reads a scalar as a string. A null ("key:" with nothing after it) is
// reported as empty.
func (d *decoder) str(e entry, what string) (string, bool) {
	n := e.val
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, "%s must be a single value, not %s", what, describeNode(n))
		return "", false
	}
	if isNull(n) || strings.TrimSpace(n.Value) == "" {
		d.errorf(e.key.Line, "%s is empty", what)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) boolean(e entry, what string) (bool, bool) {
	var b bool
	if e.val.Kind != yaml.ScalarNode || e.val.Tag != "!!bool" || e.val.Decode(&b) != nil {
		d.errorf(e.val.Line, "%s must be true or false, not %s", what, describeNode(e.val))
		return false, false
	}
	return b, true
}

func (d *decoder) count(e entry, what string) (*int, bool) {
	var n int
	if e.val.Kind != yaml.ScalarNode || e.val.Tag != "!!int" || e.val.Decode(&n) != nil || n < 0 {
		d.errorf(e.val.Line, "%s must be a whole number (0 or more), not %s", what, describeNode(e.val))
		return nil, false
	}
	return &n, true
}

// seq returns a sequence's items; a null is an empty sequence.
func (d *decoder) seq(e entry, what string) ([]*yaml.Node, bool) {
	n := e.val
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, "%s must be a list, not %s", what, describeNode(n))
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = resolve(c)
	}
	return items, true
}

// strings reads a list of single values.
func (d *decoder) strings(e entry, what string) ([]string, bool) {
	items, ok := d.seq(e, what)
	out := []string{}
	for _, it := range items {
		s, ok2 := d.str(entry{it, it}, "an item of "+what)
		ok = ok && ok2
		out = append(out, s)
	}
	return out, ok
}

// text reads a bilingual string {en: …, zh: …}. English is required;
// missing Chinese is a warning (English is shown instead).
func (d *decoder) text(e entry, what string) (Text, bool) {
	m := d.mapping(e.val, what, []string{EN, ZH}, func(key string) string {
		return fmt.Sprintf("unknown language %q in %s (want en and zh)", key, what)
	})
	if m == nil {
		return Text{}, false
	}
	var t Text
	ok := true
	if en, has := m[EN]; has {
		t.EN, ok = d.str(en, what+".en")
	} else {
		d.errorf(e.val.Line, "%s has no en (English is required; zh is optional)", what)
		ok = false
	}
	if zh, has := m[ZH]; has {
		var ok2 bool
		t.ZH, ok2 = d.str(zh, what+".zh")
		ok = ok && ok2
	} else if ok {
		d.warnf(e.val.Line, "%s has no zh: Chinese readers see the English", what)
	}
	return t, ok
}

// describeNode names what a node is, for "must be X, not Y" messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}
