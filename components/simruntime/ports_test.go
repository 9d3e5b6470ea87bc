package simruntime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/programs"
)

// kubectl port-forward to nginx: the stream reaches the server listening
// on port 80 in the pod, which answers with its page and logs the request
// on stdout; a port nothing listens on is refused as containerd refuses
// it; the connection ends with the container.
func TestPortForwardReachesTheServer(t *testing.T) {
	c, sb, id, logFile := startOneContainer(t, "web", "nginx", "nginx")
	// nginx binds its port once started.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.r.mu.Lock()
		_, bound := c.r.sandboxes[sb].ports.Listener(programs.NginxPort)
		c.r.mu.Unlock()
		if bound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx never listened on port 80; its log:\n%s", readLog(t, logFile))
		}
		time.Sleep(10 * time.Millisecond)
	}

	client, server := net.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- c.r.portForward(context.Background(), sb, programs.NginxPort, server) }()
	br := bufio.NewReader(client)
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://localhost:8080"+path, nil)
		req.Header.Set("User-Agent", "curl/8.5.0")
		if err := req.Write(client); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("/")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Welcome to nginx!") || !strings.HasPrefix(resp.Header.Get("Server"), "nginx/") {
		t.Errorf("GET / = %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if resp = get("/missing.html"); resp.StatusCode != 404 {
		t.Errorf("GET /missing.html = %d", resp.StatusCode)
	}
	_, _ = io.ReadAll(resp.Body)
	eventuallyLog := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(readLog(t, logFile), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in nginx's log:\n%s", want, readLog(t, logFile))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	eventuallyLog(fmt.Sprintf(`"GET / HTTP/1.1" 200 %d "-" "curl/8.5.0"`, len(body)))
	eventuallyLog(`"GET /missing.html HTTP/1.1" 404`)

	// Nothing listens on 81.
	other, _ := net.Pipe()
	if err := c.r.portForward(context.Background(), sb, 81, other); err == nil || !strings.Contains(err.Error(), "127.0.0.1:81: connect: connection refused") {
		t.Errorf("port-forward to a closed port: %v", err)
	}

	// Stopping the container cuts the open connection.
	if _, err := c.rt.StopContainer(ctxT(t), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 5}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("port-forward ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the port-forward outlived its container")
	}
	client.Close()
}
