package e2e

// The open doors, tried as an attacker would: a web page on another site,
// a client without the right certificate, a rebound host name, a network
// neighbour.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// etcdTLS is a TLS client configuration for the shared cluster's etcd:
// its CA, and the client pair at certFile/keyFile (none if empty).
func etcdTLS(t *testing.T, certFile, keyFile string) *tls.Config {
	t.Helper()
	pki := filepath.Join(shared.dataDir, "pki")
	ca, err := os.ReadFile(filepath.Join(pki, "etcd", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(pki, certFile), filepath.Join(pki, keyFile))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// A web page can send etcd a "simple" cross-origin request (text/plain,
// no preflight). etcd must not answer it: without an etcd client
// certificate there is no connection at all, plain HTTP included, the
// cluster's admin certificate is not an etcd one, and even an etcd client
// is given no CORS header for a foreign origin.
func TestEtcdServesOnlyHoldersOfAnEtcdCertificate(t *testing.T) {
	base := fmt.Sprintf("https://127.0.0.1:%d", shared.etcdPort)
	rangeBody := `{"key":"` + base64.StdEncoding.EncodeToString([]byte("/registry/")) + `","range_end":"` + base64.StdEncoding.EncodeToString([]byte("/registry0")) + `","count_only":true}`
	post := func(client *http.Client, scheme string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", scheme+fmt.Sprintf("://127.0.0.1:%d/v3/kv/range", shared.etcdPort), strings.NewReader(rangeBody))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", "http://evil.example")
		return client.Do(req)
	}
	client := func(cfg *tls.Config) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}

	if resp, err := post(&http.Client{Timeout: 10 * time.Second}, "http"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "count") {
			t.Errorf("plain HTTP to etcd answered %s: %s", resp.Status, body)
		}
	}
	for _, tc := range []struct{ name, cert, key string }{
		{"no client certificate", "", ""},
		{"the cluster admin's certificate", "admin.crt", "admin.key"},
		{"a kubelet's certificate", "node-node-1.crt", "node-node-1.key"},
	} {
		resp, err := post(client(etcdTLS(t, tc.cert, tc.key)), "https")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Errorf("%s: etcd answered %s: %s", tc.name, resp.Status, body)
		}
	}

	admin := client(etcdTLS(t, "etcd/admin.crt", "etcd/admin.key"))
	resp, err := post(admin, "https")
	if err != nil {
		t.Fatalf("etcd refused its own admin certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"count"`) {
		t.Errorf("with the etcd admin certificate: %s %s", resp.Status, body)
	}
	if acao := resp.Header.Values("Access-Control-Allow-Origin"); len(acao) != 0 {
		t.Errorf("etcd allows origins %v; no web page may read it", acao)
	}
	// The preflight a page would send before a JSON request.
	req, _ := http.NewRequest("OPTIONS", base+"/v3/kv/put", nil)
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if resp, err := admin.Do(req); err == nil {
		resp.Body.Close()
		if acao := resp.Header.Values("Access-Control-Allow-Origin"); len(acao) != 0 {
			t.Errorf("etcd's preflight allows origins %v", acao)
		}
	}
}

// secretValue is random, so finding it anywhere means it leaked.
func secretValue(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "v" + hex.EncodeToString(b)
}

// No Secret value leaves Wheelhouse without the admin token: not in the
// trace stream, the flows, the event inspector or the etcd browser (now or
// at an old revision after the Secret is gone). Its keys and sizes do.
// With the token the inspector and the etcd browser show the value; the
// apiserver itself refuses the Secret to an anonymous client.
func TestSecretValuesNeedTheAdminToken(t *testing.T) {
	client := shared.client(t)
	ns := createNamespace(t, client, "secrets")
	value := secretValue(t)
	encodings := []string{value, base64.StdEncoding.EncodeToString([]byte(value)), base64.StdEncoding.EncodeToString([]byte(value))[:12]}
	leaks := func(where, body string) {
		t.Helper()
		for _, e := range encodings {
			if strings.Contains(body, e) {
				t.Errorf("%s shows the Secret's value without the admin token:\n%s", where, truncate(body, 2000))
			}
		}
	}
	tc := followTrace(t, shared.uiAddr, "noise=true")
	// Created with kubectl apply, so the last-applied annotation holds the
	// value too.
	manifest := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: topsecret\n  namespace: %s\nstringData:\n  password: %s\n", ns, value)), 0o600); err != nil {
		t.Fatal(err)
	}
	k := embeddedKubectl(shared.kubeconfig())
	k.mustRun(t, "apply", "-f", manifest)
	k.mustRun(t, "patch", "secret", "topsecret", "-n", ns, "-p", `{"stringData":{"password":"`+value+`x"}}`)
	key := "/registry/secrets/" + ns + "/topsecret"
	secretPuts := func() []tracing.Event {
		var out []tracing.Event
		for _, e := range tc.snapshot() {
			if e.Kind == tracing.KindEtcd && e.Detail["key"] == key {
				out = append(out, e)
			}
		}
		return out
	}
	eventually(t, 30*time.Second, "both etcd writes of the Secret in the trace", func() (bool, string) {
		n := len(secretPuts())
		return n >= 2, fmt.Sprintf("%d writes", n)
	})
	puts := secretPuts()
	firstRev := strconv.FormatInt(int64(puts[0].Detail["revision"].(float64)), 10)

	// Every frame of the stream, every event about the Secret, its flow.
	frames, _ := json.Marshal(tc.snapshot())
	leaks("the trace stream", string(frames))
	leaks("/api/flows", get(t, "/api/flows?object="+url.QueryEscape("secrets/"+ns+"/topsecret"), ""))
	for _, ev := range tc.snapshot() {
		if ev.Namespace == ns {
			leaks(fmt.Sprintf("/api/events/%d", ev.Seq), get(t, fmt.Sprintf("/api/events/%d", ev.Seq), ""))
		}
	}
	inspector := get(t, fmt.Sprintf("/api/events/%d", puts[1].Seq), "")
	if !strings.Contains(inspector, `"password"`) || !strings.Contains(inspector, "hidden") {
		t.Errorf("the inspector should show the Secret's keys and sizes:\n%s", inspector)
	}
	browser := get(t, "/api/etcd/value?key="+url.QueryEscape(key), "")
	leaks("the etcd browser", browser)
	if !strings.Contains(browser, `"password"`) {
		t.Errorf("the etcd browser should show the Secret's keys:\n%s", browser)
	}

	// With the token, the values are there.
	if got := get(t, fmt.Sprintf("/api/events/%d", puts[1].Seq), shared.uiInfo(t).Token); !strings.Contains(got, base64.StdEncoding.EncodeToString([]byte(value+"x"))) {
		t.Errorf("with the admin token the inspector should show the value:\n%s", truncate(got, 2000))
	}
	if got := get(t, "/api/etcd/value?key="+url.QueryEscape(key), shared.uiInfo(t).Token); !strings.Contains(got, base64.StdEncoding.EncodeToString([]byte(value+"x"))) {
		t.Errorf("with the admin token the etcd browser should show the value:\n%s", truncate(got, 2000))
	}

	// After the Secret is gone, its old revision is still hidden.
	if err := client.CoreV1().Secrets(ns).Delete(context.Background(), "topsecret", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	leaks("the etcd browser at an old revision", get(t, "/api/etcd/value?key="+url.QueryEscape(key)+"&rev="+firstRev, ""))

	// The apiserver refuses the Secret to an anonymous client.
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/api/v1/namespaces/%s/secrets", shared.apiPort, ns), nil)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an anonymous client got %s from the apiserver", resp.Status)
	}
}

// get reads a UI path, with the admin token if one is given, and fails on
// anything but 200.
func get(t *testing.T, path, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+shared.uiAddr+path, nil)
	if token != "" {
		req.Header.Set("X-Wheelhouse-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	return string(body)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// A page on a rebound name gets nothing from the running Wheelhouse, its
// websockets included, and is told which flag would allow the name.
func TestForeignHostIsRefusedByTheRunningServer(t *testing.T) {
	_, port, _ := net.SplitHostPort(shared.uiAddr)
	evil := "evil.example:" + port
	for _, path := range []string{"/", "/api/state", "/api/etcd/keys", "/api/labs", "/api/components", "/healthz", "/assets/ui/main.js"} {
		req, _ := http.NewRequest("GET", "http://"+shared.uiAddr+path, nil)
		req.Host = evil
		req.Header.Set("Origin", "http://"+evil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "--ui-host evil.example") {
			t.Errorf("GET %s as %s: %s %s", path, evil, resp.Status, body)
		}
	}
	for _, path := range []string{"/ws/trace", "/ws/terminal?token=" + shared.uiInfo(t).Token} {
		h := http.Header{"Host": {evil}, "Origin": {"http://" + evil}}
		conn, resp, err := websocket.DefaultDialer.Dial("ws://"+shared.uiAddr+path, h)
		if err == nil {
			conn.Close()
			t.Errorf("%s opened for Host %s", path, evil)
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s for Host %s: %v, want 403", path, evil, err)
		}
	}
}

// Every port the cluster listens on is on loopback: the kubelets' APIs,
// etcd, the apiserver, the secure ports, the UI.
func TestEveryListenerIsOnLoopback(t *testing.T) {
	listeners := processListeners(t, shared.cmd.Process.Pid)
	if len(listeners) < 8 {
		t.Fatalf("found only %d listeners: %v", len(listeners), listeners)
	}
	for _, l := range listeners {
		if ip := net.ParseIP(l.ip); ip == nil || !ip.IsLoopback() {
			t.Errorf("listening on %s:%d, not loopback", l.ip, l.port)
		}
	}
	// The kubelets are reached where their Nodes say, on loopback.
	nodes, err := shared.client(t).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
		found := false
		for _, l := range listeners {
			found = found || l.port == int(port)
		}
		if !found {
			t.Errorf("node %s's kubelet port %d is not one of the process's listeners", n.Name, port)
		}
		for _, a := range n.Status.Addresses {
			if a.Type == v1.NodeInternalIP {
				if c, err := net.DialTimeout("tcp", net.JoinHostPort(a.Address, strconv.Itoa(int(port))), 2*time.Second); err == nil {
					c.Close()
					t.Errorf("node %s's kubelet answers on its InternalIP %s", n.Name, a.Address)
				}
			}
		}
	}
	// kubectl logs still reaches a kubelet.
	k := embeddedKubectl(shared.kubeconfig())
	ns := createNamespace(t, shared.client(t), "logs")
	k.mustRun(t, "run", "hello", "--image", "busybox", "--restart", "Never", "-n", ns, "--", "sh", "-c", "echo hello from loopback")
	eventually(t, time.Minute, "kubectl logs", func() (bool, string) {
		out, _ := k.run(t, "logs", "hello", "-n", ns)
		return strings.Contains(out, "hello from loopback"), out
	})
}

type listener struct {
	ip   string
	port int
}

// processListeners reads the TCP sockets pid listens on from /proc: its
// socket inodes, and the LISTEN entries of /proc/net/tcp{,6} with them.
func processListeners(t *testing.T, pid int) []listener {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []listener
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue // not LISTEN, or not this process's
			}
			hostHex, portHex, _ := strings.Cut(fields[1], ":")
			port, _ := strconv.ParseInt(portHex, 16, 32)
			out = append(out, listener{ip: procIP(hostHex), port: int(port)})
		}
		f.Close()
	}
	return out
}

// procIP decodes /proc/net/tcp's address: 32-bit words in host (little
// endian) order.
func procIP(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return h
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b).String()
}

// On an address others can reach, every page and API but /healthz needs
// the admin token, and `up` says so when it starts.
func TestUIOffLoopbackNeedsTheToken(t *testing.T) {
	port, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := startCluster(shortTempDir(t), 1, "--ui-addr", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.stop()
	out := tc.output.String()
	if !strings.Contains(out, "Warning: the UI listens on 0.0.0.0") || !strings.Contains(out, "needs the admin token") {
		t.Errorf("up did not warn about the address:\n%s", out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for _, path := range []string{"/", "/present", "/api/state", "/api/etcd/keys", "/api/labs", "/api/components", "/assets/ui/main.js", "/status"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s off loopback without the token: %s, want 401", path, resp.Status)
		}
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/trace", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/ws/trace off loopback without the token: %v", err)
	}
	if body, err := httpGet("http://" + addr + "/healthz"); err != nil || !strings.Contains(body, "ok") {
		t.Errorf("/healthz off loopback: %v %q", err, body)
	}
	info := tc.uiInfo(t)
	// The UI's view of the cluster may still be loading (503) for a moment
	// after `up` says the cluster is usable; what counts is that the token
	// lets the request through.
	eventually(t, 30*time.Second, "/api/state off loopback with the token", func() (bool, string) {
		_, err := httpGet("http://" + addr + "/api/state?token=" + info.Token)
		return err == nil, fmt.Sprint(err)
	})
	// A browser that opened the printed address loads the page's assets
	// with the cookie it was given.
	jar := &cookieJar{}
	c := &http.Client{Jar: jar}
	for _, path := range []string{"/?token=" + info.Token, "/assets/ui/main.js", "/api/labs"} {
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("browser GET %s after opening the printed address: %s", path, resp.Status)
		}
	}
}

// cookieJar keeps cookies by host, enough for one server.
type cookieJar struct{ cookies []*http.Cookie }

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.cookies = append(j.cookies, cs...) }
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie          { return j.cookies }
