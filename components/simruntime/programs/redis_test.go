package programs

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

func TestRedisCliTalksToARedisServiceByName(t *testing.T) {
	f := &fakeDNS{
		records: map[string]string{"redis.lab8.svc.cluster.local.": "10.96.5.5"},
		servers: map[netip.AddrPort]machine.PortHandler{netip.MustParseAddrPort("10.96.5.5:6379"): redisHandler()},
	}
	run := func(argv ...string) (int, string, string) {
		m, stdout, stderr := dnsMachine(t, f)
		m.Image = testImage(t, "redis")
		code := m.Run(argv)
		return code, stdout.String(), stderr.String()
	}
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"redis-cli", "-h", "redis", "PING"}, "PONG\n"},
		{[]string{"redis-cli", "-h", "redis", "SET", "greeting", "hello world"}, "OK\n"},
		{[]string{"redis-cli", "-h", "redis", "GET", "greeting"}, "hello world\n"},
		{[]string{"redis-cli", "-h", "redis", "GET", "nosuch"}, "\n"},
		{[]string{"redis-cli", "-h", "redis", "--no-raw", "GET", "greeting"}, "\"hello world\"\n"},
		{[]string{"redis-cli", "-h", "redis", "--no-raw", "GET", "nosuch"}, "(nil)\n"},
		{[]string{"redis-cli", "-h", "redis", "--no-raw", "FLY"}, "(error) ERR unknown command 'FLY', with args beginning with: \n"},
	} {
		if code, out, errOut := run(c.argv...); code != 0 || out != c.want {
			t.Errorf("%s: exit %d, %q (stderr %q), want %q", strings.Join(c.argv, " "), code, out, errOut, c.want)
		}
	}
	if code, _, errOut := run("redis-cli", "-h", "10.96.9.9", "PING"); code != 1 || errOut != "Could not connect to Redis at 10.96.9.9:6379: Connection refused\n" {
		t.Errorf("redis-cli to an address that refuses: exit %d, %q", code, errOut)
	}
	// The cluster's DNS has no upstream: the bare name, last of the
	// search path, fails (SERVFAIL), which glibc reports as temporary.
	if code, _, errOut := run("redis-cli", "-h", "nosuch", "PING"); code != 1 || errOut != "Could not connect to Redis at nosuch:6379: Temporary failure in name resolution\n" {
		t.Errorf("redis-cli to a name nobody has: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run("redis-cli", "-h", "nosuch.lab8.svc.cluster.local.", "PING"); code != 1 || errOut != "Could not connect to Redis at nosuch.lab8.svc.cluster.local.:6379: Name or service not known\n" {
		t.Errorf("redis-cli to a Service nobody created: exit %d, %q", code, errOut)
	}

	// Commands from a pipe: no prompt, raw replies, words split as
	// redis-cli splits them.
	m, stdout, _ := dnsMachine(t, f)
	m.Image = testImage(t, "redis")
	m.StdinOpen = true
	m.Stdin = strings.NewReader("SET n \"hello world\"\nGET n\nGET 'n\nquit\nPING\n")
	if code := m.Run([]string{"redis-cli", "-h", "redis"}); code != 0 {
		t.Fatalf("commands from stdin: exit %d, %q", code, stdout.String())
	}
	if want := "OK\nhello world\nInvalid argument(s)\n"; stdout.String() != want {
		t.Errorf("commands from stdin printed %q, want %q", stdout.String(), want)
	}
}

func TestRedisCliSplitsArgumentsAsRedisCliDoes(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string // nil: invalid
	}{
		{"  SET k v  \n", []string{"SET", "k", "v"}},
		{`SET k "hello world"`, []string{"SET", "k", "hello world"}},
		{`SET k "a\tb\x41\"c"`, []string{"SET", "k", "a\tbA\"c"}},
		{`SET k 'it\'s \n'`, []string{"SET", "k", `it's \n`}},
		{`SET k ""`, []string{"SET", "k", ""}},
		{`SET k "open`, nil},
		{`SET k "a"b`, nil},
		{"", []string{}},
	} {
		got, ok := splitArgs(c.line)
		if c.want == nil {
			if ok {
				t.Errorf("%q: split into %q, want invalid", c.line, got)
			}
			continue
		}
		if !ok || strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%q: %q (ok %v), want %q", c.line, got, ok, c.want)
		}
	}
}
