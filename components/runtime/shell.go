package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The shell interpreter. It runs inside a simulated container (a machine)
// and follows ash/dash semantics closely enough that learners' one-liners
// behave as they would in a real pod, including the less obvious parts:
// PID 1 ignores SIGTERM unless a trap is set, a trapped signal only runs
// after the foreground command ends, and "set -e" stops at the first
// failing command.

const (
	// minLoopIteration bounds a loop that never sleeps ("while true; do
	// echo x; done") to 100 iterations per second, so a learner's busy loop
	// costs neither a CPU core nor an unbounded log file.
	minLoopIteration = 10 * time.Millisecond
	maxSubstOutput   = 1 << 20
	maxShellDepth    = 64
)

type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

type loopControl struct {
	brk bool
	n   int
}

func (e *loopControl) Error() string { return "loop control outside a loop" }

type varTable struct {
	order []string
	vals  map[string]*shVar
}

type shVar struct {
	value    string
	exported bool
}

func newVarTable() *varTable { return &varTable{vals: map[string]*shVar{}} }

func (v *varTable) get(name string) (string, bool) {
	if x, ok := v.vals[name]; ok {
		return x.value, true
	}
	return "", false
}

func (v *varTable) set(name, value string) {
	if x, ok := v.vals[name]; ok {
		x.value = value
		return
	}
	v.order = append(v.order, name)
	v.vals[name] = &shVar{value: value}
}

func (v *varTable) setExported(name, value string) {
	v.set(name, value)
	v.vals[name].exported = true
}

func (v *varTable) unset(name string) {
	if _, ok := v.vals[name]; !ok {
		return
	}
	delete(v.vals, name)
	v.order = slices.DeleteFunc(v.order, func(s string) bool { return s == name })
}

// environ returns the exported variables in the order they were first
// set, which is the order `env` prints them in a real container.
func (v *varTable) environ() []string {
	var out []string
	for _, n := range v.order {
		if x := v.vals[n]; x.exported {
			out = append(out, n+"="+x.value)
		}
	}
	return out
}

func (v *varTable) clone() *varTable {
	c := &varTable{order: slices.Clone(v.order), vals: make(map[string]*shVar, len(v.vals))}
	for k, x := range v.vals {
		cp := *x
		c.vals[k] = &cp
	}
	return c
}

// envTable builds the environment table a new process starts with.
func envTable(env []string) *varTable {
	t := newVarTable()
	for _, kv := range env {
		k, val, _ := strings.Cut(kv, "=")
		t.setExported(k, val)
	}
	return t
}

type job struct {
	pid  int
	done chan struct{}
	code int
}

type shell struct {
	m         *machine
	name      string // $0 as the shell reports errors with it
	dash      bool   // dash prefixes "not found" with the line number
	bash      bool
	pid       int
	pid1      bool
	vars      *varTable
	params    []string
	status    int
	traps     map[signal]string
	jobs      []*job
	lastBg    int
	errexit   bool
	xtrace    bool
	nounset   bool
	depth     int
	loopDepth int
	condDepth int
	line      int
}

func newShell(p *process, name string) *shell {
	base := baseName(name)
	return &shell{
		depth:  p.depth,
		m:      p.m,
		name:   name,
		dash:   base == "sh" && p.m.image.os.shell == "dash" || base == "dash",
		bash:   base == "bash",
		pid:    p.pid,
		pid1:   p.pid1,
		vars:   p.env.clone(),
		params: []string{name},
		traps:  map[signal]string{},
	}
}

func (sh *shell) subshell() *shell {
	c := *sh
	c.vars = sh.vars.clone()
	c.params = slices.Clone(sh.params)
	c.traps = map[signal]string{}
	c.jobs = nil
	c.pid1 = false
	return &c
}

func (sh *shell) errorf(sio stdio, format string, args ...any) {
	fmt.Fprintf(sio.err, "%s: %s\n", sh.name, fmt.Sprintf(format, args...))
}

// runScript runs a whole script and returns the shell's exit status.
func (sh *shell) runScript(src string, sio stdio) int {
	l, err := parseScript(src)
	if err != nil {
		if sh.dash {
			fmt.Fprintf(sio.err, "%s: %d: %s\n", sh.name, 1, err)
		} else {
			sh.errorf(sio, "%s", err)
		}
		return 2
	}
	st, rerr := sh.runList(l, sio)
	return sh.finish(st, rerr, sio)
}

// finish turns the control-flow result into an exit status and reaps
// background jobs: in a container, everything dies with PID 1.
func (sh *shell) finish(code int, err error, sio stdio) int {
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if sh.m.killed() {
		return exitKilled
	}
	if action, ok := sh.traps[0]; ok && action != "" {
		delete(sh.traps, 0)
		sh.status = code
		if _, err := sh.eval(action, sio); errors.As(err, &ee) {
			code = ee.code
		}
	}
	return code
}

func (sh *shell) eval(src string, sio stdio) (int, error) {
	if sh.depth >= maxShellDepth {
		sh.errorf(sio, "eval: nested too deeply")
		return 2, nil
	}
	l, err := parseScript(src)
	if err != nil {
		sh.errorf(sio, "%s", err)
		return 2, nil
	}
	sh.depth++
	defer func() { sh.depth-- }()
	return sh.runList(l, sio)
}

func (sh *shell) runList(l *list, sio stdio) (int, error) {
	status := sh.status
	for _, item := range l.items {
		if sh.m.killed() {
			return exitKilled, &exitError{exitKilled}
		}
		if item.bg {
			sh.startJob(item.cmd, sio)
			status = 0
			sh.status = 0
		} else {
			st, err := sh.runAndOr(item.cmd, sio)
			status = st
			sh.status = st
			if err != nil {
				return st, err
			}
		}
		if err := sh.handleSignals(sio); err != nil {
			return sh.status, err
		}
	}
	return status, nil
}

// handleSignals runs trap actions for signals delivered to PID 1 while a
// foreground command was running. Without a trap, PID 1 ignores them.
func (sh *shell) handleSignals(sio stdio) error {
	if !sh.pid1 {
		return nil
	}
	for {
		select {
		case s := <-sh.m.sig:
			if err := sh.runTrap(s, sio); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (sh *shell) runTrap(s signal, sio stdio) error {
	action, ok := sh.traps[s]
	if !ok || action == "" {
		return nil
	}
	saved := sh.status
	_, err := sh.eval(action, sio)
	sh.status = saved
	return err
}

func (sh *shell) startJob(ao andOr, sio stdio) {
	sub := sh.subshell()
	j := &job{pid: sh.m.newPID(), done: make(chan struct{})}
	sh.jobs = append(sh.jobs, j)
	sh.lastBg = j.pid
	bgIO := stdio{in: strings.NewReader(""), out: sio.out, err: sio.err}
	started := sh.m.goJob(func() {
		defer close(j.done)
		st, err := sub.runAndOr(ao, bgIO)
		j.code = sub.finish(st, err, bgIO)
	})
	if !started {
		sh.errorf(sio, "can't fork: Resource temporarily unavailable")
		j.code = 2
		close(j.done)
	}
}

func (sh *shell) runAndOr(ao andOr, sio stdio) (int, error) {
	// "set -e" ignores every command of an and-or list but the last.
	run := func(pl pipeline, cond bool) (int, error) {
		if cond {
			sh.condDepth++
			defer func() { sh.condDepth-- }()
		}
		return sh.runPipeline(pl, sio)
	}
	st, err := run(ao.first, len(ao.rest) > 0)
	for i, part := range ao.rest {
		if err != nil {
			break
		}
		if (part.op == "&&") != (st == 0) {
			continue
		}
		st, err = run(part.pipe, i < len(ao.rest)-1)
	}
	return st, err
}

func (sh *shell) runPipeline(pl pipeline, sio stdio) (int, error) {
	if pl.negate {
		sh.condDepth++
	}
	var st int
	var err error
	if len(pl.cmds) == 1 {
		st, err = sh.runCommand(pl.cmds[0], sio)
	} else {
		st, err = sh.runPiped(pl.cmds, sio)
	}
	if pl.negate {
		sh.condDepth--
		if err == nil {
			if st == 0 {
				st = 1
			} else {
				st = 0
			}
		}
	}
	if err == nil && st != 0 && sh.errexit && sh.condDepth == 0 && !pl.negate {
		return st, &exitError{st}
	}
	return st, err
}

// runPiped runs the pipeline's commands one after the other, each reading
// the previous one's (bounded) output. Like ash, every element runs in a
// subshell, so assignments in a pipeline do not persist.
func (sh *shell) runPiped(cmds []command, sio stdio) (int, error) {
	var in io.Reader = sio.in
	st := 0
	for i, c := range cmds {
		sub := sh.subshell()
		cio := stdio{in: in, out: sio.out, err: sio.err}
		var buf *limitedBuffer
		if i < len(cmds)-1 {
			buf = &limitedBuffer{limit: maxSubstOutput}
			cio.out = buf
		}
		code, err := sub.runCommand(c, cio)
		code = sub.finish(code, err, cio)
		if sh.m.killed() {
			return exitKilled, &exitError{exitKilled}
		}
		st = code
		if buf != nil {
			in = bytes.NewReader(buf.Bytes())
		}
	}
	return st, nil
}

func (sh *shell) runCommand(c command, sio stdio) (int, error) {
	if sh.m.killed() {
		return exitKilled, &exitError{exitKilled}
	}
	if _, simple := c.(*simpleCmd); !simple {
		rio, ok := sh.applyRedirects(c.redirects(), sio)
		if !ok {
			return 1, nil
		}
		sio = rio
	}
	switch c := c.(type) {
	case *simpleCmd:
		return sh.runSimple(c, sio)
	case *loopCmd:
		return sh.runLoop(c, sio)
	case *forCmd:
		return sh.runFor(c, sio)
	case *ifCmd:
		for i, cond := range c.conds {
			sh.condDepth++
			st, err := sh.runList(&cond, sio)
			sh.condDepth--
			if err != nil {
				return st, err
			}
			if st == 0 {
				return sh.runList(&c.bodies[i], sio)
			}
		}
		if c.elseBody != nil {
			return sh.runList(c.elseBody, sio)
		}
		return 0, nil
	case *caseCmd:
		subject, _, err := sh.expandString(c.subject, sio)
		if err != nil {
			return 1, err
		}
		for _, it := range c.items {
			for _, pw := range it.patterns {
				pat, _, err := sh.expandString(pw, sio)
				if err != nil {
					return 1, err
				}
				if ok, _ := path.Match(pat, subject); ok || pat == subject {
					return sh.runList(&it.body, sio)
				}
			}
		}
		return 0, nil
	case *groupCmd:
		if !c.subshell {
			return sh.runList(&c.body, sio)
		}
		sub := sh.subshell()
		st, err := sub.runList(&c.body, sio)
		return sub.finish(st, err, sio), nil
	}
	return 0, nil
}

// throttle sleeps out the rest of minLoopIteration; it returns false when
// the container was killed meanwhile.
func (sh *shell) throttle(start time.Time) bool {
	if d := minLoopIteration - time.Since(start); d > 0 {
		return sh.m.sleep(d)
	}
	return !sh.m.killed()
}

func (sh *shell) runLoop(c *loopCmd, sio stdio) (int, error) {
	sh.loopDepth++
	defer func() { sh.loopDepth-- }()
	status := 0
	for {
		start := time.Now()
		sh.condDepth++
		st, err := sh.runList(&c.cond, sio)
		sh.condDepth--
		if err != nil {
			return st, err
		}
		if (st == 0) == c.until {
			return status, nil
		}
		st, err = sh.runList(&c.body, sio)
		status = st
		var lc *loopControl
		if errors.As(err, &lc) {
			if lc.n > 1 {
				lc.n--
				return status, lc
			}
			if lc.brk {
				return status, nil
			}
		} else if err != nil {
			return st, err
		}
		if !sh.throttle(start) {
			return exitKilled, &exitError{exitKilled}
		}
	}
}

func (sh *shell) runFor(c *forCmd, sio stdio) (int, error) {
	var items []string
	if c.hasIn {
		var err error
		if items, err = sh.expandWords(c.words, sio); err != nil {
			return 1, err
		}
	} else {
		items = slices.Clone(sh.params[1:])
	}
	sh.loopDepth++
	defer func() { sh.loopDepth-- }()
	status := 0
	for _, it := range items {
		start := time.Now()
		sh.vars.set(c.name, it)
		st, err := sh.runList(&c.body, sio)
		status = st
		var lc *loopControl
		if errors.As(err, &lc) {
			if lc.n > 1 {
				lc.n--
				return status, lc
			}
			if lc.brk {
				return status, nil
			}
		} else if err != nil {
			return st, err
		}
		if !sh.throttle(start) {
			return exitKilled, &exitError{exitKilled}
		}
	}
	return status, nil
}

func (sh *shell) runSimple(c *simpleCmd, sio stdio) (int, error) {
	sh.line = c.line
	args, err := sh.expandWords(c.args, sio)
	if err != nil {
		return 1, err
	}
	substStatus := -1
	values := make([]string, len(c.assigns))
	for i, a := range c.assigns {
		v, st, err := sh.expandString(a.value, sio)
		if err != nil {
			return 1, err
		}
		if st >= 0 {
			substStatus = st
		}
		values[i] = v
	}
	rio, ok := sh.applyRedirects(c.redirs, sio)
	if !ok {
		return 1, nil
	}
	if sh.xtrace && (len(args) > 0 || len(c.assigns) > 0) {
		var parts []string
		for i, a := range c.assigns {
			parts = append(parts, a.name+"="+values[i])
		}
		parts = append(parts, args...)
		fmt.Fprintf(rio.err, "+ %s\n", strings.Join(parts, " "))
	}
	for _, v := range values {
		if len(v) > maxVarBytes {
			sh.errorf(sio, "out of memory")
			return 2, &exitError{2}
		}
	}
	if len(args) == 0 {
		for i, a := range c.assigns {
			sh.vars.set(a.name, values[i])
		}
		if substStatus >= 0 {
			return substStatus, nil
		}
		return 0, nil
	}
	if b := sh.builtin(args[0]); b != nil {
		for i, a := range c.assigns {
			sh.vars.set(a.name, values[i])
		}
		return b(sh, args, rio)
	}
	env := sh.vars.clone()
	for i, a := range c.assigns {
		env.setExported(a.name, values[i])
	}
	return sh.external(args, env, rio, false)
}

// external runs a program from the image. exec replaces the shell, which
// matters for PID 1: an exec'd server receives the stop signal itself.
func (sh *shell) external(args []string, env *varTable, sio stdio, exec bool) (int, error) {
	prog, ok := sh.m.lookup(args[0])
	if !ok {
		switch {
		case sh.bash:
			fmt.Fprintf(sio.err, "%s: line %d: %s: command not found\n", sh.name, sh.line, args[0])
		case sh.dash:
			fmt.Fprintf(sio.err, "%s: %d: %s: not found\n", sh.name, sh.line, args[0])
		default:
			fmt.Fprintf(sio.err, "%s: %s: not found\n", sh.name, args[0])
		}
		return 127, nil
	}
	exported := newVarTable()
	for _, kv := range env.environ() {
		k, v, _ := strings.Cut(kv, "=")
		exported.setExported(k, v)
	}
	if sh.depth+1 >= maxShellDepth {
		sh.errorf(sio, "can't fork: Resource temporarily unavailable")
		return 2, nil
	}
	p := &process{m: sh.m, argv: args, env: exported, io: sio, depth: sh.depth + 1, user: sh.m.user}
	if exec {
		p.pid, p.pid1 = sh.pid, sh.pid1
	} else {
		p.pid = sh.m.newPID()
	}
	code := prog(p)
	if sh.m.killed() {
		return exitKilled, &exitError{exitKilled}
	}
	if exec {
		return code, &exitError{code}
	}
	return code, nil
}

// fileWriter is a redirection to a file: the file was created (or
// truncated) when the redirection was opened and each write appends.
type fileWriter struct {
	m    *machine
	path string
	errw io.Writer
}

func (w *fileWriter) Write(b []byte) (int, error) {
	if err := w.m.writeFile(w.path, b, true); err != nil {
		writef(w.errw, "sh: write error: %s\n", errText(err))
		return 0, err
	}
	return len(b), nil
}

// applyRedirects returns the command's stdio after its redirections.
func (sh *shell) applyRedirects(rs []redirect, sio stdio) (stdio, bool) {
	if len(rs) == 0 {
		return sio, true
	}
	fds := map[int]any{0: sio.in, 1: sio.out, 2: sio.err}
	for _, r := range rs {
		target, _, err := sh.expandString(r.target, sio)
		if err != nil {
			return sio, false
		}
		switch r.op {
		case ">&", "<&":
			n, err := strconv.Atoi(target)
			if err != nil || fds[n] == nil {
				if target == "-" {
					fds[r.fd] = nil
					continue
				}
				sh.errorf(sio, "%s: bad file descriptor", target)
				return sio, false
			}
			fds[r.fd] = fds[n]
		case "<":
			data, err := sh.m.readFile(sh.cwd(), target)
			if err != nil {
				sh.errorf(sio, "can't open '%s': %s", target, errText(err))
				return sio, false
			}
			fds[r.fd] = bytes.NewReader(data)
		default:
			w, err := sh.m.openWriter(sh.cwd(), target, r.op == ">>", sio)
			if err != nil {
				sh.errorf(sio, "can't create %s: %s", target, errText(err))
				return sio, false
			}
			fds[r.fd] = w
		}
	}
	out := stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard}
	if r, ok := fds[0].(io.Reader); ok {
		out.in = r
	}
	if w, ok := fds[1].(io.Writer); ok {
		out.out = w
	}
	if w, ok := fds[2].(io.Writer); ok {
		out.err = w
	}
	return out, true
}

func (sh *shell) cwd() string {
	if v, ok := sh.vars.get("PWD"); ok && v != "" {
		return v
	}
	return sh.m.workDir
}

// ---- expansion ----

func (sh *shell) param(name string) (string, bool) {
	switch name {
	case "?":
		return strconv.Itoa(sh.status), true
	case "$":
		return strconv.Itoa(sh.pid), true
	case "!":
		if sh.lastBg == 0 {
			return "", false
		}
		return strconv.Itoa(sh.lastBg), true
	case "#":
		return strconv.Itoa(len(sh.params) - 1), true
	case "@", "*":
		return strings.Join(sh.params[1:], " "), len(sh.params) > 1
	case "-":
		f := ""
		if sh.errexit {
			f += "e"
		}
		if sh.xtrace {
			f += "x"
		}
		if sh.nounset {
			f += "u"
		}
		return f, true
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < len(sh.params) {
			return sh.params[n], true
		}
		return "", false
	}
	return sh.vars.get(name)
}

// expandPart returns the text of one part; fields is set for "$@".
func (sh *shell) expandPart(p wordPart, sio stdio) (text string, fields []string, substStatus int, err error) {
	substStatus = -1
	switch p.kind {
	case partLit:
		return p.text, nil, -1, nil
	case partArith:
		expanded, _, err := sh.expandString(mustParseWordAll(p.text), sio)
		if err != nil {
			return "", nil, -1, err
		}
		n, aerr := sh.arith(expanded)
		if errors.Is(aerr, errDivZero) {
			sh.errorf(sio, "divide by zero")
			return "", nil, -1, &exitError{2}
		}
		if aerr != nil {
			sh.errorf(sio, "arithmetic syntax error")
			return "", nil, -1, &exitError{2}
		}
		return strconv.FormatInt(n, 10), nil, -1, nil
	case partSubst:
		sub := sh.subshell()
		sub.depth++
		if sub.depth > maxShellDepth {
			return "", nil, -1, &exitError{2}
		}
		buf := &limitedBuffer{limit: maxSubstOutput}
		st, serr := sub.runList(p.sub, stdio{in: sio.in, out: buf, err: sio.err})
		st = sub.finish(st, serr, stdio{in: sio.in, out: buf, err: sio.err})
		if sh.m.killed() {
			return "", nil, -1, &exitError{exitKilled}
		}
		return strings.TrimRight(buf.String(), "\n"), nil, st, nil
	}
	// partParam
	if p.op == "#" {
		v, _ := sh.param(p.text)
		return strconv.Itoa(len([]rune(v))), nil, -1, nil
	}
	v, set := sh.param(p.text)
	if p.quoted && p.text == "@" && p.op == "" {
		return "", slices.Clone(sh.params[1:]), -1, nil
	}
	if p.op == "" {
		if !set && sh.nounset && p.text != "@" && p.text != "*" {
			sh.errorf(sio, "%s: parameter not set", p.text)
			return "", nil, -1, &exitError{2}
		}
		return v, nil, -1, nil
	}
	empty := !set || (strings.HasPrefix(p.op, ":") && v == "")
	argText := func() (string, error) {
		if p.arg == nil {
			return "", nil
		}
		s, _, err := sh.expandString(*p.arg, sio)
		return s, err
	}
	switch strings.TrimPrefix(p.op, ":") {
	case "-":
		if empty {
			s, err := argText()
			return s, nil, -1, err
		}
	case "=":
		if empty {
			s, err := argText()
			if err == nil && isName(p.text) {
				sh.vars.set(p.text, s)
			}
			return s, nil, -1, err
		}
	case "+":
		if empty {
			return "", nil, -1, nil
		}
		s, err := argText()
		return s, nil, -1, err
	case "?":
		if empty {
			s, err := argText()
			if err != nil {
				return "", nil, -1, err
			}
			if s == "" {
				s = "parameter not set"
				if set {
					s = "parameter null or not set"
				}
			}
			sh.errorf(sio, "%s: %s", p.text, s)
			return "", nil, -1, &exitError{2}
		}
	}
	return v, nil, -1, nil
}

func mustParseWordAll(s string) word {
	p := &parser{src: s}
	defer func() { _ = recover() }()
	return p.readWordAll(false)
}

// expandString expands a word without field splitting (assignments,
// redirection targets). It also returns the status of the last command
// substitution, which becomes $? of a bare assignment.
func (sh *shell) expandString(w word, sio stdio) (string, int, error) {
	var b strings.Builder
	status := -1
	for _, p := range w.parts {
		text, fields, st, err := sh.expandPart(p, sio)
		if err != nil {
			return "", status, err
		}
		if st >= 0 {
			status = st
		}
		if fields != nil {
			text = strings.Join(fields, " ")
		}
		b.WriteString(text)
	}
	return b.String(), status, nil
}

// expandWords expands words into fields, splitting unquoted expansion
// results on blanks as the shell does.
func (sh *shell) expandWords(ws []word, sio stdio) ([]string, error) {
	var out []string
	for _, w := range ws {
		var cur strings.Builder
		has := false
		flush := func() {
			if has {
				out = append(out, cur.String())
			}
			cur.Reset()
			has = false
		}
		for _, p := range w.parts {
			text, fields, _, err := sh.expandPart(p, sio)
			if err != nil {
				return nil, err
			}
			switch {
			case fields != nil:
				for i, f := range fields {
					if i > 0 {
						flush()
					}
					cur.WriteString(f)
					has = true
				}
			case p.kind == partLit || p.quoted:
				cur.WriteString(text)
				has = has || p.quoted || text != ""
			default:
				if text == "" {
					continue
				}
				if strings.ContainsAny(text[:1], " \t\n") {
					flush()
				}
				pieces := strings.Fields(text)
				for i, piece := range pieces {
					if i > 0 {
						flush()
					}
					cur.WriteString(piece)
					has = true
				}
				if strings.ContainsAny(text[len(text)-1:], " \t\n") {
					flush()
				}
			}
		}
		flush()
	}
	return out, nil
}

type limitedBuffer struct {
	bytes.Buffer
	limit int
	mu    sync.Mutex
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// ---- arithmetic ----

type arithParser struct {
	sh   *shell
	toks []string
	pos  int
}

func (sh *shell) arith(expr string) (int64, error) {
	toks, err := arithTokens(expr)
	if err != nil {
		return 0, err
	}
	ap := &arithParser{sh: sh, toks: toks}
	if len(toks) == 0 {
		return 0, nil
	}
	v, err := ap.binary(0)
	if err != nil {
		return 0, err
	}
	if ap.pos != len(toks) {
		return 0, errors.New("syntax error")
	}
	return v, nil
}

func arithTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isAlnum(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case c == '_' || isAlnum(c):
			j := i
			for j < len(s) && (s[j] == '_' || isAlnum(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case "<=", ">=", "==", "!=", "&&", "||", "<<", ">>":
				toks = append(toks, two)
				i += 2
				continue
			}
			if strings.IndexByte("+-*/%()<>!&|^~", c) < 0 {
				return nil, fmt.Errorf("bad character %q", c)
			}
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

func isAlnum(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

var errDivZero = errors.New("divide by zero")

func arithPrec(op string) int {
	switch op {
	case "||":
		return 1
	case "&&":
		return 2
	case "|":
		return 3
	case "^":
		return 4
	case "&":
		return 5
	case "==", "!=":
		return 6
	case "<", ">", "<=", ">=":
		return 7
	case "<<", ">>":
		return 8
	case "+", "-":
		return 9
	case "*", "/", "%":
		return 10
	}
	return 0
}

func (ap *arithParser) binary(minPrec int) (int64, error) {
	lhs, err := ap.unary()
	if err != nil {
		return 0, err
	}
	for ap.pos < len(ap.toks) {
		op := ap.toks[ap.pos]
		prec := arithPrec(op)
		if prec == 0 || prec <= minPrec {
			break
		}
		ap.pos++
		rhs, err := ap.binary(prec)
		if err != nil {
			return 0, err
		}
		b2i := func(b bool) int64 {
			if b {
				return 1
			}
			return 0
		}
		switch op {
		case "+":
			lhs += rhs
		case "-":
			lhs -= rhs
		case "*":
			lhs *= rhs
		case "/", "%":
			if rhs == 0 {
				return 0, errDivZero
			}
			if op == "/" {
				lhs /= rhs
			} else {
				lhs %= rhs
			}
		case "<":
			lhs = b2i(lhs < rhs)
		case ">":
			lhs = b2i(lhs > rhs)
		case "<=":
			lhs = b2i(lhs <= rhs)
		case ">=":
			lhs = b2i(lhs >= rhs)
		case "==":
			lhs = b2i(lhs == rhs)
		case "!=":
			lhs = b2i(lhs != rhs)
		case "&&":
			lhs = b2i(lhs != 0 && rhs != 0)
		case "||":
			lhs = b2i(lhs != 0 || rhs != 0)
		case "&":
			lhs &= rhs
		case "|":
			lhs |= rhs
		case "^":
			lhs ^= rhs
		case "<<":
			lhs <<= uint64(rhs & 63)
		case ">>":
			lhs >>= uint64(rhs & 63)
		}
	}
	return lhs, nil
}

func (ap *arithParser) unary() (int64, error) {
	if ap.pos >= len(ap.toks) {
		return 0, errors.New("syntax error")
	}
	t := ap.toks[ap.pos]
	ap.pos++
	switch t {
	case "-", "+", "!", "~":
		v, err := ap.unary()
		switch t {
		case "-":
			v = -v
		case "!":
			if v == 0 {
				v = 1
			} else {
				v = 0
			}
		case "~":
			v = ^v
		}
		return v, err
	case "(":
		v, err := ap.binary(0)
		if err != nil {
			return 0, err
		}
		if ap.pos >= len(ap.toks) || ap.toks[ap.pos] != ")" {
			return 0, errors.New("syntax error")
		}
		ap.pos++
		return v, nil
	}
	if t[0] >= '0' && t[0] <= '9' {
		return strconv.ParseInt(t, 0, 64)
	}
	if isName(t) {
		v, _ := ap.sh.vars.get(t)
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, nil
		}
		return strconv.ParseInt(v, 0, 64)
	}
	return 0, errors.New("syntax error")
}
