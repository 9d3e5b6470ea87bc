package coredns

import (
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

func ports(next ...int) func() (int, error) {
	return func() (int, error) {
		p := next[0]
		next = next[1:]
		return p, nil
	}
}

func TestTheDefaultCorefileIsAdaptedToLoopbackAndTheKubeconfig(t *testing.T) {
	c, err := adapt("/etc/coredns/Corefile", DefaultCorefile, "/tmp/x/kubeconfig", ports(40053))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Keys, ",") != ".:53" || len(c.Ports) != 1 || c.Ports[53] != 40053 {
		t.Errorf("keys %v, ports %v", c.Keys, c.Ports)
	}
	blocks, err := caddyfile.Parse("adapted", strings.NewReader(c.Text), dnsserver.Directives)
	if err != nil {
		t.Fatalf("the adapted Corefile does not parse: %v\n%s", err, c.Text)
	}
	if len(blocks) != 1 || strings.Join(blocks[0].Keys, ",") != ".:40053" {
		t.Fatalf("blocks %+v", blocks)
	}
	text := func(directive string) string {
		var words []string
		for _, tok := range blocks[0].Tokens[directive] {
			words = append(words, tok.Text)
		}
		return strings.Join(words, " ")
	}
	if got, want := text("kubernetes"), "kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure fallthrough in-addr.arpa ip6.arpa ttl 30 kubeconfig /tmp/x/kubeconfig }"; got != want {
		t.Errorf("kubernetes:\n got %s\nwant %s", got, want)
	}
	if got := text("bind"); got != "bind 127.0.0.1" {
		t.Errorf("bind: %q", got)
	}
	if got, want := text("cache"), "cache 30 { disable success cluster.local disable denial cluster.local }"; got != want {
		t.Errorf("cache: %q", got)
	}
	for _, d := range []string{"errors", "loadbalance"} {
		if text(d) != d {
			t.Errorf("%s: %q", d, text(d))
		}
	}
}

func TestCorefilesOfOtherShapes(t *testing.T) {
	const corefile = `cluster.local:5353 dns://example.org {
    kubernetes cluster.local { endpoint https://10.0.0.1:6443 }
    bind 10.1.2.3
    template IN A example.org {
        answer "{{ .Name }} 60 IN A 192.0.2.1"
    }
}
`
	c, err := adapt("Corefile", corefile, "/k", ports(41000, 42000))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ports[5353] != 41000 || c.Ports[53] != 42000 {
		t.Errorf("ports %v", c.Ports)
	}
	blocks, err := caddyfile.Parse("adapted", strings.NewReader(c.Text), dnsserver.Directives)
	if err != nil {
		t.Fatalf("the adapted Corefile does not parse: %v\n%s", err, c.Text)
	}
	if got := strings.Join(blocks[0].Keys, " "); got != "cluster.local:41000 example.org:42000" {
		t.Errorf("keys %q", got)
	}
	if strings.Contains(c.Text, "endpoint") || strings.Contains(c.Text, "10.1.2.3") || !strings.Contains(c.Text, "kubeconfig /k") {
		t.Errorf("the endpoint and the bind address stay:\n%s", c.Text)
	}
	if !strings.Contains(c.Text, `"{{ .Name }} 60 IN A 192.0.2.1"`) {
		t.Errorf("a quoted argument lost its quotes:\n%s", c.Text)
	}

	for _, bad := range []struct{ corefile, want string }{
		{"tls://.:853 {\n errors\n}\n", "only plain DNS"},
		{".:99999 {\n errors\n}\n", "bad port"},
		{".:53 {\n nosuchplugin\n}\n", "Unknown directive 'nosuchplugin'"},
		{".:53 {\n errors\n", "Syntax error"},
	} {
		if _, err := adapt("Corefile", bad.corefile, "/k", ports(1, 2)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error with %q", bad.corefile, err, bad.want)
		}
	}
}
