// Package ui runs the browser app's unit tests: the page's pure logic
// (the teaching store, the event ring, frame validation) tested by Node's
// own runner on the same ES modules the page loads, with no build step.
// It is a Go test so that the one test command (go test ./...) runs them.
package ui

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestBrowserModules(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed: the browser modules' tests need Node.js 18 or later (apt-get install nodejs)")
		}
		t.Skip("node is not installed (apt-get install nodejs); skipping the browser modules' tests")
	}
	cmd := exec.Command(node, "--test", ".")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test test/ui:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
	if !strings.Contains(string(out), "# fail 0") || strings.Contains(string(out), "# pass 0\n") {
		t.Fatalf("node --test ran no test or reported failures")
	}
}
