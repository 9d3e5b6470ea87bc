package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
)

// uiInfo is what `wheelhouse up` leaves in <data-dir>/ui.json.
type uiInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// uiInfo is the address and token the cluster left in its data dir.
func (tc *testCluster) uiInfo(t testing.TB) uiInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tc.dataDir, "ui.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info uiInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("reading ui.json: %v", err)
	}
	return info
}

type checkResult struct {
	Passed bool `json:"passed"`
	Checks []struct {
		Description string `json:"description"`
		Passed      bool   `json:"passed"`
		Message     string `json:"message"`
	} `json:"checks"`
}

func (r checkResult) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		mark := "✗"
		if c.Passed {
			mark = "✓"
		}
		fmt.Fprintf(&b, "\n    %s %s: %s", mark, c.Description, c.Message)
	}
	return b.String()
}

// checkStep asks the running cluster's labs API, as the page does.
func (tc *testCluster) checkStep(t testing.TB, lab, step string, since time.Time) checkResult {
	t.Helper()
	u := fmt.Sprintf("http://%s/api/labs/%s/steps/%s/check?since=%d", tc.uiAddr, url.PathEscape(lab), url.PathEscape(step), since.UnixMilli())
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("checking %s/%s: %v", lab, step, err)
	}
	defer resp.Body.Close()
	var r checkResult
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("checking %s/%s: %s %s", lab, step, resp.Status, readAll(resp.Body))
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("checking %s/%s: %v", lab, step, err)
	}
	return r
}

// runScript runs a solution part the way the terminal runs a learner's
// commands: sh, in the cluster's shell workspace, with kubectl and
// wheelhouse on PATH meaning this binary.
func (tc *testCluster) runScript(t testing.TB, name, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", script)
	// The workspace `up` prepared for the browser terminal: its home, and
	// its bin directory, whose kubectl and wheelhouse run the binary under
	// test.
	cmd.Dir = filepath.Join(tc.dataDir, "home")
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+kubeCacheDir,
		"KUBECONFIG="+tc.kubeconfig(),
		"PATH="+filepath.Join(tc.dataDir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+cmd.Dir,
		"WHEELHOUSE_DATA_DIR="+tc.dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("solution %s failed: %v\n--- script\n%s\n--- output\n%s", name, err, script, out.String())
	}
	t.Logf("solution %s:\n%s", name, out.String())
}

// Every built-in lab's solution, step by step, against a fresh cluster:
// no step is green before its part of the solution has run, and every
// step is green after it.
func TestLabSolutions(t *testing.T) {
	cat, errs := labs.LoadBuiltin()
	if len(errs) > 0 {
		t.Fatalf("built-in labs do not load: %v", errs)
	}
	if len(cat.Labs) == 0 {
		t.Fatal("no built-in labs")
	}
	for _, lab := range cat.Labs {
		t.Run(lab.ID, func(t *testing.T) {
			sections := lab.Solution
			bySteps := map[string]labs.SolutionSection{}
			for _, s := range sections {
				bySteps[s.Step] = s
			}
			dir := shortTempDir(t)
			// A lab runs on the topology it declares.
			nodes, extra := 3, []string(nil)
			switch lab.Topology {
			case "ha":
				base, err := freePorts(25)
				if err != nil {
					t.Fatal(err)
				}
				extra = haFlags(base)
			case "single-node":
				nodes, extra = 1, []string{"--topology", "single-node"}
			}
			tc, err := startClusterIn(dir, nodes, extra...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { tc.stop() }()
			for _, step := range lab.Steps {
				section, ok := bySteps[step.ID]
				if !ok {
					t.Fatalf("the solution has no section for step %s", step.ID)
				}
				since := time.Now()
				if r := tc.checkStep(t, lab.ID, step.ID, since); r.Passed {
					t.Fatalf("step %s is green before its solution ran:%s", step.ID, r)
				}
				for i, part := range section.Parts {
					if i > 0 {
						// `# wheelhouse: restart` stood here: restart the
						// whole of Wheelhouse on the same data dir.
						if err := tc.stop(); err != nil {
							t.Fatal(err)
						}
						if tc, err = startClusterIn(dir, nodes, extra...); err != nil {
							t.Fatal(err)
						}
					}
					tc.runScript(t, fmt.Sprintf("%s/%s part %d", lab.ID, step.ID, i+1), part)
				}
				var last checkResult
				eventually(t, 3*time.Minute, fmt.Sprintf("step %s turns green", step.ID), func() (bool, string) {
					last = tc.checkStep(t, lab.ID, step.ID, since)
					return last.Passed, last.String()
				})
			}
		})
	}
}

// The terminal, on a real `wheelhouse up`, refuses a socket without the
// admin token and one from a foreign page, and with the token runs the
// embedded kubectl.
func TestTerminalOnTheRunningCluster(t *testing.T) {
	info := shared.uiInfo(t)
	base := "ws://" + shared.uiAddr + "/ws/terminal"
	dial := func(query string, origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return websocket.DefaultDialer.Dial(base+query, h)
	}
	if _, resp, err := dial("", ""); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: err=%v resp=%v, want 401", err, resp)
	}
	if _, resp, err := dial("?token="+info.Token, "http://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: err=%v resp=%v, want 403", err, resp)
	}
	conn, _, err := dial("?token="+info.Token, "http://"+shared.uiAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(v any) {
		if err := conn.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "input", "data": "command -v kubectl; kubectl get nodes -o name; echo END-$((1+1))\n"})
	var out strings.Builder
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "END-2") {
		conn.SetReadDeadline(deadline)
		kind, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("reading the terminal: %v; so far:\n%s", err, out.String())
		}
		if kind == websocket.BinaryMessage {
			out.Write(msg)
		}
	}
	got := out.String()
	if !strings.Contains(got, filepath.Join(shared.dataDir, "bin", "kubectl")) || !strings.Contains(got, "node/node-1") {
		t.Errorf("the terminal's kubectl is not Wheelhouse's or did not list nodes:\n%s", got)
	}
}

// An instructor's labs directory with a malformed lab: start-up names the
// file and line, the cluster runs, the good lab is served and checks, and
// the bad one is listed as an error.
func TestLabsDirWithAMalformedLab(t *testing.T) {
	labsDir := t.TempDir()
	if err := os.CopyFS(filepath.Join(labsDir, "01-first-pod"), os.DirFS("../../labs/testdata/good/01-first-pod")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(labsDir, "02-unknown-check-kind"), os.DirFS("../../labs/testdata/bad/02-unknown-check-kind")); err != nil {
		t.Fatal(err)
	}
	tc, err := startClusterIn(shortTempDir(t), 1, "--labs-dir", labsDir)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	out := tc.output.String()
	if !strings.Contains(out, "lab not loaded: ") || !strings.Contains(out, "02-unknown-check-kind/") || !strings.Contains(out, "unknown check kind") {
		t.Errorf("start-up does not name the malformed lab's file, line and error:\n%s", out)
	}
	body, err := httpGet("http://" + tc.uiAddr + "/api/labs")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Labs []struct {
			ID string `json:"id"`
		} `json:"labs"`
		Errors []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("/api/labs: %v\n%s", err, body)
	}
	if len(list.Labs) != 1 || list.Labs[0].ID != "first-pod" {
		t.Errorf("labs served: %+v, want just first-pod", list.Labs)
	}
	if len(list.Errors) != 1 || list.Errors[0].Line == 0 || !strings.Contains(list.Errors[0].File, "02-unknown-check-kind") {
		t.Errorf("errors listed: %+v, want the bad lab's file and line", list.Errors)
	}
	// The good lab still checks against the cluster.
	if r := tc.checkStep(t, "first-pod", "01-run", time.Now()); r.Passed || len(r.Checks) == 0 {
		t.Errorf("first-pod's first step before anything ran: %+v", r)
	}
	// A --labs-dir that is not there stops start-up with a clear message.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg, err := wheelhouse(ctx, "up", "--data-dir", shortTempDir(t), "--labs-dir", filepath.Join(labsDir, "nope")).CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "--labs-dir") {
		t.Errorf("up with a missing --labs-dir: err=%v\n%s", err, msg)
	}
}
