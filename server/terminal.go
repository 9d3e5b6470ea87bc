package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// Terminal serves GET /ws/terminal: a shell in a pseudo-terminal that a
// browser drives over a websocket (JSON frames in, raw PTY bytes out). The
// contract is in docs/architecture.md ("Labs and the terminal"). A client presents the
// server's admin token (Options.AdminToken) as ?token=; without one
// configured every client is refused: a shell is never served
// unauthenticated. A Terminal must not be copied after first use.
type Terminal struct {
	// Shell is the program to run; "" picks $SHELL, else /bin/bash, else
	// /bin/sh.
	Shell string
	// Dir is the shell's working directory (it must exist); "" keeps the
	// server's.
	Dir string
	// Env is added to the server's own environment, after
	// TERM=xterm-256color; an entry replaces an inherited variable of the
	// same name, so PATH must be given whole ("PATH=<dir>:" + old PATH).
	Env []string
	// MaxSessions caps the terminals open at once (default 8).
	MaxSessions int

	mu      sync.Mutex
	active  int
	closed  bool
	stop    chan struct{} // closed by Close; made on first use
	running sync.WaitGroup
}

const (
	defaultMaxTerminals = 8
	// terminalMessageLimit bounds one client frame; larger ones are
	// skipped with an error frame (a browser should send a big paste in
	// pieces). terminalReadLimit is where the connection itself is cut.
	terminalMessageLimit = 64 << 10
	terminalReadLimit    = 1 << 20
	// ptyChunk and outputQueue bound what one terminal buffers between the
	// PTY and a slow browser (8 × 32 KiB). When the queue is full the PTY
	// is not read, so the shell blocks on its writes, as with a slow
	// terminal; nothing else waits for it.
	ptyChunk    = 32 << 10
	outputQueue = 8
	// hangupGrace is how long a hung-up shell gets to exit before SIGKILL.
	hangupGrace = 2 * time.Second
	// exitOutputGrace is how long output is still forwarded after the
	// shell exits, while jobs it left behind keep the PTY open.
	exitOutputGrace = 500 * time.Millisecond
	// closeWait bounds waiting for the client's reply to our close frame.
	closeWait = time.Second
)

// Close hangs up every open terminal, refuses new ones, and returns once
// every shell has been reaped. `wheelhouse up` calls it on the way out,
// because http.Server.Shutdown leaves hijacked (websocket) connections to
// their handlers.
func (t *Terminal) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.stopChan())
	}
	t.mu.Unlock()
	t.running.Wait()
}

// stopChan is closed when the Terminal is; t.mu must be held.
func (t *Terminal) stopChan() chan struct{} {
	if t.stop == nil {
		t.stop = make(chan struct{})
	}
	return t.stop
}

// handler serves GET /ws/terminal to clients that present token.
func (t *Terminal) handler(token string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { t.serve(w, r, token) }
}

func (t *Terminal) serve(w http.ResponseWriter, r *http.Request, token string) {
	if code, err := admit(r, token); err != nil {
		writeError(w, code, err)
		return
	}
	cols, rows, err := windowSize(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	// A browser cannot read the status of a refused upgrade, so refusals
	// from here on are said in the socket's own protocol.
	stop, release, err := t.reserve()
	if err != nil {
		refuse(conn, websocket.CloseTryAgainLater, err)
		return
	}
	defer release()
	sh, err := startShell(t.shellPath(), t.Dir, t.environ(), cols, rows)
	if err != nil {
		refuse(conn, websocket.CloseInternalServerErr, err)
		return
	}
	s := &terminalSession{
		conn:       conn,
		shell:      sh,
		output:     make(chan []byte, outputQueue),
		notes:      make(chan string, 8),
		clientDone: make(chan struct{}),
	}
	// Keep the kernel's share of a slow browser's backlog small too: the
	// rest waits in the PTY, where it slows only the shell.
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok {
		_ = tcp.SetWriteBuffer(256 << 10)
	}
	go readPTY(sh.pty, s.output)
	go s.readClient()
	s.run(stop)
}

// admit checks the ?token= against token (401) and then the Origin (403).
// A browser cannot set headers on a websocket, hence the query.
func admit(r *http.Request, token string) (int, error) {
	if code, err := checkToken(r.URL.Query().Get("token"), token); err != nil {
		return code, err
	}
	if err := checkSameOrigin(r); err != nil {
		return http.StatusForbidden, err
	}
	return 0, nil
}

// checkSameOrigin refuses a browser page from another site (which could
// otherwise drive the shell with a stolen or guessed token). It is the
// same rule as gorilla's default, which the upgrader applies again, but
// said in words. Clients without an Origin (command-line tools) pass.
func checkSameOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return fmt.Errorf("origin %q is not this server (%s): only Wheelhouse's own page may open a terminal", origin, r.Host)
}

// windowSize reads ?cols= and ?rows= (default 80×24).
func windowSize(q url.Values) (cols, rows int, err error) {
	if cols, err = sizeParam(q, "cols", 80); err != nil {
		return 0, 0, err
	}
	if rows, err = sizeParam(q, "rows", 24); err != nil {
		return 0, 0, err
	}
	return cols, rows, nil
}

func sizeParam(q url.Values, name string, def int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || !validSize(n) {
		return 0, fmt.Errorf("%s must be an integer from 1 to 1000, not %q", name, s)
	}
	return n, nil
}

func validSize(n int) bool { return n >= 1 && n <= 1000 }

// reserve claims one of the MaxSessions places.
func (t *Terminal) reserve() (stop <-chan struct{}, release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, errors.New("the server is shutting down")
	}
	limit := t.MaxSessions
	if limit <= 0 {
		limit = defaultMaxTerminals
	}
	if t.active >= limit {
		return nil, nil, fmt.Errorf("too many terminals open (at most %d): close one and try again", limit)
	}
	t.active++
	t.running.Add(1)
	return t.stopChan(), func() {
		t.mu.Lock()
		t.active--
		t.mu.Unlock()
		t.running.Done()
	}, nil
}

func (t *Terminal) shellPath() string {
	if t.Shell != "" {
		return t.Shell
	}
	candidates := []string{"/bin/bash", "/bin/sh"}
	if s := os.Getenv("SHELL"); s != "" {
		candidates = append([]string{s}, candidates...)
	}
	for _, s := range candidates {
		if p, err := exec.LookPath(s); err == nil {
			return p
		}
	}
	return "/bin/sh"
}

// environ is the shell's environment; exec.Cmd keeps the last of
// duplicate names, so later entries win.
func (t *Terminal) environ() []string {
	env := append(os.Environ(), "TERM=xterm-256color")
	return append(env, t.Env...)
}

// refuse tells a client why it gets no shell, then closes.
func refuse(conn *websocket.Conn, code int, err error) {
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = conn.WriteJSON(errorFrame{Type: "error", Message: err.Error()})
	_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, truncate(err.Error(), 120)))
}

// Frames: the client sends clientFrame as JSON text; the server sends PTY
// output as binary frames and these as JSON text.
type (
	clientFrame struct {
		Type string  `json:"type"`
		Data *string `json:"data"`
		Cols int     `json:"cols"`
		Rows int     `json:"rows"`
	}
	exitFrame struct {
		Type string `json:"type"`
		Code int    `json:"code"`
	}
	errorFrame struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
)

// shell is a shell running in a PTY, in its own session (Setsid) with the
// PTY as its controlling terminal (Setctty), so job control works and its
// pid is also its process group and session id.
type shell struct {
	cmd    *exec.Cmd
	pty    *os.File
	exited chan struct{} // closed once the shell has been reaped
}

func startShell(path, dir string, env []string, cols, rows int) (*shell, error) {
	cmd := exec.Command(path)
	cmd.Dir = dir
	cmd.Env = env
	// StartWithSize sets Setsid and Setctty.
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		where := dir
		if where == "" {
			where = "the server's directory"
		}
		return nil, fmt.Errorf("starting the shell %s in %s: %w", path, where, err)
	}
	master, err := pollable(f)
	_ = f.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("preparing the shell's terminal: %w", err)
	}
	sh := &shell{cmd: cmd, pty: master, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the status is read from cmd.ProcessState
		close(sh.exited)
	}()
	return sh, nil
}

// pollable returns a non-blocking copy of the PTY master that Go's poller
// manages. The pty package reaches the descriptor through os.File.Fd,
// which switches it to blocking mode for good; then Close would not
// interrupt a Read or Write in progress, and a session whose terminal
// stayed open (a process that left the session but kept the PTY as its
// stdout) could never end.
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the PTY descriptor: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("making the PTY non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// setWindowSize is pty.Setsize without os.File.Fd (see pollable).
func setWindowSize(f *os.File, cols, rows int) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioctlErr error
	err = conn.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)})
	})
	if err != nil {
		return err
	}
	return ioctlErr
}

// exitCode is the shell's status as a shell would report it (128+signal
// for a killed one); valid once exited is closed.
func (sh *shell) exitCode() int {
	ps := sh.cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// hangUp ends everything started in the terminal: SIGHUP (and SIGCONT,
// for stopped jobs) to the shell's process group and every other process
// in its session, SIGKILL to whatever is left after hangupGrace. It
// returns once the shell is reaped and, where /proc shows them, the rest
// of its session is gone.
func (sh *shell) hangUp() {
	sid := sh.cmd.Process.Pid
	signalSession(sid, syscall.SIGHUP)
	signalSession(sid, syscall.SIGCONT)
	deadline := time.NewTimer(hangupGrace)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	exited := sh.exited
	for {
		select {
		case <-exited:
			exited = nil
		case <-poll.C:
		case <-deadline.C:
			signalSession(sid, syscall.SIGKILL)
			<-sh.exited
			return
		}
		if exited == nil && len(sessionMembers(sid)) == 0 {
			return
		}
	}
}

// signalSession sends sig to process group sid (the shell's, as the
// contract says) and to every live process of session sid, which covers
// jobs the shell moved to process groups of their own. Errors are
// ignored: a process may be gone by the time it is signalled.
func signalSession(sid int, sig syscall.Signal) {
	if sid <= 1 {
		return
	}
	_ = syscall.Kill(-sid, sig)
	for _, pid := range sessionMembers(sid) {
		_ = syscall.Kill(pid, sig)
	}
}

// sessionMembers lists the live (not zombie) processes of session sid,
// from /proc; where there is no /proc it finds none, and the process
// group signal alone applies.
func sessionMembers(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session …; comm may hold anything, so
		// read after its last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if s, err := strconv.Atoi(f[3]); err == nil && s == sid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// readPTY forwards PTY output until the PTY fails: EIO once no process
// holds the terminal any more, or an error once it is closed. It blocks
// while out is full.
func readPTY(f *os.File, out chan<- []byte) {
	defer close(out)
	buf := make([]byte, ptyChunk)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			out <- bytes.Clone(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// terminalSession joins one websocket to one shell. run is the socket's
// only writer; readClient its only reader.
type terminalSession struct {
	conn       *websocket.Conn
	shell      *shell
	output     chan []byte   // from readPTY; closed when the PTY fails
	notes      chan string   // error messages for the client
	clientDone chan struct{} // closed when readClient returns
}

// run forwards output until the shell exits, the client goes, or the
// server stops; then it ends the shell and waits for every goroutine of
// the session.
func (s *terminalSession) run(stop <-chan struct{}) {
	defer s.end()
	// A write to a browser that stopped reading blocks until its deadline
	// (writeWait; 5 s for refuse), and every write sets its own, so no
	// deadline set from here would hold. When the server stops, run gets
	// closeWait to say goodbye; if it has not returned by then, the
	// connection itself is closed, so the write in progress and every
	// later one fail at once and Close is not held up.
	var watcher sync.WaitGroup
	running := make(chan struct{})
	watcher.Go(func() {
		select {
		case <-stop:
		case <-running:
			return
		}
		cut := time.NewTimer(closeWait)
		defer cut.Stop()
		select {
		case <-cut.C:
			_ = s.conn.NetConn().Close()
		case <-running:
		}
	})
	defer watcher.Wait()
	defer close(running)
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	output, exited := s.output, s.shell.exited
	var giveUp <-chan time.Time
	for {
		select {
		case b, ok := <-output:
			if !ok {
				output = nil
				if exited == nil {
					s.finish()
					return
				}
				continue // the PTY is done; the exit status follows
			}
			if s.write(websocket.BinaryMessage, b) != nil {
				return
			}
		case <-exited:
			exited = nil
			if output == nil {
				s.finish()
				return
			}
			// Output still in the PTY comes next; jobs the shell left
			// running may hold it open, and they are not waited for.
			giveUp = time.After(exitOutputGrace)
		case <-giveUp:
			s.finish()
			return
		case msg := <-s.notes:
			if s.writeJSON(errorFrame{Type: "error", Message: msg}) != nil {
				return
			}
		case <-ping.C:
			if s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
				return
			}
		case <-s.clientDone:
			return
		case <-stop:
			refuse(s.conn, websocket.CloseGoingAway, errors.New("the server is shutting down"))
			return
		}
	}
}

// finish reports the shell's exit and closes the socket politely: waiting
// for the client's close reply means the exit frame is not lost to a
// connection reset.
func (s *terminalSession) finish() {
	if s.writeJSON(exitFrame{Type: "exit", Code: s.shell.exitCode()}) != nil {
		return
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "the shell exited")
	if s.write(websocket.CloseMessage, msg) != nil {
		return
	}
	select {
	case <-s.clientDone:
	case <-time.After(closeWait):
	}
}

// end hangs up the shell and waits for the session's goroutines.
func (s *terminalSession) end() {
	s.shell.hangUp()
	_ = s.shell.pty.Close() // unblocks readPTY and a readClient stuck writing input
	for range s.output {
	}
	_ = s.conn.Close()
	<-s.clientDone
}

func (s *terminalSession) write(kind int, b []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return s.conn.WriteMessage(kind, b)
}

func (s *terminalSession) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(websocket.TextMessage, b)
}

// note queues an error frame; if the client floods us with bad frames
// faster than it reads, the surplus notes are dropped, not buffered.
func (s *terminalSession) note(msg string) {
	select {
	case s.notes <- msg:
	default:
	}
}

// readClient applies the client's frames until the socket fails.
func (s *terminalSession) readClient() {
	defer close(s.clientDone)
	s.conn.SetReadLimit(terminalReadLimit)
	for {
		kind, r, err := s.conn.NextReader()
		if err != nil {
			return
		}
		msg, err := io.ReadAll(io.LimitReader(r, terminalMessageLimit+1))
		if err != nil {
			return
		}
		switch {
		case len(msg) > terminalMessageLimit:
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			s.note(fmt.Sprintf("frame ignored: larger than %d KiB (send input in smaller pieces)", terminalMessageLimit>>10))
		case kind != websocket.TextMessage:
			s.note(`frame ignored: send JSON text frames, e.g. {"type":"input","data":"ls\r"}`)
		default:
			if err := s.apply(msg); err != nil {
				s.note(err.Error())
			}
		}
	}
}

// apply carries out one client frame.
func (s *terminalSession) apply(msg []byte) error {
	var f clientFrame
	if err := json.Unmarshal(msg, &f); err != nil {
		return fmt.Errorf("frame ignored: not a JSON object (%v)", err)
	}
	switch f.Type {
	case "input":
		if f.Data == nil {
			return errors.New(`input frame ignored: it has no "data"`)
		}
		if _, err := io.WriteString(s.shell.pty, *f.Data); err != nil {
			return fmt.Errorf("writing input to the shell: %w", err)
		}
	case "resize":
		if !validSize(f.Cols) || !validSize(f.Rows) {
			return fmt.Errorf("resize frame ignored: cols and rows must be 1 to 1000, not %d×%d", f.Cols, f.Rows)
		}
		if err := setWindowSize(s.shell.pty, f.Cols, f.Rows); err != nil {
			return fmt.Errorf("resizing the terminal: %w", err)
		}
	default:
		return fmt.Errorf(`frame ignored: unknown type %q (want "input" or "resize")`, f.Type)
	}
	return nil
}
