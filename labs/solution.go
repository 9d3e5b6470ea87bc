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
	// Parts are the section's scripts: its lines split after each
	// "# wheelhouse: restart" line (which stays, a comment, at the end of
	// the part before it), each part with the preamble in front so that
	// it runs alone. The harness runs a part, restarts Wheelhouse, and
	// runs the next; a section with no restart line is one part.
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
// part of every section. It is an error to have no sections, a section twice, or a
// restart line in the preamble.
func SplitSolution(script string) ([]SolutionSection, error) {
	var (
		// preamble is complete when the first section starts, since it is
		// everything before it.
		preamble string
		sections []SolutionSection
		seen     = map[string]int{}
	)
	for i, line := range strings.SplitAfter(script, "\n") {
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
			sections = append(sections, SolutionSection{Step: stem, Line: n, Parts: []string{preamble}})
			continue
		}
		if len(sections) == 0 {
			if restartMarker.MatchString(trimmed) {
				return nil, &SolutionError{n, "a restart line before the first # step: line (restarts belong to a step's section)"}
			}
			preamble += line
			continue
		}
		// Scripts are small: appending to strings is fine.
		s := &sections[len(sections)-1]
		s.Parts[len(s.Parts)-1] += line
		if restartMarker.MatchString(trimmed) {
			s.Parts = append(s.Parts, preamble)
		}
	}
	if len(sections) == 0 {
		return nil, &SolutionError{1, "no sections: start each step's commands with a line # step: <step stem>"}
	}
	return sections, nil
}
