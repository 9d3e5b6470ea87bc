package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A machine is what one container's processes see: its image's
// executables, its environment, an in-memory root file system with the
// pod's volumes mounted from the host, its stdout and stderr, and the
// signals the runtime delivers to PID 1.

// exitKilled is the status of a process killed by SIGKILL (128+9), which
// is what a learner sees after a grace period runs out.
const exitKilled = 137

type signal int

const (
	sigHUP   signal = 1
	sigINT   signal = 2
	sigQUIT  signal = 3
	sigKILL  signal = 9
	sigUSR1  signal = 10
	sigUSR2  signal = 12
	sigTERM  signal = 15
	sigWINCH signal = 28
)

func (s signal) String() string {
	switch s {
	case sigHUP:
		return "SIGHUP"
	case sigINT:
		return "SIGINT"
	case sigQUIT:
		return "SIGQUIT"
	case sigKILL:
		return "SIGKILL"
	case sigUSR1:
		return "SIGUSR1"
	case sigUSR2:
		return "SIGUSR2"
	case sigTERM:
		return "SIGTERM"
	case sigWINCH:
		return "SIGWINCH"
	}
	return "SIG" + itoa(int(s))
}

// signalByName parses the names trap and kill accept: TERM, SIGTERM, 15.
func signalByName(s string) (signal, bool) {
	s = strings.TrimPrefix(strings.ToUpper(s), "SIG")
	switch s {
	case "EXIT", "0":
		return 0, true
	case "HUP", "1":
		return sigHUP, true
	case "INT", "2":
		return sigINT, true
	case "QUIT", "3":
		return sigQUIT, true
	case "KILL", "9":
		return sigKILL, true
	case "USR1", "10":
		return sigUSR1, true
	case "USR2", "12":
		return sigUSR2, true
	case "TERM", "15":
		return sigTERM, true
	case "WINCH", "28":
		return sigWINCH, true
	}
	return 0, false
}

// signalFromCRI maps the stop signal of a ContainerConfig; signals the
// simulated programs never handle all behave like SIGTERM to an
// unprepared PID 1, i.e. they are ignored.
func signalFromCRI(s runtimeapi.Signal) (signal, bool) {
	name := strings.TrimPrefix(s.String(), "SIGNAL_")
	if s == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return 0, false
	}
	if sig, ok := signalByName(name); ok {
		return sig, true
	}
	return 64, true
}

func signalToCRI(s signal) runtimeapi.Signal {
	if v, ok := runtimeapi.Signal_value["SIGNAL_"+s.String()]; ok {
		return runtimeapi.Signal(v)
	}
	return runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT
}

type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// A program is an executable of the image. It returns its exit status.
type program func(p *process) int

type process struct {
	m    *machine
	pid  int
	argv []string
	env  []string // NAME=value, in the order env(1) prints them
	dir  string   // the working directory
	io   stdio
	// pid1 is set for the container's main process; only it receives the
	// stop signal, and it ignores signals it has no handler for, as the
	// kernel does for a PID namespace's init.
	pid1 bool
	user string
	// depth counts the processes this one runs inside, so a script that
	// runs itself cannot exhaust the stack.
	depth int
	// ctx, if set, ends the process before its container ends: Ctrl-C on
	// its terminal. Otherwise the process ends with the container.
	ctx context.Context
	// term is the terminal the process runs on (kubectl exec -it), if
	// any.
	term *terminal
}

// context is what ends the process: its own context, or its container's.
func (p *process) context() context.Context {
	if p.ctx != nil {
		return p.ctx
	}
	return p.m.ctx
}

// sleep waits d, and reports false if the process was ended meanwhile.
func (p *process) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.context().Done():
		return false
	}
}

// interrupted is the status of a process its terminal's Ctrl-C ended
// (128 + SIGINT), or of one killed with its container.
func (p *process) interrupted() int {
	if p.m.killed() {
		return exitKilled
	}
	return 130
}

func (p *process) getenv(name string) string {
	v, _ := envGet(p.env, name)
	return v
}

func (p *process) cwd() string {
	if p.dir != "" {
		return p.dir
	}
	return p.m.workDir
}

// envGet, envSet and envUnset work on a NAME=value list; envSet replaces
// a variable in place, as setenv(3) does, so env(1) keeps its order.
func envGet(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v, true
		}
	}
	return "", false
}

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

func (p *process) signals() <-chan signal {
	if p.pid1 {
		return p.m.sig
	}
	return nil
}

// awaitSignal blocks until one of the handled signals arrives (others are
// ignored) or the container is killed, in which case ok is false.
func (p *process) awaitSignal(handled ...signal) (s signal, ok bool) {
	ch := p.signals()
	for {
		select {
		case <-p.m.ctx.Done():
			return 0, false
		case s := <-ch:
			if slices.Contains(handled, s) {
				return s, true
			}
		}
	}
}

// exec replaces the process image, keeping its pid, as `exec "$@"` does
// at the end of an image's entrypoint script.
func (p *process) exec(script string, argv []string) int {
	if len(argv) == 0 {
		return 0
	}
	prog, ok := p.m.lookup(argv[0])
	if !ok {
		writef(p.io.err, "%s: 1: exec: %s: not found\n", script, argv[0])
		return 127
	}
	np := *p
	np.argv = argv
	return prog(&np)
}

type machine struct {
	ctx       context.Context
	sig       chan signal
	stdout    io.Writer
	stderr    io.Writer
	stdinOpen bool
	image     *imageDef
	hostname  string
	ip        string
	workDir   string
	user      string
	env       []string
	mounts    []*runtimeapi.Mount
	now       func() time.Time
	kernel    runtimeHandler
	ports     *ports
	stdin     io.Reader

	mu      sync.Mutex
	files   map[string][]byte
	dirs    map[string]bool
	lastPID int
	used    int64 // bytes written to files, in memory or on volumes
	running int   // processes started by shells

	// jobs counts what may still run once PID 1 has exited (the reapers
	// of shells' background jobs), which the runtime waits for.
	jobs sync.WaitGroup
}

type machineConfig struct {
	ctx       context.Context
	image     *imageDef
	hostname  string
	ip        string
	workDir   string
	env       []string
	mounts    []*runtimeapi.Mount
	stdout    io.Writer
	stderr    io.Writer
	stdinOpen bool
	now       func() time.Time
	hosts     string
	resolv    string
	// kernel is the sandbox's runtime handler's (runc's if unset).
	kernel runtimeHandler
	// stdin is PID 1's stdin when stdinOpen (attached clients' input);
	// if nil, reads block until the container ends.
	stdin io.Reader
	// ports is the sandbox's listening sockets (a table of its own if
	// unset).
	ports *ports
}

func newMachine(c machineConfig) *machine {
	m := &machine{
		ctx:       c.ctx,
		sig:       make(chan signal, 8),
		stdout:    c.stdout,
		stderr:    c.stderr,
		stdinOpen: c.stdinOpen,
		image:     c.image,
		hostname:  c.hostname,
		ip:        c.ip,
		workDir:   c.workDir,
		user:      "root",
		env:       c.env,
		mounts:    c.mounts,
		now:       c.now,
		files:     map[string][]byte{},
		dirs:      map[string]bool{},
		lastPID:   1,
		kernel:    c.kernel,
		ports:     c.ports,
		stdin:     c.stdin,
	}
	if m.ports == nil {
		m.ports = newPorts()
	}
	if m.kernel.name == "" {
		m.kernel, _ = handlerFor(defaultHandler)
	}
	if m.workDir == "" {
		m.workDir = "/"
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.stdout == nil {
		m.stdout = io.Discard
	}
	if m.stderr == nil {
		m.stderr = io.Discard
	}
	for _, d := range []string{"/", "/bin", "/dev", "/etc", "/home", "/proc", "/root", "/tmp", "/usr", "/usr/bin", "/usr/local", "/usr/local/bin", "/var", "/var/log", "/var/run", m.workDir} {
		m.dirs[d] = true
	}
	m.files["/etc/hostname"] = []byte(c.hostname + "\n")
	if c.hosts != "" {
		m.files["/etc/hosts"] = []byte(c.hosts)
	}
	if c.resolv != "" {
		m.files["/etc/resolv.conf"] = []byte(c.resolv)
	}
	if c.image != nil {
		for name, content := range c.image.files() {
			m.files[name] = []byte(content)
		}
	}
	return m
}

func (m *machine) killed() bool { return m.ctx.Err() != nil }

// sleep waits for d; it returns false if the container was killed first.
func (m *machine) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.ctx.Done():
		return false
	}
}

func (m *machine) newPID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastPID++
	return m.lastPID
}

// reserve counts a process a shell starts; like a container at its pids
// limit, it refuses when too many are running. release undoes it.
func (m *machine) reserve() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running >= maxJobs {
		return false
	}
	m.running++
	return true
}

func (m *machine) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running--
}

// deliver queues a signal for PID 1 without blocking the runtime.
func (m *machine) deliver(s signal) {
	select {
	case m.sig <- s:
	default:
	}
}

// lookup resolves a command name the way execvp would within the image.
func (m *machine) lookup(name string) (program, bool) {
	if name == "" {
		return nil, false
	}
	if strings.Contains(name, "/") && !path.IsAbs(name) {
		return nil, false
	}
	base := baseName(name)
	if m.image == nil || !m.image.hasBin(base) {
		return nil, false
	}
	if prog := programFor(base); prog != nil {
		return prog, true
	}
	return notSimulated, true
}

// run runs the container's main process and returns its exit status.
func (m *machine) run(argv []string) int {
	prog, ok := m.lookup(argv[0])
	if !ok {
		return 127
	}
	var stdin io.Reader = strings.NewReader("")
	switch {
	case m.stdinOpen && m.stdin != nil:
		stdin = m.stdin
	case m.stdinOpen:
		stdin = blockingStdin{m.ctx}
	}
	p := &process{
		m:    m,
		pid:  1,
		argv: argv,
		env:  slices.Clone(m.env),
		dir:  m.workDir,
		io:   stdio{in: stdin, out: m.stdout, err: m.stderr},
		pid1: true,
		user: m.user,
	}
	code := prog(p)
	if m.killed() {
		code = exitKilled
	}
	return code
}

// ---- files ----

// Limits standing in for a container's memory, disk and pids limits, so
// that no learner's script can take down the process hosting the cluster.
const (
	maxJobs      = 256
	maxFileBytes = 64 << 20
	maxVarBytes  = 4 << 20
)

var (
	errReadOnly = errors.New("read-only file system")
	errIsDir    = errors.New("is a directory")
	errNoSpace  = errors.New("no space left on device")
)

func errText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	case errors.Is(err, errReadOnly):
		return "Read-only file system"
	case errors.Is(err, errIsDir):
		return "Is a directory"
	case errors.Is(err, errNoSpace):
		return "No space left on device"
	}
	return err.Error()
}

func (m *machine) abs(cwd, name string) string {
	if !path.IsAbs(name) {
		name = path.Join(cwd, name)
	}
	return path.Clean(name)
}

// hostPath maps a container path inside a volume mount to the host file
// the kubelet prepared, so ConfigMaps, Secrets, emptyDirs shared between
// containers and /dev/termination-log behave as in a real pod.
func (m *machine) hostPath(p string) (string, *runtimeapi.Mount) {
	var best *runtimeapi.Mount
	for _, mt := range m.mounts {
		cp := path.Clean(mt.GetContainerPath())
		if mt.GetHostPath() == "" || cp == "" {
			continue
		}
		if p == cp || strings.HasPrefix(p, strings.TrimSuffix(cp, "/")+"/") {
			if best == nil || len(cp) > len(path.Clean(best.GetContainerPath())) {
				best = mt
			}
		}
	}
	if best == nil {
		return "", nil
	}
	rel := strings.TrimPrefix(p, path.Clean(best.GetContainerPath()))
	host := filepath.Join(best.GetHostPath(), filepath.FromSlash(rel))
	if !strings.HasPrefix(host, filepath.Clean(best.GetHostPath())) {
		return "", nil
	}
	return host, best
}

func (m *machine) readFile(cwd, name string) ([]byte, error) {
	p := m.abs(cwd, name)
	if host, _ := m.hostPath(p); host != "" {
		data, err := os.ReadFile(host)
		if err == nil {
			return data, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "is a directory") {
			return nil, errIsDir
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if data, ok := m.files[p]; ok {
		return slices.Clone(data), nil
	}
	if m.dirs[p] {
		return nil, errIsDir
	}
	return nil, fs.ErrNotExist
}

func (m *machine) exists(cwd, name string) (isDir, ok bool) {
	st, err := m.stat(m.abs(cwd, name))
	return err == nil && st.IsDir(), err == nil
}

// stat describes a file of the container: the host's file inside a
// volume, else one of the in-memory layer, where a directory is one that
// was created or holds files.
func (m *machine) stat(p string) (fs.FileInfo, error) {
	p = path.Clean(p)
	if host, _ := m.hostPath(p); host != "" {
		if st, err := os.Stat(host); err == nil {
			return st, nil
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if data, ok := m.files[p]; ok {
		return fileInfo{name: path.Base(p), size: int64(len(data))}, nil
	}
	if m.dirs[p] {
		return fileInfo{name: path.Base(p), dir: true}, nil
	}
	for f := range m.files {
		if strings.HasPrefix(f, p+"/") {
			return fileInfo{name: path.Base(p), dir: true}, nil
		}
	}
	return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
}

// readDir lists a directory for the shell's globbing: the entries of the
// in-memory layer and of volumes mounted at or under it.
func (m *machine) readDir(dir string) ([]fs.DirEntry, error) {
	dir = path.Clean(dir)
	if st, err := m.stat(dir); err != nil || !st.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	seen := map[string]bool{}
	var out []fs.DirEntry
	if host, _ := m.hostPath(dir); host != "" {
		ents, _ := os.ReadDir(host)
		for _, e := range ents {
			seen[e.Name()] = true
			out = append(out, e)
		}
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var names []string
	m.mu.Lock()
	for f := range m.files {
		names = append(names, f)
	}
	for d := range m.dirs {
		names = append(names, d)
	}
	m.mu.Unlock()
	for _, mt := range m.mounts {
		names = append(names, path.Clean(mt.GetContainerPath()))
	}
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok || rest == "" {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		if st, err := m.stat(prefix + name); err == nil {
			out = append(out, fs.FileInfoToDirEntry(st))
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// openRead opens a file for a shell's input redirection. The shell reads
// from an *os.File, so an in-memory file comes through a pipe, fed until
// it is written out or the shell closes its end.
func (m *machine) openRead(cwd, name string) (*os.File, error) {
	p := m.abs(cwd, name)
	if host, _ := m.hostPath(p); host != "" {
		if st, err := os.Stat(host); err == nil && !st.IsDir() {
			return os.Open(host)
		}
	}
	var data []byte
	if p != "/dev/null" {
		var err error
		if data, err = m.readFile("/", p); err != nil {
			return nil, err
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("piping %s: %w", p, err)
	}
	go func() {
		_, _ = pw.Write(data)
		_ = pw.Close()
	}()
	return pr, nil
}

// fileInfo describes a file of the in-memory layer.
type fileInfo struct {
	name string
	size int64
	dir  bool
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return f.size }
func (f fileInfo) ModTime() time.Time { return time.Time{} }
func (f fileInfo) IsDir() bool        { return f.dir }
func (f fileInfo) Sys() any           { return nil }
func (f fileInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o755
}

// openWriter returns where a redirection to name writes.
func (m *machine) openWriter(cwd, name string, appendTo bool, sio stdio) (io.Writer, error) {
	p := m.abs(cwd, name)
	switch p {
	case "/dev/null":
		return io.Discard, nil
	case "/dev/stdout", "/proc/self/fd/1", "/dev/fd/1":
		return sio.out, nil
	case "/dev/stderr", "/proc/self/fd/2", "/dev/fd/2":
		return sio.err, nil
	case "/proc/1/fd/1":
		return m.stdout, nil
	case "/proc/1/fd/2":
		return m.stderr, nil
	}
	if host, mt := m.hostPath(p); host != "" && mt.GetReadonly() {
		return nil, errReadOnly
	}
	if isDir, ok := m.exists(cwd, name); ok && isDir {
		return nil, errIsDir
	}
	if !appendTo {
		if err := m.writeFile(p, nil, false); err != nil {
			return nil, err
		}
	}
	return &fileWriter{m: m, path: p, errw: sio.err}, nil
}

// writeFile writes to a volume when the path is inside one, else to the
// container's in-memory layer. The total size of what the container
// wrote is bounded like a disk quota.
func (m *machine) writeFile(p string, data []byte, appendTo bool) error {
	host, mt := m.hostPath(p)
	onHost := false
	if host != "" && !mt.GetReadonly() {
		_, err := os.Stat(filepath.Dir(host))
		onHost = err == nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delta := int64(len(data))
	if !appendTo {
		if onHost {
			if st, err := os.Stat(host); err == nil {
				delta -= st.Size()
			}
		} else {
			delta -= int64(len(m.files[p]))
		}
	}
	if m.used+delta > maxFileBytes {
		return errNoSpace
	}
	if onHost {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if appendTo {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(host, flags, 0o644)
		if err != nil {
			return err
		}
		_, werr := f.Write(data)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	} else if appendTo {
		m.files[p] = append(m.files[p], data...)
	} else {
		m.files[p] = slices.Clone(data)
	}
	m.used += delta
	return nil
}

func (m *machine) removeFile(cwd, name string) error {
	p := m.abs(cwd, name)
	if host, mt := m.hostPath(p); host != "" {
		if mt.GetReadonly() {
			return errReadOnly
		}
		if err := os.Remove(host); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.files[p]
	if !ok {
		if m.dirs[p] {
			return errIsDir
		}
		return fs.ErrNotExist
	}
	m.used -= int64(len(data))
	delete(m.files, p)
	return nil
}

func (m *machine) mkdir(cwd, name string) {
	p := m.abs(cwd, name)
	if host, mt := m.hostPath(p); host != "" && !mt.GetReadonly() {
		_ = os.MkdirAll(host, 0o755)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := p; d != "/" && d != "."; d = path.Dir(d) {
		m.dirs[d] = true
	}
}

// writtenBytes is what the container added to its writable layer and
// volumes.
func (m *machine) writtenBytes() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(max(0, m.used))
}

func baseName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
