// Package machine is what one container's processes see: its image's
// executables, its environment, an in-memory root file system with the
// pod's volumes mounted from the host, its stdout and stderr, the
// signals the runtime delivers to PID 1, its terminal and its ports.
package machine

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
	"strconv"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/images"
)

// ExitKilled is the status of a process killed by SIGKILL (128+9), which
// is what a learner sees after a grace period runs out.
const ExitKilled = 137

// A Signal is what the runtime delivers to PID 1 and a shell traps.
type Signal int

const (
	SIGHUP   Signal = 1
	SIGINT   Signal = 2
	SIGQUIT  Signal = 3
	SIGKILL  Signal = 9
	SIGUSR1  Signal = 10
	SIGUSR2  Signal = 12
	SIGTERM  Signal = 15
	SIGWINCH Signal = 28
)

// signalNames are the names of the signals a container's processes know.
func signalNames() map[Signal]string {
	return map[Signal]string{SIGHUP: "HUP", SIGINT: "INT", SIGQUIT: "QUIT", SIGKILL: "KILL", SIGUSR1: "USR1", SIGUSR2: "USR2", SIGTERM: "TERM", SIGWINCH: "WINCH"}
}

func (s Signal) String() string {
	if name, ok := signalNames()[s]; ok {
		return "SIG" + name
	}
	return "SIG" + strconv.Itoa(int(s))
}

// SignalByName parses the names trap and kill accept: TERM, SIGTERM, 15.
func SignalByName(s string) (Signal, bool) {
	s = strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if s == "EXIT" || s == "0" {
		return 0, true
	}
	for sig, name := range signalNames() {
		if s == name || s == strconv.Itoa(int(sig)) {
			return sig, true
		}
	}
	return 0, false
}

// Stdio is a process's standard streams.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// A Program is an executable of the image. It returns its exit status.
type Program func(p *Process) int

// A Process is one running program of the machine. Programs and the
// shell start processes with the fields they inherit.
type Process struct {
	Machine *Machine
	PID     int
	Argv    []string
	Env     []string // NAME=value, in the order env(1) prints them
	Dir     string   // the working directory
	IO      Stdio
	// PID1 is set for the container's main process; only it receives the
	// stop signal, and it ignores signals it has no handler for, as the
	// kernel does for a PID namespace's init.
	PID1 bool
	User string
	// Depth counts the processes this one runs inside, so a script that
	// runs itself cannot exhaust the stack.
	Depth int
	// Ctx, if set, ends the process before its container ends: Ctrl-C on
	// its terminal. Otherwise the process ends with the container.
	Ctx context.Context
	// Term is the terminal the process runs on (kubectl exec -it), if
	// any.
	Term *Terminal
	// InExec is set for a process a kubectl exec started, and for its
	// children.
	InExec bool
}

// Context is what ends the process: its own context, or its container's.
func (p *Process) Context() context.Context {
	if p.Ctx != nil {
		return p.Ctx
	}
	return p.Machine.Ctx
}

// Sleep waits d, and reports false if the process was ended meanwhile.
func (p *Process) Sleep(d time.Duration) bool { return sleepUntil(p.Context(), d) }

// Interrupted is the status of a process its terminal's Ctrl-C ended
// (128 + SIGINT), or of one killed with its container.
func (p *Process) Interrupted() int {
	if p.Machine.Killed() {
		return ExitKilled
	}
	return 130
}

// Getenv is the value of an environment variable, "" if unset.
func (p *Process) Getenv(name string) string {
	v, _ := LookupEnv(p.Env, name)
	return v
}

// Cwd is the working directory.
func (p *Process) Cwd() string {
	if p.Dir != "" {
		return p.Dir
	}
	return p.Machine.WorkDir
}

// LookupEnv finds a variable in a NAME=value list.
func LookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v, true
		}
	}
	return "", false
}

func (p *Process) signals() <-chan Signal {
	if p.PID1 {
		return p.Machine.sig
	}
	return nil
}

// Signals are those delivered to PID 1, which a shell as PID 1 traps.
func (m *Machine) Signals() <-chan Signal { return m.sig }

// AwaitSignal blocks until one of the handled signals arrives (others are
// ignored) or the container is killed, in which case ok is false.
func (p *Process) AwaitSignal(handled ...Signal) (s Signal, ok bool) {
	ch := p.signals()
	for {
		select {
		case <-p.Machine.Ctx.Done():
			return 0, false
		case s := <-ch:
			if slices.Contains(handled, s) {
				return s, true
			}
		}
	}
}

// Exec replaces the process image, keeping its pid, as `exec "$@"` does
// at the end of an image's entrypoint script.
func (p *Process) Exec(script string, argv []string) int {
	if len(argv) == 0 {
		return 0
	}
	prog, ok := p.Machine.Lookup(argv[0])
	if !ok {
		fmt.Fprintf(p.IO.Err, "%s: 1: exec: %s: not found\n", script, argv[0])
		return 127
	}
	np := *p
	np.Argv = argv
	return prog(&np)
}

// A Machine is one container's: what its processes share. Its Config is
// fixed once New returns.
type Machine struct {
	Config
	sig chan Signal

	mu      sync.Mutex
	files   map[string][]byte
	dirs    map[string]bool
	lastPID int
	used    int64 // bytes written to files, in memory or on volumes
	running int   // processes started by shells

	// Jobs counts what may still run once PID 1 has exited (the reapers
	// of shells' background jobs), which the runtime waits for.
	Jobs sync.WaitGroup
}

// Config describes a container to New.
type Config struct {
	Ctx context.Context // the container's lifetime
	// ContainerID is the runtime's id of the container.
	ContainerID string
	Image       *images.Image
	Hostname    string
	IP          string
	WorkDir     string
	Env         []string
	Mounts      []*runtimeapi.Mount
	Stdout      io.Writer
	Stderr      io.Writer
	StdinOpen   bool
	Now         func() time.Time
	Hosts       string
	Resolv      string
	// Kernel is the sandbox's runtime handler's (the node's if unset).
	Kernel Kernel
	// Stdin is PID 1's stdin when StdinOpen (attached clients' input);
	// if nil, reads block until the container ends.
	Stdin io.Reader
	// Ports is the sandbox's listening sockets (a table of its own if
	// unset).
	Ports *Ports
	// Network carries the pod's connections (nil: it reaches nothing).
	Network Network
	// Programs is the simulation of each executable an image may have
	// (and a "not supported" one for the others). It is injected, since
	// the programs, among them the shell, run on a machine.
	Programs func(name string) Program
}

// A Kernel is what a container sees of the kernel it runs on, which its
// sandbox's runtime handler decides.
type Kernel struct {
	// Release and Version are what uname -r and -v print.
	Release, Version string
	// Dmesg is the kernel log a container can read.
	Dmesg []string
}

// NodeKernel is the node's, which runc's containers share.
func NodeKernel() Kernel {
	return Kernel{
		Release: "6.8.0-wheelhouse",
		Version: "#1 SMP PREEMPT_DYNAMIC",
		Dmesg: []string{
			"[    0.000000] Linux version 6.8.0-wheelhouse (wheelhouse@build) #1 SMP PREEMPT_DYNAMIC",
			"[    0.000000] Command line: console=ttyS0 root=/dev/vda1",
			"[    1.204113] EXT4-fs (vda1): mounted filesystem with ordered data mode",
			"[    2.518840] overlayfs: upper fs does not support RENAME_WHITEOUT",
		},
	}
}

// DefaultUser is who processes run as: the images set no USER.
const DefaultUser = "root"

// New makes a container's machine, its root file system populated with
// the image's files and what the kubelet would mount over /etc.
func New(c Config) *Machine {
	m := &Machine{
		Config:  c,
		sig:     make(chan Signal, 8),
		files:   map[string][]byte{},
		dirs:    map[string]bool{},
		lastPID: 1,
	}
	if m.Ports == nil {
		m.Ports = NewPorts()
	}
	if m.Kernel.Release == "" {
		m.Kernel = NodeKernel()
	}
	if m.WorkDir == "" {
		m.WorkDir = "/"
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	for _, d := range []string{"/", "/bin", "/dev", "/etc", "/home", "/proc", "/root", "/tmp", "/usr", "/usr/bin", "/usr/local", "/usr/local/bin", "/var", "/var/log", "/var/run", m.WorkDir} {
		m.dirs[d] = true
	}
	m.files["/etc/hostname"] = []byte(c.Hostname + "\n")
	if c.Hosts != "" {
		m.files["/etc/hosts"] = []byte(c.Hosts)
	}
	if c.Resolv != "" {
		m.files["/etc/resolv.conf"] = []byte(c.Resolv)
	}
	if c.Image != nil {
		for name, content := range c.Image.Files() {
			m.files[name] = []byte(content)
		}
	}
	return m
}

// Killed reports whether the container has ended.
func (m *Machine) Killed() bool { return m.Ctx.Err() != nil }

// Sleep waits for d; it returns false if the container was killed first.
func (m *Machine) Sleep(d time.Duration) bool { return sleepUntil(m.Ctx, d) }

// sleepUntil waits for d, or less if ctx ends first (then false).
func sleepUntil(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// NewPID numbers a process of the container.
func (m *Machine) NewPID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastPID++
	return m.lastPID
}

// Reserve counts a process a shell starts; like a container at its pids
// limit, it refuses when too many are running. release undoes it.
func (m *Machine) Reserve() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running >= maxJobs {
		return false
	}
	m.running++
	return true
}

// Release undoes Reserve, once the process has ended.
func (m *Machine) Release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running--
}

// Deliver queues a signal for PID 1 without blocking the runtime.
func (m *Machine) Deliver(s Signal) {
	select {
	case m.sig <- s:
	default:
	}
}

// Lookup resolves a command name the way execvp would within the image.
func (m *Machine) Lookup(name string) (Program, bool) {
	if name == "" {
		return nil, false
	}
	if strings.Contains(name, "/") && !path.IsAbs(name) {
		return nil, false
	}
	base := BaseName(name)
	if m.Image == nil || !m.Image.HasBin(base) {
		return nil, false
	}
	return m.Programs(base), true
}

// Run runs the container's main process and returns its exit status.
func (m *Machine) Run(argv []string) int {
	prog, ok := m.Lookup(argv[0])
	if !ok {
		return 127
	}
	var stdin io.Reader = strings.NewReader("")
	switch {
	case m.StdinOpen && m.Stdin != nil:
		stdin = m.Stdin
	case m.StdinOpen:
		stdin = blockingStdin{m.Ctx}
	}
	p := &Process{
		Machine: m,
		PID:     1,
		Argv:    argv,
		Env:     slices.Clone(m.Env),
		Dir:     m.WorkDir,
		IO:      Stdio{In: stdin, Out: m.Stdout, Err: m.Stderr},
		PID1:    true,
		User:    DefaultUser,
	}
	code := prog(p)
	if m.Killed() {
		code = ExitKilled
	}
	return code
}

// ---- files ----

// Limits standing in for a container's memory, disk and pids limits, so
// that no learner's script can take down the process hosting the cluster.
const (
	maxJobs = 256
	// MaxFileBytes bounds what a container writes to files.
	MaxFileBytes = 64 << 20
)

// The errors of file operations that programs word as the kernel's.
var (
	ErrReadOnly = errors.New("read-only file system")
	ErrIsDir    = errors.New("is a directory")
	errNoSpace  = errors.New("no space left on device")
)

// ErrText words a file error as strerror(3) does.
func ErrText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	case errors.Is(err, ErrReadOnly):
		return "Read-only file system"
	case errors.Is(err, ErrIsDir):
		return "Is a directory"
	case errors.Is(err, errNoSpace):
		return "No space left on device"
	}
	return err.Error()
}

// Abs is name resolved against the working directory cwd.
func (m *Machine) Abs(cwd, name string) string {
	if !path.IsAbs(name) {
		name = path.Join(cwd, name)
	}
	return path.Clean(name)
}

// HostPath maps a container path inside a volume mount to the host file
// the kubelet prepared, so ConfigMaps, Secrets, emptyDirs shared between
// containers and /dev/termination-log behave as in a real pod.
func (m *Machine) HostPath(p string) (string, *runtimeapi.Mount) {
	var best *runtimeapi.Mount
	for _, mt := range m.Mounts {
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

// ReadFile reads a file of the container, from a volume if one holds it.
func (m *Machine) ReadFile(cwd, name string) ([]byte, error) {
	p := m.Abs(cwd, name)
	if host, _ := m.HostPath(p); host != "" {
		data, err := os.ReadFile(host)
		if err == nil {
			return data, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "is a directory") {
			return nil, ErrIsDir
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
		return nil, ErrIsDir
	}
	return nil, fs.ErrNotExist
}

// Exists reports whether name exists, and whether it is a directory.
func (m *Machine) Exists(cwd, name string) (isDir, ok bool) {
	st, err := m.Stat(m.Abs(cwd, name))
	return err == nil && st.IsDir(), err == nil
}

// Stat describes a file of the container: the host's file inside a
// volume, else one of the in-memory layer, where a directory is one that
// was created or holds files.
func (m *Machine) Stat(p string) (fs.FileInfo, error) {
	p = path.Clean(p)
	if host, _ := m.HostPath(p); host != "" {
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

// ReadDir lists a directory for the shell's globbing: the entries of the
// in-memory layer and of volumes mounted at or under it.
func (m *Machine) ReadDir(dir string) ([]fs.DirEntry, error) {
	dir = path.Clean(dir)
	if st, err := m.Stat(dir); err != nil || !st.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	seen := map[string]bool{}
	var out []fs.DirEntry
	if host, _ := m.HostPath(dir); host != "" {
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
	for _, mt := range m.Mounts {
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
		if st, err := m.Stat(prefix + name); err == nil {
			out = append(out, fs.FileInfoToDirEntry(st))
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// OpenRead opens a file for a shell's input redirection. The shell reads
// from an *os.File, so an in-memory file comes through a pipe, fed until
// it is written out or the shell closes its end.
func (m *Machine) OpenRead(cwd, name string) (*os.File, error) {
	p := m.Abs(cwd, name)
	if host, _ := m.HostPath(p); host != "" {
		if st, err := os.Stat(host); err == nil && !st.IsDir() {
			return os.Open(host)
		}
	}
	var data []byte
	if p != "/dev/null" {
		var err error
		if data, err = m.ReadFile("/", p); err != nil {
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

// OpenWriter returns where a redirection to name writes.
func (m *Machine) OpenWriter(cwd, name string, appendTo bool, sio Stdio) (io.Writer, error) {
	p := m.Abs(cwd, name)
	switch p {
	case "/dev/null":
		return io.Discard, nil
	case "/dev/stdout", "/proc/self/fd/1", "/dev/fd/1":
		return sio.Out, nil
	case "/dev/stderr", "/proc/self/fd/2", "/dev/fd/2":
		return sio.Err, nil
	case "/proc/1/fd/1":
		return m.Stdout, nil
	case "/proc/1/fd/2":
		return m.Stderr, nil
	}
	if host, mt := m.HostPath(p); host != "" && mt.GetReadonly() {
		return nil, ErrReadOnly
	}
	if isDir, ok := m.Exists(cwd, name); ok && isDir {
		return nil, ErrIsDir
	}
	if !appendTo {
		if err := m.WriteFile(p, nil, false); err != nil {
			return nil, err
		}
	}
	return &fileWriter{m: m, path: p, errw: sio.Err}, nil
}

// WriteFile writes to a volume when the path is inside one, else to the
// container's in-memory layer. The total size of what the container
// wrote is bounded like a disk quota.
func (m *Machine) WriteFile(p string, data []byte, appendTo bool) error {
	host, mt := m.HostPath(p)
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
	if m.used+delta > MaxFileBytes {
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

// RemoveFile removes a file, as unlink(2) does: not a directory.
func (m *Machine) RemoveFile(cwd, name string) error {
	p := m.Abs(cwd, name)
	if host, mt := m.HostPath(p); host != "" {
		if mt.GetReadonly() {
			return ErrReadOnly
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
			return ErrIsDir
		}
		return fs.ErrNotExist
	}
	m.used -= int64(len(data))
	delete(m.files, p)
	return nil
}

// Mkdir creates a directory and its parents, as mkdir -p does.
func (m *Machine) Mkdir(cwd, name string) {
	p := m.Abs(cwd, name)
	if host, mt := m.HostPath(p); host != "" && !mt.GetReadonly() {
		_ = os.MkdirAll(host, 0o755)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := p; d != "/" && d != "."; d = path.Dir(d) {
		m.dirs[d] = true
	}
}

// WrittenBytes is what the container added to its writable layer and
// volumes.
func (m *Machine) WrittenBytes() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(max(0, m.used))
}

// BaseName is a command's name without its directory.
func BaseName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// fileWriter is a redirection to a file: the file was created (or
// truncated) when the redirection was opened and each write appends.
type fileWriter struct {
	m    *Machine
	path string
	errw io.Writer
}

func (w *fileWriter) Write(b []byte) (int, error) {
	if err := w.m.WriteFile(w.path, b, true); err != nil {
		fmt.Fprintf(w.errw, "sh: write error: %s\n", ErrText(err))
		return 0, err
	}
	return len(b), nil
}

// blockingStdin is an attached-but-silent stdin (a pod with stdin: true
// that nobody attached to): reads block until the container is killed.
type blockingStdin struct{ ctx context.Context }

func (b blockingStdin) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, io.EOF
}

// RunExec runs prog as a new process (not PID 1) with the given streams,
// and returns its exit status. The process ends by itself, with the
// container, or on its terminal's Ctrl-C; when ctx ends (the client
// left), RunExec returns and the process runs on.
func (m *Machine) RunExec(ctx context.Context, prog Program, argv []string, sio Stdio, term *Terminal) int {
	// The process's own context is what its terminal's Ctrl-C ends.
	pctx, end := context.WithCancel(m.Ctx)
	p := &Process{
		Machine: m,
		PID:     m.NewPID(),
		Argv:    argv,
		Env:     slices.Clone(m.Env),
		Dir:     m.WorkDir,
		IO:      sio,
		User:    DefaultUser,
		Ctx:     pctx,
		Term:    term,
		InExec:  true,
	}
	if term != nil {
		term.SetForeground(end)
	}
	done := make(chan int, 1)
	go func() {
		code := prog(p)
		if pctx.Err() != nil {
			// Ctrl-C (128 + SIGINT), or the container's end.
			code = p.Interrupted()
		}
		end()
		done <- code
	}()
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
		// The client went away (or ExecSync's timeout passed); the
		// process runs on until it ends or the container does, as an
		// exec'd process does in a real container.
		return ExitKilled
	}
}
