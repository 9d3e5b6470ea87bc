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
	if code, _, errOut := run("redis-cli", "-h", "nosuch", "PING"); code != 1 || errOut != "Could not connect to Redis at nosuch:6379: Name or service not known\n" {
		t.Errorf("redis-cli to a name nobody has: exit %d, %q", code, errOut)
	}

	// The prompt, reading its commands from stdin.
	m, stdout, _ := dnsMachine(t, f)
	m.Image = testImage(t, "redis")
	m.StdinOpen = true
	m.Stdin = strings.NewReader("SET n 1\nGET n\nquit\n")
	if code := m.Run([]string{"redis-cli", "-h", "redis"}); code != 0 {
		t.Fatalf("the prompt: exit %d, %q", code, stdout.String())
	}
	if want := "redis:6379> OK\nredis:6379> \"1\"\nredis:6379> "; stdout.String() != want {
		t.Errorf("the prompt printed %q, want %q", stdout.String(), want)
	}
}
