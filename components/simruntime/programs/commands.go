// Package programs is the executables a simulated image provides: the
// utilities (echo, cat, sleep, grep...), the servers (nginx, httpd, redis,
// postgres, pause) and, through package shell, sh. Messages follow
// busybox for busybox/alpine images and GNU coreutils for Debian-based
// ones, since learners compare them with real clusters.
package programs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mvdan.cc/sh/v3/syntax"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/shell"
)

// For is the simulation of an executable, which a machine runs when its
// image has one of that name: notSimulated for those the simulator cannot
// run. It is what a machine.Config's Programs is.
func For(name string) machine.Program {
	if prog := programFor(name); prog != nil {
		return prog
	}
	return notSimulated
}

// registry maps each executable the simulator runs to its program. It is
// built once and never changed.
var registry = sync.OnceValue(func() map[string]machine.Program {
	progs := map[string]machine.Program{
		"sleep": utilSleep, "echo": utilEcho, "printf": utilPrintf, "pwd": utilPwd, "date": utilDate,
		"hostname": utilHostname, "env": utilEnv, "printenv": utilPrintenv, "cat": utilCat, "wc": utilWc,
		"grep": utilGrep, "uname": utilUname, "dmesg": utilDmesg, "stty": utilStty, "tty": utilTty,
		"seq": utilSeq, "ls": utilLs, "nginx": progNginx, "nginx-debug": progNginx,
		"docker-entrypoint.sh": progEntrypoint, "httpd": progHttpd, "redis-server": progRedis,
		"postgres": progPostgres, "pause": progPause, "agnhost": progAgnhost, "agnhost-2": progAgnhost, "wget": utilWget, "nc": utilNc, "nslookup": utilNslookup, "redis-cli": utilRedisCli,
		"true":   func(*machine.Process) int { return 0 },
		"false":  func(*machine.Process) int { return 1 },
		"whoami": func(p *machine.Process) int { fmt.Fprintf(p.IO.Out, "%s\n", p.User); return 0 },
		"id": func(p *machine.Process) int {
			fmt.Fprintf(p.IO.Out, "uid=0(root) gid=0(root) groups=0(root)\n")
			return 0
		},
		"httpd-foreground": func(p *machine.Process) int {
			return p.Exec("/usr/local/bin/httpd-foreground", append([]string{"httpd", "-DFOREGROUND"}, p.Argv[1:]...))
		},
	}
	for names, prog := range map[string]machine.Program{
		"sh ash dash bash": shell.Run, "test [": utilTest, "head tail": utilHeadTail,
		"touch mkdir rm": utilFiles, "basename dirname": utilPathName,
	} {
		for _, name := range strings.Fields(names) {
			progs[name] = prog
		}
	}
	return progs
})

// programFor returns the simulation of an executable, or nil when the
// image has it but the simulator cannot run it (see notSimulated).
func programFor(name string) machine.Program { return registry()[name] }

// notSimulated runs for executables the image really has but whose effect
// (network, processes, package managers) the simulator cannot reproduce.
// Saying so beats a misleading "not found".
func notSimulated(p *machine.Process) int {
	fmt.Fprintf(p.IO.Err, "%s: not supported by the simulated runtime; use --runtime containerd\n", machine.BaseName(p.Argv[0]))
	return 1
}

func gnu(p *machine.Process) bool { return p.Machine.Image != nil && p.Machine.Image.OS.GNU }

func errorf(p *machine.Process, format string, args ...any) {
	fmt.Fprintf(p.IO.Err, "%s: %s\n", machine.BaseName(p.Argv[0]), fmt.Sprintf(format, args...))
}

// ---- utilities ----

func utilSleep(p *machine.Process) int {
	args := p.Argv[1:]
	if len(args) == 0 {
		if gnu(p) {
			errorf(p, "missing operand")
		} else {
			fmt.Fprintf(p.IO.Err, "BusyBox v1.36.1 multi-call binary.\n\nUsage: sleep [N]...\n\nPause for a time equal to the total of the args given\n")
		}
		return 1
	}
	var total time.Duration
	infinite := false
	for _, a := range args {
		d, inf, ok := parseSleep(a)
		if !ok {
			if gnu(p) {
				errorf(p, "invalid time interval '%s'", a)
			} else {
				errorf(p, "invalid number '%s'", a)
			}
			return 1
		}
		infinite = infinite || inf
		total += d
	}
	if infinite {
		<-p.Context().Done()
		return p.Interrupted()
	}
	if !p.Sleep(total) {
		return p.Interrupted()
	}
	return 0
}

func parseSleep(a string) (d time.Duration, infinite, ok bool) {
	switch strings.ToLower(a) {
	case "inf", "infinity":
		return 0, true, true
	}
	mult := 1.0
	if n := len(a); n > 0 {
		switch a[n-1] {
		case 's':
			a = a[:n-1]
		case 'm':
			mult, a = 60, a[:n-1]
		case 'h':
			mult, a = 3600, a[:n-1]
		case 'd':
			mult, a = 86400, a[:n-1]
		}
	}
	f, err := strconv.ParseFloat(a, 64)
	if err != nil || f < 0 || math.IsNaN(f) {
		return 0, false, false
	}
	secs := f * mult
	if secs > float64(math.MaxInt64/int64(time.Second)) {
		return 0, true, true
	}
	return time.Duration(secs * float64(time.Second)), false, true
}

func utilEcho(p *machine.Process) int {
	args := p.Argv[1:]
	newline, escapes := true, false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
		for _, c := range args[0][1:] {
			switch c {
			case 'n':
				newline = false
			case 'e':
				escapes = true
			case 'E':
				escapes = false
			}
		}
		args = args[1:]
	}
	s := strings.Join(args, " ")
	if escapes {
		var stop bool
		s, stop = expandEscapes(s, true)
		if stop {
			newline = false
		}
	}
	if newline {
		s += "\n"
	}
	_, _ = io.WriteString(p.IO.Out, s)
	return 0
}

// expandEscapes interprets backslash escapes as echo -e and printf do;
// stop reports "\c", which ends output.
func expandEscapes(s string, echo bool) (out string, stop bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'e':
			b.WriteByte(0x1b)
		case '\\':
			b.WriteByte('\\')
		case 'c':
			return b.String(), true
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			if echo && s[i] == '0' {
				j = i + 1
			}
			end := j
			for end < len(s) && end < j+3 && s[end] >= '0' && s[end] <= '7' {
				end++
			}
			v, _ := strconv.ParseUint(s[j:end], 8, 8)
			if end == j {
				v = 0
			}
			b.WriteByte(byte(v))
			i = end - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String(), false
}

func utilPrintf(p *machine.Process) int {
	if len(p.Argv) < 2 {
		fmt.Fprintf(p.IO.Err, "printf: usage: printf FORMAT [ARGUMENT...]\n")
		return 2
	}
	out, ok := formatPrintf(p.Argv[1], p.Argv[2:], p.IO.Err)
	_, _ = io.WriteString(p.IO.Out, out)
	if !ok {
		return 1
	}
	return 0
}

func formatPrintf(format string, args []string, errw io.Writer) (string, bool) {
	var b strings.Builder
	ok := true
	for {
		consumed := 0
		for i := 0; i < len(format); i++ {
			c := format[i]
			if c == '\\' {
				j := i + 1
				for j < len(format) && j < i+4 && format[j] >= '0' && format[j] <= '7' {
					j++
				}
				if j == i+1 {
					j = min(i+2, len(format))
				}
				s, stop := expandEscapes(format[i:j], false)
				b.WriteString(s)
				if stop {
					return b.String(), ok
				}
				i = j - 1
				continue
			}
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			j := i + 1
			for j < len(format) && strings.IndexByte("-+ #0123456789.", format[j]) >= 0 {
				j++
			}
			if j >= len(format) {
				b.WriteString(format[i:])
				break
			}
			spec, verb := clampSpec(format[i+1:j]), format[j]
			i = j
			if verb == '%' {
				b.WriteByte('%')
				continue
			}
			arg := ""
			if consumed < len(args) {
				arg = args[consumed]
			}
			consumed++
			switch verb {
			case 's':
				fmt.Fprintf(&b, "%"+spec+"s", arg)
			case 'b':
				s, stop := expandEscapes(arg, true)
				b.WriteString(s)
				if stop {
					return b.String(), ok
				}
			case 'c':
				if arg != "" {
					b.WriteString(arg[:1])
				}
			case 'd', 'i', 'u', 'x', 'X', 'o':
				n, good := parseNumArg(arg)
				if !good {
					fmt.Fprintf(errw, "printf: invalid number '%s'\n", arg)
					ok = false
				}
				v := verb
				if v == 'i' || v == 'u' {
					v = 'd'
				}
				fmt.Fprintf(&b, "%"+spec+string(v), n)
			case 'f', 'e', 'E', 'g', 'G':
				f, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
				if err != nil && arg != "" {
					fmt.Fprintf(errw, "printf: invalid number '%s'\n", arg)
					ok = false
				}
				fmt.Fprintf(&b, "%"+spec+string(verb), f)
			default:
				fmt.Fprintf(errw, "printf: %%%c: invalid format\n", verb)
				return b.String(), false
			}
		}
		if consumed == 0 || consumed >= len(args) {
			return b.String(), ok
		}
		args = args[consumed:]
	}
}

// clampSpec bounds field widths and precisions: printf '%999999999s'
// would otherwise allocate a gigabyte.
func clampSpec(spec string) string {
	var b strings.Builder
	num := ""
	flush := func() {
		if num != "" {
			if n, err := strconv.Atoi(num); err != nil || n > 4096 {
				num = "4096"
			}
			b.WriteString(num)
			num = ""
		}
	}
	for _, c := range spec {
		if c >= '0' && c <= '9' && !(num == "" && c == '0') {
			num += string(c)
			continue
		}
		flush()
		b.WriteRune(c)
	}
	flush()
	return b.String()
}

func parseNumArg(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	if s[0] == '\'' || s[0] == '"' {
		if len(s) > 1 {
			return int64(s[1]), true
		}
		return 0, true
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

func utilTest(p *machine.Process) int {
	args := p.Argv[1:]
	if p.Argv[0] == "[" {
		if len(args) == 0 || args[len(args)-1] != "]" {
			fmt.Fprintf(p.IO.Err, "[: missing ]\n")
			return 2
		}
		args = args[:len(args)-1]
	}
	ok, err := evalTest(p, args)
	if err != nil {
		fmt.Fprintf(p.IO.Err, "%s: %s\n", machine.BaseName(p.Argv[0]), err)
		return 2
	}
	if ok {
		return 0
	}
	return 1
}

func evalTest(p *machine.Process, a []string) (bool, error) {
	// -o binds looser than -a, both looser than the primaries.
	for _, op := range []string{"-o", "-a"} {
		for i := len(a) - 2; i > 0; i-- {
			if a[i] != op {
				continue
			}
			l, err := evalTest(p, a[:i])
			if err != nil {
				return false, err
			}
			r, err := evalTest(p, a[i+1:])
			if op == "-o" {
				return l || r, err
			}
			return l && r, err
		}
	}
	switch len(a) {
	case 0:
		return false, nil
	case 1:
		return a[0] != "", nil
	case 2:
		if a[0] == "!" {
			return a[1] == "", nil
		}
		return testUnary(p, a[0], a[1])
	case 3:
		if a[0] == "!" {
			r, err := evalTest(p, a[1:])
			return !r, err
		}
		if a[0] == "(" && a[2] == ")" {
			return a[1] != "", nil
		}
		return testBinary(a[0], a[1], a[2])
	}
	if a[0] == "!" {
		r, err := evalTest(p, a[1:])
		return !r, err
	}
	if a[0] == "(" && a[len(a)-1] == ")" {
		return evalTest(p, a[1:len(a)-1])
	}
	return false, fmt.Errorf("%s: unknown operand", a[0])
}

func testUnary(p *machine.Process, op, arg string) (bool, error) {
	switch op {
	case "-n":
		return arg != "", nil
	case "-z":
		return arg == "", nil
	case "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h", "-c", "-b", "-p", "-S":
		isDir, ok := p.Machine.Exists(p.Cwd(), arg)
		switch op {
		case "-f":
			return ok && !isDir, nil
		case "-d":
			return ok && isDir, nil
		case "-s":
			if !ok || isDir {
				return ok, nil
			}
			data, _ := p.Machine.ReadFile(p.Cwd(), arg)
			return len(data) > 0, nil
		case "-x":
			return ok && (isDir || strings.HasSuffix(arg, ".sh")), nil
		case "-L", "-h", "-c", "-b", "-p", "-S":
			return false, nil
		}
		return ok, nil
	case "-t":
		return false, nil
	}
	return false, fmt.Errorf("%s: unknown operand", op)
}

func testBinary(l, op, r string) (bool, error) {
	switch op {
	case "=", "==":
		return l == r, nil
	case "!=":
		return l != r, nil
	case "<":
		return l < r, nil
	case ">":
		return l > r, nil
	case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
		a, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
		if err != nil {
			return false, fmt.Errorf("%s: bad number", l)
		}
		b, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64)
		if err != nil {
			return false, fmt.Errorf("%s: bad number", r)
		}
		switch op {
		case "-eq":
			return a == b, nil
		case "-ne":
			return a != b, nil
		case "-lt":
			return a < b, nil
		case "-le":
			return a <= b, nil
		case "-gt":
			return a > b, nil
		}
		return a >= b, nil
	}
	return false, fmt.Errorf("%s: unknown operand", op)
}

func utilPwd(p *machine.Process) int {
	fmt.Fprintf(p.IO.Out, "%s\n", p.Cwd())
	return 0
}

func utilDate(p *machine.Process) int {
	now := p.Machine.Now().UTC()
	format := "%a %b %e %H:%M:%S %Z %Y"
	for _, a := range p.Argv[1:] {
		switch {
		case strings.HasPrefix(a, "+"):
			format = a[1:]
		case a == "-u" || a == "--utc":
		case a == "-R" || a == "--rfc-2822" || a == "--rfc-email":
			format = "%a, %d %b %Y %H:%M:%S %z"
		case a == "-I" || a == "-Idate" || a == "--iso-8601":
			format = "%Y-%m-%d"
		case strings.HasPrefix(a, "-I") || strings.HasPrefix(a, "--iso-8601="):
			format = "%Y-%m-%dT%H:%M:%S+00:00"
		default:
			if gnu(p) {
				errorf(p, "invalid date '%s'", a)
			} else {
				errorf(p, "invalid date '%s'", a)
			}
			return 1
		}
	}
	fmt.Fprintf(p.IO.Out, "%s\n", strftime(now, format))
	return 0
}

func strftime(t time.Time, f string) string {
	// The conversions of date(1) that a Go layout writes; the switch
	// below does the others.
	layouts := map[byte]string{
		'a': "Mon", 'A': "Monday", 'b': "Jan", 'h': "Jan", 'B': "January", 'c': "Mon Jan  2 15:04:05 2006",
		'd': "02", 'D': "01/02/06", 'e': "_2", 'F': "2006-01-02", 'H': "15", 'I': "03", 'm': "01", 'M': "04",
		'p': "PM", 'r': "03:04:05 PM", 'R': "15:04", 'S': "05", 'T': "15:04:05", 'y': "06", 'Y': "2006",
		'z': "-0700", 'Z': "MST",
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		if layout, ok := layouts[f[i]]; ok {
			b.WriteString(t.Format(layout))
			continue
		}
		switch f[i] {
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'k':
			fmt.Fprintf(&b, "%2d", t.Hour())
		case 'n':
			b.WriteByte('\n')
		case 'N':
			fmt.Fprintf(&b, "%09d", t.Nanosecond())
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 't':
			b.WriteByte('\t')
		case 'u':
			b.WriteString(strconv.Itoa((int(t.Weekday())+6)%7 + 1))
		case 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

func utilHostname(p *machine.Process) int {
	for _, a := range p.Argv[1:] {
		switch a {
		case "-i", "-I", "--ip-address", "--all-ip-addresses":
			fmt.Fprintf(p.IO.Out, "%s\n", p.Machine.IP)
			return 0
		case "-s", "--short", "-f", "--fqdn":
		default:
			if strings.HasPrefix(a, "-") {
				continue
			}
			errorf(p, "you must be root to change the host name")
			return 1
		}
	}
	fmt.Fprintf(p.IO.Out, "%s\n", p.Machine.Hostname)
	return 0
}

func utilEnv(p *machine.Process) int {
	args := p.Argv[1:]
	env := slices.Clone(p.Env)
	for len(args) > 0 {
		a := args[0]
		if a == "-i" || a == "-" {
			env = nil
		} else if k, v, ok := strings.Cut(a, "="); ok && syntax.ValidName(k) {
			env = envSet(env, k, v)
		} else if a == "-u" && len(args) > 1 {
			env = envUnset(env, args[1])
			args = args[1:]
		} else {
			break
		}
		args = args[1:]
	}
	if len(args) == 0 {
		for _, kv := range env {
			fmt.Fprintf(p.IO.Out, "%s\n", kv)
		}
		return 0
	}
	prog, ok := p.Machine.Lookup(args[0])
	if !ok {
		if gnu(p) {
			fmt.Fprintf(p.IO.Err, "env: '%s': No such file or directory\n", args[0])
		} else {
			fmt.Fprintf(p.IO.Err, "env: can't execute '%s': No such file or directory\n", args[0])
		}
		return 127
	}
	np := *p
	np.Argv, np.Env = args, env
	return prog(&np)
}

func utilPrintenv(p *machine.Process) int {
	if len(p.Argv) == 1 {
		for _, kv := range p.Env {
			fmt.Fprintf(p.IO.Out, "%s\n", kv)
		}
		return 0
	}
	code := 0
	for _, n := range p.Argv[1:] {
		v, ok := machine.LookupEnv(p.Env, n)
		if !ok {
			code = 1
			continue
		}
		fmt.Fprintf(p.IO.Out, "%s\n", v)
	}
	return code
}

// inputs returns the named files' contents, or stdin when there are
// none, reporting unreadable files as cat/grep/wc do.
func inputs(p *machine.Process, files []string) (data [][]byte, names []string, failed bool) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, f := range files {
		if f == "-" {
			b, _ := io.ReadAll(p.IO.In)
			data = append(data, b)
			names = append(names, "")
			continue
		}
		b, err := p.Machine.ReadFile(p.Cwd(), f)
		if err != nil {
			if gnu(p) {
				errorf(p, "%s: %s", f, machine.ErrText(err))
			} else {
				errorf(p, "can't open '%s': %s", f, machine.ErrText(err))
			}
			failed = true
			continue
		}
		data = append(data, b)
		names = append(names, f)
	}
	return data, names, failed
}

func splitFlags(args []string) (flags, rest []string) {
	for i, a := range args {
		if a == "--" {
			return flags, append(rest, args[i+1:]...)
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
		} else {
			rest = append(rest, a)
		}
	}
	return flags, rest
}

func utilCat(p *machine.Process) int {
	_, files := splitFlags(p.Argv[1:])
	for _, a := range p.Argv[1:] {
		if a == "-" {
			files = append(files, "-")
		}
	}
	data, _, failed := inputs(p, files)
	for _, d := range data {
		_, _ = p.IO.Out.Write(d)
	}
	if p.Machine.Killed() {
		return machine.ExitKilled
	}
	if failed {
		return 1
	}
	return 0
}

func utilWc(p *machine.Process) int {
	flags, files := splitFlags(p.Argv[1:])
	opt := strings.Join(flags, "")
	data, names, failed := inputs(p, files)
	for i, d := range data {
		lines := bytes.Count(d, []byte("\n"))
		words := len(strings.Fields(string(d)))
		var out []string
		if strings.ContainsAny(opt, "l") {
			out = append(out, strconv.Itoa(lines))
		}
		if strings.ContainsAny(opt, "w") {
			out = append(out, strconv.Itoa(words))
		}
		if strings.ContainsAny(opt, "cm") {
			out = append(out, strconv.Itoa(len(d)))
		}
		if len(out) == 0 {
			out = []string{fmt.Sprintf("%7d", lines), fmt.Sprintf("%7d", words), fmt.Sprintf("%7d", len(d))}
		}
		line := strings.Join(out, " ")
		if names[i] != "" {
			line += " " + names[i]
		}
		fmt.Fprintf(p.IO.Out, "%s\n", line)
	}
	if failed {
		return 1
	}
	return 0
}

func utilHeadTail(p *machine.Process) int {
	n := 10
	var files []string
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-n" && i+1 < len(args):
			n, _ = strconv.Atoi(strings.TrimPrefix(args[i+1], "+"))
			i++
		case strings.HasPrefix(a, "-n"):
			n, _ = strconv.Atoi(a[2:])
		case len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9':
			n, _ = strconv.Atoi(a[1:])
		case strings.HasPrefix(a, "-"):
		default:
			files = append(files, a)
		}
	}
	data, _, failed := inputs(p, files)
	for _, d := range data {
		lines := strings.SplitAfter(string(d), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if machine.BaseName(p.Argv[0]) == "head" {
			lines = lines[:min(n, len(lines))]
		} else {
			lines = lines[max(0, len(lines)-n):]
		}
		_, _ = io.WriteString(p.IO.Out, strings.Join(lines, ""))
	}
	if failed {
		return 1
	}
	return 0
}

func utilGrep(p *machine.Process) int {
	var invert, icase, count, quiet, number, fixed bool
	var pattern *string
	var files []string
	for _, a := range p.Argv[1:] {
		if len(a) > 1 && a[0] == '-' && pattern == nil {
			for _, c := range a[1:] {
				switch c {
				case 'v':
					invert = true
				case 'i':
					icase = true
				case 'c':
					count = true
				case 'q':
					quiet = true
				case 'n':
					number = true
				case 'F':
					fixed = true
				}
			}
			continue
		}
		if pattern == nil {
			s := a
			pattern = &s
			continue
		}
		files = append(files, a)
	}
	if pattern == nil {
		fmt.Fprintf(p.IO.Err, "Usage: grep [OPTION]... PATTERNS [FILE]...\n")
		return 2
	}
	expr := *pattern
	if fixed {
		expr = regexp.QuoteMeta(expr)
	}
	if icase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		re = regexp.MustCompile(regexp.QuoteMeta(*pattern))
	}
	data, names, failed := inputs(p, files)
	matched := 0
	for i, d := range data {
		n := 0
		for ln, line := range strings.Split(strings.TrimSuffix(string(d), "\n"), "\n") {
			if re.MatchString(line) == invert {
				continue
			}
			n++
			if quiet || count {
				continue
			}
			prefix := ""
			if len(data) > 1 {
				prefix = names[i] + ":"
			}
			if number {
				prefix += strconv.Itoa(ln+1) + ":"
			}
			fmt.Fprintf(p.IO.Out, "%s%s\n", prefix, line)
		}
		if count && !quiet {
			fmt.Fprintf(p.IO.Out, "%d\n", n)
		}
		matched += n
	}
	switch {
	case failed:
		return 2
	case matched > 0:
		return 0
	}
	return 1
}

func utilUname(p *machine.Process) int {
	const machine = "x86_64"
	fields := map[rune]string{'s': "Linux", 'n': p.Machine.Hostname, 'r': p.Machine.Kernel.Release, 'v': p.Machine.Kernel.Version, 'm': machine, 'o': "GNU/Linux"}
	if !gnu(p) {
		fields['o'] = "Linux"
	}
	var want []rune
	for _, a := range p.Argv[1:] {
		for _, c := range strings.TrimPrefix(a, "-") {
			if c == 'a' {
				want = []rune("snrvmo")
				break
			}
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		want = []rune("s")
	}
	var out []string
	for _, c := range "snrvmo" {
		if slices.Contains(want, c) {
			out = append(out, fields[c])
		}
	}
	fmt.Fprintf(p.IO.Out, "%s\n", strings.Join(out, " "))
	return 0
}

func utilSeq(p *machine.Process) int {
	const maxLines = 100000
	nums := make([]int64, 0, 3)
	for _, a := range p.Argv[1:] {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			errorf(p, "invalid number '%s'", a)
			return 1
		}
		nums = append(nums, n)
	}
	first, inc, last := int64(1), int64(1), int64(0)
	switch len(nums) {
	case 1:
		last = nums[0]
	case 2:
		first, last = nums[0], nums[1]
	case 3:
		first, inc, last = nums[0], nums[1], nums[2]
	default:
		errorf(p, "missing operand")
		return 1
	}
	if inc == 0 {
		return 1
	}
	w := bufio.NewWriter(p.IO.Out)
	defer w.Flush()
	for i, n := 0, first; i < maxLines && ((inc > 0 && n <= last) || (inc < 0 && n >= last)); i, n = i+1, n+inc {
		fmt.Fprintln(w, n)
	}
	return 0
}

func utilFiles(p *machine.Process) int {
	cmd := machine.BaseName(p.Argv[0])
	flags, names := splitFlags(p.Argv[1:])
	force := slices.ContainsFunc(flags, func(f string) bool { return strings.Contains(f, "f") })
	code := 0
	for _, n := range names {
		switch cmd {
		case "touch":
			if _, ok := p.Machine.Exists(p.Cwd(), n); !ok {
				if host, mt := p.Machine.HostPath(p.Machine.Abs(p.Cwd(), n)); host != "" && mt.GetReadonly() {
					errorf(p, "%s: %s", n, machine.ErrText(machine.ErrReadOnly))
					code = 1
					continue
				}
				if err := p.Machine.WriteFile(p.Machine.Abs(p.Cwd(), n), nil, true); err != nil {
					errorf(p, "%s: %s", n, machine.ErrText(err))
					code = 1
				}
			}
		case "mkdir":
			p.Machine.Mkdir(p.Cwd(), n)
		case "rm":
			if err := p.Machine.RemoveFile(p.Cwd(), n); err != nil {
				if errors.Is(err, machine.ErrIsDir) && slices.ContainsFunc(flags, func(f string) bool { return strings.ContainsAny(f, "rR") }) {
					continue
				}
				if force && !errors.Is(err, machine.ErrReadOnly) {
					continue
				}
				if gnu(p) {
					errorf(p, "cannot remove '%s': %s", n, machine.ErrText(err))
				} else {
					errorf(p, "can't remove '%s': %s", n, machine.ErrText(err))
				}
				code = 1
			}
		}
	}
	return code
}

// utilDmesg prints the kernel log of the container's handler.
// utilStty reports the terminal a process runs on (kubectl exec -it): its
// size, which follows the learner's window. Settings cannot be changed:
// the simulated terminal has one line discipline.
func utilStty(p *machine.Process) int {
	if p.Term == nil {
		if gnu(p) {
			fmt.Fprintf(p.IO.Err, "stty: 'standard input': Inappropriate ioctl for device\n")
		} else {
			fmt.Fprintf(p.IO.Err, "stty: standard input: Not a tty\n")
		}
		return 1
	}
	rows, cols := p.Term.Size()
	switch args := p.Argv[1:]; {
	case len(args) == 1 && args[0] == "size":
		fmt.Fprintf(p.IO.Out, "%d %d\n", rows, cols)
	case len(args) == 0 || len(args) == 1 && (args[0] == "-a" || args[0] == "--all"):
		fmt.Fprintf(p.IO.Out, "speed 38400 baud; rows %d; columns %d; line = 0;\nintr = ^C; eof = ^D; erase = ^?; kill = ^U; werase = ^W;\nicanon echo onlcr\n", rows, cols)
	default:
		fmt.Fprintf(p.IO.Err, "stty: the simulated terminal's settings cannot be changed (use --runtime containerd)\n")
		return 1
	}
	return 0
}

// utilTty names the process's terminal, as tty(1) does.
func utilTty(p *machine.Process) int {
	if p.Term == nil {
		fmt.Fprintf(p.IO.Out, "not a tty\n")
		return 1
	}
	fmt.Fprintf(p.IO.Out, "/dev/pts/0\n")
	return 0
}

func utilDmesg(p *machine.Process) int {
	fmt.Fprintf(p.IO.Out, "%s\n", strings.Join(p.Machine.Kernel.Dmesg, "\n"))
	return 0
}

func utilPathName(p *machine.Process) int {
	if len(p.Argv) < 2 {
		errorf(p, "missing operand")
		return 1
	}
	if machine.BaseName(p.Argv[0]) == "dirname" {
		fmt.Fprintf(p.IO.Out, "%s\n", path.Dir(p.Argv[1]))
		return 0
	}
	b := path.Base(p.Argv[1])
	if len(p.Argv) > 2 {
		b = strings.TrimSuffix(b, p.Argv[2])
	}
	fmt.Fprintf(p.IO.Out, "%s\n", b)
	return 0
}

// envSet and envUnset work on a NAME=value list; envSet replaces a
// variable in place, as setenv(3) does, so env(1) keeps its order.
func envSet(env []string, name, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			env = slices.Clone(env)
			env[i] = name + "=" + value
			return env
		}
	}
	return append(slices.Clip(env), name+"="+value)
}

func envUnset(env []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == name
	})
}
