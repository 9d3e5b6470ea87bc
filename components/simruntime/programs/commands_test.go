package programs

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"net"
	"strings"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// The utilities parse their own arguments (durations, formats, test
// expressions); whatever a learner types, they must neither panic nor
// allocate without bound.

func FuzzParseSleep(f *testing.F) {
	for _, s := range []string{"1", "0.5", "2m", "1h", "3d", "inf", "Infinity", "-1", "1e309", "NaN", "", "s", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, infinite, ok := parseSleep(s)
		if ok && !infinite && d < 0 {
			t.Fatalf("parseSleep(%q) = %v", s, d)
		}
	})
}

func FuzzFormatPrintf(f *testing.F) {
	for _, s := range []string{`%s-%03d\n`, `%999999999s|`, `%.99999f`, `\0101\c`, `%b`, `%`, `%-+ #0*d`, `%x %o %c %i %u`, `\`} {
		f.Add(s, "a 5 'b -3")
	}
	f.Fuzz(func(t *testing.T, format, args string) {
		out, _ := formatPrintf(format, strings.Fields(args), io.Discard)
		if limit := (len(format) + 1) * (4096 + 64) * (len(args) + 1); len(out) > limit {
			t.Fatalf("formatPrintf(%q) wrote %d bytes", format, len(out))
		}
	})
}

func FuzzTest(f *testing.F) {
	for _, s := range []string{"-z x", "abc -lt 3", "! -f /etc/hostname -o 1 -eq 1", "( a = b ) -a -n c", "-d /tmp", "(", "!", "-s /etc/hostname"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		tm := newTestMachine(t, "docker.io/library/busybox")
		p := &machine.Process{Machine: tm.m, Argv: []string{"test"}, IO: machine.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}}
		_, _ = evalTest(p, strings.Fields(expr))
	})
}

// The redis simulation's reader of RESP commands never panics and keeps
// to its bounds, whatever a port-forwarded client sends.
func FuzzReadRESP(f *testing.F) {
	for _, seed := range []string{"PING\r\n", "*1\r\n$4\r\nPING\r\n", "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", "*-1\r\n", "*99999999\r\n", "*1\r\n$-5\r\n", "*1\r\n$3\r\nab"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for range 64 {
			args, err := readRESP(br)
			if err != nil {
				return
			}
			if len(args) > 1024 {
				t.Fatalf("%d arguments", len(args))
			}
		}
	})
}

func TestModeStringIsLs(t *testing.T) {
	for _, c := range []struct {
		mode fs.FileMode
		want string
	}{
		{fs.ModeSymlink | 0o777, "lrwxrwxrwx"},
		{fs.ModeDir | fs.ModeSticky | 0o777, "drwxrwxrwt"},
		{fs.ModeDir | 0o755, "drwxr-xr-x"},
		{0o644, "-rw-r--r--"},
		{fs.ModeSetuid | 0o755, "-rwsr-xr-x"},
		{fs.ModeSetgid | 0o640, "-rw-r-S---"},
	} {
		if got := modeString(c.mode); got != c.want {
			t.Errorf("modeString(%v) = %q, want %q", c.mode, got, c.want)
		}
	}
}

// redis-server, port-forwarded to: the commands a learner tries first.
func TestRedisAnswersOverItsPort(t *testing.T) {
	client, server := net.Pipe()
	go redisHandler()(server)
	defer client.Close()
	br := bufio.NewReader(client)
	for _, c := range []struct{ send, want string }{
		{"PING\r\n", "+PONG\r\n"},
		{"*3\r\n$3\r\nSET\r\n$5\r\ngreet\r\n$5\r\nhello\r\n", "+OK\r\n"},
		{"GET greet\r\n", "$5\r\nhello\r\n"},
		{"GET nothing\r\n", "$-1\r\n"},
		{"FLUSHALL\r\n", "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"},
	} {
		if _, err := io.WriteString(client, c.send); err != nil {
			t.Fatal(err)
		}
		got := ""
		for !strings.HasSuffix(got, "\r\n") || strings.HasPrefix(got, "$") && strings.Count(got, "\r\n") < 2 && got != "$-1\r\n" {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %v", c.send, err)
			}
			got += line
		}
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.send, got, c.want)
		}
	}
}
