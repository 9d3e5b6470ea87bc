package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// startClassroom starts `up --classroom` and reads the viewers' link it
// printed, and the key in it.
func startClassroom(t testing.TB, dir string, nodes int) (tc *testCluster, info uiInfo, link, key string) {
	t.Helper()
	tc, err := startCluster(dir, nodes, "--classroom")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Viewers: (http://\S+)$`).FindStringSubmatch(tc.output.String())
	if m == nil {
		tc.stop()
		t.Fatalf("up --classroom printed no viewers' link:\n%s", tc.output.String())
	}
	u, err := url.Parse(m[1])
	if err != nil || u.Query().Get("viewer") == "" {
		tc.stop()
		t.Fatalf("the viewers' link %q has no key", m[1])
	}
	return tc, tc.uiInfo(t), m[1], u.Query().Get("viewer")
}

// A classroom: one presenter's page and three viewers' pages, each in its
// own chromium. What the presenter does shows on every viewer; what a
// viewer may not do, the server refuses.
func TestBrowserClassroom(t *testing.T) {
	presenter := newBrowser(t)
	tc, info, link, key := startClassroom(t, shortTempDir(t), 1)
	defer tc.stop()
	if !strings.Contains(tc.output.String(), "firewall must let in TCP port") {
		t.Errorf("up --classroom does not say which port to open:\n%s", tc.output.String())
	}

	load := func(ctx context.Context, target, ready string) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, chromedp.Navigate(target)); err != nil {
			t.Fatalf("opening %s: %v", target, err)
		}
		if _, err := chromedp.Run(tctx, chromedp.Poll[bool](ready, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			t.Fatalf("waiting at %s for %s: %v", target, ready, err)
		}
	}
	load(presenter, info.URL+"?token="+info.Token, `window.wheelhouse && window.wheelhouse.connected && window.wheelhouse.classroom.connected`)
	if role := evalJS[string](t, presenter, `window.wheelhouse.role`); role != "presenter" {
		t.Fatalf("the admin's page is %q, want presenter", role)
	}
	var viewers []context.Context
	langs := []string{"en", "zh", "en"}
	for i := 0; i < 3; i++ {
		v := newBrowser(t)
		target := link
		if langs[i] == "zh" {
			target += "&lang=zh"
		}
		load(v, target, `window.wheelhouse && window.wheelhouse.connected && window.wheelhouse.classroom.connected`)
		if role := evalJS[string](t, v, `window.wheelhouse.role`); role != "viewer" {
			t.Fatalf("viewer %d's page is %q", i, role)
		}
		viewers = append(viewers, v)
	}
	eventually(t, 30*time.Second, "the presenter counts three viewers", func() (bool, string) {
		n := evalJS[int](t, presenter, `window.wheelhouse.classroom.viewers`)
		return n == 3, fmt.Sprint(n, " viewers")
	})

	// The presenter opens lab 2, moves to step 3, follows a pod and pauses.
	evalJS[any](t, presenter, `window.wheelhouse.labs.open("kubectl-run")`)
	eventually(t, 30*time.Second, "lab 2 open on the presenter's page", func() (bool, string) {
		return evalJS[string](t, presenter, `window.wheelhouse.labs.current`) == "kubectl-run", ""
	})
	evalJS[any](t, presenter, `window.wheelhouse.labs.goto(2)`)
	evalJS[any](t, presenter, `window.wheelhouse.follow("pods/default/nginx")`)
	evalJS[any](t, presenter, `window.wheelhouse.pause()`)
	start := time.Now()
	want := evalJS[map[string]any](t, presenter, `window.wheelhouse.classroom.shown`)
	if want["lab"] != "kubectl-run" || want["step"] != "03-schedule" || want["following"] != "pods/default/nginx" || want["paused"] != true {
		t.Fatalf("the presenter's page shows %v", want)
	}
	for i, v := range viewers {
		eventually(t, 10*time.Second, fmt.Sprintf("viewer %d shows what the presenter shows", i), func() (bool, string) {
			got := evalJS[map[string]any](t, v, `window.wheelhouse.classroom.shown`)
			for _, k := range []string{"lab", "step", "since", "following", "paused"} {
				if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
					return false, fmt.Sprintf("%s: %v, presenter %v", k, got[k], want[k])
				}
			}
			// What is drawn, not only what is stored: the lab panel's open step and the follow banner.
			step := evalJS[string](t, v, `(document.querySelector('[data-step]') || {dataset: {}}).dataset.step || ''`)
			banner := evalJS[bool](t, v, `!document.querySelector('.follow-banner').hidden`)
			return step == "03-schedule" && banner, fmt.Sprintf("drawn step %q, follow banner shown %v", step, banner)
		})
	}
	t.Logf("three viewers showed the presenter's lab step, followed pod and pause %v after the presenter's last action (the benchmark measures this)", time.Since(start).Round(time.Millisecond))
	if lang := evalJS[string](t, viewers[1], `window.wheelhouse.lang`); lang != "zh" {
		t.Errorf("the Chinese viewer reads %q", lang)
	}
	if title := evalJS[string](t, viewers[1], `document.querySelector('[data-testid=classroom]').textContent`); !strings.Contains(title, "跟随") {
		t.Errorf("the Chinese viewer's badge says %q", title)
	}

	// A viewer looking around stops following; one click catches up.
	v0 := viewers[0]
	evalJS[any](t, v0, `window.wheelhouse.unfollow()`)
	eventually(t, 5*time.Second, "the viewer not following", func() (bool, string) {
		return !evalJS[bool](t, v0, `window.wheelhouse.classroom.following`), ""
	})
	evalJS[any](t, presenter, `window.wheelhouse.setSpeed(2)`)
	eventually(t, 10*time.Second, "the following viewers at speed 2", func() (bool, string) {
		return evalJS[float64](t, viewers[2], `window.wheelhouse.speed`) == 2, ""
	})
	if s := evalJS[float64](t, v0, `window.wheelhouse.speed`); s != 1 {
		t.Errorf("the viewer who looks around was moved to speed %v", s)
	}
	evalJS[any](t, v0, `document.querySelector('[data-testid=catch-up]').click()`)
	eventually(t, 5*time.Second, "the viewer caught up", func() (bool, string) {
		return evalJS[float64](t, v0, `window.wheelhouse.speed`) == 2 && evalJS[string](t, v0, `window.wheelhouse.following || ''`) == "pods/default/nginx", ""
	})

	// What a viewer may not do, refused on the wire.
	for _, probe := range []struct{ what, js string }{
		{"stopping a component", `fetch('/api/components/scheduler/stop', {method: 'POST'}).then((r) => r.status)`},
		{"the terminal", `fetch('/ws/terminal?cols=80&rows=24').then((r) => r.status)`},
		{"the presenter view", `fetch('/present').then((r) => r.status)`},
		{"rotating the key", `fetch('/api/classroom/rotate', {method: 'POST'}).then((r) => r.status)`},
	} {
		if code := evalJS[int](t, v0, probe.js); code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("a viewer's page asking for %s got %d, want 401 or 403", probe.what, code)
		}
	}
	if has := evalJS[bool](t, v0, `!!document.querySelector('.term-dock, .xterm')`); has {
		t.Error("a viewer's page has a terminal")
	}

	// The presenter view shows the link and its QR code.
	load(presenter, "http://"+tc.uiAddr+"/present", `window.wheelhouse && window.wheelhouse.classroom.connected && !!document.querySelector('[data-testid=viewer-qr] svg')`)
	if shown := evalJS[string](t, presenter, `document.querySelector('[data-testid=viewer-url]').textContent`); shown != link {
		t.Errorf("/present shows the link %q, want %q", shown, link)
	}
	screenshot(t, presenter, "classroom-present")
	screenshot(t, viewers[1], "classroom-viewer-zh")

	// The presenter renews the link: the viewers' pages say so, the old
	// link is refused.
	evalJS[any](t, presenter, `document.querySelector('[data-testid=rotate-key]').click()`)
	for i, v := range viewers {
		eventually(t, 10*time.Second, fmt.Sprintf("viewer %d told its link was renewed", i), func() (bool, string) {
			return evalJS[bool](t, v, `window.wheelhouse.classroom.rotated`), ""
		})
	}
	eventually(t, 10*time.Second, "/present shows the new link", func() (bool, string) {
		shown := evalJS[string](t, presenter, `document.querySelector('[data-testid=viewer-url]').textContent`)
		return shown != link && strings.Contains(shown, "?viewer="), shown
	})
	if resp, err := http.Get("http://" + tc.uiAddr + "/api/state?viewer=" + url.QueryEscape(key)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old link after renewal: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
}

// In a classroom, the keys decide: nothing without one, nothing that acts
// with a viewer's, no Secret value to a viewer anywhere (etcd browser,
// event inspector, trace frames), while the Secret's keys are there.
func TestClassroomKeys(t *testing.T) {
	tc, info, _, key := startClassroom(t, shortTempDir(t), 1)
	defer tc.stop()
	base := "http://" + tc.uiAddr

	status := func(method, path string, header http.Header) int {
		req, _ := http.NewRequest(method, base+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/", "/api/state", "/api/labs", "/assets/ui/main.js"} {
		if code := status("GET", p, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s with no key: %d, want 401", p, code)
		}
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+tc.uiAddr+"/ws/trace", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/ws/trace with no key: %v %v, want 401", resp, err)
	}
	for _, a := range []struct{ method, path string }{
		{"POST", "/api/components/scheduler/stop"}, {"GET", "/api/debug/process"}, {"POST", "/api/classroom/rotate"},
	} {
		if code := status(a.method, a.path+"?viewer="+key, nil); code != http.StatusForbidden {
			t.Errorf("%s %s with the viewer key: %d, want 403", a.method, a.path, code)
		}
	}
	if code := status("GET", "/api/components?viewer="+key, nil); code != http.StatusOK {
		t.Errorf("a viewer reading the components' states: %d", code)
	}

	// A Secret, and every place a viewer could read it.
	const value = "hunter2-classroom"
	encoded := "aHVudGVyMi1jbGFzc3Jvb20=" // base64 of value, as etcd and the API hold it
	embeddedKubectl(tc.kubeconfig()).mustRun(t, "create", "secret", "generic", "classified", "--from-literal=password="+value)
	trace, _, err := websocket.DefaultDialer.Dial("ws://"+tc.uiAddr+"/ws/trace?since=0&noise=true&viewer="+key, nil)
	if err != nil {
		t.Fatalf("a viewer's trace stream: %v", err)
	}
	defer trace.Close()
	var writeSeq uint64
	deadline := time.Now().Add(60 * time.Second)
	_ = trace.SetReadDeadline(deadline)
	for writeSeq == 0 {
		_, frame, err := trace.ReadMessage()
		if err != nil {
			t.Fatalf("reading the trace for the Secret's etcd write: %v", err)
		}
		if strings.Contains(string(frame), value) || strings.Contains(string(frame), encoded) {
			t.Fatalf("a trace frame to a viewer carries the Secret's value: %s", frame)
		}
		var ev struct {
			Seq      uint64
			Kind     string
			Resource string
			Name     string
		}
		if json.Unmarshal(frame, &ev) == nil && ev.Kind == "etcd" && ev.Resource == "secrets" && ev.Name == "classified" {
			writeSeq = ev.Seq
		}
	}
	for _, p := range []string{
		"/api/etcd/value?key=" + url.QueryEscape("/registry/secrets/default/classified"),
		fmt.Sprintf("/api/events/%d", writeSeq),
	} {
		body, err := httpGet(base + p + "&viewer=" + key)
		if strings.HasPrefix(p, "/api/events/") {
			body, err = httpGet(base + p + "?viewer=" + key)
		}
		if err != nil {
			t.Fatalf("GET %s as a viewer: %v", p, err)
		}
		if strings.Contains(body, value) || strings.Contains(body, encoded) {
			t.Errorf("GET %s gives a viewer the Secret's value: %s", p, body)
		}
		if !strings.Contains(body, "password") {
			t.Errorf("GET %s hides the Secret's keys from a viewer too: %s", p, body)
		}
		admin, err := httpGet(base + p + map[bool]string{true: "?", false: "&"}[strings.HasPrefix(p, "/api/events/")] + "token=" + info.Token)
		if err != nil || !strings.Contains(admin, encoded) && !strings.Contains(admin, value) {
			t.Errorf("GET %s with the admin token does not show the value: %v %s", p, err, admin)
		}
	}

	// A renewed key locks the old link out.
	if code := status("POST", "/api/classroom/rotate", http.Header{"X-Wheelhouse-Token": {info.Token}}); code != http.StatusOK {
		t.Fatalf("renewing the key: %d", code)
	}
	if code := status("GET", "/api/state?viewer="+key, nil); code != http.StatusUnauthorized {
		t.Errorf("the old key after renewal: %d, want 401", code)
	}
}
