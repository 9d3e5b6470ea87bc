package simruntime

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/utils/exec"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/internal/simtest"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// kubectl exec -it … -- sh: the keys typed reach an interactive shell
// through a terminal's line discipline. It prompts as busybox's ash does,
// echoes, erases, runs each line when Enter is pressed, continues an
// unfinished command with "> ", survives a syntax error, interrupts the
// foreground command on Ctrl-C, and "exit 3" ends the session with 3.
func TestInteractiveShellOnATerminal(t *testing.T) {
	c, _, id, _ := startOneContainer(t, "tty", "box", "busybox", "sleep", "3600")
	keys, typist := io.Pipe()
	out := &simtest.Buffer{}
	done := make(chan error, 1)
	resize := make(chan remotecommandserver.TerminalSize, 1)
	resize <- remotecommandserver.TerminalSize{Width: 100, Height: 30}
	go func() {
		done <- streamRuntime{c.r}.Exec(context.Background(), id, []string{"sh"}, keys, out, nil, true, resize)
	}()
	seen := 0
	expect := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if i := strings.Index(out.String()[seen:], what); i >= 0 {
				seen += i + len(what)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the terminal never showed %q after %q", what, out.String()[:seen])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	typeKeys := func(s string) {
		t.Helper()
		if _, err := typist.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	expect("/ # ")
	typeKeys("\x03") // at the prompt, Ctrl-C only clears the line
	expect("^C\r\n/ # ")
	typeKeys("echo hello\r")
	expect("echo hello\r\nhello\r\n/ # ")
	typeKeys("ech\x7fho fixed\r") // a typo erased with Backspace
	expect("ech\b \bho fixed\r\nfixed\r\n/ # ")
	typeKeys("cd /etc; pwd\r")
	expect("/etc\r\n/etc # ")
	typeKeys("if true\r")
	expect("> ")
	typeKeys("then echo inside; fi\r")
	expect("inside\r\n/etc # ")
	typeKeys("fi fi\r")
	expect("syntax error")
	expect("/etc # ")
	typeKeys("sleep 100; echo after\r")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	typeKeys("\x03")
	expect("^C\r\n")
	expect("/etc # ")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Ctrl-C took %s to end sleep", d)
	}
	if strings.Contains(out.String(), "\nafter\r\n") {
		t.Errorf("the line went on after Ctrl-C: %q", out.String())
	}
	typeKeys("\x1b[Aecho arrows ignored\r") // an up arrow: no line editing
	expect("arrows ignored\r\n/etc # ")
	typeKeys("stty size; tty\r") // the size kubectl reported for the learner's window
	expect("30 100\r\n/dev/pts/0\r\n/etc # ")
	// A command that reads the terminal gets one end-of-file per Ctrl-D,
	// and the shell reads on; Ctrl-C ends a command blocked reading.
	typeKeys("cat > /tmp/note\r")
	typeKeys("kept\r\x04")
	expect("/etc # ")
	typeKeys("cat /tmp/note; cat\r")
	expect("kept\r\n")
	time.Sleep(100 * time.Millisecond)
	typeKeys("\x03")
	expect("^C\r\n/etc # ")
	// Only output to the terminal is on the terminal: through a pipe, ls
	// writes a name a line.
	typeKeys("ls / | wc -l\r")
	expect("ls / | wc -l\r\n")
	from := seen
	expect("\r\n/etc # ")
	if n, err := strconv.Atoi(strings.TrimSpace(out.String()[from : seen-len("\r\n/etc # ")])); err != nil || n < 5 {
		t.Errorf("ls / | wc -l on a terminal counted %d lines (%v), want one a directory of /", n, err)
	}
	typeKeys("exit 3\r")
	select {
	case err := <-done:
		var ce exec.CodeExitError
		if !errors.As(err, &ce) || ce.Code != 3 {
			t.Errorf("the session ended with %v, want exit code 3", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit did not end the session")
	}
}

// On a terminal, Ctrl-C ends a command run without a shell prompt too
// (kubectl exec -it … -- sh -c 'sleep 100'), with 130 (128 + SIGINT).
func TestCtrlCEndsACommandOnATerminal(t *testing.T) {
	c, _, id, _ := startOneContainer(t, "intr", "box", "busybox", "sleep", "3600")
	for _, cmd := range [][]string{{"sh", "-c", "sleep 100; echo after"}, {"sleep", "100"}} {
		keys, typist := io.Pipe()
		out := &simtest.Buffer{}
		done := make(chan error, 1)
		go func() {
			done <- streamRuntime{c.r}.Exec(context.Background(), id, cmd, keys, out, nil, true, nil)
		}()
		time.Sleep(100 * time.Millisecond)
		// Enter first: typing ahead of a program that does not read must
		// not hold up the Ctrl-C after it.
		_, _ = typist.Write([]byte{'\r', machine.KeyInterrupt})
		select {
		case err := <-done:
			var ce exec.CodeExitError
			if !errors.As(err, &ce) || ce.Code != 130 || strings.Contains(out.String(), "after") {
				t.Errorf("%q after Ctrl-C: %v, output %q; want exit code 130", cmd, err, out.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: Ctrl-C did not end it", cmd)
		}
		typist.Close()
	}
}

// Ctrl-D on an empty line is end-of-file: the shell exits 0, while the
// client's input is still open.
func TestCtrlDEndsTheShell(t *testing.T) {
	c, _, id, _ := startOneContainer(t, "eof", "box", "busybox", "sleep", "3600")
	keys, typist := io.Pipe()
	defer typist.Close()
	out := &simtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- streamRuntime{c.r}.Exec(context.Background(), id, []string{"sh"}, keys, out, nil, true, nil)
	}()
	if _, err := typist.Write([]byte("echo one\r\x04")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "one\r\n") {
			t.Errorf("Exec = %v, output %q", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Ctrl-D did not end the shell; the terminal shows %q", out.String())
	}
}
