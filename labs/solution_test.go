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
	want := []SolutionSection{
		{Step: "01-run", Line: 5, Script: preamble + "kubectl run nginx --image nginx\n",
			Parts: []string{preamble + "kubectl run nginx --image nginx\n"}},
		{Step: "02-wait", Line: 7, Restart: true,
			Script: preamble + "wait_pod nginx\n# wheelhouse: restart\nwait_pod nginx\n# wheelhouse: restart\necho done\n",
			Parts: []string{
				preamble + "wait_pod nginx\n# wheelhouse: restart\n",
				preamble + "wait_pod nginx\n# wheelhouse: restart\n",
				preamble + "echo done\n",
			}},
		{Step: "03-last", Line: 13, Script: preamble, Parts: []string{preamble}},
	}
	if len(sections) != len(want) {
		t.Fatalf("%d sections, want %d: %+v", len(sections), len(want), sections)
	}
	for i := range want {
		got := sections[i]
		if got.Step != want[i].Step || got.Line != want[i].Line || got.Script != want[i].Script ||
			got.Restart != want[i].Restart || !slices.Equal(got.Parts, want[i].Parts) {
			t.Errorf("section %d:\n got %#v\nwant %#v", i, got, want[i])
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
