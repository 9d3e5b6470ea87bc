package labs

import (
	"slices"
	"testing"
)

// builtinLabIDs are the built-in labs, in the order the UI lists them.
var builtinLabIDs = []string{
	"components",
	"kubectl-run",
	"etcd",
	"scheduler",
	"controller-manager",
	"kubelet-runtime",
	"kubectl-kubeconfig",
	"services-kube-proxy",
	"high-availability",
}

// The built-in labs are complete: all eight load without an error or a
// warning, speak both languages everywhere, can be checked, and have a
// solution for every step (which the cluster test in cmd/wheelhouse runs).
func TestBuiltinLabsAreComplete(t *testing.T) {
	cat, errs := LoadBuiltin()
	for _, e := range errs {
		t.Errorf("load error: %v", e)
	}
	for _, w := range cat.Warnings {
		t.Errorf("load warning: %v", w)
	}
	var ids []string
	for _, l := range cat.Labs {
		ids = append(ids, l.ID)
	}
	if !slices.Equal(ids, builtinLabIDs) {
		t.Fatalf("built-in labs are %v, want %v", ids, builtinLabIDs)
	}
	for _, l := range cat.Labs {
		bilingual(t, l.Dir+" title", l.Title)
		bilingual(t, l.Dir+" summary", l.Summary)
		if len(l.Steps) == 0 {
			t.Errorf("%s has no steps", l.Dir)
		}
		for _, s := range l.Steps {
			where := l.Dir + "/" + s.ID
			bilingual(t, where+" title", s.Title)
			bilingual(t, where+" goal", s.Goal)
			bilingual(t, where+" text", s.HTML)
			for _, h := range s.Hints {
				bilingual(t, where+" hint", h)
			}
			if len(s.Checks) == 0 {
				t.Errorf("%s has no checks", where)
			}
			for _, c := range s.Checks {
				bilingual(t, where+" check", c.Description)
			}
		}
		var solved []string
		for _, sec := range l.Solution {
			solved = append(solved, sec.Step)
		}
		var steps []string
		for _, s := range l.Steps {
			steps = append(steps, s.ID)
		}
		if !slices.Equal(solved, steps) {
			t.Errorf("%s/solution.sh has sections %v, want one per step in order: %v", l.Dir, solved, steps)
		}
	}
}

// The browser test types this exact command into the terminal and expects
// the first step of the kubectl-run lab to turn green on it alone.
func TestKubectlRunLabStartsWithTheBookCommand(t *testing.T) {
	cat, _ := LoadBuiltin()
	lab := cat.Lab("kubectl-run")
	if lab == nil || len(lab.Steps) == 0 {
		t.Fatal("no kubectl-run lab")
	}
	const want = "kubectl run nginx --image nginx --restart Never"
	if cmds := lab.Steps[0].Commands; len(cmds) == 0 || cmds[0] != want {
		t.Errorf("first step's commands are %q, want the first to be %q", cmds, want)
	}
}

func bilingual(t *testing.T, what string, text Text) {
	t.Helper()
	if text.EN == "" || text.ZH == "" {
		t.Errorf("%s lacks English or Chinese: %+v", what, text)
	}
}

// Only the high-availability lab needs a topology of its own.
func TestLabTopologies(t *testing.T) {
	cat, _ := LoadBuiltin()
	for _, l := range cat.Labs {
		want := ""
		if l.ID == "high-availability" {
			want = "ha"
		}
		if l.Topology != want {
			t.Errorf("lab %s needs topology %q, want %q", l.ID, l.Topology, want)
		}
	}
}
