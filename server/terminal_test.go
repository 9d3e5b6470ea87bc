package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const testToken = "s3cret-token"

// waitLimit is a generous bound on waiting for the shell, so a broken
// server fails the test instead of hanging it; it is not a speed claim.
const waitLimit = 30 * time.Second

// terminalServer serves a Terminal running /bin/sh (whose start-up reads
// no rc files) with a known KUBECONFIG, behind the admin token testToken.
func terminalServer(t *testing.T, term *Terminal) (*httptest.Server, string) {
	t.Helper()
	if term.Shell == "" {
		term.Shell = "/bin/sh"
	}
	dir := t.TempDir()
	term.Dir = dir
	term.Env = append(term.Env, "KUBECONFIG=/wheelhouse/test/admin.kubeconfig", "HOME="+dir, "PS1=$ ")
	srv := httptest.NewServer(Handler(Options{Terminal: term, AdminToken: testToken}))
	t.Cleanup(func() {
		term.Close()
		srv.Close()
	})
	return srv, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/terminal"
}

func dialTerminal(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url+"?token="+testToken, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dialing the terminal: %v (HTTP %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func send(t *testing.T, conn *websocket.Conn, frame string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatalf("sending %s: %v", frame, err)
	}
}

func input(t *testing.T, conn *websocket.Conn, keys string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"type": "input", "data": keys})
	send(t, conn, string(b))
}

// terminalReader collects what the server sends: PTY output, and the
// JSON text frames in order.
type terminalReader struct {
	t      *testing.T
	conn   *websocket.Conn
	output bytes.Buffer
	frames []map[string]any
}

// next reads one frame; it reports false once the socket is closed.
func (r *terminalReader) next() bool {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(waitLimit))
	kind, b, err := r.conn.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			r.t.Fatalf("reading from the terminal: %v\noutput so far:\n%s", err, r.output.String())
		}
		return false
	}
	switch kind {
	case websocket.BinaryMessage:
		r.output.Write(b)
	case websocket.TextMessage:
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			r.t.Fatalf("text frame is not JSON: %q", b)
		}
		r.frames = append(r.frames, f)
	}
	return true
}

// outputMatching reads until the output matches re, and returns the
// first submatch (or the whole match).
func (r *terminalReader) outputMatching(re *regexp.Regexp) string {
	r.t.Helper()
	// Output already searched is not searched again (but for an overlap
	// wider than any match sought): some tests read megabytes.
	from := 0
	for {
		out := r.output.Bytes()
		if m := re.FindSubmatch(out[from:]); m != nil {
			return string(m[len(m)-1])
		}
		from = max(0, len(out)-1024)
		if !r.next() {
			r.t.Fatalf("socket closed before the output matched %s:\n%s", re, r.output.String())
		}
	}
}

// frame reads until a text frame of the given type arrives.
func (r *terminalReader) frame(typ string) map[string]any {
	r.t.Helper()
	for {
		for i, f := range r.frames {
			if f["type"] == typ {
				r.frames = append(r.frames[:i:i], r.frames[i+1:]...)
				return f
			}
		}
		if !r.next() {
			r.t.Fatalf("socket closed before a %q frame came (frames %v)", typ, r.frames)
		}
	}
}

func TestTerminalRefusesWithoutTokenOrFromAnotherOrigin(t *testing.T) {
	_, url := terminalServer(t, &Terminal{})
	for _, tc := range []struct {
		name   string
		query  string
		origin string
		code   int
		says   string
	}{
		{"no token", "", "", http.StatusUnauthorized, "needs the admin token"},
		{"wrong token", "?token=guess", "", http.StatusUnauthorized, "wrong admin token"},
		{"token of another length", "?token=" + testToken + "x", "", http.StatusUnauthorized, "wrong admin token"},
		{"foreign origin", "?token=" + testToken, "http://evil.example", http.StatusForbidden, "evil.example"},
		{"bad size", "?token=" + testToken + "&cols=0", "", http.StatusBadRequest, "cols must be an integer from 1 to 1000"},
	} {
		header := http.Header{}
		if tc.origin != "" {
			header.Set("Origin", tc.origin)
		}
		_, resp, err := websocket.DefaultDialer.Dial(url+tc.query, header)
		if err == nil || resp == nil {
			t.Errorf("%s: dial succeeded (%v)", tc.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: HTTP %d %s, want %d saying %q", tc.name, resp.StatusCode, body, tc.code, tc.says)
		}
	}

	// A terminal without a configured token refuses everyone, even a
	// client that sends an empty one.
	locked := httptest.NewServer(Handler(Options{Terminal: &Terminal{Shell: "/bin/sh"}}))
	defer locked.Close()
	res, err := http.Get(locked.URL + "/ws/terminal?token=")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "no admin token") {
		t.Errorf("terminal without a token: HTTP %d %s, want 401", res.StatusCode, body)
	}

	// Without a Terminal there is no route.
	none := httptest.NewServer(Handler(Options{}))
	defer none.Close()
	res, err = http.Get(none.URL + "/ws/terminal?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("no Terminal: HTTP %d, want 404", res.StatusCode)
	}
}

func TestTerminalRunsCommands(t *testing.T) {
	shells := []string{"/bin/sh"}
	if _, err := os.Stat("/bin/bash"); err == nil {
		shells = append(shells, "/bin/bash")
	}
	for _, sh := range shells {
		t.Run(sh, func(t *testing.T) {
			_, url := terminalServer(t, &Terminal{Shell: sh})
			conn := dialTerminal(t, url)
			r := &terminalReader{t: t, conn: conn}

			// The echo of what was typed shows "$((6*7))", so only the
			// shell's own output can match.
			input(t, conn, "echo hi-$((6*7))\n")
			r.outputMatching(regexp.MustCompile(`hi-42`))

			input(t, conn, "echo kube=$KUBECONFIG term=$TERM\n")
			r.outputMatching(regexp.MustCompile(`kube=/wheelhouse/test/admin\.kubeconfig term=xterm-256color`))

			send(t, conn, `{"type":"resize","cols":101,"rows":37}`)
			input(t, conn, "stty size\n")
			r.outputMatching(regexp.MustCompile(`(^|[^0-9])37 101\r?\n`))
		})
	}
}

func TestTerminalStartsAtRequestedSize(t *testing.T) {
	_, url := terminalServer(t, &Terminal{})
	conn, _, err := websocket.DefaultDialer.Dial(url+"?token="+testToken+"&cols=132&rows=43", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := &terminalReader{t: t, conn: conn}
	input(t, conn, "stty size\n")
	r.outputMatching(regexp.MustCompile(`(^|[^0-9])43 132\r?\n`))
}

func TestTerminalReportsMalformedFramesAndGoesOn(t *testing.T) {
	_, url := terminalServer(t, &Terminal{})
	conn := dialTerminal(t, url)
	r := &terminalReader{t: t, conn: conn}
	for i, tc := range []struct {
		frame string
		says  string
	}{
		{"not json", "not a JSON object"},
		{`{"type":"launch","data":"x"}`, `unknown type "launch"`},
		{`{"type":"resize","cols":0,"rows":0}`, "cols and rows must be 1 to 1000"},
		{`{"type":"resize","cols":80,"rows":1001}`, "cols and rows must be 1 to 1000"},
		{`{"type":"input"}`, `no "data"`},
	} {
		send(t, conn, tc.frame)
		msg, _ := r.frame("error")["message"].(string)
		if !strings.Contains(msg, tc.says) {
			t.Errorf("%s: error %q, want one saying %q", tc.frame, msg, tc.says)
		}
		input(t, conn, "echo still-$((40+"+strconv.Itoa(i)+"))\n")
		r.outputMatching(regexp.MustCompile(`still-` + strconv.Itoa(40+i)))
	}

	if err := conn.WriteMessage(websocket.BinaryMessage, []byte("ls\n")); err != nil {
		t.Fatal(err)
	}
	if msg, _ := r.frame("error")["message"].(string); !strings.Contains(msg, "JSON text frames") {
		t.Errorf("binary frame: error %q", msg)
	}
	big, _ := json.Marshal(map[string]string{"type": "input", "data": strings.Repeat("x", terminalMessageLimit)})
	send(t, conn, string(big))
	if msg, _ := r.frame("error")["message"].(string); !strings.Contains(msg, "larger than 64 KiB") {
		t.Errorf("oversized frame: error %q", msg)
	}
	input(t, conn, "echo after-$((50+1))\n")
	r.outputMatching(regexp.MustCompile(`after-51`))
}

func TestTerminalReportsExitCode(t *testing.T) {
	_, url := terminalServer(t, &Terminal{})
	conn := dialTerminal(t, url)
	r := &terminalReader{t: t, conn: conn}
	input(t, conn, "exit 3\n")
	f := r.frame("exit")
	if code, _ := f["code"].(float64); code != 3 {
		t.Errorf("exit frame %v, want code 3", f)
	}
	for r.next() {
	}
}

// alive reports whether pid is a process that has not finished (a zombie
// has finished: what remains is its parent's to reap).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z"))
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %s", waitLimit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClosingTheSocketEndsTheShellAndItsJobs(t *testing.T) {
	for _, sh := range []string{"/bin/sh", "/bin/bash"} {
		if _, err := os.Stat(sh); err != nil {
			continue
		}
		t.Run(sh, func(t *testing.T) {
			term := &Terminal{Shell: sh}
			_, url := terminalServer(t, term)
			conn := dialTerminal(t, url)
			r := &terminalReader{t: t, conn: conn}
			// A background job that ignores SIGHUP, and one in the
			// foreground: both must go with the shell.
			input(t, conn, "echo shell=$$; (trap '' HUP; exec sleep 1000) & echo job=$!\n")
			shellPID, _ := strconv.Atoi(r.outputMatching(regexp.MustCompile(`shell=(\d+)`)))
			jobPID, _ := strconv.Atoi(r.outputMatching(regexp.MustCompile(`job=(\d+)`)))
			// Once it is sleep, it ignores SIGHUP for sure: only SIGKILL
			// can end it.
			eventually(t, "the job to exec sleep", func() bool {
				comm, _ := os.ReadFile("/proc/" + strconv.Itoa(jobPID) + "/comm")
				return strings.TrimSpace(string(comm)) == "sleep"
			})
			input(t, conn, "sleep 1001\n")
			if !alive(shellPID) || !alive(jobPID) {
				t.Fatalf("shell %d or job %d not running before the socket closed", shellPID, jobPID)
			}

			conn.Close()
			// The shell is the server's child: gone means reaped, not
			// a zombie.
			eventually(t, "the shell to be reaped", func() bool {
				return errors.Is(syscall.Kill(shellPID, 0), syscall.ESRCH)
			})
			eventually(t, "the background job to end", func() bool { return !alive(jobPID) })

			// The handler has returned, so Close does not wait for it,
			// and the terminal's place is free again.
			term.Close()
			if term.active != 0 {
				t.Errorf("%d terminals still counted as open", term.active)
			}
		})
	}
}

func TestTerminalLimitsConcurrentSessions(t *testing.T) {
	_, url := terminalServer(t, &Terminal{MaxSessions: 1})
	first := dialTerminal(t, url)
	r := &terminalReader{t: t, conn: first}
	input(t, first, "echo ready-$((1+1))\n")
	r.outputMatching(regexp.MustCompile(`ready-2`))

	second := dialTerminal(t, url)
	r2 := &terminalReader{t: t, conn: second}
	if msg, _ := r2.frame("error")["message"].(string); !strings.Contains(msg, "too many terminals open (at most 1)") {
		t.Errorf("second terminal: error %q", msg)
	}
	if r2.next() {
		t.Error("second terminal: socket still open after the refusal")
	}

	input(t, first, "echo still-$((2+2))\n")
	r.outputMatching(regexp.MustCompile(`still-4`))
}

func TestTerminalCloseHangsUpOpenSessions(t *testing.T) {
	term := &Terminal{}
	_, url := terminalServer(t, term)
	conn := dialTerminal(t, url)
	r := &terminalReader{t: t, conn: conn}
	input(t, conn, "echo shell=$$\n")
	pid, _ := strconv.Atoi(r.outputMatching(regexp.MustCompile(`shell=(\d+)`)))

	term.Close() // returns once the shell is reaped
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("shell %d still exists after Close: %v", pid, err)
	}
	if msg, _ := r.frame("error")["message"].(string); !strings.Contains(msg, "shutting down") {
		t.Errorf("error %q, want one saying the server is shutting down", msg)
	}
	conn2, _, err := websocket.DefaultDialer.Dial(url+"?token="+testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	r2 := &terminalReader{t: t, conn: conn2}
	if msg, _ := r2.frame("error")["message"].(string); !strings.Contains(msg, "shutting down") {
		t.Errorf("after Close: error %q", msg)
	}
}

// A browser that stops reading stalls the shell (flow control reaches the
// PTY) instead of making the server buffer without bound; when it reads
// again, nothing was lost.
func TestSlowClientStallsTheShellWithoutLosingOutput(t *testing.T) {
	term := &Terminal{}
	_, url := terminalServer(t, term)
	goroutines := runtime.NumGoroutine()
	conn := dialTerminal(t, url)
	counter := filepath.Join(term.Dir, "count")
	input(t, conn, "i=0; while [ $i -lt 3000000 ]; do printf 'n%07d\\n' $i; i=$((i+1)); [ $((i%100)) -ne 0 ] || echo $i >count; done\n")

	// Not reading: the loop must come to a halt, its count standing still.
	count := func() int {
		b, _ := os.ReadFile(counter)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	var stalled int
	eventually(t, "the shell to stall while the client does not read", func() bool {
		before := count()
		time.Sleep(300 * time.Millisecond)
		stalled = count()
		return stalled > 0 && stalled == before
	})
	// Line n<i> is 9 bytes; all the buffers on the way (output queue, the
	// sockets', the PTY's) hold a few MiB, not the whole run.
	if stalled >= 3000000 || stalled*9 > 64<<20 {
		t.Fatalf("the shell wrote %d lines before stalling", stalled)
	}

	t.Logf("the shell stalled after %d lines", stalled)
	// Reading again: the output resumes, in order, without gaps.
	r := &terminalReader{t: t, conn: conn}
	want := stalled + 1000
	r.outputMatching(regexp.MustCompile(fmt.Sprintf(`n%07d\r?\n`, want)))
	// (the first line may follow the prompt, printed after the echo)
	line := regexp.MustCompile(`(?m)^(?:\$ )?n(\d{7})\r?$`)
	next := 0
	for _, m := range line.FindAllStringSubmatch(r.output.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		if n != next {
			t.Fatalf("line n%07d follows n%07d", n, next-1)
		}
		next++
	}
	if next <= want {
		t.Fatalf("read %d lines, want more than %d", next, want)
	}

	// Closing while the shell is still writing ends it, and every
	// goroutine of the session.
	input(t, conn, "echo shell=$$\n")
	conn.Close()
	term.Close()
	if term.active != 0 {
		t.Errorf("%d terminals still counted as open", term.active)
	}
	eventually(t, "the session's goroutines to end", func() bool {
		return runtime.NumGoroutine() <= goroutines
	})
}

func TestTerminalSaysWhyTheShellDidNotStart(t *testing.T) {
	_, url := terminalServer(t, &Terminal{Shell: "/no/such/shell"})
	conn := dialTerminal(t, url)
	r := &terminalReader{t: t, conn: conn}
	if msg, _ := r.frame("error")["message"].(string); !strings.Contains(msg, "starting the shell /no/such/shell") {
		t.Errorf("error %q", msg)
	}
	if r.next() {
		t.Error("socket still open after the shell failed to start")
	}
}

// A process that leaves the terminal's session is not the terminal's to
// end, but it may keep the PTY open as its stdout; the session must end
// all the same.
func TestEscapedProcessDoesNotHoldTheSessionOpen(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid command")
	}
	term := &Terminal{}
	_, url := terminalServer(t, term)
	conn := dialTerminal(t, url)
	r := &terminalReader{t: t, conn: conn}
	input(t, conn, "setsid sh -c 'echo escaped=$$; exec sleep 1000' &\n")
	pid, _ := strconv.Atoi(r.outputMatching(regexp.MustCompile(`escaped=(\d+)`)))
	if pid <= 1 {
		t.Fatalf("bad pid %d", pid)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	conn.Close()
	closed := make(chan struct{})
	go func() {
		term.Close() // returns once the session has ended
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("the session did not end while a process outside it held the PTY")
	}
	if !alive(pid) {
		t.Error("the escaped process was ended too; it had left the session")
	}
}

// Close must not wait on a browser that stopped reading: every write to it
// would block for its whole deadline (writeWait), so the server cuts the
// connection itself.
func TestTerminalCloseDoesNotWaitForAStalledClient(t *testing.T) {
	term := &Terminal{}
	_, url := terminalServer(t, term)
	conn := dialTerminal(t, url)
	counter := filepath.Join(term.Dir, "count")
	// Long lines fill every buffer on the way quickly.
	input(t, conn, "i=0; while :; do printf '%0500d\\n' $i; i=$((i+1)); [ $((i%100)) -ne 0 ] || echo $i >count; done\n")

	// Not reading: once the shell's count stands still, every buffer on
	// the way is full and the server is blocked writing to the socket.
	count := func() int {
		b, _ := os.ReadFile(counter)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	eventually(t, "the shell to stall while the client does not read", func() bool {
		before := count()
		time.Sleep(300 * time.Millisecond)
		after := count()
		return after > 0 && after == before
	})

	closed := make(chan struct{})
	go func() {
		term.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatalf("Close still waiting after %s on a client that does not read", waitLimit)
	}
	if term.active != 0 {
		t.Errorf("%d terminals still counted as open", term.active)
	}
}
