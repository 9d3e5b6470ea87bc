package shell

import "testing"

func TestParseErrors(t *testing.T) {
	for _, src := range []string{"if true; then echo", "echo 'x", "while true; do echo", "done", "echo $((1+)", "( echo", "| echo"} {
		if _, err := parseScript(src); err == nil {
			t.Errorf("parseScript(%q) succeeded, want a syntax error", src)
		}
	}
	for _, src := range []string{"", "# comment only", "echo a # trailing", "while true\ndo\n  echo x\ndone", "for i in 1 2; do :; done", "a=1 b=2", "echo ${X:-a b}", "echo \\\n  continued"} {
		if _, err := parseScript(src); err != nil {
			t.Errorf("parseScript(%q) = %v", src, err)
		}
	}
}
