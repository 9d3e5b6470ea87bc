// Package labs is Wheelhouse's guided labs: the format labs are written in
// (docs in content/README.md), the loader that
// reads and validates them, and the engine that checks a learner's progress
// against the live cluster and its trace.
//
// The package imports nothing from Kubernetes: the engine reads objects
// through ObjectSource (labs/kubesource implements it with client-go) and
// events through EventSource (BusEvents implements it over the trace bus),
// so it can be tested with fakes and used by the server package.
package labs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Catalog is the set of labs that loaded, in folder order.
type Catalog struct {
	Labs []*Lab
	// Warnings are problems that did not stop a lab from loading (a
	// missing translation, a step file no lab.yaml lists).
	Warnings []LoadError
}

// Lab returns the lab with the given id, or nil.
func (c *Catalog) Lab(id string) *Lab {
	if c == nil {
		return nil
	}
	for _, l := range c.Labs {
		if l.ID == id {
			return l
		}
	}
	return nil
}

// Lab is one guided lab: an ordered list of steps.
type Lab struct {
	// ID is the folder name without its NN- prefix ("kubectl-run").
	ID string
	// Dir is the folder name ("02-kubectl-run").
	Dir     string
	Title   Text
	Summary Text
	// Topology is the cluster topology the lab needs (single-node,
	// single-control-plane or ha); empty means any.
	Topology string
	// IntroHTML is intro.en.md / intro.zh.md rendered; empty if absent.
	IntroHTML Text
	Steps     []*Step
	// Solution is solution.sh split by step, in file order; nil if the lab
	// has no solution.sh.
	Solution []SolutionSection
}

// Topologies are the values a lab's topology may take.
var Topologies = []string{"single-node", "single-control-plane", "ha"}

// Step returns the step with the given id (its file stem), or nil.
func (l *Lab) Step(id string) *Step {
	for _, s := range l.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Step is one step of a lab: something the learner does, and the checks
// that say it is done.
type Step struct {
	// ID is the step's file stem ("01-run").
	ID    string
	Title Text
	Goal  Text
	// HTML is the step's Markdown text (STEM.en.md / STEM.zh.md) rendered.
	HTML Text
	// Commands are shell commands the UI offers to paste; they are the
	// same in every language.
	Commands []string
	Hints    []Text
	// Watch names the components and edges ("apiserver->etcd") the
	// diagram highlights during the step.
	Watch []string
	// Checks must all pass for the step to be done.
	Checks []Check
}

// Check is one condition of a step. Exactly one of Resource, Trace and
// Order is set.
type Check struct {
	// Description is the author's, or one the loader wrote from the check.
	Description Text
	Resource    *ResourceCheck
	Trace       *EventMatcher
	Order       *OrderCheck
}

// ResourceCheck is a condition on one named object (Name set) or on the
// number of objects in a list (Name empty, Count or Min set).
//
// For one object: with nothing else it must exist; Absent: it must not;
// Field with Equals or Exists: a field's value; Condition with Status: an
// entry of status.conditions. For a list: Field and Condition, if set,
// narrow which objects are counted.
type ResourceCheck struct {
	// Resource is the plural resource, with its group if not core
	// ("pods", "deployments.apps").
	Resource  string
	Namespace string
	Name      string
	Absent    bool

	// Field is a dot-separated path ("status.phase",
	// "spec.containers.0.image").
	Field string
	// Equals is compared with the field's value as a string: a JSON
	// string as itself, anything else as its JSON encoding ("3", "true").
	Equals *string
	// Exists, if set, says whether the field must be present.
	Exists *bool

	// Condition is a status.conditions type ("Ready"); Status the status
	// it must have ("True" if not given).
	Condition string
	Status    string

	// Selector is a label selector for the list form ("app=web").
	Selector string
	// Count is the exact number of matching objects; Min the least.
	Count *int
	Min   *int
}

// EventMatcher selects trace events. Empty fields match anything; a value
// ending in "*" matches any value with that prefix. From and To also
// follow the component rule of the trace bus: "kubelet" matches
// "kubelet/node-1" as well as "kubelet".
type EventMatcher struct {
	Kind        string
	From        string
	To          string
	Verb        string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	Status      string
	// Path is an HTTP request's path and query (e.g. /openapi/v3*), and
	// Controller the controller a controller-manager request came from
	// (e.g. replicaset-controller): both are in the event's detail.
	Path       string
	Controller string
	// Node is the node a net event's source pod is on (detail.srcNode),
	// and Chain matches a net event any of whose chains (detail.chains:
	// KUBE-SERVICES, KUBE-SVC-…, KUBE-SEP-…) it matches: neither matches
	// an event of another kind.
	Node  string
	Chain string
}

// OrderCheck passes when an event matching First is followed (later Seq,
// same or later time) by one matching Then.
type OrderCheck struct {
	First EventMatcher
	Then  EventMatcher
}

// LoadError is a problem in a lab's files, located by file and line (Line
// is 0 when the problem is about a whole file).
type LoadError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// Match reports whether ev matches every non-empty field of m.
func (m *EventMatcher) Match(ev *tracing.Event) bool {
	return matchValue(m.Kind, string(ev.Kind)) &&
		matchComponent(m.From, ev.From) &&
		matchComponent(m.To, ev.To) &&
		matchValue(m.Verb, ev.Verb) &&
		matchValue(m.Resource, ev.Resource) &&
		matchValue(m.Subresource, ev.Subresource) &&
		matchValue(m.Namespace, ev.Namespace) &&
		matchValue(m.Name, ev.Name) &&
		matchValue(m.Status, ev.Status) &&
		matchValue(m.Path, detailString(ev, "path")) &&
		matchValue(m.Controller, detailString(ev, "controller")) &&
		matchNet(m.Node, ev, detailString(ev, "srcNode")) &&
		matchNet(m.Chain, ev, detailStrings(ev, "chains")...)
}

// matchNet matches a key only net events have (node, chain) against the
// event's values for it: "" matches any event, anything else only a net
// event one of whose values it matches.
func matchNet(pattern string, ev *tracing.Event, values ...string) bool {
	if pattern == "" {
		return true
	}
	return ev.Kind == tracing.KindNet && slices.ContainsFunc(values, func(v string) bool { return matchValue(pattern, v) })
}

func detailString(ev *tracing.Event, key string) string {
	s, _ := ev.Detail[key].(string)
	return s
}

// detailStrings is a list of strings in an event's detail: a []string as
// the collectors write it, or the []any of an event read back from JSON
// (a recording).
func detailStrings(ev *tracing.Event, key string) []string {
	switch v := ev.Detail[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, it := range v {
			if s, ok := it.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// matcherField is one field of an EventMatcher: its key in a lab's YAML
// and where its value is.
type matcherField struct {
	key string
	val *string
}

// fields lists the matcher's fields in the order the format documents
// them. It is the one list of them: the loader's keys and the describer's
// fallback text come from it (Match compares each field its own way).
func (m *EventMatcher) fields() []matcherField {
	return []matcherField{
		{"kind", &m.Kind}, {"from", &m.From}, {"to", &m.To}, {"verb", &m.Verb},
		{"resource", &m.Resource}, {"subresource", &m.Subresource},
		{"namespace", &m.Namespace}, {"name", &m.Name}, {"status", &m.Status},
		{"path", &m.Path}, {"controller", &m.Controller},
		{"node", &m.Node}, {"chain", &m.Chain},
	}
}

// matchValue matches one field: "" matches anything, "x*" any value
// starting with x, anything else only itself.
func matchValue(pattern, v string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := cutWildcard(pattern); ok {
		return strings.HasPrefix(v, prefix)
	}
	return v == pattern
}

// matchComponent is matchValue for component ids, where a plain id also
// matches its per-node instances ("kubelet" matches "kubelet/node-1"), by
// the rule the trace bus's component filter uses (tracing.ComponentIs): a
// lab author who writes from: kubelet means any kubelet. A pod
// ("pod:lab8/client", the end of a net event) is not a component with
// instances: what follows its namespace's "/" is its name, not a node,
// so a plain pod id matches only itself ("pod:lab8" is no pod of lab8's;
// pod:lab8/* is every one).
func matchComponent(pattern, id string) bool {
	if _, ok := cutWildcard(pattern); ok || pattern == "" || isPodID(pattern) {
		return matchValue(pattern, id)
	}
	return tracing.ComponentIs(id, pattern)
}

// podPrefix starts a pod's id as the end of a net event.
const podPrefix = "pod:"

func isPodID(id string) bool { return strings.HasPrefix(id, podPrefix) }

func cutWildcard(pattern string) (string, bool) {
	if n := len(pattern); n > 0 && pattern[n-1] == '*' {
		return pattern[:n-1], true
	}
	return "", false
}
