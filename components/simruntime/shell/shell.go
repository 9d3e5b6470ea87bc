// Package shell is the shells of the simulated images (sh, ash, dash,
// bash): mvdan.cc/sh's parser in POSIX mode and its interpreter,
// connected to the machine: commands run as the image's simulated
// programs, files are the container's, and nothing ever reaches the
// host's programs or files outside the container's volumes.
//
// What the interpreter does not know about, because it is specific to a
// container, is added here: PID 1 ignores signals it has no trap for,
// and a trapped signal runs its action once the foreground command ends;
// the stop signal interrupts "wait"; busy loops are throttled; and the
// messages learners compare with a real cluster are worded as ash (or
// dash, or bash) words them.
//
// The additions live partly in the syntax tree: before a script runs,
// instrument inserts calls to internal commands (named with the internal
// prefix, which a CallHandler routes to the ExecHandler) where the
// interpreter offers no hook, such as at each loop iteration.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

const (
	// minLoopIteration bounds a loop that never sleeps ("while true; do
	// echo x; done") to 100 iterations per second, so a learner's busy loop
	// costs neither a CPU core nor an unbounded log file.
	minLoopIteration = 10 * time.Millisecond
	// maxShellDepth bounds shells running shells; maxStackFrames bounds
	// recursion within one (functions, eval), before Go's stack would.
	maxShellDepth  = 64
	maxStackFrames = 4000
	// maxVarBytes bounds a shell's variables, as a container's memory
	// limit would.
	maxVarBytes = 4 << 20

	internal    = "__wheelhouse_"
	subshellVar = internal + "subshell"
)

// A shell is one sh process. Background jobs and pipelines run its
// handlers concurrently, so what they change is guarded by mu.
type shell struct {
	p       *machine.Process
	name    string // $0, which prefixes the shell's own messages
	dialect string // "ash", "dash" or "bash": how messages are worded
	diag    *diagWriter

	mu       sync.Mutex
	traps    map[machine.Signal]string
	exitTrap string
	nextTick time.Time
	reaping  bool
	resumed  bool
	// interactive is set for a shell reading commands from a terminal:
	// each line runs with a context of its own, which Ctrl-C ends.
	interactive bool
}

// Run is sh/ash/dash/bash: "-c script", a script file, or commands
// from stdin. A container's stdin is closed unless the pod asked for one,
// so a bare "sh" as PID 1 reads end-of-file and exits 0 at once.
func Run(p *machine.Process) int {
	sh := &shell{p: p, name: p.Argv[0], dialect: "ash", traps: map[machine.Signal]string{}}
	switch base := machine.BaseName(p.Argv[0]); {
	case base == "bash":
		sh.dialect = "bash"
	case base == "dash" || base == "sh" && p.Machine.Image.OS.Shell == "dash":
		sh.dialect = "dash"
	}
	args := p.Argv[1:]
	var opts []string
	cmdMode := false
	for len(args) > 0 && len(args[0]) > 1 && (args[0][0] == '-' || args[0][0] == '+') {
		a := args[0]
		args = args[1:]
		if a == "--" {
			break
		}
		for _, c := range a[1:] {
			switch c {
			case 'c':
				cmdMode = true
			case 'i':
				sh.interactive = true
			case 's', 'l':
				// Commands from stdin, login: nothing differs for a
				// simulated shell.
			case 'o':
				if len(args) > 0 {
					opts = append(opts, a[:1]+"o", args[0])
					args = args[1:]
				}
			default:
				opts = append(opts, a[:1]+string(c))
			}
		}
	}
	var src string
	var params []string
	switch {
	case cmdMode:
		if len(args) == 0 {
			fmt.Fprintf(p.IO.Err, "%s: -c requires an argument\n", p.Argv[0])
			return 2
		}
		src = args[0]
		if len(args) > 1 {
			sh.name, params = args[1], args[2:]
		}
	case len(args) > 0:
		data, err := p.Machine.ReadFile(p.Cwd(), args[0])
		if err != nil {
			if sh.dialect == "bash" {
				fmt.Fprintf(p.IO.Err, "%s: %s: %s\n", p.Argv[0], args[0], machine.ErrText(err))
				return 127
			}
			fmt.Fprintf(p.IO.Err, "%s: can't open '%s': %s\n", p.Argv[0], args[0], machine.ErrText(err))
			return 2
		}
		src, sh.name, params = string(data), args[0], args[1:]
	case sh.interactive || p.Term != nil:
		// On a terminal (kubectl exec -it … -- sh), or with -i: a prompt,
		// and each command as soon as its line is typed.
		sh.interactive = true
		return sh.runInteractive(opts)
	default:
		data, _ := io.ReadAll(p.IO.In)
		if p.Machine.Killed() {
			return machine.ExitKilled
		}
		src = string(data)
	}
	return sh.run(src, opts, params)
}

// parseScript parses a script as POSIX sh.
func parseScript(src string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(src), "")
}

func (sh *shell) run(src string, opts, params []string) int {
	p := sh.p
	file, err := parseScript(src)
	if err != nil {
		sh.syntaxError(p.IO.Err, err)
		return 2
	}
	file.Name = sh.name
	sh.instrument(file)
	// A signal that arrives during the last command is handled before
	// the shell exits, at this final check.
	file.Stmts = append(file.Stmts, internalStmt("tick"))

	r, closeStdin, err := sh.newRunner(opts, params, p.IO.In)
	if err != nil {
		fmt.Fprintf(p.IO.Err, "%s: %v\n", sh.name, err)
		return 2
	}
	defer closeStdin()
	err = r.Run(p.Context(), file)
	sh.reap(r)
	if p.Context().Err() != nil {
		// Killed with its container, or Ctrl-C on its terminal.
		return p.Interrupted()
	}
	return sh.status(err)
}

// newRunner makes the shell's interpreter reading in (nil: none);
// closeStdin is to be called when the shell ends.
func (sh *shell) newRunner(opts, params []string, in io.Reader) (r *interp.Runner, closeStdin func(), err error) {
	p := sh.p
	stdin, closeStdin, err := shellStdin(in)
	if err != nil {
		return nil, nil, err
	}
	sh.diag = &diagWriter{w: p.IO.Err, name: sh.name}
	r, err = interp.New(
		interp.Env(sh.environ()),
		interp.StdIO(stdin, p.IO.Out, sh.diag),
		interp.Params(append(opts, append([]string{"--"}, params...)...)...),
		interp.CallHandler(sh.call),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			// The next handler would run a host program: never called.
			return sh.exec
		}),
		interp.OpenHandler(sh.open),
		interp.StatHandler(func(_ context.Context, name string, _ bool) (fs.FileInfo, error) {
			return p.Machine.Stat(name)
		}),
		interp.ReadDirHandler2(func(_ context.Context, dir string) ([]fs.DirEntry, error) {
			return p.Machine.ReadDir(dir)
		}),
		interp.AccessHandler(func(_ context.Context, name string, _ interp.AccessMode) error {
			_, err := p.Machine.Stat(name)
			return err
		}),
	)
	if err != nil {
		closeStdin()
		return nil, nil, err
	}
	// The Dir option would look the directory up on the host.
	r.Dir = p.Cwd()
	return r, closeStdin, nil
}

// status is the shell's exit status after the interpreter's err.
func (sh *shell) status(err error) int {
	p := sh.p
	var status interp.ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		if status == 1 && sh.diag.unset.Load() {
			return 2 // ash exits 2 on an unset parameter under "set -u"
		}
		return int(status)
	}
	fmt.Fprintf(p.IO.Err, "%s: %v\n", sh.name, err)
	return 2
}

// reap waits, in the background, for the shell's background jobs: they
// outlive it, as orphans do, until the container ends, and the runtime
// waits for this before it closes the container's logs.
func (sh *shell) reap(r *interp.Runner) {
	sh.mu.Lock()
	sh.reaping = true
	sh.mu.Unlock()
	m := sh.p.Machine
	m.Jobs.Add(1)
	go func() {
		defer m.Jobs.Done()
		wait := &syntax.Stmt{Cmd: call("wait")}
		// The jobs end with the container; the wait must not end before.
		_ = r.Run(context.WithoutCancel(m.Ctx), wait)
	}()
}

func (sh *shell) syntaxError(w io.Writer, err error) {
	msg := err.Error()
	var pe syntax.ParseError
	if errors.As(err, &pe) {
		msg = pe.Text
		if strings.Contains(msg, "without closing quote") {
			msg = "unterminated quoted string"
		}
	}
	if sh.dialect == "dash" {
		fmt.Fprintf(w, "%s: 1: Syntax error: %s\n", sh.name, msg)
		return
	}
	fmt.Fprintf(w, "%s: syntax error: %s\n", sh.name, msg)
}

// environ is the interpreter's initial environment: the process's, plus
// unexported defaults for what the interpreter would otherwise take from
// the host (HOME, UID).
func (sh *shell) environ() expand.Environ {
	env := envMap{}
	for _, v := range []string{"HOME=/root", "UID=0", "EUID=0", "GID=0"} {
		k, val, _ := strings.Cut(v, "=")
		env[k] = expand.Variable{Set: true, Kind: expand.String, Str: val}
	}
	for _, kv := range sh.p.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v}
	}
	return env
}

type envMap map[string]expand.Variable

func (e envMap) Get(name string) expand.Variable { return e[name] }

func (e envMap) Each(f func(name string, vr expand.Variable) bool) {
	for n, v := range e {
		if !f(n, v) {
			return
		}
	}
}

// childEnv is what a program the shell starts gets: the exported
// variables, those the shell inherited first and in their order.
func (sh *shell) childEnv(env expand.Environ) []string {
	vals := map[string]string{}
	env.Each(func(name string, vr expand.Variable) bool {
		if vr.IsSet() && vr.Exported {
			vals[name] = vr.String()
		} else {
			delete(vals, name)
		}
		return true
	})
	var out []string
	for _, kv := range sh.p.Env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := vals[k]; ok {
			out = append(out, k+"="+v)
			delete(vals, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		out = append(out, k+"="+vals[k])
	}
	return out
}

// shellStdin turns a reader into the *os.File the interpreter reads
// from, through a pipe whose read end is closed when the shell ends, so
// the copying goroutine cannot outlive the input or the shell.
func shellStdin(in io.Reader) (io.Reader, func(), error) {
	switch in := in.(type) {
	case *os.File:
		return in, func() {}, nil
	case nil:
		return nil, func() {}, nil
	case *strings.Reader:
		if in.Len() == 0 {
			return nil, func() {}, nil
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("creating the shell's stdin: %w", err)
	}
	go func() {
		_, _ = io.Copy(pw, in)
		_ = pw.Close()
	}()
	return pr, func() { _ = pr.Close() }, nil
}

// ---- instrumentation ----

func call(args ...string) *syntax.CallExpr {
	c := &syntax.CallExpr{}
	for _, a := range args {
		c.Args = append(c.Args, &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: a}}})
	}
	return c
}

// internalStmt calls an internal command as "cmd && :", which keeps $?
// (the command returns it) and is exempt from "set -e".
func internalStmt(args ...string) *syntax.Stmt {
	return &syntax.Stmt{Cmd: &syntax.BinaryCmd{
		Op: syntax.AndStmt,
		X:  &syntax.Stmt{Cmd: call(append([]string{internal + args[0]}, args[1:]...)...)},
		Y:  &syntax.Stmt{Cmd: call(":")},
	}}
}

// markSubshell sets a variable only a subshell has, so the handlers tell
// the main shell (which alone receives signals) from its subshells.
func markSubshell() *syntax.Stmt {
	return &syntax.Stmt{Cmd: &syntax.CallExpr{Assigns: []*syntax.Assign{{
		Name:  &syntax.Lit{Value: subshellVar},
		Value: &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: "1"}}},
	}}}}
}

func wrapSubshell(st *syntax.Stmt) {
	if st.Cmd != nil {
		st.Cmd = &syntax.Block{Stmts: []*syntax.Stmt{markSubshell(), {Cmd: st.Cmd}}}
	}
}

// instrument adds to a parsed script what the interpreter has no hook
// for: a throttle at each loop iteration and function call, the subshell
// mark, and the container's PID for $$ (the interpreter gives the host's).
func (sh *shell) instrument(n syntax.Node) {
	pid := strconv.Itoa(sh.p.PID)
	ownPID := func(parts []syntax.WordPart) {
		for i, part := range parts {
			if pe, ok := part.(*syntax.ParamExp); ok && pe.Short && pe.Param.Value == "$" {
				parts[i] = &syntax.Lit{Value: pid}
			}
		}
	}
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.WhileClause:
			n.Cond = slices.Insert(n.Cond, 0, internalStmt("tick", "loop"))
		case *syntax.ForClause:
			n.Do = slices.Insert(n.Do, 0, internalStmt("tick", "loop"))
		case *syntax.FuncDecl:
			n.Body = &syntax.Stmt{Cmd: &syntax.Block{Stmts: []*syntax.Stmt{internalStmt("tick", "loop"), n.Body}}}
		case *syntax.Subshell:
			n.Stmts = slices.Insert(n.Stmts, 0, markSubshell())
		case *syntax.CmdSubst:
			// "$(<file)" is read by the interpreter only in this form.
			if len(n.Stmts) != 1 || n.Stmts[0].Cmd != nil {
				n.Stmts = slices.Insert(n.Stmts, 0, markSubshell())
			}
		case *syntax.Stmt:
			if n.Background {
				wrapSubshell(n)
			}
		case *syntax.BinaryCmd:
			if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
				wrapSubshell(n.X) // the last command runs in the shell itself
			}
		case *syntax.Word:
			ownPID(n.Parts)
		case *syntax.DblQuoted:
			ownPID(n.Parts)
		}
		return true
	})
}

// ---- handlers ----

func (sh *shell) inMain(hc interp.HandlerContext) bool {
	return sh.p.PID1 && !hc.Env.Get(subshellVar).IsSet()
}

// call routes the builtins the simulator does itself to the exec handler,
// and runs pending traps before the command.
func (sh *shell) call(ctx context.Context, args []string) ([]string, error) {
	hc := interp.HandlerCtx(ctx)
	sh.mu.Lock()
	reaping := sh.reaping
	sh.mu.Unlock()
	if reaping {
		return args, nil
	}
	if tooDeep() {
		return []string{internal + "exhausted", "can't fork: Resource temporarily unavailable"}, nil
	}
	if varBytes(hc.Env) > maxVarBytes {
		return []string{internal + "exhausted", "out of memory"}, nil
	}
	if sh.inMain(hc) {
		if actions := sh.pendingTraps(); len(actions) > 0 {
			// The actions run first, then the command with $? as it was.
			src := strings.Join(actions, "\n") + "\n" + internal + "status " + strconv.Itoa(hc.LastExitStatus) + " && :\n" + quoteArgs(args)
			return []string{internal + "eval", src}, nil
		}
	}
	switch args[0] {
	case "echo", "printf", "test", "[", "pwd", "trap", "wait", "eval", ".", "source", "kill", "umask", "ulimit", "type",
		"export", "readonly", "local", "cd":
		return append([]string{internal + args[0]}, args[1:]...), nil
	case "exec", "command":
		if len(args) > 1 && (args[0] == "exec" || strings.HasPrefix(args[1], "-v") || strings.HasPrefix(args[1], "-V")) {
			return append([]string{internal + args[0]}, args[1:]...), nil
		}
	}
	return args, nil
}

// tooDeep reports a recursion (a function calling itself, eval of eval)
// about to overflow the goroutine's stack, which would end the process
// hosting the whole cluster.
func tooDeep() bool {
	var pc [1]uintptr
	return runtime.Callers(maxStackFrames, pc[:]) > 0
}

func varBytes(env expand.Environ) int {
	n := 0
	env.Each(func(name string, vr expand.Variable) bool {
		n += len(name) + len(vr.Str)
		for _, s := range vr.List {
			n += len(s)
		}
		for _, s := range vr.Map {
			n += len(s)
		}
		return true
	})
	return n
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func exitStatus(code int) error {
	if code == 0 {
		return nil
	}
	return interp.ExitStatus(uint8(code))
}

// exitWith makes the shell exit, as the exit builtin does.
func exitWith(ctx context.Context, hc interp.HandlerContext, code int) error {
	return hc.Builtin(ctx, []string{"exit", strconv.Itoa(code)})
}

// exec runs a command that is neither a function nor an interpreter
// builtin: the internal commands, and the image's programs.
func (sh *shell) exec(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	// Programs write their own messages, unprefixed.
	sio := machine.Stdio{In: hc.Stdin, Out: undiag(hc.Stdout), Err: undiag(hc.Stderr)}
	switch {
	case sio.In == nil && sh.interactive:
		// What is typed: an interactive shell's commands read the
		// terminal when they need to, not ahead of the shell.
		sio.In = sh.p.IO.In
	case sio.In == nil:
		sio.In = strings.NewReader("")
	}
	if name, ok := strings.CutPrefix(args[0], internal); ok {
		return sh.builtin(ctx, hc, name, args, sio)
	}
	prog, ok := sh.p.Machine.Lookup(args[0])
	if !ok {
		sh.notFound(sio.Err, hc, args[0])
		return interp.ExitStatus(127)
	}
	return sh.spawn(ctx, hc, prog, args, sio, false)
}

func (sh *shell) notFound(w io.Writer, hc interp.HandlerContext, name string) {
	switch sh.dialect {
	case "bash":
		fmt.Fprintf(w, "%s: line %d: %s: command not found\n", sh.name, hc.Pos.Line(), name)
	case "dash":
		fmt.Fprintf(w, "%s: %d: %s: not found\n", sh.name, hc.Pos.Line(), name)
	default:
		fmt.Fprintf(w, "%s: %s: not found\n", sh.name, name)
	}
}

// spawn runs a program as a new process, or, for exec, as the shell's own
// process: an exec'd server as PID 1 receives the stop signal itself.
func (sh *shell) spawn(ctx context.Context, hc interp.HandlerContext, prog machine.Program, args []string, sio machine.Stdio, exec bool) error {
	m := sh.p.Machine
	if sh.p.Depth+1 >= maxShellDepth || !m.Reserve() {
		fmt.Fprintf(sio.Err, "%s: can't fork: Resource temporarily unavailable\n", sh.name)
		return interp.ExitStatus(2)
	}
	defer m.Release()
	child := &machine.Process{Machine: m, PID: sh.p.PID, Argv: args, Env: sh.childEnv(hc.Env), Dir: hc.Dir, IO: sio, Depth: sh.p.Depth + 1, User: machine.DefaultUser, InExec: sh.p.InExec,
		Ctx: sh.p.Ctx}
	if sameWriter(sio.Out, sh.p.IO.Out) {
		// Its output is the shell's terminal (not a pipe or a file): it
		// runs on the terminal, as isatty(1) would say.
		child.Term = sh.p.Term
	}
	if sh.interactive {
		// The command runs in the foreground of its line: Ctrl-C ends it.
		child.Ctx = ctx
	}
	if exec {
		child.PID1 = sh.p.PID1
	} else {
		child.PID = m.NewPID()
	}
	code := prog(child)
	if m.Killed() {
		return fmt.Errorf("running %s: %w", args[0], context.Cause(m.Ctx))
	}
	if exec {
		return exitWith(ctx, hc, code)
	}
	return exitStatus(code)
}

// builtin runs an internal command: a builtin the simulator does itself,
// or one of the calls instrument inserted.
func (sh *shell) builtin(ctx context.Context, hc interp.HandlerContext, name string, args []string, sio machine.Stdio) error {
	m := sh.p.Machine
	switch name {
	case "echo", "printf", "test", "[", "pwd":
		// Busybox's, with their messages and limits, in the shell's process.
		p := &machine.Process{Machine: m, PID: sh.p.PID, Argv: append([]string{name}, args[1:]...), Env: sh.childEnv(hc.Env), Dir: hc.Dir, IO: sio, User: machine.DefaultUser, InExec: sh.p.InExec}
		return exitStatus(m.Programs(name)(p))
	case "export", "readonly", "local":
		// In POSIX mode these are plain commands, which the interpreter
		// does not run; its Bash mode parses them as declarations.
		return hc.Builtin(ctx, []string{"eval", name + " " + quoteArgs(args[1:])})
	case "cd":
		// The interpreter's cd, with ash's message.
		dir := hc.Env.Get("HOME").String()
		if len(args) > 1 {
			dir = args[1]
		}
		if st, err := m.Stat(m.Abs(hc.Dir, dir)); dir != "-" && (err != nil || !st.IsDir()) {
			fmt.Fprintf(sio.Err, "%s: cd: can't cd to %s: No such file or directory\n", sh.name, dir)
			return interp.ExitStatus(2)
		}
		return hc.Builtin(ctx, []string{"cd", dir})
	case "umask", "ulimit":
		return nil // nothing to limit or mask in memory
	case "kill":
		// Not an interpreter builtin here: the image's kill, if any.
		if prog, ok := m.Lookup("kill"); ok {
			return sh.spawn(ctx, hc, prog, append([]string{"kill"}, args[1:]...), sio, false)
		}
		sh.notFound(sio.Err, hc, "kill")
		return interp.ExitStatus(127)
	case "exec":
		prog, ok := m.Lookup(args[1])
		if !ok {
			fmt.Fprintf(sio.Err, "%s: exec: %s: not found\n", sh.name, args[1])
			return exitWith(ctx, hc, 127)
		}
		return sh.spawn(ctx, hc, prog, args[1:], sio, true)
	case "command", "type":
		return sh.describe(hc, args, sio)
	case "trap":
		return sh.trap(ctx, hc, args[1:], sio)
	case "wait":
		return sh.wait(ctx, hc, args)
	case "eval":
		return sh.eval(ctx, hc, strings.Join(args[1:], " "))
	case ".", "source":
		if len(args) < 2 {
			fmt.Fprintf(sio.Err, "%s: %s: need filename\n", sh.name, name)
			return interp.ExitStatus(2)
		}
		data, err := m.ReadFile(hc.Dir, args[1])
		if err != nil {
			fmt.Fprintf(sio.Err, "%s: %s: can't open '%s': %s\n", sh.name, name, args[1], machine.ErrText(err))
			return interp.ExitStatus(2)
		}
		return sh.eval(ctx, hc, string(data))
	case "exittrap":
		sh.mu.Lock()
		action := sh.exitTrap
		sh.mu.Unlock()
		return sh.eval(ctx, hc, action)
	case "tick":
		if len(args) > 1 && args[1] == "loop" && !sh.throttle() {
			return fmt.Errorf("throttling a loop: %w", context.Cause(m.Ctx))
		}
		return exitStatus(hc.LastExitStatus)
	case "status":
		n, _ := strconv.Atoi(args[len(args)-1])
		return exitStatus(n)
	case "resumed":
		sh.mu.Lock()
		sh.resumed = true
		sh.mu.Unlock()
		return exitStatus(hc.LastExitStatus)
	case "exhausted":
		fmt.Fprintf(sio.Err, "%s: %s\n", sh.name, args[1])
		return exitWith(ctx, hc, 2)
	}
	sh.notFound(sio.Err, hc, args[0])
	return interp.ExitStatus(127)
}

// throttle waits for the shell's next loop slot, minLoopIteration after
// the previous one, whichever loop took it; it returns false when the
// container was killed meanwhile.
func (sh *shell) throttle() bool {
	now := time.Now()
	sh.mu.Lock()
	slot := sh.nextTick
	if slot.Before(now) {
		slot = now
	}
	sh.nextTick = slot.Add(minLoopIteration)
	sh.mu.Unlock()
	if d := slot.Sub(now); d > 0 {
		return sh.p.Machine.Sleep(d)
	}
	return !sh.p.Machine.Killed()
}

// eval runs source text in the current shell, instrumented as the
// script was.
func (sh *shell) eval(ctx context.Context, hc interp.HandlerContext, src string) error {
	file, err := parseScript(src)
	if err != nil {
		sh.syntaxError(hc.Stderr, err)
		return interp.ExitStatus(2)
	}
	sh.instrument(file)
	var b strings.Builder
	if err := syntax.NewPrinter().Print(&b, file); err != nil {
		return fmt.Errorf("printing an eval'd script: %w", err)
	}
	return hc.Builtin(ctx, []string{"eval", b.String()})
}

// describe is "command -v" and "type", which the interpreter would
// answer from the host's PATH.
func (sh *shell) describe(hc interp.HandlerContext, args []string, sio machine.Stdio) error {
	verbose := args[0] == "type" || strings.HasPrefix(args[1], "-V")
	names := args[1:]
	if args[0] == "command" {
		names = names[1:]
	}
	status := 0
	for _, n := range names {
		_, isProg := sh.p.Machine.Lookup(n)
		switch {
		case interp.IsBuiltin(n) && verbose:
			fmt.Fprintf(sio.Out, "%s is a shell builtin\n", n)
		case interp.IsBuiltin(n):
			fmt.Fprintf(sio.Out, "%s\n", n)
		case isProg && strings.Contains(n, "/"):
			fmt.Fprintf(sio.Out, "%s\n", n)
		case isProg && verbose:
			fmt.Fprintf(sio.Out, "%s is /usr/bin/%s\n", n, n)
		case isProg:
			fmt.Fprintf(sio.Out, "/usr/bin/%s\n", n)
		default:
			if verbose {
				fmt.Fprintf(sio.Err, "%s: %s: not found\n", sh.name, n)
			}
			status = 1
		}
	}
	return exitStatus(status)
}

// ---- signals ----

// pendingTraps takes the signals delivered to PID 1 since the last look
// and returns the actions of those it traps; PID 1 ignores the others.
func (sh *shell) pendingTraps() []string {
	var actions []string
	for {
		select {
		case s := <-sh.p.Machine.Signals():
			if a := sh.trapFor(s); a != "" {
				actions = append(actions, a)
			}
		default:
			return actions
		}
	}
}

func (sh *shell) trapFor(s machine.Signal) string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.traps[s]
}

func (sh *shell) trap(ctx context.Context, hc interp.HandlerContext, args []string, sio machine.Stdio) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if sh.exitTrap != "" {
			fmt.Fprintf(sio.Out, "trap -- %s EXIT\n", quoteArgs([]string{sh.exitTrap}))
		}
		for _, s := range slices.Sorted(maps.Keys(sh.traps)) {
			fmt.Fprintf(sio.Out, "trap -- %s %s\n", quoteArgs([]string{sh.traps[s]}), strings.TrimPrefix(s.String(), "SIG"))
		}
		return nil
	}
	action, names := args[0], args[1:]
	if len(names) == 0 {
		// "trap TERM" resets TERM, as POSIX says for a lone condition.
		action, names = "-", args
	}
	for _, n := range names {
		s, ok := machine.SignalByName(n)
		if !ok {
			fmt.Fprintf(sio.Err, "%s: trap: %s: bad trap\n", sh.name, n)
			return interp.ExitStatus(1)
		}
		sh.mu.Lock()
		switch {
		case s == 0:
			// The interpreter runs the EXIT trap; its action is run
			// through eval, so it is instrumented like the script.
			sh.exitTrap = strings.TrimPrefix(action, "-")
		case action == "-":
			delete(sh.traps, s)
		default:
			sh.traps[s] = action
		}
		exitTrap := sh.exitTrap
		sh.mu.Unlock()
		if s == 0 {
			callback := ""
			if exitTrap != "" {
				callback = internal + "exittrap"
			}
			if err := hc.Builtin(ctx, []string{"trap", callback, "EXIT"}); err != nil {
				return err
			}
		}
	}
	return nil
}

// wait waits for background jobs. In PID 1, unlike a foreground command,
// it is interrupted by a trapped signal, which is why "sleep 3600 & wait"
// is the idiom for a shell PID 1 that should stop promptly. The
// interpreter's wait cannot be interrupted, so it runs aside; when the
// trap's action does not exit, the wait goes on (ash's would return
// 128+n), since the interpreter may not run two commands at once.
func (sh *shell) wait(ctx context.Context, hc interp.HandlerContext, args []string) error {
	args = append([]string{"wait"}, args[1:]...)
	if !sh.inMain(hc) {
		return hc.Builtin(ctx, args)
	}
	m := sh.p.Machine
	done := make(chan error, 1)
	go func() { done <- hc.Builtin(ctx, args) }()
	for {
		select {
		case err := <-done:
			return err
		case <-m.Ctx.Done():
			// The jobs end with the container, and the goroutine above
			// with them.
			return fmt.Errorf("waiting for jobs: %w", context.Cause(m.Ctx))
		case s := <-m.Signals():
			action := sh.trapFor(s)
			if action == "" {
				continue
			}
			sh.mu.Lock()
			sh.resumed = false
			sh.mu.Unlock()
			err := sh.eval(ctx, hc, action+"\n"+internal+"resumed")
			sh.mu.Lock()
			resumed := sh.resumed
			sh.mu.Unlock()
			if !resumed {
				return err // the action exited the shell
			}
		}
	}
}

// diagWriter is the interpreter's own stderr: it words the interpreter's
// messages as ash does, prefixed with the shell's name.
type diagWriter struct {
	w     io.Writer
	name  string
	unset atomic.Bool
}

func (d *diagWriter) Write(b []byte) (int, error) {
	msg := string(b)
	if v, ok := strings.CutSuffix(msg, ": unbound variable\n"); ok {
		msg = v + ": parameter not set\n"
		d.unset.Store(true)
	}
	if _, err := io.WriteString(d.w, d.name+": "+msg); err != nil {
		return 0, err
	}
	return len(b), nil
}

// undiag is the stream a diagWriter writes to, for what programs write.
func undiag(w io.Writer) io.Writer {
	if d, ok := w.(*diagWriter); ok {
		return d.w
	}
	return w
}

// open is the interpreter's redirections onto the container's files.
func (sh *shell) open(ctx context.Context, name string, flag int, _ os.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	m := sh.p.Machine
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		f, err := m.OpenRead(hc.Dir, name)
		if err != nil {
			return nil, &os.PathError{Op: "can't open", Path: "'" + name + "'", Err: ashError{err}}
		}
		return f, nil
	}
	w, err := m.OpenWriter(hc.Dir, name, flag&os.O_APPEND != 0, machine.Stdio{Out: undiag(hc.Stdout), Err: undiag(hc.Stderr)})
	if err != nil {
		return nil, &os.PathError{Op: "can't create", Path: name, Err: ashError{err}}
	}
	return writeCloser{w}, nil
}

// ashError words an error as ash does ("No such file or directory").
type ashError struct{ err error }

func (e ashError) Error() string { return machine.ErrText(e.err) }
func (e ashError) Unwrap() error { return e.err }

type writeCloser struct{ io.Writer }

func (writeCloser) Read([]byte) (int, error) { return 0, errors.New("file open for writing only") }
func (writeCloser) Close() error             { return nil }

// sameWriter reports whether a and b are the same writer (without
// panicking on writers that cannot be compared).
func sameWriter(a, b io.Writer) bool {
	if a == nil || b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}
