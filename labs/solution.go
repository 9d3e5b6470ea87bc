package labs

import (
	"fmt"
	"regexp"
	"strings"
)

// SolutionSection is the part of a lab's solution.sh for one step.
type SolutionSection struct {
	// Step is the stem the "# step: <stem>" line names.
	Step string
	// Line is that line's number in solution.sh (from 1).
	Line int
	// Script is the preamble (everything before the first "# step:"
	// line) followed by the section's lines: a script that runs alone.
	Script string
	// Restart is true if the section has a "# wheelhouse: restart" line:
	// the harness restarts Wheelhouse there.
	Restart bool
	// Parts is the section split at its restart lines, each part with
	// the preamble, so the harness can run a part, restart, and run the
	// next. It is [Script] when Restart is false.
	Parts []string
}

// SolutionError is a problem in solution.sh at a line.
type SolutionError struct {
	Line    int
	Message string
}

func (e *SolutionError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

var (
	stepMarker    = regexp.MustCompile(`^#\s*step:(.*)$`)
	restartMarker = regexp.MustCompile(`^#\s*wheelhouse:\s*restart$`)
)

// SplitSolution splits a solution script into its steps' sections, in the
// order they appear, at lines "# step: <stem>". Text before the first such
// line is a preamble ("set -eu", helper functions) put in front of every
// section. It is an error to have no sections, a section twice, or a
// restart line in the preamble.
func SplitSolution(script string) ([]SolutionSection, error) {
	lines := strings.SplitAfter(script, "\n")
	var (
		preamble strings.Builder
		sections []SolutionSection
		parts    []string // the current section's parts (scripts are small)
		seen     = map[string]int{}
	)
	finish := func() {
		if len(sections) == 0 {
			return
		}
		s := &sections[len(sections)-1]
		var whole strings.Builder
		whole.WriteString(preamble.String())
		for i := range parts {
			body := parts[i]
			s.Parts = append(s.Parts, preamble.String()+body)
			whole.WriteString(body)
		}
		s.Script = whole.String()
	}
	for i, line := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if m := stepMarker.FindStringSubmatch(trimmed); m != nil {
			stem := strings.TrimSpace(m[1])
			if stem == "" || strings.ContainsAny(stem, " \t") {
				return nil, &SolutionError{n, fmt.Sprintf("%q should name one step, e.g. # step: 01-run", trimmed)}
			}
			if first, dup := seen[stem]; dup {
				return nil, &SolutionError{n, fmt.Sprintf("a second section for step %s (the first is at line %d)", stem, first)}
			}
			seen[stem] = n
			finish()
			sections = append(sections, SolutionSection{Step: stem, Line: n})
			parts = []string{""}
			continue
		}
		if restartMarker.MatchString(trimmed) {
			if len(sections) == 0 {
				return nil, &SolutionError{n, "a restart line before the first # step: line (restarts belong to a step's section)"}
			}
			sections[len(sections)-1].Restart = true
			// The line stays in Script, where it is a comment, and splits
			// Parts.
			parts[len(parts)-1] += line
			parts = append(parts, "")
			continue
		}
		if len(sections) == 0 {
			preamble.WriteString(line)
		} else {
			parts[len(parts)-1] += line
		}
	}
	finish()
	if len(sections) == 0 {
		return nil, &SolutionError{1, "no sections: start each step's commands with a line # step: <step stem>"}
	}
	return sections, nil
}
