package shell

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// runInteractive reads commands a line at a time, as an interactive ash
// does on a terminal: it prompts, runs each command as soon as its line is
// complete, and ends with "exit N" or end-of-file (Ctrl-D). Ctrl-C ends
// the command in the foreground, not the shell; a syntax error is
// reported and the shell reads on.
func (sh *shell) runInteractive(opts []string) int {
	p := sh.p
	stdin := p.IO.In
	if stdin == nil {
		return 0 // no input: end-of-file at once
	}
	if p.Term != nil {
		// Until a line runs, Ctrl-C only clears what is typed.
		p.Term.SetForeground(nil)
	}
	// The interpreter has no stdin of its own: the parser reads the
	// lines, and each command reads what is typed only when it reads
	// (exec), so nothing is read ahead of the prompt.
	r, closeStdin, err := sh.newRunner(opts, nil, nil)
	if err != nil {
		fmt.Fprintf(p.IO.Err, "%s: %v\n", sh.name, err)
		return 2
	}
	defer closeStdin()
	ctx := p.Context()
	// Each line's context ends with the shell (the session's hang-up),
	// or earlier on Ctrl-C; background jobs started on a line run until
	// then.
	var lines []context.CancelFunc
	defer func() {
		for _, end := range lines {
			end()
		}
	}()
	var last error
	parser := syntax.NewParser(syntax.Variant(syntax.LangPOSIX))
	fmt.Fprintf(p.IO.Out, "%s", sh.prompt(r))
	// runLine runs one complete line; false ends the shell.
	runLine := func(stmts []*syntax.Stmt) bool {
		// One context for the line: Ctrl-C abandons all of it.
		lineCtx, interrupt := context.WithCancel(ctx)
		lines = append(lines, interrupt)
		if p.Term != nil {
			p.Term.SetForeground(interrupt)
			defer p.Term.SetForeground(nil)
		}
		for _, st := range stmts {
			if lineCtx.Err() != nil {
				break
			}
			sh.instrument(st)
			last = r.Run(lineCtx, st)
			if ctx.Err() != nil || r.Exited() {
				return false
			}
			var status interp.ExitStatus
			if last != nil && !errors.As(last, &status) && lineCtx.Err() == nil {
				fmt.Fprintf(p.IO.Err, "%s: %v\n", sh.name, last)
			}
		}
		return true
	}
	for ended := false; !ended; {
		ended = true
		for stmts, err := range parser.InteractiveSeq(stdin) {
			if err != nil {
				var pe syntax.ParseError
				if errors.As(err, &pe) && ctx.Err() == nil {
					// Reported, and the shell reads on with a new parse.
					sh.syntaxError(p.IO.Err, err)
					fmt.Fprintf(p.IO.Out, "%s", sh.prompt(r))
					ended = false
				}
				break
			}
			if parser.Incomplete() {
				fmt.Fprintf(p.IO.Out, "> ")
				continue
			}
			if !runLine(stmts) {
				break
			}
			fmt.Fprintf(p.IO.Out, "%s", sh.prompt(r))
		}
	}
	if p.Machine.Killed() {
		return machine.ExitKilled
	}
	if !r.Exited() && sh.dialect == "bash" {
		fmt.Fprintf(p.IO.Out, "exit\n")
	}
	return sh.status(last)
}

// prompt is PS1 as the image's shell shows it for its user: busybox ash's
// "\w \$ " ("/ # "), dash's "# ", bash's "root@host:/# " as Debian's
// bashrc sets it. A PS1 the learner set is shown with its \u, \h, \w and
// \$ replaced.
func (sh *shell) prompt(r *interp.Runner) string {
	p := sh.p
	dir := r.Dir
	if dir == "/root" || strings.HasPrefix(dir, "/root/") {
		dir = "~" + strings.TrimPrefix(dir, "/root")
	}
	mark := "#"
	if p.User != "" && p.User != "root" {
		mark = "$"
	}
	if ps1 := r.Vars["PS1"]; ps1.IsSet() {
		return strings.NewReplacer(`\u`, p.User, `\h`, p.Machine.Hostname, `\w`, dir, `\$`, mark).Replace(ps1.String())
	}
	switch sh.dialect {
	case "bash":
		return p.User + "@" + p.Machine.Hostname + ":" + dir + mark + " "
	case "dash":
		return mark + " "
	}
	return dir + " " + mark + " "
}
