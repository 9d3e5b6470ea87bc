package labs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// fakeObjects is an ObjectSource over a fixed set of objects, keyed
// "resource/namespace/name" ("resource//name" when cluster-scoped).
type fakeObjects struct {
	objects map[string]map[string]any
	err     error // returned by every call if set
	gets    int
}

func (f *fakeObjects) Get(_ context.Context, resource, namespace, name string) (map[string]any, error) {
	f.gets++
	if f.err != nil {
		return nil, f.err
	}
	if obj, ok := f.objects[resource+"/"+namespace+"/"+name]; ok {
		return obj, nil
	}
	return nil, fmt.Errorf("%w: %s %s/%s", ErrNotFound, resource, namespace, name)
}

// List understands equality selectors ("app=web,tier=front").
func (f *fakeObjects) List(_ context.Context, resource, namespace, selector string) ([]map[string]any, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []map[string]any
	for key, obj := range f.objects {
		parts := strings.SplitN(key, "/", 3)
		if parts[0] != resource || (namespace != "" && parts[1] != namespace) {
			continue
		}
		labels, _ := lookup(obj, "metadata.labels")
		lm, _ := labels.(map[string]any)
		ok := true
		for _, req := range strings.Split(selector, ",") {
			if k, v, found := strings.Cut(req, "="); found && lm[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, obj)
		}
	}
	return out, nil
}

// fakeEvents is an EventSource over a fixed list of events in seq order.
// Like BusEvents it yields only events at or after since and stops with
// ctx's error once ctx is done.
type fakeEvents struct {
	events []tracing.Event
	err    error
}

func (f *fakeEvents) EventsSince(ctx context.Context, since time.Time, yield func(*tracing.Event) bool) error {
	if f.err != nil {
		return f.err
	}
	for i := range f.events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !f.events[i].Time.Before(since) && !yield(&f.events[i]) {
			break
		}
	}
	return nil
}

// stepWith loads a one-step lab whose step has the given checks (YAML list
// items) and returns it.
func stepWith(t *testing.T, checks string) (*Lab, *Step) {
	t.Helper()
	fsys := fstest.MapFS{
		"01-t/lab.yaml":  {Data: []byte("title: {en: T, zh: T}\nsteps: [s]\n")},
		"01-t/s.en.md":   {Data: []byte("x")},
		"01-t/s.zh.md":   {Data: []byte("x")},
		"01-t/s.yaml":    {Data: []byte("title: {en: S, zh: S}\ngoal: {en: G, zh: G}\nchecks:\n" + checks)},
		"01-t/README.md": {Data: []byte("x")},
	}
	cat, errs := Load(fsys, "test")
	if len(errs) > 0 {
		t.Fatalf("loading the test step: %v", errs)
	}
	return cat.Labs[0], cat.Labs[0].Steps[0]
}

func pod(name, phase, node string, labels map[string]any) map[string]any {
	spec := map[string]any{"containers": []any{map[string]any{"name": "c", "image": "nginx:1.27"}}}
	if node != "" {
		spec["nodeName"] = node
	}
	return map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "default", "labels": labels},
		"spec":     spec,
		"status":   map[string]any{"phase": phase},
	}
}

func cluster() *fakeObjects {
	return &fakeObjects{objects: map[string]map[string]any{
		"pods/default/nginx": pod("nginx", "Pending", "", nil),
		"pods/default/web-1": pod("web-1", "Running", "node-1", map[string]any{"app": "web"}),
		"pods/default/web-2": pod("web-2", "Pending", "node-1", map[string]any{"app": "web"}),
		"nodes//node-1": {
			"metadata": map[string]any{"name": "node-1"},
			"status": map[string]any{"conditions": []any{
				map[string]any{"type": "MemoryPressure", "status": "False"},
				map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady"},
			}},
		},
		"deployments.apps/default/web": {
			"metadata": map[string]any{"name": "web"},
			"spec":     map[string]any{"replicas": int64(3), "paused": false},
		},
	}}
}

type checkCase struct {
	check   string
	passed  bool
	message string // a substring of the English message
}

func runCases(t *testing.T, objects ObjectSource, events EventSource, since time.Time, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		lab, step := stepWith(t, "  - "+tc.check+"\n")
		res := NewEngine(objects, events).Evaluate(context.Background(), lab, step, since, EN)
		c := res.Checks[0]
		if c.Passed != tc.passed || res.Passed != tc.passed || !strings.Contains(c.Message, tc.message) {
			t.Errorf("%s:\n  passed=%v %q, want passed=%v and a message containing %q", tc.check, c.Passed, c.Message, tc.passed, tc.message)
		}
		if c.Description == "" {
			t.Errorf("%s: no description", tc.check)
		}
	}
}

func TestResourceChecks(t *testing.T) {
	runCases(t, cluster(), nil, time.Time{}, []checkCase{
		{`resource: {resource: pods, namespace: default, name: nginx}`, true, "pod default/nginx exists"},
		{`resource: {resource: pods, namespace: default, name: nope}`, false, "pod default/nope not found"},
		{`resource: {resource: pods, namespace: default, name: nope, absent: true}`, true, "pod default/nope does not exist"},
		{`resource: {resource: pods, namespace: default, name: nginx, absent: true}`, false, "pod default/nginx still exists"},

		{`resource: {resource: pods, namespace: default, name: web-1, field: status.phase, equals: Running}`, true, "pod default/web-1 has status.phase Running"},
		{`resource: {resource: pods, namespace: default, name: nginx, field: status.phase, equals: Running}`, false, "pod default/nginx has status.phase Pending, want Running"},
		{`resource: {resource: pods, namespace: default, name: nginx, field: status.podIP, equals: 10.0.0.1}`, false, "pod default/nginx has no status.podIP, want 10.0.0.1"},
		{`resource: {resource: pods, namespace: default, name: nope, field: status.phase, equals: Running}`, false, "not found"},
		{`resource: {resource: pods, namespace: default, name: web-1, field: spec.containers.0.image, equals: "nginx:1.27"}`, true, "nginx:1.27"},
		{`resource: {resource: pods, namespace: default, name: web-1, field: spec.containers.1.image, equals: x}`, false, "has no spec.containers.1.image"},
		// Non-string values compare as JSON.
		{`resource: {resource: deployments.apps, namespace: default, name: web, field: spec.replicas, equals: 3}`, true, "deployment default/web has spec.replicas 3"},
		{`resource: {resource: deployments.apps, namespace: default, name: web, field: spec.replicas, equals: "3"}`, true, "spec.replicas 3"},
		{`resource: {resource: deployments.apps, namespace: default, name: web, field: spec.paused, equals: false}`, true, "spec.paused false"},
		{`resource: {resource: deployments.apps, namespace: default, name: web, field: spec, equals: x}`, false, `has spec {"paused":false,"replicas":3}, want x`},

		{`resource: {resource: pods, namespace: default, name: web-1, field: spec.nodeName, exists: true}`, true, "has spec.nodeName node-1"},
		{`resource: {resource: pods, namespace: default, name: nginx, field: spec.nodeName, exists: true}`, false, "pod default/nginx has no spec.nodeName"},
		{`resource: {resource: pods, namespace: default, name: nginx, field: spec.nodeName, exists: false}`, true, "has no spec.nodeName"},
		{`resource: {resource: pods, namespace: default, name: web-1, field: spec.nodeName, exists: false}`, false, "has spec.nodeName node-1, want it unset"},

		{`resource: {resource: nodes, name: node-1, condition: Ready}`, true, "node node-1 has condition Ready=True (KubeletReady)"},
		{`resource: {resource: nodes, name: node-1, condition: Ready, status: False}`, false, "node node-1 has condition Ready=True (KubeletReady), want False"},
		{`resource: {resource: nodes, name: node-1, condition: MemoryPressure, status: "False"}`, true, "MemoryPressure=False"},
		{`resource: {resource: nodes, name: node-1, condition: DiskPressure}`, false, "node node-1 has no DiskPressure condition"},
		{`resource: {resource: pods, namespace: default, name: nginx, condition: Ready}`, false, "has no Ready condition"},

		{`resource: {resource: pods, namespace: default, selector: app=web, count: 2}`, true, "found 2 pods in namespace default with labels app=web"},
		{`resource: {resource: pods, namespace: default, selector: app=web, count: 3}`, false, "found 2 pods in namespace default with labels app=web (web-"},
		{`resource: {resource: pods, namespace: default, selector: app=web, count: 3}`, false, "want exactly 3"},
		{`resource: {resource: pods, namespace: default, selector: app=db, count: 0}`, true, "found 0 pods"},
		{`resource: {resource: pods, namespace: default, min: 3}`, true, "found 3 pods"},
		{`resource: {resource: pods, namespace: default, selector: app=web, field: status.phase, equals: Running, min: 2}`, false, "found 1 pod in namespace default with labels app=web whose status.phase is Running (web-1), want at least 2"},
		{`resource: {resource: pods, selector: app=web, field: spec.nodeName, exists: true, count: 2}`, true, "found 2"},
	})
}

// Check results go to every browser, so a check on a Secret's data says
// whether it passed without saying the value.
func TestResourceChecksNeverShowSecretValues(t *testing.T) {
	objs := &fakeObjects{objects: map[string]map[string]any{
		"secrets/default/db": {"metadata": map[string]any{"name": "db"}, "data": map[string]any{"password": "aHVudGVyMg=="}},
	}}
	cases := []checkCase{
		{`resource: {resource: secrets, namespace: default, name: db, field: data.password, exists: true}`, true, "‹hidden"},
		{`resource: {resource: secrets, namespace: default, name: db, field: data.password, equals: "aHVudGVyMg=="}`, true, "‹hidden"},
		{`resource: {resource: secrets, namespace: default, name: db, field: data.password, equals: other}`, false, "‹hidden"},
		{`resource: {resource: secrets, namespace: default, name: db, field: data, equals: x}`, false, "‹hidden"},
	}
	runCases(t, objs, nil, time.Time{}, cases)
	for _, c := range cases {
		for _, lang := range []string{EN, ZH} {
			lab, step := stepWith(t, "  - "+c.check+"\n")
			for _, r := range NewEngine(objs, nil).Evaluate(context.Background(), lab, step, time.Time{}, lang).Checks {
				if strings.Contains(r.Message, "aHVudGVyMg") || strings.Contains(r.Message, "hunter2") {
					t.Errorf("%s: the message shows the value: %s", c.check, r.Message)
				}
			}
		}
	}
}

func TestResourceCheckSourceErrors(t *testing.T) {
	broken := &fakeObjects{err: errors.New("connection refused")}
	runCases(t, broken, nil, time.Time{}, []checkCase{
		{`resource: {resource: pods, namespace: default, name: nginx}`, false, "could not read pod default/nginx: connection refused"},
		{`resource: {resource: pods, namespace: default, name: nginx, absent: true}`, false, "connection refused"},
		{`resource: {resource: pods, namespace: default, min: 1}`, false, "could not list pods in namespace default: connection refused"},
	})
	lab, step := stepWith(t, "  - resource: {resource: pods, namespace: default, name: nginx}\n")
	if res := NewEngine(nil, nil).Evaluate(context.Background(), lab, step, time.Time{}, EN); res.Passed || !strings.Contains(res.Checks[0].Message, "no cluster") {
		t.Errorf("without a cluster: %+v", res)
	}
}

func TestObjectsAreReadOncePerEvaluation(t *testing.T) {
	objects := cluster()
	lab, step := stepWith(t, `  - resource: {resource: pods, namespace: default, name: web-1}
  - resource: {resource: pods, namespace: default, name: web-1, field: status.phase, equals: Running}
  - resource: {resource: pods, namespace: default, name: web-1, field: spec.nodeName, exists: true}
`)
	res := NewEngine(objects, nil).Evaluate(context.Background(), lab, step, time.Time{}, EN)
	if !res.Passed || objects.gets != 1 {
		t.Errorf("passed=%v with %d gets, want true with 1: %+v", res.Passed, objects.gets, res)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// trace is a little cluster's worth of events, one second apart.
func trace() []tracing.Event {
	evs := []tracing.Event{
		{Kind: tracing.KindHTTP, From: "kubectl", To: "apiserver", Verb: "create", Resource: "pods", Namespace: "default", Name: "nginx", Status: "201", Summary: "kubectl create pods default/nginx"},
		{Kind: tracing.KindWatch, From: "apiserver", To: "scheduler", Verb: "ADDED", Resource: "pods", Namespace: "default", Name: "nginx"},
		{Kind: tracing.KindHTTP, From: "scheduler", To: "apiserver", Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "default", Name: "nginx", Status: "201", Summary: "scheduler binds nginx to node-1"},
		{Kind: tracing.KindWatch, From: "apiserver", To: "kubelet/node-1", Verb: "ADDED", Resource: "pods", Namespace: "default", Name: "nginx"},
		{Kind: tracing.KindCRI, From: "kubelet/node-1", To: "runtime/node-1", Verb: "RunPodSandbox", Namespace: "default", Name: "nginx", Status: "OK", Summary: "RunPodSandbox nginx"},
		{Kind: tracing.KindLifecycle, From: "etcd", Verb: "started"},
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].Time = t0.Add(time.Duration(i) * time.Second)
	}
	return evs
}

func TestTraceChecks(t *testing.T) {
	events := &fakeEvents{events: trace()}
	runCases(t, nil, events, t0, []checkCase{
		{`trace: {kind: http, from: scheduler, verb: create, resource: pods, subresource: binding, name: nginx}`, true, "seen #3 (scheduler binds nginx to node-1)"},
		{`trace: {kind: http, from: scheduler, verb: delete}`, false, "no matching event since the step began"},
		{`trace: {kind: watch, to: "kubelet/*", resource: pods, name: nginx}`, true, "seen #4"},
		{`trace: {kind: watch, to: "kubelet/*", name: "ngi*"}`, true, "seen #4"},
		{`trace: {kind: watch, to: "kubelet/node-2*"}`, false, "no matching event"},
		// A plain component id matches its per-node instances.
		{`trace: {kind: cri, from: kubelet}`, true, "seen #5"},
		{`trace: {kind: cri, from: kube}`, false, "no matching event"},
		{`trace: {kind: cri, verb: RunPodSandbox, status: OK}`, true, "seen #5 (RunPodSandbox nginx)"},
		{`trace: {kind: lifecycle, from: etcd, verb: started}`, true, "seen #6"},
		{`trace: {verb: "*"}`, true, "seen #1"},
		{`trace: {kind: "*", name: nginx, namespace: kube-system}`, false, "no matching event"},
	})

	// Only events since the step began count.
	runCases(t, nil, events, t0.Add(3*time.Second), []checkCase{
		{`trace: {kind: http, from: scheduler, subresource: binding}`, false, "no matching event since the step began"},
		{`trace: {kind: cri, verb: RunPodSandbox}`, true, "seen #5"},
	})
	runCases(t, nil, &fakeEvents{err: errors.New("bus closed")}, t0, []checkCase{
		{`trace: {kind: cri}`, false, "could not read the trace: bus closed"},
	})
	runCases(t, nil, nil, t0, []checkCase{
		{`trace: {kind: cri}`, false, "no trace"},
	})
}

func TestOrderChecks(t *testing.T) {
	events := &fakeEvents{events: trace()}
	runCases(t, nil, events, t0, []checkCase{
		{`order: {first: {kind: http, from: scheduler, subresource: binding, name: nginx}, then: {kind: cri, verb: RunPodSandbox}}`, true,
			"seen #3 (scheduler binds nginx to node-1), then #5 (RunPodSandbox nginx)"},
		{`order: {first: {kind: cri, verb: RunPodSandbox}, then: {kind: http, subresource: binding}}`, false,
			"seen #5 (RunPodSandbox nginx), but no event matching then after it"},
		{`order: {first: {kind: http, verb: delete}, then: {kind: cri}}`, false, "no event matching first since the step began"},
		// One event cannot be both first and then.
		{`order: {first: {kind: cri}, then: {kind: cri}}`, false, "but no event matching then after it"},
		{`order: {first: {kind: http}, then: {kind: http}}`, true, "seen #1 (kubectl create pods default/nginx), then #3"},
	})
	// The first part must also be since the step began.
	runCases(t, nil, events, t0.Add(3*time.Second), []checkCase{
		{`order: {first: {kind: http, subresource: binding}, then: {kind: cri}}`, false, "no event matching first"},
	})

	// A then event with a later seq but an earlier time (an HTTP request
	// that arrived before first but completed after it) does not count.
	evs := trace()
	evs = append(evs, tracing.Event{Seq: 7, Time: t0.Add(time.Second), Kind: tracing.KindHTTP, From: "controller-manager", Verb: "update"})
	runCases(t, nil, &fakeEvents{events: evs}, t0, []checkCase{
		{`order: {first: {kind: lifecycle, from: etcd}, then: {kind: http, from: controller-manager}}`, false, "but no event matching then"},
	})
}

func TestEvaluateInChineseAndAllMustPass(t *testing.T) {
	lab, step := stepWith(t, `  - resource: {resource: pods, namespace: default, name: nginx, field: status.phase, equals: Running}
  - trace: {kind: cri, verb: RunPodSandbox}
    description: {en: "the runtime started a sandbox", zh: "运行时启动了沙箱"}
  - trace: {kind: http, verb: delete}
`)
	eng := NewEngine(cluster(), &fakeEvents{events: trace()})
	res := eng.Evaluate(context.Background(), lab, step, t0, "zh")
	if res.Passed || len(res.Checks) != 3 {
		t.Fatalf("result: %+v", res)
	}
	want := []CheckResult{
		{"Pod default/nginx 的 status.phase 为 Running", false, "Pod default/nginx 的 status.phase 为 Pending，应为 Running"},
		{"运行时启动了沙箱", true, "已看到 #5 (RunPodSandbox nginx)"},
		{"某个客户端发起了 delete 请求", false, "自本步骤开始以来没有匹配的事件"},
	}
	for i := range want {
		if res.Checks[i] != want[i] {
			t.Errorf("check %d: %+v, want %+v", i, res.Checks[i], want[i])
		}
	}

	_, pass := stepWith(t, "  - trace: {kind: cri}\n  - resource: {resource: nodes, name: node-1}\n")
	if res := eng.Evaluate(context.Background(), lab, pass, t0, EN); !res.Passed {
		t.Errorf("all checks pass but the step did not: %+v", res)
	}
}

func TestMatchWildcards(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		component      bool
		want           bool
	}{
		{"", "anything", false, true},
		{"nginx", "nginx", false, true},
		{"nginx", "nginx-1", false, false},
		{"nginx-*", "nginx-1", false, true},
		{"nginx-*", "nginx", false, false},
		{"*", "", false, true},
		{"kubelet/*", "kubelet/node-1", true, true},
		{"kubelet/*", "kubelet", true, false},
		{"kubelet", "kubelet/node-1", true, true},
		{"kubelet", "kubelet", true, true},
		{"kubelet", "kubelets", true, false},
		{"kubelet/node-1", "kubelet/node-10", true, false},
		{"kube*", "kube-proxy/node-1", true, true},
	} {
		got := matchValue(tc.pattern, tc.value)
		if tc.component {
			got = matchComponent(tc.pattern, tc.value)
		}
		if got != tc.want {
			t.Errorf("match(%q, %q, component=%v) = %v, want %v", tc.pattern, tc.value, tc.component, got, tc.want)
		}
	}
}

func TestMatchDetailPathAndController(t *testing.T) {
	explain := &tracing.Event{Kind: tracing.KindHTTP, From: "kubectl", Verb: "get", Detail: map[string]any{"path": "/openapi/v3/api/v1?hash=ab"}}
	get := &tracing.Event{Kind: tracing.KindHTTP, From: "kubectl", Verb: "get", Resource: "pods", Detail: map[string]any{"path": "/api/v1/namespaces/default/pods/x"}}
	rs := &tracing.Event{Kind: tracing.KindHTTP, From: "controller-manager", Verb: "create", Detail: map[string]any{"controller": "replicaset-controller"}}
	m := EventMatcher{Kind: "http", Path: "/openapi/v3*"}
	if !m.Match(explain) || m.Match(get) {
		t.Errorf("path /openapi/v3*: explain %v, get %v; want true, false", m.Match(explain), m.Match(get))
	}
	c := EventMatcher{Controller: "replicaset-controller"}
	if !c.Match(rs) || c.Match(get) {
		t.Errorf("controller: %v %v; want true, false", c.Match(rs), c.Match(get))
	}
	if d := describeMatcher(&m); !strings.Contains(d.EN, "/openapi/v3*") || !strings.Contains(d.ZH, "/openapi/v3*") {
		t.Errorf("description %+v does not name the path", d)
	}
}

// A watch event is published only once the etcd write it carries has
// been seen, so what the watcher did on hearing it can be published
// first: the order is when things happened. With an etcd event, whose
// time is when the collector saw it, the publication order must agree.
func TestOrderChecksGoByWhenThingsHappened(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	held := []tracing.Event{
		{Seq: 10, Time: at(20), Kind: tracing.KindHTTP, From: "scheduler", Verb: "create", Resource: "pods", Subresource: "binding", Name: "intolerant"},
		{Seq: 11, Time: at(10), Kind: tracing.KindWatch, From: "apiserver", To: "scheduler", Verb: "MODIFIED", Resource: "nodes", Name: "node-3"},
	}
	runCases(t, nil, &fakeEvents{events: held}, t0, []checkCase{
		{`order: {first: {kind: watch, to: scheduler, verb: MODIFIED, resource: nodes}, then: {kind: http, subresource: binding}}`, true,
			"seen #11 (watch apiserver -> scheduler MODIFIED nodes/node-3), then #10"},
		// The other way round is still refused.
		{`order: {first: {kind: http, subresource: binding}, then: {kind: watch, verb: MODIFIED}}`, false, "but no event matching then after it"},
	})
	etcd := []tracing.Event{
		{Seq: 20, Time: at(30), Kind: tracing.KindWatch, From: "apiserver", To: "kubelet/node-1", Verb: "ADDED", Resource: "pods", Name: "p"},
		{Seq: 21, Time: at(10), Kind: tracing.KindEtcd, Verb: "put", Resource: "pods", Name: "p"},
	}
	runCases(t, nil, &fakeEvents{events: etcd}, t0, []checkCase{
		{`order: {first: {kind: etcd, verb: put}, then: {kind: watch, verb: ADDED}}`, false, "but no event matching then after it"},
	})
}

// netTrace is a pod's connections and DNS queries in namespace lab8, as
// the pod network records them, one second apart: a query and the
// connect it led to from client-1 on node-1, then a connect from client-2
// on node-2 that timed out (its node's rules were stale), and one
// chains list as a recording reads it back ([]any).
func netTrace() []tracing.Event {
	svc := []string{"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-NPJI2T3NKLJF4T4O", "KUBE-SEP-3JOIVZTXZ4PXWWIO"}
	dnsChains := []string{"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-TCOU7JCQXEZGVUNU", "KUBE-SEP-DNSAAAAAAAAAAAAA"}
	evs := []tracing.Event{
		{Kind: tracing.KindNet, From: "pod:lab8/client-1", To: "pod:kube-system/coredns-5d78c9869d-abcde", Verb: "query", Resource: "pods", Namespace: "lab8", Name: "client-1", Status: "NOERROR",
			Detail: map[string]any{"protocol": "udp", "srcNode": "node-1", "dst": "10.96.0.10:53", "chains": dnsChains, "outcome": "answered",
				"dns": map[string]any{"name": "web.lab8.svc.cluster.local.", "type": "A", "rcode": "NOERROR", "answers": []string{"10.96.12.3"}}}},
		{Kind: tracing.KindNet, From: "pod:lab8/client-1", To: "pod:lab8/web-7d9c8-x2kq4", Verb: "connect", Resource: "pods", Namespace: "lab8", Name: "client-1", Status: "connected",
			Detail: map[string]any{"protocol": "tcp", "srcNode": "node-1", "dst": "10.96.12.3:80", "chains": svc, "verdict": "dnat", "endpointPod": "lab8/web-7d9c8-x2kq4", "outcome": "connected"}},
		{Kind: tracing.KindNet, From: "pod:lab8/client-2", Verb: "connect", Resource: "pods", Namespace: "lab8", Name: "client-2", Status: "timed out",
			Detail: map[string]any{"protocol": "tcp", "srcNode": "node-2", "dst": "10.96.12.3:80", "chains": []any{"PREROUTING", "KUBE-SERVICES", "KUBE-SVC-NPJI2T3NKLJF4T4O", "KUBE-SEP-OLDOLDOLDOLDOLDO"}, "verdict": "dnat", "outcome": "timed out"}},
		// A connection to a pod's address: no Service, no chain past
		// KUBE-SERVICES.
		{Kind: tracing.KindNet, From: "pod:lab80/client", To: "pod:lab80/db", Verb: "connect", Resource: "pods", Namespace: "lab80", Name: "client", Status: "connected",
			Detail: map[string]any{"protocol": "tcp", "srcNode": "node-3", "dst": "10.244.3.4:5432", "chains": []string{"PREROUTING", "KUBE-SERVICES"}, "verdict": "accepted", "outcome": "connected"}},
		// An http event with a srcNode-like detail: node never matches it.
		{Kind: tracing.KindHTTP, From: "kubelet/node-2", To: "apiserver", Verb: "get", Resource: "pods", Detail: map[string]any{"srcNode": "node-2", "chains": []string{"KUBE-SVC-X"}}},
		{Kind: tracing.KindLifecycle, From: "kube-proxy/node-2", Verb: "ready"},
		{Kind: tracing.KindNet, From: "pod:lab8/client-2", To: "pod:lab8/web-7d9c8-p8m2z", Verb: "connect", Resource: "pods", Namespace: "lab8", Name: "client-2", Status: "connected",
			Detail: map[string]any{"protocol": "tcp", "srcNode": "node-2", "dst": "10.96.12.3:80", "chains": svc, "verdict": "dnat", "outcome": "connected"}},
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].Time = t0.Add(time.Duration(i) * time.Second)
	}
	return evs
}

func TestNetChecks(t *testing.T) {
	events := &fakeEvents{events: netTrace()}
	runCases(t, nil, events, t0, []checkCase{
		{`trace: {kind: net}`, true, "seen #1"},
		{`trace: {kind: net, verb: connect, from: "pod:lab8/client-1", to: "pod:lab8/web-*", chain: "KUBE-SVC-*", status: connected}`, true, "seen #2"},
		{`trace: {kind: net, verb: query, from: "pod:lab8/client-*", to: "pod:kube-system/coredns-*", status: NOERROR}`, true, "seen #1"},
		{`trace: {kind: net, verb: query, status: NXDOMAIN}`, false, "no matching event"},
		// status is the outcome, spaces and all, and takes a wildcard.
		{`trace: {kind: net, verb: connect, status: "timed out"}`, true, "seen #3"},
		{`trace: {kind: net, status: "time*"}`, true, "seen #3"},
		// node is the source pod's node.
		{`trace: {kind: net, node: node-2}`, true, "seen #3"},
		{`trace: {kind: net, node: node-2, status: connected}`, true, "seen #7"},
		{`trace: {kind: net, node: "node-*", verb: connect}`, true, "seen #2"},
		{`trace: {kind: net, node: node-4}`, false, "no matching event"},
		// node and chain never match an event of another kind, whatever
		// its detail says.
		{`trace: {node: node-2}`, true, "seen #3"},
		{`trace: {kind: "*", chain: KUBE-SVC-X}`, false, "no matching event"},
		{`trace: {node: node-2, verb: get}`, false, "no matching event"},
		// chain matches any chain of the list, as written or read back
		// from JSON; without a * it is the whole chain's name.
		{`trace: {kind: net, chain: KUBE-SEP-OLDOLDOLDOLDOLDO}`, true, "seen #3"},
		{`trace: {kind: net, chain: KUBE-SEP-OLD}`, false, "no matching event"},
		{`trace: {kind: net, chain: KUBE-SERVICES}`, true, "seen #1"},
		{`trace: {kind: net, chain: "KUBE-SVC-*", node: node-3}`, false, "no matching event"},
		{`trace: {kind: net, chain: "KUBE-*", node: node-3}`, true, "seen #4"},
		{`trace: {kind: net, chain: "*", node: node-3}`, true, "seen #4"},
	})
}

// A pod id's "/" is between its namespace and its name: the plain
// component rule (kubelet matches kubelet/node-1) must not make it match
// other pods, and pod:lab8/* is lab8's pods only.
func TestNetPodsMatchAsPods(t *testing.T) {
	events := &fakeEvents{events: netTrace()}
	runCases(t, nil, events, t0, []checkCase{
		{`trace: {kind: net, from: "pod:lab8/*"}`, true, "seen #1"},
		{`trace: {kind: net, from: "pod:lab8/*", node: node-3}`, false, "no matching event"},
		{`trace: {kind: net, from: "pod:lab80/*"}`, true, "seen #4"},
		{`trace: {kind: net, from: "pod:lab8/client"}`, false, "no matching event"},
		{`trace: {kind: net, from: "pod:lab8/client-2", to: "pod:lab8/*"}`, true, "seen #7"},
		// No one answered the timed-out connection: it has no to.
		{`trace: {kind: net, to: "pod:*", status: "timed out"}`, false, "no matching event"},
		{`trace: {kind: net, from: pod}`, false, "no matching event"},
		{`trace: {kind: net, namespace: lab8, name: client-2}`, true, "seen #3"},
	})
	for _, tc := range []struct {
		pattern, id string
		want        bool
	}{
		{"pod:lab8/client", "pod:lab8/client", true},
		{"pod:lab8/client", "pod:lab8/client-1", false},
		{"pod:lab8", "pod:lab8/client", false},
		{"pod:lab8/*", "pod:lab8/client", true},
		{"pod:lab8/*", "pod:lab80/client", false},
		{"pod:lab8*", "pod:lab80/client", true},
		{"pod", "pod:lab8/client", false},
	} {
		if got := matchComponent(tc.pattern, tc.id); got != tc.want {
			t.Errorf("matchComponent(%q, %q) = %v, want %v", tc.pattern, tc.id, got, tc.want)
		}
	}
}

// Order checks see net events like any other: the rules' reload, then a
// connection by them.
func TestNetOrderChecks(t *testing.T) {
	events := &fakeEvents{events: netTrace()}
	runCases(t, nil, events, t0, []checkCase{
		{`order: {first: {kind: lifecycle, from: kube-proxy/node-2, verb: ready}, then: {kind: net, verb: connect, node: node-2, status: connected}}`, true, "seen #6 (lifecycle kube-proxy/node-2 -> ready), then #7 (net pod:lab8/client-2 -> pod:lab8/web-7d9c8-p8m2z connect"},
		{`order: {first: {kind: lifecycle, from: kube-proxy/node-2, verb: ready}, then: {kind: net, node: node-2, status: "timed out"}}`, false, "but no event matching then after it"},
	})
}

func TestDescribeNetMatchers(t *testing.T) {
	for _, tc := range []struct {
		check string
		want  Text
	}{
		{`trace: {kind: net, verb: connect, from: "pod:lab8/client-1", to: "pod:lab8/web-*", chain: "KUBE-SVC-*", status: connected}`, Text{
			"pod lab8/client-1 opened a connection to a pod matching lab8/web-* through chain KUBE-SVC-* (status connected)",
			"Pod lab8/client-1 向匹配 lab8/web-* 的 Pod 发起了连接（经过链 KUBE-SVC-*）（状态 connected）"}},
		{`trace: {kind: net, verb: query, from: "pod:lab8/*", to: "pod:kube-system/coredns-*", status: NOERROR}`, Text{
			"a pod in namespace lab8 sent a DNS query answered by a pod matching kube-system/coredns-* (status NOERROR)",
			"命名空间 lab8 中的 Pod 发出了 DNS 查询，由匹配 kube-system/coredns-* 的 Pod 应答（状态 NOERROR）"}},
		{`trace: {kind: net, verb: connect, node: node-2, status: "timed out"}`, Text{
			"a pod on node-2 opened a connection (status timed out)",
			"node-2 上的某个 Pod 发起了连接（状态 timed out）"}},
		{`trace: {kind: net, verb: connect, from: "pod:lab8/client-2", node: "node-*"}`, Text{
			"pod lab8/client-2 on a node matching node-* opened a connection",
			"匹配 node-* 的节点上的 Pod lab8/client-2 发起了连接"}},
		{`trace: {kind: net, namespace: lab8, name: client-1, to: "pod:*"}`, Text{
			"pod lab8/client-1 sent network traffic to a pod",
			"Pod lab8/client-1 向某个 Pod 发出了网络流量"}},
		{`trace: {kind: net, namespace: lab8, verb: query}`, Text{
			"a pod in namespace lab8 sent a DNS query",
			"命名空间 lab8 中的 Pod 发出了 DNS 查询"}},
		{`trace: {kind: watch, to: coredns, resource: services}`, Text{
			"CoreDNS received a services watch event",
			"CoreDNS 收到了 services watch 事件"}},
		{`trace: {kind: lifecycle, from: kube-proxy/node-2, verb: stopped}`, Text{
			"kube-proxy on node-2 stopped",
			"node-2 上的 kube-proxy 已停止"}},
		{`order: {first: {kind: lifecycle, from: kube-proxy/node-2, verb: ready}, then: {kind: net, verb: connect, node: node-2, status: connected}}`, Text{
			"kube-proxy on node-2 became ready, then a pod on node-2 opened a connection (status connected)",
			"先node-2 上的 kube-proxy 已就绪，然后node-2 上的某个 Pod 发起了连接（状态 connected）"}},
		// Without a kind, the keys are listed.
		{`trace: {node: node-2, chain: "KUBE-SEP-*"}`, Text{
			"an event with node=node-2, chain=KUBE-SEP-* happened",
			"发生了 node=node-2, chain=KUBE-SEP-* 的事件"}},
	} {
		_, step := stepWith(t, "  - "+tc.check+"\n")
		if got := step.Checks[0].Description; got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.check, got, tc.want)
		}
	}
}
