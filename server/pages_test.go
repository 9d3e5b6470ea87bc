package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The presenter view is the same app as the main page, switched by
// data-view; both pages pick the language from ?lang=.
func TestPagesSelectViewAndLanguage(t *testing.T) {
	h := Handler(Options{Mode: "live"})
	for _, tc := range []struct {
		path      string
		want      []string
		forbidden []string
	}{
		{"/", []string{`data-mode="live"`, `data-lang="en"`, `src="/assets/ui/main.js"`}, []string{`data-view=`}},
		{"/present", []string{`data-view="present"`, `data-mode="live"`, `data-lang="en"`, `src="/assets/ui/main.js"`}, nil},
		{"/present?lang=zh", []string{`data-view="present"`, `data-lang="zh"`, `lang="zh-Hans"`}, nil},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, localRequest("GET", tc.path, nil))
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want 200 text/html", tc.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %s in\n%s", tc.path, w, body)
			}
		}
		for _, f := range tc.forbidden {
			if strings.Contains(body, f) {
				t.Errorf("GET %s: unexpected %s in\n%s", tc.path, f, body)
			}
		}
	}
}

// The presenter view of a recording replays it: the page carries the
// server's mode, not a fixed "live".
func TestPresenterPageCarriesTheServerMode(t *testing.T) {
	h := Handler(Options{Mode: "replay"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/present", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `data-mode="replay"`) || !strings.Contains(body, `data-view="present"`) {
		t.Errorf("GET /present on a replay server: %d\n%s\nwant 200 with data-mode=\"replay\" and data-view=\"present\"", rec.Code, body)
	}
	if strings.Contains(body, `data-mode="live"`) {
		t.Errorf("GET /present on a replay server says live:\n%s", body)
	}
}

// The lab panel, the terminal and xterm.js are served from the binary
// (no CDN): a missing embed would only show in a browser otherwise.
func TestUIModulesAreEmbedded(t *testing.T) {
	h := Handler(Options{Mode: "live"})
	for _, path := range []string{
		"/assets/ui/labs.js", "/assets/ui/terminal.js", "/assets/ui/components.js",
		"/assets/vendor/xterm/xterm.mjs", "/assets/vendor/xterm/addon-fit.mjs", "/assets/vendor/xterm/xterm.css",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, localRequest("GET", path, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d with %d bytes, want 200 with the file", path, rec.Code, rec.Body.Len())
		}
		// Browsers refuse to run a module served as anything but JavaScript.
		if ct := rec.Header().Get("Content-Type"); strings.HasSuffix(path, "js") && !strings.Contains(ct, "javascript") {
			t.Errorf("GET %s: Content-Type %q, want JavaScript", path, ct)
		}
	}
}
