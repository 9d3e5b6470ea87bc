package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// testLabs is one good lab and one that fails to load.
func testLabs(t *testing.T) (*labs.Catalog, []labs.LoadError) {
	t.Helper()
	fsys := fstest.MapFS{
		"01-first/lab.yaml":     {Data: []byte("title: {en: First, zh: 第一}\nsummary: {en: Sum, zh: 概要}\nsteps: [01-run]\n")},
		"01-first/intro.en.md":  {Data: []byte("Hello *there*")},
		"01-first/01-run.en.md": {Data: []byte("Run **it**")},
		"01-first/01-run.zh.md": {Data: []byte("运行**它**")},
		"01-first/01-run.yaml": {Data: []byte(`title: {en: Run, zh: 运行}
goal: {en: Run nginx, zh: 运行 nginx}
commands: [kubectl run nginx --image nginx]
hints: [{en: Use run, zh: 用 run}]
watch: [apiserver]
checks:
  - resource: {resource: pods, namespace: default, name: nginx}
  - trace: {kind: cri, verb: RunPodSandbox}
`)},
		"02-broken/lab.yaml": {Data: []byte("title: {en: Broken}\nsteps: [01-x]\n")},
	}
	cat, errs := labs.Load(fsys, "labs")
	if len(cat.Labs) != 1 || len(errs) != 1 {
		t.Fatalf("test labs: %d loaded, errors %v", len(cat.Labs), errs)
	}
	return cat, errs
}

type fakeObjects map[string]map[string]any

func (f fakeObjects) Get(_ context.Context, resource, namespace, name string) (map[string]any, error) {
	if obj, ok := f[resource+"/"+namespace+"/"+name]; ok {
		return obj, nil
	}
	return nil, fmt.Errorf("%w: %s/%s", labs.ErrNotFound, namespace, name)
}

func (f fakeObjects) List(context.Context, string, string, string) ([]map[string]any, error) {
	return nil, nil
}

type fakeEvents []tracing.Event

func (f fakeEvents) EventsSince(_ context.Context, since time.Time, yield func(*tracing.Event) bool) error {
	for i := range f {
		if !f[i].Time.Before(since) && !yield(&f[i]) {
			break
		}
	}
	return nil
}

func TestLabsList(t *testing.T) {
	cat, errs := testLabs(t)
	h := Handler(Options{Labs: &Labs{Catalog: cat, Errors: errs}})
	code, body := get(t, h, "/api/labs?lang=zh")
	list, _ := body["labs"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("GET /api/labs: %d %v", code, body)
	}
	if lab := list[0].(map[string]any); lab["id"] != "first" || lab["title"] != "第一" || lab["summary"] != "概要" || lab["steps"] != 1.0 {
		t.Errorf("lab summary: %v", lab)
	}
	loadErrs, _ := body["errors"].([]any)
	if len(loadErrs) != 1 {
		t.Fatalf("errors: %v", body["errors"])
	}
	if e := loadErrs[0].(map[string]any); e["file"] != "labs/02-broken/lab.yaml" || e["line"] != 2.0 || !strings.Contains(e["message"].(string), "01-x.yaml is missing") {
		t.Errorf("load error: %v", e)
	}

	// No labs at all still answers with empty lists, not nulls.
	code, body = get(t, Handler(Options{Labs: &Labs{}}), "/api/labs")
	if l, ok := body["labs"].([]any); code != 200 || !ok || len(l) != 0 {
		t.Errorf("empty catalog: %d %v", code, body)
	}
	if e, ok := body["errors"].([]any); !ok || len(e) != 0 {
		t.Errorf("empty catalog errors: %v", body)
	}
}

func TestLabsGetInBothLanguages(t *testing.T) {
	cat, _ := testLabs(t)
	h := Handler(Options{Labs: &Labs{Catalog: cat}})
	for _, tc := range []struct {
		lang, title, intro, stepHTML, goal, hint, check string
	}{
		{"en", "First", "<p>Hello <em>there</em></p>", "<strong>it</strong>", "Run nginx", "Use run", "pod default/nginx exists"},
		// intro.zh.md is missing: the English intro is shown.
		{"zh", "第一", "<p>Hello <em>there</em></p>", "<strong>它</strong>", "运行 nginx", "用 run", "Pod default/nginx 存在"},
	} {
		code, body := get(t, h, "/api/labs/first?lang="+tc.lang)
		if code != 200 || body["id"] != "first" || body["title"] != tc.title || !strings.Contains(body["introHtml"].(string), tc.intro) {
			t.Errorf("lang=%s: %d %v", tc.lang, code, body)
			continue
		}
		steps, _ := body["steps"].([]any)
		if len(steps) != 1 {
			t.Fatalf("lang=%s: steps %v", tc.lang, body["steps"])
		}
		s := steps[0].(map[string]any)
		checks, _ := s["checks"].([]any)
		if s["id"] != "01-run" || s["goal"] != tc.goal || !strings.Contains(s["html"].(string), tc.stepHTML) ||
			fmt.Sprint(s["commands"]) != "[kubectl run nginx --image nginx]" || fmt.Sprint(s["hints"]) != "["+tc.hint+"]" ||
			fmt.Sprint(s["watch"]) != "[apiserver]" || len(checks) != 2 ||
			checks[0].(map[string]any)["description"] != tc.check {
			t.Errorf("lang=%s: step %v", tc.lang, s)
		}
	}
	if code, body := get(t, h, "/api/labs/nope"); code != 404 || !strings.Contains(body["error"].(string), `no lab "nope"`) {
		t.Errorf("unknown lab: %d %v", code, body)
	}
}

func TestLabsCheck(t *testing.T) {
	cat, _ := testLabs(t)
	began := time.UnixMilli(1_700_000_000_000)
	events := fakeEvents{
		{Seq: 1, Time: began.Add(-time.Second), Kind: tracing.KindCRI, From: "kubelet/node-1", Verb: "RunPodSandbox", Summary: "old sandbox"},
		{Seq: 2, Time: began.Add(time.Second), Kind: tracing.KindCRI, From: "kubelet/node-1", Verb: "RunPodSandbox", Summary: "new sandbox"},
	}
	objects := fakeObjects{"pods/default/nginx": {"metadata": map[string]any{"name": "nginx"}}}
	h := Handler(Options{Labs: &Labs{Catalog: cat, Checker: labs.NewEngine(objects, events)}})
	path := "/api/labs/first/steps/01-run/check?since="

	code, body := get(t, h, path+fmt.Sprint(began.UnixMilli()))
	checks, _ := body["checks"].([]any)
	if code != 200 || body["passed"] != true || len(checks) != 2 {
		t.Fatalf("check: %d %v", code, body)
	}
	if c := checks[1].(map[string]any); c["passed"] != true || c["message"] != "seen #2 (new sandbox)" || c["description"] != "a kubelet called RunPodSandbox" {
		t.Errorf("trace check: %v", c)
	}

	// Later, the sandbox has not been run again: the step is not done.
	code, body = get(t, h, path+fmt.Sprint(began.Add(time.Minute).UnixMilli())+"&lang=zh")
	checks, _ = body["checks"].([]any)
	if code != 200 || body["passed"] != false || len(checks) != 2 {
		t.Fatalf("check later: %d %v", code, body)
	}
	if c := checks[0].(map[string]any); c["passed"] != true || c["message"] != "Pod default/nginx 存在" {
		t.Errorf("resource check in Chinese: %v", c)
	}
	if c := checks[1].(map[string]any); c["passed"] != false || c["message"] != "自本步骤开始以来没有匹配的事件" {
		t.Errorf("failing trace check in Chinese: %v", c)
	}

	noCluster := Handler(Options{Labs: &Labs{Catalog: cat}})
	for _, tc := range []struct {
		h     http.Handler
		path  string
		code  int
		error string
	}{
		{h, "/api/labs/nope/steps/01-run/check?since=0", 404, `no lab "nope"`},
		{h, "/api/labs/first/steps/09-nope/check?since=0", 404, `lab first has no step "09-nope"`},
		{h, "/api/labs/first/steps/01-run/check", 400, "since"},
		{h, "/api/labs/first/steps/01-run/check?since=yesterday", 400, `since="yesterday"`},
		{h, "/api/labs/first/steps/01-run/check?since=-5", 400, "non-negative"},
		{noCluster, "/api/labs/first/steps/01-run/check?since=0", 503, "no cluster"},
	} {
		code, body := get(t, tc.h, tc.path)
		if msg, _ := body["error"].(string); code != tc.code || !strings.Contains(msg, tc.error) {
			t.Errorf("GET %s: %d %v, want %d with an error containing %q", tc.path, code, body, tc.code, tc.error)
		}
	}
}

// A lab that needs another topology says so, with the command to start
// the right cluster; on its own topology (or in a replay) it says nothing.
func TestLabTopologyNotice(t *testing.T) {
	fsys := fstest.MapFS{
		"09-ha/lab.yaml":    {Data: []byte("title: {en: HA}\ntopology: ha\nsteps: [01-x]\n")},
		"09-ha/01-x.en.md":  {Data: []byte("x")},
		"09-ha/01-x.yaml":   {Data: []byte("title: {en: X}\ngoal: {en: Do x}\nchecks:\n  - resource: {resource: pods, namespace: default, name: x}\n")},
		"10-bad/lab.yaml":   {Data: []byte("title: {en: Bad}\ntopology: mesh\nsteps: [01-x]\n")},
		"10-bad/01-x.en.md": {Data: []byte("x")},
		"10-bad/01-x.yaml":  {Data: []byte("title: {en: X}\ngoal: {en: Do x}\nchecks:\n  - resource: {resource: pods, namespace: default, name: x}\n")},
	}
	cat, errs := labs.Load(fsys, "labs")
	if len(cat.Labs) != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), `topology "mesh" is not one of`) {
		t.Fatalf("loaded %d labs, errors %v; want the ha lab and an error naming the bad topology", len(cat.Labs), errs)
	}
	restart := func(topology string) string {
		return "wheelhouse up --topology " + topology + " --data-dir /d-" + topology
	}
	for _, tc := range []struct {
		running, lang, want string
	}{
		{"single-control-plane", "en", "This lab needs the ha topology, and this cluster is single-control-plane"},
		{"single-control-plane", "zh", "本实验需要 ha 拓扑"},
		{"ha", "en", ""},
		{"", "en", ""}, // a replay
	} {
		h := Handler(Options{Labs: &Labs{Catalog: cat, Topology: tc.running, RestartCommand: restart}})
		code, body := get(t, h, "/api/labs/ha?lang="+tc.lang)
		notice, _ := body["topologyNotice"].(string)
		if code != 200 || body["topology"] != "ha" {
			t.Fatalf("%s: %d %v", tc.running, code, body)
		}
		if tc.want == "" && notice != "" || tc.want != "" && (!strings.Contains(notice, tc.want) || !strings.Contains(notice, "wheelhouse up --topology ha --data-dir /d-ha")) {
			t.Errorf("on %q in %s: notice %q, want one containing %q and the command", tc.running, tc.lang, notice, tc.want)
		}
	}
}
