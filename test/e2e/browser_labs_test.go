package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The learner's path through lab 2 in a real browser: open the page with
// the printed token, open the lab, type the command into the terminal,
// and see the step turn green by itself and the pod's flow animate. A
// fresh cluster, so that default/nginx is the learner's own.
func TestBrowserLabStepTurnsGreenFromTheTerminal(t *testing.T) {
	ctx := newBrowser(t)
	tc, err := startCluster(shortTempDir(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	info := tc.uiInfo(t)

	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(info.URL+"?token="+info.Token)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`window.wheelhouse && window.wheelhouse.connected === true && !!window.wheelhouse.labs`,
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("loading the UI: %v", err)
	}
	if u := evalJS[string](t, ctx, `location.href`); strings.Contains(u, info.Token) {
		t.Errorf("the token stays in the address bar: %s", u)
	}
	evalJS[any](t, ctx, `performance.setResourceTimingBufferSize(100000)`)
	evalJS[any](t, ctx, `window.wheelhouse.labs.open("kubectl-run")`)
	eventually(t, 30*time.Second, "lab 2's first step open and not yet green", func() (bool, string) {
		step := evalJS[string](t, ctx, `document.querySelector('[data-step][data-passed]') ? document.querySelector('[data-step][data-passed]').getAttribute('data-passed') : ""`)
		return step == "false", "step element: data-passed=" + step
	})
	first := evalJS[string](t, ctx, `window.wheelhouse.labs.step`)

	// The terminal: connected with the token from the page's URL.
	eventually(t, 30*time.Second, "the terminal connected", func() (bool, string) {
		return evalJS[bool](t, ctx, `window.wheelhouse.terminal.connected === true`), evalJS[string](t, ctx, `String(window.wheelhouse.terminal.state)`)
	})
	evalJS[any](t, ctx, `window.wheelhouse.terminal.type("kubectl run nginx --image nginx --restart Never\r")`)
	eventually(t, 60*time.Second, "kubectl's answer in the terminal", func() (bool, string) {
		out := evalJS[string](t, ctx, `window.wheelhouse.terminal.output()`)
		return strings.Contains(out, "pod/nginx created"), out
	})
	eventually(t, 60*time.Second, "step "+first+" green by itself", func() (bool, string) {
		passed := evalJS[string](t, ctx, fmt.Sprintf(`(document.querySelector('[data-step=%q]') || {getAttribute(){return "missing"}}).getAttribute('data-passed')`, first))
		return passed == "true", "data-passed=" + passed
	})
	if done := evalJS[[]string](t, ctx, `window.wheelhouse.labs.done`); !contains(done, first) {
		t.Errorf("progress does not record %s as done: %v", first, done)
	}
	// The page's one stream brought the pod's state and the step's check
	// results: it asked for neither over HTTP.
	if polled := evalJS[[]string](t, ctx, `performance.getEntriesByType('resource').map((e) => e.name).filter((u) => u.includes('/api/state') || u.includes('/check?'))`); len(polled) > 0 {
		t.Errorf("the page polled %d times, e.g. %s", len(polled), polled[0])
	}
	eventually(t, 30*time.Second, "the pod Running on the diagram", func() (bool, string) {
		phase := evalJS[string](t, ctx, `(window.wheelhouse.pod('default/nginx') || {phase: 'absent'}).phase`)
		return phase == "Running", "phase " + phase
	})
	// The flow animated: the kubectl create, the binding and the runtime
	// starting the container, each on its own edge.
	eventually(t, 60*time.Second, "the pod's flow animated", func() (bool, string) {
		var have []string
		for _, a := range animated(t, ctx) {
			switch {
			case a.From == "kubectl" && a.Verb == "create":
				have = append(have, "create")
			case strings.HasSuffix(a.Label, "binding") || (a.From == "scheduler" && a.Verb == "create"):
				have = append(have, "binding")
			case a.Kind == "cri" && a.Verb == "StartContainer":
				have = append(have, "start")
			}
		}
		return contains(have, "create") && contains(have, "binding") && contains(have, "start"), fmt.Sprint(have)
	})
	screenshot(t, ctx, "lab2-step-green")

	// Tab completes kubectl's words in the terminal, as the chapter's
	// section on autocompletion promises: "nod" becomes "nodes".
	evalJS[any](t, ctx, `window.wheelhouse.terminal.type("kubectl get nod\t")`)
	eventually(t, 30*time.Second, "Tab completing nod to nodes", func() (bool, string) {
		out := evalJS[string](t, ctx, `window.wheelhouse.terminal.output()`)
		return strings.Contains(out, "kubectl get nodes"), out
	})
	evalJS[any](t, ctx, `window.wheelhouse.terminal.type("\r")`)
	eventually(t, 30*time.Second, "the completed command's answer", func() (bool, string) {
		out := evalJS[string](t, ctx, `window.wheelhouse.terminal.output()`)
		return strings.Contains(out, "node-2   Ready"), out
	})

	// Progress survives a reload.
	if err := chromedp.Do(tctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "progress after a reload", func() (bool, string) {
		done := evalJS[[]string](t, ctx, `window.wheelhouse && window.wheelhouse.labs ? (window.wheelhouse.labs.done || []) : []`)
		return contains(done, first), fmt.Sprint(done)
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The presenter view on a projector-sized window: the diagram, the current
// step as a caption, and the step's commands run from the page in its
// terminal; the step turns green from that, and the arrow key moves on.
func TestBrowserPresenterViewRunsTheStepsCommands(t *testing.T) {
	ctx := newBrowser(t)
	info := shared.uiInfo(t)
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(info.URL+"present?token="+info.Token)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`window.wheelhouse && window.wheelhouse.connected === true && !!window.wheelhouse.labs && !!window.wheelhouse.terminal`,
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("loading /present: %v", err)
	}
	if v := evalJS[string](t, ctx, `window.wheelhouse.view`); v != "present" {
		t.Fatalf("window.wheelhouse.view = %q, want present", v)
	}
	evalJS[any](t, ctx, `window.wheelhouse.labs.open("kubectl-kubeconfig").then(() => window.wheelhouse.labs.reset && window.wheelhouse.labs.reset())`)
	eventually(t, 30*time.Second, "the caption shows lab 7's first step, not yet green", func() (bool, string) {
		got := evalJS[string](t, ctx, `(() => { const s = document.querySelector('[data-testid="lab-step"][data-step]'); return s ? s.getAttribute('data-step') + ' ' + s.getAttribute('data-passed') : ''; })()`)
		return got == "01-kubeconfig false", got
	})
	eventually(t, 30*time.Second, "the presenter's terminal connected", func() (bool, string) {
		return evalJS[bool](t, ctx, `window.wheelhouse.terminal.connected === true`), evalJS[string](t, ctx, `String(window.wheelhouse.terminal.state)`)
	})
	// Click the caption's run button for `kubectl get pods -v=6`.
	clicked := evalJS[bool](t, ctx, `(() => { const b = document.querySelector('[data-command="kubectl get pods -v=6"][data-act="run"]'); if (!b) return false; b.click(); return true; })()`)
	if !clicked {
		t.Fatalf("no run button for the step's command; commands shown: %s",
			evalJS[string](t, ctx, `[...document.querySelectorAll('[data-command]')].map(b => b.getAttribute('data-command') + ':' + b.getAttribute('data-act')).join(', ')`))
	}
	eventually(t, 60*time.Second, "the command ran in the presenter's terminal", func() (bool, string) {
		out := evalJS[string](t, ctx, `window.wheelhouse.terminal.output()`)
		return strings.Contains(out, "/api/v1/namespaces/default/pods"), out
	})
	eventually(t, 60*time.Second, "the caption's step green", func() (bool, string) {
		got := evalJS[string](t, ctx, `(document.querySelector('[data-testid="lab-step"][data-step="01-kubeconfig"]') || {getAttribute(){return 'gone'}}).getAttribute('data-passed')`)
		return got == "true" || contains(evalJS[[]string](t, ctx, `window.wheelhouse.labs.done || []`), "01-kubeconfig"), got
	})
	screenshot(t, ctx, "present-step-green")
}
