package labs

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadGoodLab(t *testing.T) {
	cat, errs := LoadDir("testdata/good")
	if len(errs) > 0 {
		t.Fatalf("load errors: %v", errs)
	}
	var ids []string
	for _, l := range cat.Labs {
		ids = append(ids, l.ID)
	}
	if !slices.Equal(ids, []string{"first-pod", "second"}) {
		t.Fatalf("labs %v, want [first-pod second] in folder order", ids)
	}
	lab := cat.Lab("first-pod")
	if lab.Dir != "01-first-pod" || lab.Title.Get(ZH) != "你的第一个 Pod" || lab.Summary.Get(EN) != "Run a pod and watch it scheduled." {
		t.Errorf("lab metadata: %+v", lab)
	}
	if !strings.Contains(lab.IntroHTML.EN, "<strong>one pod</strong>") || !strings.Contains(lab.IntroHTML.ZH, "<h1>欢迎</h1>") {
		t.Errorf("intro not rendered: %q / %q", lab.IntroHTML.EN, lab.IntroHTML.ZH)
	}
	// Raw HTML is shown as text, inline and as a block.
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;div class=&quot;x&quot;&gt;"} {
		if !strings.Contains(lab.IntroHTML.EN, want) {
			t.Errorf("intro should contain escaped %q: %q", want, lab.IntroHTML.EN)
		}
	}
	if strings.Contains(lab.IntroHTML.EN, "<script") || strings.Contains(lab.IntroHTML.EN, "<div") {
		t.Errorf("raw HTML passed through: %q", lab.IntroHTML.EN)
	}

	if len(lab.Steps) != 2 || lab.Step("01-run") != lab.Steps[0] || lab.Step("nope") != nil {
		t.Fatalf("steps: %+v", lab.Steps)
	}
	run := lab.Steps[0]
	if run.Title.Get(EN) != "Run nginx" || run.Goal.Get(ZH) != "创建名为 nginx 的 Pod。" {
		t.Errorf("step text: %+v %+v", run.Title, run.Goal)
	}
	if !slices.Equal(run.Commands, []string{"kubectl run nginx --image nginx --restart Never"}) ||
		!slices.Equal(run.Watch, []string{"apiserver", "etcd", "apiserver->etcd"}) || len(run.Hints) != 2 {
		t.Errorf("commands %v, watch %v, hints %v", run.Commands, run.Watch, run.Hints)
	}
	if strings.Contains(run.HTML.EN, "javascript:") {
		t.Errorf("a javascript: link survived: %q", run.HTML.EN)
	}
	if len(run.Checks) != 3 || run.Checks[1].Description.Get(ZH) != "nginx 正在运行" {
		t.Errorf("checks: %+v", run.Checks)
	}

	// Missing Chinese falls back to English, with a warning.
	if got := run.Hints[1].Get(ZH); got != "Name it nginx." {
		t.Errorf("hint without zh in Chinese: %q, want the English", got)
	}
	sched := lab.Steps[1]
	if sched.HTML.ZH != "" || sched.HTML.Get(ZH) != sched.HTML.EN || !strings.Contains(sched.HTML.EN, "<strong>scheduler</strong>") {
		t.Errorf("step without .zh.md: %+v", sched.HTML)
	}
	if sched.Title.Get(ZH) != "Watch the scheduler" {
		t.Errorf("title without zh in Chinese: %q", sched.Title.Get(ZH))
	}
	for _, want := range []string{
		"testdata/good/01-first-pod/01-run.yaml:7: a hint has no zh",
		"testdata/good/01-first-pod/02-schedule.zh.md: missing",
		"testdata/good/01-first-pod/02-schedule.yaml:1: title has no zh",
		"testdata/good/02-second/stray.yaml: not listed in lab.yaml's steps",
	} {
		if !slices.ContainsFunc(cat.Warnings, func(w LoadError) bool { return strings.HasPrefix(w.Error(), want) }) {
			t.Errorf("no warning %q in %v", want, cat.Warnings)
		}
	}

	// 02-schedule's section restarts Wheelhouse once: two parts.
	if len(lab.Solution) != 2 || lab.Solution[1].Step != "02-schedule" || len(lab.Solution[1].Parts) != 2 {
		t.Errorf("solution: %+v", lab.Solution)
	}
}

func TestLoadCheckForms(t *testing.T) {
	cat, _ := LoadDir("testdata/good")
	checks := cat.Lab("first-pod").Step("02-schedule").Checks
	if rc := checks[0].Resource; rc == nil || rc.Field != "spec.nodeName" || rc.Exists == nil || !*rc.Exists {
		t.Errorf("field exists: %+v", rc)
	}
	if rc := checks[1].Resource; rc == nil || rc.Condition != "Ready" || rc.Status != "True" || rc.Namespace != "" {
		t.Errorf("condition without status should want True: %+v", rc)
	}
	if rc := checks[2].Resource; rc == nil || rc.Selector != "app=web" || rc.Count == nil || *rc.Count != 3 {
		t.Errorf("list: %+v", rc)
	}
	if rc := checks[4].Resource; rc == nil || !rc.Absent {
		t.Errorf("absent: %+v", rc)
	}
	if m := checks[6].Trace; m == nil || m.Kind != "watch" || m.To != "kubelet/*" {
		t.Errorf("trace: %+v", m)
	}
	if o := checks[9].Order; o == nil || o.First.Subresource != "binding" || o.Then.Verb != "RunPodSandbox" {
		t.Errorf("order: %+v", o)
	}
	// status: False unquoted is a YAML bool; it must still mean "False".
	if rc := checks[10].Resource; rc == nil || rc.Status != "False" {
		t.Errorf("status: False: %+v", rc)
	}
	if rc := checks[11].Resource; rc == nil || rc.Equals == nil || *rc.Equals != "3" {
		t.Errorf("equals: 3: %+v", rc)
	}

	// Generated descriptions, in both languages.
	for i, want := range []Text{
		{"pod default/nginx has spec.nodeName set", "Pod default/nginx 已设置 spec.nodeName"},
		{"node node-1 has condition Ready = True", "Node node-1 的 Ready 状况为 True"},
		{"exactly 3 pods in namespace default with labels app=web", "命名空间 default 中恰好有 3 个标签匹配 app=web 的 Pod"},
		{},
		{"serviceaccount lab5/default does not exist", "ServiceAccount lab5/default 不存在"},
		{"the scheduler made a create pods/binding request for nginx", "调度器发起了 create pods/binding 请求（对象 nginx）"},
		{"a kubelet received a pods watch event for nginx", "某个 kubelet 收到了 pods watch 事件（对象 nginx）"},
		{"a kubelet called RunPodSandbox", "某个 kubelet 调用了 RunPodSandbox"},
		{"etcd started", "etcd 已启动"},
		{"the scheduler made a binding request for nginx, then a kubelet called RunPodSandbox",
			"先调度器发起了 binding 请求（对象 nginx），然后某个 kubelet 调用了 RunPodSandbox"},
	} {
		if want.EN != "" && checks[i].Description != want {
			t.Errorf("check %d description %+v, want %+v", i, checks[i].Description, want)
		}
	}
	first := cat.Lab("first-pod").Step("01-run").Checks
	if got := first[0].Description; got != (Text{"pod default/nginx exists", "Pod default/nginx 存在"}) {
		t.Errorf("exists description: %+v", got)
	}
}

func TestLoadReportsEachMistakeAndLoadsTheRest(t *testing.T) {
	cat, errs := LoadDir("testdata/bad")
	var ids []string
	for _, l := range cat.Labs {
		ids = append(ids, l.ID)
	}
	// 01-good and 13-same-id are fine; 14-same-id repeats 13's id.
	if !slices.Equal(ids, []string{"good", "same-id"}) {
		t.Errorf("loaded %v, want [good same-id]", ids)
	}
	for _, tc := range []struct{ where, message string }{
		{"02-unknown-check-kind/01-s.yaml:5", `unknown check kind "foo" (want resource, trace or order)`},
		{"03-two-kinds/01-s.yaml:5", "the check has both resource and trace"},
		{"04-no-kind/01-s.yaml:4", "the check has no kind"},
		{"05-unknown-key/01-s.yaml:3", `unknown key "tips" in the step`},
		{"06-resource-without-name/01-s.yaml:4", "resource check has no name"},
		{"07-empty-matcher/01-s.yaml:4", "trace matches every event"},
		{"08-order-without-then/01-s.yaml:5", "order has no then"},
		{"09-bad-field-path/01-s.yaml:4", `field "status..phase": empty segment`},
		{"10-missing-step-file/lab.yaml:3", "step 01-s: 01-s.yaml is missing"},
		{"11-missing-md/lab.yaml:2", "step 01-s: 01-s.en.md is missing"},
		{"12-yaml-syntax/01-s.yaml:3", "YAML syntax error"},
		{"14-same-id", `lab id "same-id" is already used by 13-same-id`},
		{"15-solution-unknown-step/solution.sh:4", `section for unknown step "09-nope"`},
		{"16-unknown-event-kind/01-s.yaml:4", `unknown event kind "htp"`},
		{"17-no-title/lab.yaml:1", "title is missing"},
		{"18-wildcard-inside/01-s.yaml:4", "* may only end a value"},
		{"19-no-resource/01-s.yaml:4", "resource check has no resource"},
		{"20-equals-without-field/01-s.yaml:4", "equals needs field"},
		{"21-no-en/01-s.yaml:1", "title has no en"},
		{"Not_A_Lab", "is not NN-slug"},
	} {
		where := "testdata/bad/" + tc.where + ": "
		if !slices.ContainsFunc(errs, func(e LoadError) bool {
			return strings.HasPrefix(e.Error(), where) && strings.Contains(e.Message, tc.message)
		}) {
			t.Errorf("no error %q…%q", where, tc.message)
		}
	}
	for _, e := range errs {
		if e.Line == 0 && !strings.HasSuffix(e.File, "same-id") && !strings.HasSuffix(e.File, "Not_A_Lab") {
			t.Errorf("error without a line: %v", e)
		}
		if strings.Contains(e.File, ".hidden") {
			t.Errorf("a dot folder was read: %v", e)
		}
	}
	if len(errs) != 20 {
		t.Errorf("%d errors, want one per malformed lab (20):\n%v", len(errs), errs)
	}
}

// The contract's example message, for the built-in labs' folder name.
func TestLoadErrorNamesFileAndLine(t *testing.T) {
	step := "title: {en: S, zh: S}\ngoal: {en: G, zh: G}\nchecks:\n" + strings.Repeat("  - trace: {kind: cri}\n", 10) + "  - foo: {}\n"
	fsys := fstest.MapFS{
		"02-kubectl-run/lab.yaml":     {Data: []byte("title: {en: T, zh: T}\nsteps: [01-run]\n")},
		"02-kubectl-run/01-run.yaml":  {Data: []byte(step)},
		"02-kubectl-run/01-run.en.md": {Data: []byte("x")},
		"02-kubectl-run/01-run.zh.md": {Data: []byte("x")},
	}
	_, errs := Load(fsys, BuiltinName)
	want := `labs/content/02-kubectl-run/01-run.yaml:14: unknown check kind "foo" (want resource, trace or order)`
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("errors %v, want [%s]", errs, want)
	}
}

func TestLoadDirThatIsNotThere(t *testing.T) {
	cat, errs := LoadDir("testdata/no-such-dir")
	if cat == nil || len(cat.Labs) != 0 || len(errs) != 1 || errs[0].File != "testdata/no-such-dir" {
		t.Errorf("got %v, %v", cat, errs)
	}
}

// The built-in labs must load cleanly: this test is how their authors find
// mistakes before the binary ships them.
func TestBuiltinLabsLoad(t *testing.T) {
	cat, errs := LoadBuiltin()
	for _, e := range errs {
		t.Error(e)
	}
	for _, w := range cat.Warnings {
		t.Logf("warning: %v", w)
	}
	for _, l := range cat.Labs {
		if len(l.Steps) == 0 {
			t.Errorf("lab %s has no steps", l.ID)
		}
	}
}

func TestLoadWarnsAboutUnsolvedSteps(t *testing.T) {
	step := []byte("title: {en: S, zh: S}\ngoal: {en: G, zh: G}\nchecks: [trace: {kind: cri}]\n")
	fsys := fstest.MapFS{
		"01-x/lab.yaml":    {Data: []byte("title: {en: T, zh: T}\nsteps: [a, b]\n")},
		"01-x/a.yaml":      {Data: step},
		"01-x/a.en.md":     {Data: []byte("x")},
		"01-x/a.zh.md":     {Data: []byte("x")},
		"01-x/b.yaml":      {Data: step},
		"01-x/b.en.md":     {Data: []byte("x")},
		"01-x/b.zh.md":     {Data: []byte("x")},
		"01-x/solution.sh": {Data: []byte("# step: a\ntrue\n")},
	}
	cat, errs := Load(fsys, "d")
	if len(errs) > 0 || len(cat.Labs) != 1 {
		t.Fatalf("errors: %v", errs)
	}
	if len(cat.Warnings) != 1 || cat.Warnings[0].Error() != "d/01-x/solution.sh: no section for step b, so the lab's test cannot pass it" {
		t.Errorf("warnings: %v", cat.Warnings)
	}
}

// stepErrors loads a one-step lab whose step file is the given checks
// (from line 4 on) and returns the load errors.
func stepErrors(t *testing.T, checks string) []LoadError {
	t.Helper()
	fsys := fstest.MapFS{
		"01-t/lab.yaml": {Data: []byte("title: {en: T, zh: T}\nsteps: [s]\n")},
		"01-t/s.en.md":  {Data: []byte("x")},
		"01-t/s.zh.md":  {Data: []byte("x")},
		"01-t/s.yaml":   {Data: []byte("title: {en: S, zh: S}\ngoal: {en: G, zh: G}\nchecks:\n" + checks)},
	}
	_, errs := Load(fsys, "d")
	return errs
}

func TestLoadNetMatchers(t *testing.T) {
	if errs := stepErrors(t, `  - trace: {kind: net, verb: connect, from: "pod:lab8/client-1", to: "pod:lab8/web-*", node: node-1, chain: "KUBE-SVC-*", status: connected}
  - trace: {kind: net, verb: query, from: "pod:lab8/*", status: NOERROR}
  - trace: {kind: "n*", node: node-2}
  - trace: {node: node-2, chain: KUBE-SERVICES}
  - order: {first: {kind: lifecycle, from: kube-proxy/node-2, verb: ready}, then: {kind: net, node: node-2, status: connected}}
`); len(errs) > 0 {
		t.Errorf("net matchers do not load: %v", errs)
	}
	if !slices.Contains(eventKinds(), "net") || !slices.Contains(matcherKeys(), "node") || !slices.Contains(matcherKeys(), "chain") {
		t.Errorf("kinds %v, keys %v: want net, node and chain", eventKinds(), matcherKeys())
	}
	for _, tc := range []struct{ checks, want string }{
		// node and chain belong to trace and order checks.
		{"  - resource: {resource: pods, namespace: lab8, name: client-1, node: node-1}\n",
			`d/01-t/s.yaml:4: unknown key "node" in resource: node is a key of trace and order checks' event matchers`},
		{"  - resource:\n      resource: pods\n      selector: app=web\n      min: 1\n      chain: KUBE-SVC-X\n",
			`d/01-t/s.yaml:8: unknown key "chain" in resource: chain is a key of trace and order checks' event matchers`},
		// Their values are single strings.
		{"  - trace: {kind: net, node: [node-1, node-2]}\n", `d/01-t/s.yaml:4: trace.node must be a single value, not a list`},
		{"  - trace:\n      kind: net\n      chain: {name: KUBE-SVC-X}\n", `d/01-t/s.yaml:6: trace.chain must be a single value, not a mapping`},
		{"  - trace: {kind: net, node: }\n", `d/01-t/s.yaml:4: trace.node is empty`},
		{"  - trace: {kind: net, chain: \"KUBE-*-X\"}\n", `d/01-t/s.yaml:4: chain "KUBE-*-X": * may only end a value`},
		// Only net events have them: with another kind nothing matches.
		{"  - trace: {kind: http, from: kubelet, node: node-1}\n", `d/01-t/s.yaml:4: node matches only net events (kind: net), and this matcher has kind: http`},
		{"  - order:\n      first: {kind: watch, to: kube-proxy}\n      then: {kind: \"w*\", chain: \"KUBE-SVC-*\"}\n",
			`d/01-t/s.yaml:6: chain matches only net events (kind: net), and this matcher has kind: w*`},
		// A plain pod id is one pod: pod:<namespace>/<name>.
		{"  - trace: {kind: net, from: \"pod:lab8\"}\n", `d/01-t/s.yaml:4: from "pod:lab8" names no pod: a pod is pod:<namespace>/<name>`},
		{"  - trace: {kind: net, to: \"pod:/web\"}\n", `d/01-t/s.yaml:4: to "pod:/web" names no pod`},
		{"  - trace: {kind: nett}\n", `d/01-t/s.yaml:4: unknown event kind "nett" (want http, watch, etcd, cri, kubelet-api, net, lifecycle)`},
		{"  - trace: {kind: net, nodes: node-1}\n", `d/01-t/s.yaml:4: unknown key "nodes" in trace (an event matcher has kind, from, to, verb, resource, subresource, namespace, name, status, path, controller, node, chain)`},
	} {
		errs := stepErrors(t, tc.checks)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
			t.Errorf("%s: errors %v, want one starting %q", tc.checks, errs, tc.want)
		}
	}
}
