package labs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplitSolution(t *testing.T) {
	script := `#!/bin/sh
set -eu
wait_pod() { kubectl wait --for=condition=Ready "pod/$1"; }

# step: 01-run
kubectl run nginx --image nginx
  #   step:   02-wait  
wait_pod nginx
# wheelhouse: restart
wait_pod nginx
# wheelhouse: restart
echo done
# step: 03-last
`
	sections, err := SplitSolution(script)
	if err != nil {
		t.Fatal(err)
	}
	preamble := "#!/bin/sh\nset -eu\nwait_pod() { kubectl wait --for=condition=Ready \"pod/$1\"; }\n\n"
	want := []struct {
		step    string
		line    int
		restart bool
		// script is the whole section, restart lines included, after the
		// preamble.
		script string
		parts  []string
	}{
		{"01-run", 5, false, "kubectl run nginx --image nginx\n",
			[]string{preamble + "kubectl run nginx --image nginx\n"}},
		// Each restart line ends a part, where it stays as a comment, and
		// the next part starts with the preamble again.
		{"02-wait", 7, true, "wait_pod nginx\n# wheelhouse: restart\nwait_pod nginx\n# wheelhouse: restart\necho done\n",
			[]string{
				preamble + "wait_pod nginx\n# wheelhouse: restart\n",
				preamble + "wait_pod nginx\n# wheelhouse: restart\n",
				preamble + "echo done\n",
			}},
		{"03-last", 13, false, "", []string{preamble}},
	}
	if len(sections) != len(want) {
		t.Fatalf("%d sections, want %d: %+v", len(sections), len(want), sections)
	}
	for i, w := range want {
		got := sections[i]
		if got.Step != w.step || got.Line != w.line || (len(got.Parts) > 1) != w.restart || !slices.Equal(got.Parts, w.parts) {
			t.Errorf("section %d:\n got %#v\nwant %+v", i, got, w)
		}
		// Every part starts with the preamble, and the rest of the parts,
		// in order, are the section's lines.
		var rest strings.Builder
		for j, p := range got.Parts {
			body, ok := strings.CutPrefix(p, preamble)
			if !ok {
				t.Errorf("section %d part %d does not start with the preamble: %q", i, j, p)
			}
			rest.WriteString(body)
		}
		if rest.String() != w.script {
			t.Errorf("section %d's parts hold %q after the preamble, want %q", i, rest.String(), w.script)
		}
	}
}

func TestSplitSolutionErrors(t *testing.T) {
	for _, tc := range []struct {
		script string
		line   int
		msg    string
	}{
		{"set -e\nkubectl get pods\n", 1, "no sections"},
		{"# step: a\ntrue\n# step: a\n", 3, "a second section for step a (the first is at line 1)"},
		{"set -e\n# wheelhouse: restart\n# step: a\n", 2, "restart line before the first"},
		{"# step:\n", 1, "should name one step"},
		{"# step: a b\n", 1, "should name one step"},
	} {
		_, err := SplitSolution(tc.script)
		var se *SolutionError
		if !errors.As(err, &se) || se.Line != tc.line || !strings.Contains(se.Message, tc.msg) {
			t.Errorf("SplitSolution(%q): %v, want line %d: …%s…", tc.script, err, tc.line, tc.msg)
		}
	}
}
