package coredns

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// fakeAPIServer answers every list with an empty one and holds every
// watch open, which is all CoreDNS's kubernetes plugin needs to start;
// it records who asked, with what token.
type fakeAPIServer struct {
	*httptest.Server
	mu     sync.Mutex
	tokens map[string]bool
	paths  map[string]bool
}

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
	f := &fakeAPIServer{tokens: map[string]bool{}, paths: map[string]bool{}}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.tokens[r.Header.Get("Authorization")] = true
		f.paths[r.URL.Path] = true
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		kind, version := "", "v1"
		switch {
		case strings.HasSuffix(r.URL.Path, "/services"):
			kind = "Service"
		case strings.HasSuffix(r.URL.Path, "/namespaces"):
			kind = "Namespace"
		case strings.HasSuffix(r.URL.Path, "/endpointslices"):
			kind, version = "EndpointSlice", "discovery.k8s.io/v1"
		}
		if r.URL.Query().Get("watch") == "true" {
			// A streaming list (client-go's default): no object, then the
			// bookmark that ends the initial events.
			w.WriteHeader(http.StatusOK)
			if r.URL.Query().Get("sendInitialEvents") == "true" {
				_, _ = fmt.Fprintf(w, `{"type":"BOOKMARK","object":{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"1","annotations":{"k8s.io/initial-events-end":"true"}}}}`+"\n", kind, version)
			}
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = fmt.Fprintf(w, `{"kind":"%sList","apiVersion":%q,"metadata":{"resourceVersion":"1"},"items":[]}`, kind, version)
	}))
	t.Cleanup(f.Close)
	return f
}

// coreDNSPod is a container of the CoreDNS image with the add-on's
// Corefile and a service account mounted, as the kubelet mounts them.
func coreDNSPod(t *testing.T, api *fakeAPIServer, ctx context.Context) (*machine.Machine, *strings.Builder) {
	t.Helper()
	dir := t.TempDir()
	sa, conf := filepath.Join(dir, "sa"), filepath.Join(dir, "config")
	for _, d := range []string{sa, conf} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	for name, content := range map[string][]byte{
		filepath.Join(sa, "token"): []byte("the-pods-token"), filepath.Join(sa, "ca.crt"): ca,
		filepath.Join(conf, "Corefile"): []byte(DefaultCorefile),
	} {
		if err := os.WriteFile(name, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := &strings.Builder{}
	m := machine.New(machine.Config{
		Ctx: ctx, IP: "10.244.1.3", Stdout: &lockedWriter{b: out},
		Mounts: []*runtimeapi.Mount{
			{ContainerPath: serviceAccountDir, HostPath: sa},
			{ContainerPath: "/etc/coredns", HostPath: conf},
		},
	})
	return m, out
}

type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func query(t *testing.T, m *machine.Machine, name string) *dns.Msg {
	t.Helper()
	var h machine.DatagramHandler
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if h, ok = m.Ports.UDPListener(53); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CoreDNS never listened on the pod's port 53")
		}
		time.Sleep(10 * time.Millisecond)
	}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	b, _ := q.Pack()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	answer := h(ctx, b, "10.244.2.9")
	var r dns.Msg
	if answer == nil || r.Unpack(answer) != nil {
		t.Fatalf("no answer to %s", name)
	}
	return &r
}

// CoreDNS starts as the pod's process, answers on the pod's port 53 with
// the pod's service account, ends at SIGTERM, and leaves nothing behind:
// no goroutine, no temporary file, no socket, klog's logger restored.
func TestCoreDNSRunsAsThePodsProcessAndStopsCleanly(t *testing.T) {
	api := newFakeAPIServer(t)
	restored := 0
	cfg := Config{APIServer: api.URL, Log: logr.Discard(), RestoreKlog: func() { restored++ }}
	run := func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m, out := coreDNSPod(t, api, ctx)
		done := make(chan int, 1)
		go func() {
			done <- Program(cfg)(&machine.Process{Machine: m, PID: 1, PID1: true, Argv: []string{"/coredns", "-conf", "/etc/coredns/Corefile"}, IO: machine.Stdio{Out: m.Stdout, Err: m.Stdout}})
		}()
		if r := query(t, m, "kubernetes.default.svc.cluster.local."); r.Rcode != dns.RcodeNameError {
			t.Errorf("a Service nobody created: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
		if r := query(t, m, "example.com."); r.Rcode != dns.RcodeServerFailure {
			t.Errorf("a name outside the cluster: rcode %s, want SERVFAIL (no upstream)", dns.RcodeToString[r.Rcode])
		}
		m.Deliver(machine.SIGTERM)
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("CoreDNS exited %d at SIGTERM\n%s", code, out.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("CoreDNS did not end at SIGTERM")
		}
		if !strings.HasPrefix(out.String(), ".:53\nCoreDNS-"+Version+"\n") || !strings.Contains(out.String(), "SIGTERM: Shutting down servers then terminating") {
			t.Errorf("CoreDNS printed\n%s", out.String())
		}
		if _, ok := m.Ports.UDPListener(53); ok {
			t.Error("port 53 is still bound after CoreDNS ended")
		}
	}
	// Killed while it starts: its servers are stopped all the same.
	killedAtOnce := func(after time.Duration) {
		ctx, cancel := context.WithCancel(context.Background())
		m, out := coreDNSPod(t, api, ctx)
		done := make(chan int, 1)
		go func() {
			done <- Program(cfg)(&machine.Process{Machine: m, PID: 1, PID1: true, Argv: []string{"/coredns", "-conf", "/etc/coredns/Corefile"}, IO: machine.Stdio{Out: m.Stdout, Err: m.Stdout}})
		}()
		time.Sleep(after)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("CoreDNS killed %s after its start did not end\n%s", after, out.String())
		}
	}
	t.Setenv("TMPDIR", t.TempDir()) // what this test's CoreDNS leaves, and nothing else
	run()                           // the first start sets up what lives for the process (caddy's, dns's)
	time.Sleep(200 * time.Millisecond)
	goroutines := runtime.NumGoroutine()
	for i := range 5 {
		run()
		killedAtOnce(time.Duration(i) * 5 * time.Millisecond)
	}
	api.mu.Lock()
	if !api.tokens["Bearer the-pods-token"] || !api.paths["/api/v1/services"] || !api.paths["/apis/discovery.k8s.io/v1/endpointslices"] {
		t.Errorf("CoreDNS asked the apiserver %v with %v, want lists of Services and EndpointSlices with the pod's token", api.paths, api.tokens)
	}
	api.mu.Unlock()
	if restored < 6 {
		t.Errorf("klog's logger was restored %d times for 6 starts and 5 kills", restored)
	}
	var after int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if after = runtime.NumGoroutine(); after <= goroutines {
			break
		}
	}
	if after > goroutines {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 10 starts and stops, %d before\n%s", after, goroutines, buf[:runtime.Stack(buf, true)])
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "wheelhouse-coredns-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
