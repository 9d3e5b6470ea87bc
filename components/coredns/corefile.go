package coredns

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

// A Corefile is a pod's Corefile, adapted to run inside Wheelhouse.
//
// A CoreDNS pod's process is the real CoreDNS, but the pod's address and
// its port 53 exist only on the simulated pod network, and the pod cannot
// reach the apiserver at the kubernetes Service's address. So before
// CoreDNS reads the Corefile, adapt changes exactly that and no more:
//   - each server block listens on a free port of 127.0.0.1 instead of
//     its port (a bind directive, and the port in its keys), and the pod's
//     port is handed to it (Ports);
//   - the kubernetes plugin reads a kubeconfig that holds the pod's own
//     service account token and the cluster's CA, both mounted in the pod,
//     and the apiserver's real address: in-cluster configuration, by file.
//
// Everything else (zones, plugins, their options) is the Corefile's.
type Corefile struct {
	// Text is the adapted Corefile, which CoreDNS is started with.
	Text string
	// Keys are the server blocks' keys as written (".:53"), which CoreDNS
	// prints when it starts.
	Keys []string
	// Ports maps each port a block serves in the pod to the loopback port
	// CoreDNS listens on for it.
	Ports map[int]int
}

// adapt parses corefile (named filename, for errors) and adapts it;
// kubeconfig is the file the kubernetes plugin is to read, and freePort
// finds a loopback port free for both UDP and TCP.
func adapt(filename, corefile, kubeconfig string, freePort func() (int, error)) (*Corefile, error) {
	blocks, err := caddyfile.Parse(filename, strings.NewReader(corefile), dnsserver.Directives)
	if err != nil {
		return nil, err
	}
	out := &Corefile{Ports: map[int]int{}}
	var b bytes.Buffer
	for _, sb := range blocks {
		var keys []string
		for _, k := range sb.Keys {
			out.Keys = append(out.Keys, k)
			zone, port, err := splitKey(k)
			if err != nil {
				return nil, fmt.Errorf("%s: server block %q: %w", filename, k, err)
			}
			local, ok := out.Ports[port]
			if !ok {
				if local, err = freePort(); err != nil {
					return nil, fmt.Errorf("finding a loopback port for port %d: %w", port, err)
				}
				out.Ports[port] = local
			}
			keys = append(keys, zone+":"+strconv.Itoa(local))
		}
		b.WriteString(strings.Join(keys, " ") + " {\n")
		var directives []string
		for name := range sb.Tokens {
			if name != "bind" {
				directives = append(directives, name)
			}
		}
		// In the order they were written: CoreDNS orders its plugin chain
		// itself, but a reader of the adapted file should recognise it.
		slices.SortFunc(directives, func(a, c string) int { return sb.Tokens[a][0].Line - sb.Tokens[c][0].Line })
		for _, name := range directives {
			tokens := sb.Tokens[name]
			if name == "kubernetes" {
				tokens = withKubeconfig(tokens, kubeconfig)
			}
			writeTokens(&b, tokens)
		}
		b.WriteString("    bind 127.0.0.1\n}\n")
	}
	out.Text = b.String()
	return out, nil
}

// splitKey splits a server block key ("dns://.:53", "cluster.local",
// ".:5353") into its zone and port; CoreDNS's default port is 53. Other
// transports (TLS, gRPC, HTTPS, QUIC) need sockets a pod here does not
// have.
func splitKey(key string) (zone string, port int, err error) {
	if t, rest, ok := strings.Cut(key, "://"); ok {
		if t != "dns" {
			return "", 0, fmt.Errorf("only plain DNS (dns://) is served in Wheelhouse, not %s://", t)
		}
		key = rest
	}
	zone, p := key, "53"
	if i := strings.LastIndexByte(key, ':'); i >= 0 {
		zone, p = key[:i], key[i+1:]
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return zone, port, nil
}

// withKubeconfig adds "kubeconfig PATH" to a kubernetes directive,
// replacing any endpoint, tls or kubeconfig option it has (none could
// work here).
func withKubeconfig(tokens []caddyfile.Token, kubeconfig string) []caddyfile.Token {
	var out []caddyfile.Token
	skipLine := -1
	for _, t := range tokens {
		if t.Line == skipLine {
			continue
		}
		if t.Text == "endpoint" || t.Text == "tls" || t.Text == "kubeconfig" {
			skipLine = t.Line
			continue
		}
		out = append(out, t)
	}
	// Line numbers only say which tokens share a line: the new option
	// gets one of its own, after every other.
	line := 0
	for _, t := range out {
		line = max(line, t.Line)
	}
	line++
	option := []caddyfile.Token{{Line: line, Text: "kubeconfig"}, {Line: line, Text: kubeconfig}}
	last := out[len(out)-1]
	if last.Text == "}" && slices.ContainsFunc(out, func(t caddyfile.Token) bool { return t.Text == "{" }) {
		out = append(out[:len(out)-1], option...)
		return append(out, caddyfile.Token{Line: line + 1, Text: "}"})
	}
	out = append(out, caddyfile.Token{Line: last.Line, Text: "{"})
	out = append(out, option...)
	return append(out, caddyfile.Token{Line: line + 1, Text: "}"})
}

// writeTokens writes a directive's tokens a line per source line,
// indented by depth.
func writeTokens(b *bytes.Buffer, tokens []caddyfile.Token) {
	depth := 1
	for i, t := range tokens {
		if i > 0 && t.Line != tokens[i-1].Line {
			b.WriteString("\n")
		}
		if i == 0 || t.Line != tokens[i-1].Line {
			d := depth
			if t.Text == "}" {
				d--
			}
			b.WriteString(strings.Repeat("    ", d))
		} else {
			b.WriteString(" ")
		}
		switch t.Text {
		case "{":
			depth++
			b.WriteString("{")
			continue
		case "}":
			depth--
			b.WriteString("}")
			continue
		}
		b.WriteString(quote(t.Text))
	}
	b.WriteString("\n")
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"{}#") {
		return s
	}
	return strconv.Quote(s)
}

// freeLoopbackPort is a port of 127.0.0.1 that is free for both UDP and
// TCP at the time of asking.
func freeLoopbackPort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no loopback port is free for both UDP and TCP")
}
