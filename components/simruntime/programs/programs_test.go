package programs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/images"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/internal/simtest"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

var testClock = time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC)

func testImage(t *testing.T, repo string) *images.Image {
	t.Helper()
	ref, err := images.ParseRef(repo)
	if err != nil {
		t.Fatal(err)
	}
	def, err := images.NewCatalogue().Resolve(ref)
	if err != nil {
		t.Fatalf("no image %s in the catalogue", repo)
	}
	return def
}

type testMachine struct {
	m              *machine.Machine
	stdout, stderr *simtest.Buffer
	cancel         context.CancelFunc
}

func newTestMachine(t *testing.T, repo string, env ...string) *testMachine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tm := &testMachine{stdout: &simtest.Buffer{}, stderr: &simtest.Buffer{}, cancel: cancel}
	tm.m = machine.New(machine.Config{
		Ctx:      ctx,
		Image:    testImage(t, repo),
		Hostname: "web-0",
		IP:       "10.244.1.7",
		Env:      append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web-0"}, env...),
		Stdout:   tm.stdout,
		Stderr:   tm.stderr,
		Now:      func() time.Time { return testClock },
		Programs: For,
	})
	return tm
}

func TestInterpreter(t *testing.T) {
	tests := []struct {
		name       string
		image      string // short repo name; busybox when empty
		argv       []string
		env        []string
		wantCode   int
		wantOut    string
		wantErr    string
		outContain string
	}{
		{name: "echo", argv: []string{"sh", "-c", "echo done"}, wantOut: "done\n"},
		{name: "exit code", argv: []string{"sh", "-c", "exit 3"}, wantCode: 3},
		{name: "exit wraps", argv: []string{"sh", "-c", "exit 300"}, wantCode: 44},
		{name: "true", argv: []string{"true"}},
		{name: "false", argv: []string{"false"}, wantCode: 1},
		{name: "bare sh exits at once", argv: []string{"sh"}},
		{name: "not found", argv: []string{"sh", "-c", "foo bar"}, wantCode: 127, wantErr: "sh: foo: not found\n"},
		{name: "not found as /bin/sh", argv: []string{"/bin/sh", "-c", "foo"}, wantCode: 127, wantErr: "/bin/sh: foo: not found\n"},
		{name: "dash not found", image: "nginx", argv: []string{"sh", "-c", "echo a\nfoo"}, wantCode: 127, wantOut: "a\n", wantErr: "sh: 2: foo: not found\n"},
		{name: "bash not found", image: "debian", argv: []string{"bash", "-c", "foo"}, wantCode: 127, wantErr: "bash: line 1: foo: command not found\n"},
		{name: "hostname variable", argv: []string{"sh", "-c", "echo $HOSTNAME ${HOSTNAME}"}, wantOut: "web-0 web-0\n"},
		{name: "ls a directory", argv: []string{"sh", "-c", "cd /etc && ls"}, outContain: "group\nhostname\npasswd\n"},
		{name: "ls -l", argv: []string{"ls", "-l", "/etc/hostname"}, outContain: " 1 root     root             6 Mar 14 15:09 /etc/hostname\n"},
		{name: "ls a missing file", argv: []string{"ls", "/nope"}, wantCode: 2, wantErr: "ls: /nope: No such file or directory\n"},
		{name: "ls a missing file on Debian", image: "debian", argv: []string{"ls", "/nope"}, wantCode: 2, wantErr: "ls: cannot access '/nope': No such file or directory\n"},
		{name: "env variable", argv: []string{"sh", "-c", `echo "greeting: $GREETING"`}, env: []string{"GREETING=hello world"}, wantOut: "greeting: hello world\n"},
		{name: "single quotes", argv: []string{"sh", "-c", `X=1; echo '$X' "$X"`}, wantOut: "$X 1\n"},
		{name: "and or", argv: []string{"sh", "-c", "true && echo yes || echo no; false && echo yes || echo no"}, wantOut: "yes\nno\n"},
		{name: "semicolons", argv: []string{"sh", "-c", "echo a; echo b;echo c"}, wantOut: "a\nb\nc\n"},
		{name: "for loop", argv: []string{"sh", "-c", "for x in a b c; do echo item $x; done"}, wantOut: "item a\nitem b\nitem c\n"},
		{name: "for over variable", argv: []string{"sh", "-c", `L="1 2  3"; for n in $L; do echo -n $n; done`}, wantOut: "123"},
		{name: "while counter", argv: []string{"sh", "-c", "i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done"}, wantOut: "0\n1\n2\n"},
		{name: "while true break", argv: []string{"sh", "-c", "while true; do echo once; break; done; echo after"}, wantOut: "once\nafter\n"},
		{name: "until", argv: []string{"sh", "-c", "n=0; until [ $n -ge 2 ]; do n=$((n+1)); done; echo $n"}, wantOut: "2\n"},
		{name: "if else", argv: []string{"sh", "-c", `if [ -z "$NOPE" ]; then echo empty; else echo set; fi`}, wantOut: "empty\n"},
		{name: "elif", argv: []string{"sh", "-c", `x=2; if [ $x -eq 1 ]; then echo one; elif [ $x = 2 ]; then echo two; fi`}, wantOut: "two\n"},
		{name: "status variable", argv: []string{"sh", "-c", "echo $?; false; echo $?"}, wantOut: "0\n1\n"},
		{name: "set -e", argv: []string{"sh", "-c", "set -e; echo before; false; echo unreachable"}, wantCode: 1, wantOut: "before\n"},
		{name: "set -e ignores conditions", argv: []string{"sh", "-ec", "if false; then :; fi; false || echo ok"}, wantOut: "ok\n"},
		{name: "set -u", argv: []string{"sh", "-c", "set -u; echo $NOPE; echo unreachable"}, wantCode: 2, wantErr: "sh: NOPE: parameter not set\n"},
		{name: "stderr redirect", argv: []string{"sh", "-c", "echo oops >&2; echo fine"}, wantOut: "fine\n", wantErr: "oops\n"},
		{name: "dev null", argv: []string{"sh", "-c", "echo hidden > /dev/null; foo 2>/dev/null; echo $?"}, wantOut: "127\n"},
		{name: "files", argv: []string{"sh", "-c", "echo one > /tmp/f; echo two >> /tmp/f; cat /tmp/f; wc -l < /tmp/f"}, wantOut: "one\ntwo\n2\n"},
		{name: "group to file", argv: []string{"sh", "-c", "{ echo a; echo b; } > /tmp/f; echo c >> /tmp/f; cat /tmp/f"}, wantOut: "a\nb\nc\n"},
		{name: "loop to file", argv: []string{"sh", "-c", "for i in 1 2; do echo $i; done > /tmp/f; cat /tmp/f /tmp/f"}, wantOut: "1\n2\n1\n2\n"},
		{name: "truncate on open", argv: []string{"sh", "-c", "echo old > /tmp/f; : > /tmp/f; wc -c < /tmp/f"}, wantOut: "0\n"},
		{name: "case", argv: []string{"sh", "-c", "v=app.log; case $v in *.sh|*.bash) echo script;; *.log) echo log ;; *) echo other;; esac"}, wantOut: "log\n"},
		{name: "cat hostname", argv: []string{"cat", "/etc/hostname"}, wantOut: "web-0\n"},
		{name: "cat missing", argv: []string{"cat", "/nope"}, wantCode: 1, wantErr: "cat: can't open '/nope': No such file or directory\n"},
		{name: "cat missing gnu", image: "nginx", argv: []string{"cat", "/nope"}, wantCode: 1, wantErr: "cat: /nope: No such file or directory\n"},
		{name: "hostname", argv: []string{"hostname"}, wantOut: "web-0\n"},
		{name: "date", argv: []string{"date"}, wantOut: "Fri Mar 14 15:09:26 UTC 2025\n"},
		{name: "date format", argv: []string{"sh", "-c", "date +%Y-%m-%dT%H:%M:%S"}, wantOut: "2025-03-14T15:09:26\n"},
		{name: "command substitution", argv: []string{"sh", "-c", `echo "now: $(date +%H:%M)" x` + "`echo y`"}, wantOut: "now: 15:09 xy\n"},
		{name: "default value", argv: []string{"sh", "-c", "echo ${UNSET:-fallback} ${#HOSTNAME}"}, wantOut: "fallback 5\n"},
		{name: "arithmetic", argv: []string{"sh", "-c", "echo $(( (2+3)*4 % 7 )) $((10/3))"}, wantOut: "6 3\n"},
		{name: "printf", argv: []string{"sh", "-c", `printf '%s-%03d\n' a 5 b 6`}, wantOut: "a-005\nb-006\n"},
		{name: "echo -e", argv: []string{"sh", "-c", `echo -e "a\tb"; echo -n x; echo y`}, wantOut: "a\tb\nxy\n"},
		{name: "pipeline", argv: []string{"sh", "-c", "for i in 1 2 3; do echo line$i; done | grep -v 2 | wc -l"}, wantOut: "2\n"},
		{name: "negation", argv: []string{"sh", "-c", "! false && echo negated"}, wantOut: "negated\n"},
		{name: "subshell", argv: []string{"sh", "-c", "X=out; (X=in; echo $X); echo $X"}, wantOut: "in\nout\n"},
		{name: "group redirect", argv: []string{"sh", "-c", "{ echo a; echo b; } >&2"}, wantErr: "a\nb\n"},
		{name: "env", argv: []string{"env"}, env: []string{"A=1"}, wantOut: "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=web-0\nA=1\n"},
		{name: "export to child", argv: []string{"sh", "-c", "export B=2; C=3; sh -c 'echo $B-$C'"}, wantOut: "2-\n"},
		{name: "prefix assignment", argv: []string{"sh", "-c", "D=4 printenv D"}, wantOut: "4\n"},
		{name: "positional params", argv: []string{"sh", "-c", `echo "$0 $1 $#"; for a in "$@"; do echo "<$a>"; done`, "me", "x y", "z"}, wantOut: "me x y 2\n<x y>\n<z>\n"},
		{name: "sleep fractional", argv: []string{"sh", "-c", "sleep 0.01; echo woke"}, wantOut: "woke\n"},
		{name: "sleep invalid", argv: []string{"sleep", "abc"}, wantCode: 1, wantErr: "sleep: invalid number 'abc'\n"},
		{name: "syntax error", argv: []string{"sh", "-c", "if true; then echo x"}, wantCode: 2, outContain: ""},
		{name: "unterminated quote", argv: []string{"sh", "-c", "echo 'abc"}, wantCode: 2, wantErr: "sh: syntax error: unterminated quoted string\n"},
		{name: "test numbers error", argv: []string{"sh", "-c", "[ abc -lt 3 ]"}, wantCode: 2, wantErr: "[: abc: bad number\n"},
		{name: "uname", argv: []string{"uname", "-a"}, wantOut: "Linux web-0 6.8.0-wheelhouse #1 SMP PREEMPT_DYNAMIC x86_64 Linux\n"},
		{name: "seq", argv: []string{"seq", "3"}, wantOut: "1\n2\n3\n"},
		{name: "not simulated", argv: []string{"sh", "-c", "ping -c 1 web"}, wantCode: 1, wantErr: "ping: not supported by the simulated runtime; use --runtime containerd\n"},
		{name: "wget of a name nobody resolves", argv: []string{"sh", "-c", "wget -qO- http://web"}, wantCode: 1, wantErr: "wget: bad address 'web'\n"},
		{name: "wget with no pod network", argv: []string{"wget", "-qO-", "http://10.96.0.50/"}, wantCode: 1, wantErr: "wget: can't connect to remote host (10.96.0.50): Network is unreachable\n"},
		{name: "eval", argv: []string{"sh", "-c", `cmd="echo evaluated"; eval $cmd`}, wantOut: "evaluated\n"},
		{name: "exit trap", argv: []string{"sh", "-c", `trap "echo cleanup" EXIT; echo work`}, wantOut: "work\ncleanup\n"},
		{name: "hostname -i", argv: []string{"hostname", "-i"}, wantOut: "10.244.1.7\n"},
		{name: "nginx entrypoint passes other commands", image: "nginx", argv: []string{"/docker-entrypoint.sh", "echo", "hi"}, wantOut: "hi\n"},
		{name: "postgres needs a password", image: "postgres", argv: []string{"docker-entrypoint.sh", "postgres"}, wantCode: 1, outContain: "superuser password is not specified"},
		{name: "postgres refuses root", image: "postgres", argv: []string{"postgres"}, wantCode: 1, outContain: `"root" execution of the PostgreSQL server is not permitted`},
		{name: "nginx daemonizes without daemon off", image: "nginx", argv: []string{"nginx"}},
		{name: "redis version", image: "redis", argv: []string{"redis-server", "--version"}, outContain: "Redis server v=7.4.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := "docker.io/library/busybox"
			if tt.image != "" {
				repo = "docker.io/library/" + tt.image
			}
			tm := newTestMachine(t, repo, tt.env...)
			code := tm.m.Run(tt.argv)
			out, errOut := tm.stdout.String(), tm.stderr.String()
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, out, errOut)
			}
			if tt.outContain != "" {
				if !strings.Contains(out+errOut, tt.outContain) {
					t.Errorf("output %q does not contain %q", out+errOut, tt.outContain)
				}
				return
			}
			if out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if tt.name != "syntax error" && errOut != tt.wantErr {
				t.Errorf("stderr = %q, want %q", errOut, tt.wantErr)
			}
		})
	}
}

// runAsync starts argv as the container's PID 1 and returns a channel
// with its exit status.
func (tm *testMachine) runAsync(argv ...string) <-chan int {
	done := make(chan int, 1)
	go func() {
		code := tm.m.Run(argv)
		tm.cancel()
		tm.m.Jobs.Wait()
		done <- code
	}()
	return done
}

func waitCode(t *testing.T, done <-chan int, within time.Duration) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(within):
		t.Fatalf("program still running after %v", within)
		return -1
	}
}

func notDone(t *testing.T, done <-chan int, for_ time.Duration) {
	t.Helper()
	select {
	case code := <-done:
		t.Fatalf("program exited with %d, want it still running", code)
	case <-time.After(for_):
	}
}

func TestSignals(t *testing.T) {
	t.Run("sleep as PID 1 ignores SIGTERM", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/busybox")
		done := tm.runAsync("sleep", "3600")
		tm.m.Deliver(machine.SIGTERM)
		notDone(t, done, 100*time.Millisecond)
		tm.cancel()
		if code := waitCode(t, done, time.Second); code != machine.ExitKilled {
			t.Fatalf("exit code %d, want %d", code, machine.ExitKilled)
		}
	})
	t.Run("sh script ignores SIGTERM", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/busybox")
		done := tm.runAsync("sh", "-c", "while true; do sleep 0.01; done")
		tm.m.Deliver(machine.SIGTERM)
		notDone(t, done, 100*time.Millisecond)
		tm.cancel()
		if code := waitCode(t, done, time.Second); code != machine.ExitKilled {
			t.Fatalf("exit code %d, want %d", code, machine.ExitKilled)
		}
	})
	t.Run("trap with wait stops promptly", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/busybox")
		done := tm.runAsync("sh", "-c", `trap 'echo bye; exit 0' TERM; echo ready; sleep 3600 & wait`)
		simtest.WaitFor(t, "ready", func() bool { return strings.Contains(tm.stdout.String(), "ready") })
		tm.m.Deliver(machine.SIGTERM)
		if code := waitCode(t, done, time.Second); code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if got := tm.stdout.String(); got != "ready\nbye\n" {
			t.Fatalf("stdout %q", got)
		}
	})
	t.Run("nginx exits 0 on SIGQUIT", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/nginx")
		done := tm.runAsync("/docker-entrypoint.sh", "nginx", "-g", "daemon off;")
		simtest.WaitFor(t, "workers", func() bool { return strings.Contains(tm.stderr.String(), "start worker process") })
		tm.m.Deliver(machine.SIGQUIT)
		if code := waitCode(t, done, time.Second); code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if !strings.Contains(tm.stdout.String(), "Configuration complete; ready for start up") {
			t.Errorf("missing entrypoint notices: %q", tm.stdout.String())
		}
		if !strings.Contains(tm.stderr.String(), "2025/03/14 15:09:26 [notice] 1#1: signal 3 (SIGQUIT) received from 0, shutting down") {
			t.Errorf("missing shutdown notice: %q", tm.stderr.String())
		}
	})
	t.Run("server under sh does not see the signal", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/redis")
		done := tm.runAsync("sh", "-c", "redis-server")
		simtest.WaitFor(t, "ready", func() bool { return strings.Contains(tm.stdout.String(), "Ready to accept connections tcp") })
		tm.m.Deliver(machine.SIGTERM)
		notDone(t, done, 100*time.Millisecond)
		tm.cancel()
		if code := waitCode(t, done, time.Second); code != machine.ExitKilled {
			t.Fatalf("exit code %d, want %d", code, machine.ExitKilled)
		}
	})
	t.Run("exec makes the server PID 1", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/redis")
		done := tm.runAsync("sh", "-c", "echo starting; exec redis-server --port 7000")
		simtest.WaitFor(t, "ready", func() bool { return strings.Contains(tm.stdout.String(), "Ready to accept connections tcp") })
		tm.m.Deliver(machine.SIGTERM)
		if code := waitCode(t, done, time.Second); code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		out := tm.stdout.String()
		for _, want := range []string{"port=7000", "Received SIGTERM scheduling shutdown...", "Redis is now ready to exit, bye bye..."} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("postgres with password", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/postgres", "POSTGRES_PASSWORD=secret")
		done := tm.runAsync("docker-entrypoint.sh", "postgres")
		simtest.WaitFor(t, "ready", func() bool {
			return strings.Contains(tm.stderr.String(), "database system is ready to accept connections")
		})
		tm.m.Deliver(machine.SIGINT)
		if code := waitCode(t, done, time.Second); code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if !strings.Contains(tm.stderr.String(), "received fast shutdown request") {
			t.Errorf("stderr: %s", tm.stderr.String())
		}
	})
}

// A loop that never sleeps must neither spin a CPU nor flood the log, and
// must still die when killed.
func TestBusyLoopIsBounded(t *testing.T) {
	tm := newTestMachine(t, "docker.io/library/busybox")
	done := tm.runAsync("sh", "-c", "while true; do echo x; done")
	time.Sleep(200 * time.Millisecond)
	tm.cancel()
	if code := waitCode(t, done, time.Second); code != machine.ExitKilled {
		t.Fatalf("exit code %d, want %d", code, machine.ExitKilled)
	}
	if n := strings.Count(tm.stdout.String(), "x\n"); n < 5 || n > 60 {
		t.Fatalf("%d iterations in 200ms, want about 20", n)
	}
}

func TestResourceLimits(t *testing.T) {
	for _, tc := range []struct {
		name, script, wantErr string
		wantCode              int
	}{
		{"script running itself", "echo 'sh /tmp/s' > /tmp/s; sh /tmp/s", "can't fork: Resource temporarily unavailable", 2},
		{"doubling variable", "x=0123456789abcdef; while true; do x=$x$x; done", "sh: out of memory", 2},
		{"huge printf width", "printf '%999999999s|' x | wc -c; exit 1", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTestMachine(t, "docker.io/library/busybox")
			done := tm.runAsync("sh", "-c", tc.script)
			if code := waitCode(t, done, 5*time.Second); code != tc.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tc.wantCode, tm.stderr.String())
			}
			if !strings.Contains(tm.stderr.String(), tc.wantErr) {
				t.Fatalf("stderr %q lacks %q", tm.stderr.String(), tc.wantErr)
			}
		})
	}
	t.Run("file growth", func(t *testing.T) {
		tm := newTestMachine(t, "docker.io/library/busybox")
		code := tm.m.Run([]string{"sh", "-c", "echo 0123456789abcdef > /tmp/f; i=0; while [ $i -lt 40 ]; do cat /tmp/f /tmp/f > /tmp/g || exit 9; cat /tmp/g > /tmp/f; i=$((i+1)); done"})
		if !strings.Contains(tm.stderr.String(), "No space left on device") {
			t.Fatalf("exit %d, stderr %q", code, tm.stderr.String())
		}
		if n := tm.m.WrittenBytes(); n > machine.MaxFileBytes {
			t.Fatalf("%d bytes in files, over the %d limit", n, machine.MaxFileBytes)
		}
	})
}

func TestInteractiveShellWaitsForStdin(t *testing.T) {
	tm := newTestMachine(t, "docker.io/library/busybox")
	tm.m.StdinOpen = true
	done := tm.runAsync("sh")
	notDone(t, done, 100*time.Millisecond)
	tm.cancel()
	if code := waitCode(t, done, time.Second); code != machine.ExitKilled {
		t.Fatalf("exit code %d, want %d", code, machine.ExitKilled)
	}
}
