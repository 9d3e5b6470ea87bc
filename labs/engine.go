package labs

import (
	"github.com/wheelhouse-k8s/wheelhouse/tracing/redact"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// ErrNotFound is what an ObjectSource's Get returns (possibly wrapped) for
// an object that does not exist.
var ErrNotFound = errors.New("not found")

// ObjectSource reads cluster objects as decoded JSON (maps, slices,
// strings, bools, float64 or int64 numbers, nil).
type ObjectSource interface {
	// Get returns one object; namespace is "" for cluster-scoped
	// resources. An object that does not exist is an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, resource, namespace, name string) (map[string]any, error)
	// List returns the objects of a resource in namespace ("" for all
	// namespaces, or a cluster-scoped resource) whose labels match
	// selector (a Kubernetes label selector; "" matches all).
	List(ctx context.Context, resource, namespace, selector string) ([]map[string]any, error)
}

// EventSource reads the trace.
type EventSource interface {
	// EventsSince calls yield with the stored events whose Time is at or
	// after since, and only those, in Seq order, until yield returns
	// false: callers do not filter by time again. yield must not modify
	// the event: it may be shared. When ctx is done it stops and returns
	// ctx's error; it may look at ctx only every so many events (BusEvents
	// looks every 1024), so yield need not check it, and a caller that
	// must not act on a cut-short scan checks ctx once it returns.
	EventsSince(ctx context.Context, since time.Time, yield func(*tracing.Event) bool) error
}

// Result is the state of one step's checks, as the check endpoint
// returns it.
type Result struct {
	// Passed is true when every check passed.
	Passed bool          `json:"passed"`
	Checks []CheckResult `json:"checks"`
}

// CheckResult is one check's state; Message says what was seen.
type CheckResult struct {
	Description string `json:"description"`
	Passed      bool   `json:"passed"`
	Message     string `json:"message"`
}

// Engine evaluates steps' checks against a cluster and its trace.
type Engine struct {
	objects ObjectSource
	events  EventSource
}

// NewEngine returns an engine reading objects and events from the given
// sources. Either may be nil (no cluster, or no trace); checks that need
// it then fail saying so.
func NewEngine(objects ObjectSource, events EventSource) *Engine {
	return &Engine{objects: objects, events: events}
}

// Evaluate runs every check of step (a step of lab) and reports each in
// lang. Trace and order checks consider only events at or after since,
// the time the learner began the step.
func (e *Engine) Evaluate(ctx context.Context, lab *Lab, step *Step, since time.Time, lang string) Result {
	lang = Lang(lang)
	out := Result{Passed: true, Checks: make([]CheckResult, len(step.Checks))}
	objects := &objectCache{src: e.objects, got: map[string]getResult{}}
	var pending []*eventCheck
	for i := range step.Checks {
		c := &step.Checks[i]
		out.Checks[i].Description = c.Description.Get(lang)
		switch {
		case c.Resource != nil:
			ok, msg := objects.evaluate(ctx, c.Resource)
			out.Checks[i].Passed, out.Checks[i].Message = ok, msg.Get(lang)
		case c.Trace != nil, c.Order != nil:
			pending = append(pending, &eventCheck{index: i, trace: c.Trace, order: c.Order})
		}
	}
	if len(pending) > 0 {
		e.evaluateEvents(ctx, since, pending)
		for _, ec := range pending {
			out.Checks[ec.index].Passed, out.Checks[ec.index].Message = ec.passed, ec.message.Get(lang)
		}
	}
	for _, c := range out.Checks {
		out.Passed = out.Passed && c.Passed
	}
	return out
}

// eventCheck is a trace or order check being evaluated.
type eventCheck struct {
	index int
	trace *EventMatcher
	order *OrderCheck
	// first is the earliest event matching order.First.
	first *tracing.Event
	// early is, until first is found, the latest-happening event that
	// matches order.Then: published before first yet possibly after it.
	early *tracing.Event
	// passed and message are the outcome.
	passed  bool
	message Text
}

// offer shows ev to the check; it reports whether the check is now
// decided (it passed: a check never fails on a later event).
func (c *eventCheck) offer(ev *tracing.Event) bool {
	if c.trace != nil {
		if !c.trace.Match(ev) {
			return false
		}
		c.passed = true
		c.message = both("seen "+eventLine(ev), "已看到 "+eventLine(ev))
		return true
	}
	if c.first == nil {
		switch {
		case c.order.First.Match(ev):
			cp := *ev
			c.first = &cp
			if c.early != nil && happenedAfter(c.early, c.first) {
				return c.pass(c.early)
			}
		case c.order.Then.Match(ev) && (c.early == nil || ev.Time.After(c.early.Time)):
			cp := *ev
			c.early = &cp
		}
		return false
	}
	if c.order.Then.Match(ev) && happenedAfter(ev, c.first) {
		return c.pass(ev)
	}
	return false
}

func (c *eventCheck) pass(then *tracing.Event) bool {
	c.passed = true
	c.message = both(fmt.Sprintf("seen %s, then %s", eventLine(c.first), eventLine(then)),
		fmt.Sprintf("已看到 %s，然后 %s", eventLine(c.first), eventLine(then)))
	return true
}

// happenedAfter says whether b happened after a. Events are ordered by
// when they happened (their Time), not by when the trace published them:
// the linker holds a watch event until it has seen the etcd write it
// carries, so what a watcher did on hearing it (a scheduler's binding)
// can be published first. An etcd event's time is when the collector saw
// the write, later than the write itself, so where one is involved the
// publication order must agree as well.
func happenedAfter(b, a *tracing.Event) bool {
	if b.Seq == a.Seq || b.Time.Before(a.Time) {
		return false
	}
	if a.Kind == tracing.KindEtcd || b.Kind == tracing.KindEtcd {
		return b.Seq > a.Seq
	}
	return true
}

func (e *Engine) evaluateEvents(ctx context.Context, since time.Time, checks []*eventCheck) {
	fail := func(msg Text) {
		for _, c := range checks {
			c.passed, c.message = false, msg
		}
	}
	if e.events == nil {
		fail(both("there is no trace to check against", "没有可供检查的跟踪记录"))
		return
	}
	open := len(checks)
	err := e.events.EventsSince(ctx, since, func(ev *tracing.Event) bool {
		for _, c := range checks {
			if !c.passed && c.offer(ev) {
				open--
			}
		}
		return open > 0
	})
	if err == nil {
		// The source looks at ctx only now and then, so it may not have
		// noticed ctx end: report a cancelled evaluation as one, whatever
		// the scan saw.
		err = ctx.Err()
	}
	if err != nil {
		fail(both("could not read the trace: "+err.Error(), "无法读取跟踪记录："+err.Error()))
		return
	}
	for _, c := range checks {
		switch {
		case c.passed:
		case c.trace != nil:
			c.message = both("no matching event since the step began", "自本步骤开始以来没有匹配的事件")
		case c.first == nil:
			c.message = both("no event matching first since the step began", "自本步骤开始以来没有与 first 匹配的事件")
		default:
			c.message = both(fmt.Sprintf("seen %s, but no event matching then after it", eventLine(c.first)),
				fmt.Sprintf("已看到 %s，但之后没有与 then 匹配的事件", eventLine(c.first)))
		}
	}
}

// eventLine names an event in a message: "#42 (create pods/binding …)".
func eventLine(ev *tracing.Event) string {
	s := ev.Summary
	if s == "" {
		s = strings.Join(strings.Fields(strings.Join([]string{string(ev.Kind), ev.From, "->", ev.To, ev.Verb, ev.Object(), ev.Status}, " ")), " ")
	}
	return fmt.Sprintf("#%d (%s)", ev.Seq, shorten(s, 120))
}

// objectCache evaluates resource checks, getting each object once per
// evaluation: a step often checks several fields of one pod.
type objectCache struct {
	src ObjectSource
	got map[string]getResult
}

type getResult struct {
	obj map[string]any
	err error
}

func (oc *objectCache) get(ctx context.Context, rc *ResourceCheck) (map[string]any, error) {
	key := rc.Resource + "/" + rc.Namespace + "/" + rc.Name
	if r, ok := oc.got[key]; ok {
		return r.obj, r.err
	}
	obj, err := oc.src.Get(ctx, rc.Resource, rc.Namespace, rc.Name)
	oc.got[key] = getResult{obj, err}
	return obj, err
}

func (oc *objectCache) evaluate(ctx context.Context, rc *ResourceCheck) (bool, Text) {
	if oc.src == nil {
		return false, both("there is no cluster to check against", "没有可供检查的集群")
	}
	if rc.Name == "" {
		return oc.evaluateList(ctx, rc)
	}
	o := objectName(rc.Resource, rc.Namespace, rc.Name)
	obj, err := oc.get(ctx, rc)
	switch {
	case errors.Is(err, ErrNotFound):
		if rc.Absent {
			return true, both(o.EN+" does not exist", o.ZH+" 不存在")
		}
		return false, both(o.EN+" not found", "未找到 "+o.ZH)
	case err != nil:
		return false, both(fmt.Sprintf("could not read %s: %v", o.EN, err), fmt.Sprintf("无法读取 %s：%v", o.ZH, err))
	}
	switch {
	case rc.Absent:
		if _, deleting := lookup(obj, "metadata.deletionTimestamp"); deleting {
			return false, both(o.EN+" still exists (it is being deleted)", o.ZH+" 仍然存在（正在删除）")
		}
		return false, both(o.EN+" still exists", o.ZH+" 仍然存在")
	case rc.Field != "":
		return fieldCheck(o, obj, rc)
	case rc.Condition != "":
		return conditionCheck(o, obj, rc)
	}
	return true, both(o.EN+" exists", o.ZH+" 存在")
}

func fieldCheck(o Text, obj map[string]any, rc *ResourceCheck) (bool, Text) {
	v, found := lookup(obj, rc.Field)
	got := shorten(valueString(v), 80)
	if rc.Resource == "secrets" && redact.Sensitive(rc.Field) {
		// Check results go to every browser; a Secret's value does not.
		got = redact.Marker(len(valueString(v)))
	}
	switch {
	case rc.Equals != nil && !found:
		return false, both(fmt.Sprintf("%s has no %s, want %s", o.EN, rc.Field, *rc.Equals),
			fmt.Sprintf("%s 没有 %s，应为 %s", o.ZH, rc.Field, *rc.Equals))
	case rc.Equals != nil && valueString(v) == *rc.Equals:
		return true, both(fmt.Sprintf("%s has %s %s", o.EN, rc.Field, got), fmt.Sprintf("%s 的 %s 为 %s", o.ZH, rc.Field, got))
	case rc.Equals != nil:
		return false, both(fmt.Sprintf("%s has %s %s, want %s", o.EN, rc.Field, got, *rc.Equals),
			fmt.Sprintf("%s 的 %s 为 %s，应为 %s", o.ZH, rc.Field, got, *rc.Equals))
	case found && *rc.Exists:
		return true, both(fmt.Sprintf("%s has %s %s", o.EN, rc.Field, got), fmt.Sprintf("%s 的 %s 为 %s", o.ZH, rc.Field, got))
	case found:
		return false, both(fmt.Sprintf("%s has %s %s, want it unset", o.EN, rc.Field, got),
			fmt.Sprintf("%s 的 %s 为 %s，应为未设置", o.ZH, rc.Field, got))
	}
	msg := both(fmt.Sprintf("%s has no %s", o.EN, rc.Field), fmt.Sprintf("%s 没有 %s", o.ZH, rc.Field))
	return !*rc.Exists, msg
}

func conditionCheck(o Text, obj map[string]any, rc *ResourceCheck) (bool, Text) {
	cond, found := condition(obj, rc.Condition)
	if !found {
		return false, both(fmt.Sprintf("%s has no %s condition", o.EN, rc.Condition),
			fmt.Sprintf("%s 没有 %s 状况", o.ZH, rc.Condition))
	}
	status := valueString(cond["status"])
	seen := rc.Condition + "=" + status
	if reason, ok := cond["reason"].(string); ok && reason != "" {
		seen += " (" + reason + ")"
	}
	if status == rc.Status {
		return true, both(fmt.Sprintf("%s has condition %s", o.EN, seen), fmt.Sprintf("%s 的状况为 %s", o.ZH, seen))
	}
	return false, both(fmt.Sprintf("%s has condition %s, want %s", o.EN, seen, rc.Status),
		fmt.Sprintf("%s 的状况为 %s，应为 %s", o.ZH, seen, rc.Status))
}

// condition finds the status.conditions entry of the given type.
func condition(obj map[string]any, typ string) (map[string]any, bool) {
	list, _ := lookup(obj, "status.conditions")
	items, _ := list.([]any)
	for _, it := range items {
		if c, ok := it.(map[string]any); ok && c["type"] == typ {
			return c, true
		}
	}
	return nil, false
}

// matches reports whether obj passes a list check's field or condition
// filter (true if it has none).
func matches(obj map[string]any, rc *ResourceCheck) bool {
	switch {
	case rc.Field != "" && rc.Equals != nil:
		v, found := lookup(obj, rc.Field)
		return found && valueString(v) == *rc.Equals
	case rc.Field != "":
		_, found := lookup(obj, rc.Field)
		return found == *rc.Exists
	case rc.Condition != "":
		c, found := condition(obj, rc.Condition)
		return found && valueString(c["status"]) == rc.Status
	}
	return true
}

func (oc *objectCache) evaluateList(ctx context.Context, rc *ResourceCheck) (bool, Text) {
	items, err := oc.src.List(ctx, rc.Resource, rc.Namespace, rc.Selector)
	if err != nil {
		l := listName(rc, 2)
		return false, both(fmt.Sprintf("could not list %s: %v", l.en, err), fmt.Sprintf("无法列出%s的%s：%v", l.zhScope, l.zhNoun, err))
	}
	var names []string
	for _, obj := range items {
		if matches(obj, rc) {
			name, _ := lookup(obj, "metadata.name")
			names = append(names, valueString(name))
		}
	}
	n := len(names)
	l := listName(rc, n)
	seen := both(fmt.Sprintf("found %d %s", n, l.en), fmt.Sprintf("%s找到 %d 个%s", l.zhScope, n, l.zhNoun))
	if n > 0 {
		shown := names[:min(n, 5)]
		list := strings.Join(shown, ", ")
		if n > len(shown) {
			list += ", …"
		}
		seen.EN += " (" + list + ")"
		seen.ZH += "（" + list + "）"
	}
	if rc.Count != nil {
		if n == *rc.Count {
			return true, seen
		}
		return false, both(fmt.Sprintf("%s, want exactly %d", seen.EN, *rc.Count), fmt.Sprintf("%s，应恰好为 %d 个", seen.ZH, *rc.Count))
	}
	if n >= *rc.Min {
		return true, seen
	}
	return false, both(fmt.Sprintf("%s, want at least %d", seen.EN, *rc.Min), fmt.Sprintf("%s，应至少为 %d 个", seen.ZH, *rc.Min))
}

// lookup follows a dot-separated path through maps and, by index, lists.
func lookup(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for _, seg := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// valueString is how a field's value compares with equals: a string as
// itself, anything else as JSON.
func valueString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
