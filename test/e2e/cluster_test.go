// Package e2e holds the tests that boot real clusters. TestMain builds the
// wheelhouse binary once (or takes $WHEELHOUSE_BIN), boots one cluster
// (`wheelhouse up`, a child process) and shares it; tests that need a
// cluster of another shape start their own. They drive it the way a
// learner does: with the embedded kubectl (`wheelhouse kubectl`), with the
// machine's own kubectl when there is one, through the API and through a
// real browser. Unit packages never boot a cluster; this one does nothing
// else.
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

var shared *testCluster

// sharedHasDefaultComponentPorts says the shared cluster's scheduler and
// controller manager serve on kubeadm's ports, 10259 and 10257.
var sharedHasDefaultComponentPorts bool

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// wheelhouseBin is the binary under test.
var wheelhouseBin string

func TestMain(m *testing.M) {
	flag.Parse()
	bin, cleanup, err := buildWheelhouse()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building wheelhouse:", err)
		os.Exit(1)
	}
	wheelhouseBin = bin
	if err := os.MkdirAll(kubeCacheDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "creating kubectl's cache directory:", err)
		os.Exit(1)
	}
	// A benchmark-only run (-run '^$') starts clusters of its own and
	// should not share the machine with an idle one.
	if flag.Lookup("test.run").Value.String() != "^$" {
		var err error
		// componentstatuses asks the scheduler and the controller manager
		// on their default ports; the shared cluster takes those when free.
		var extra []string
		if portFree(10259) && portFree(10257) {
			extra = []string{"--scheduler-port", "10259", "--controller-manager-port", "10257"}
			sharedHasDefaultComponentPorts = true
		}
		shared, err = startCluster(os.TempDir(), 3, extra...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting the shared cluster:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the shared cluster:", err)
			if code == 0 {
				code = 1
			}
		}
		os.RemoveAll(shared.dataDir)
	}
	cleanup()
	os.Exit(code)
}

// buildWheelhouse builds ./cmd/wheelhouse into a temporary directory, or
// returns $WHEELHOUSE_BIN when set (to test a binary built elsewhere).
func buildWheelhouse() (path string, cleanup func(), err error) {
	if bin := os.Getenv("WHEELHOUSE_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "wheelhouse-e2e-bin-")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "wheelhouse")
	cmd := exec.Command("go", "build", "-o", path, "github.com/wheelhouse-k8s/wheelhouse/cmd/wheelhouse")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build ./cmd/wheelhouse: %w", err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// testCluster is a `wheelhouse up` child process.
type testCluster struct {
	dataDir     string
	apiPort     int
	etcdPort    int
	kubeletPort int
	// schedulerPort is the scheduler's secure port.
	schedulerPort int
	uiAddr        string
	cmd           *exec.Cmd
	output        *syncBuffer
	exited        chan error
	// usableAfter is what `up` printed as its time to a usable cluster.
	usableAfter time.Duration
	progress    map[string]time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// wheelhouse runs the binary under test as `wheelhouse args…`.
func wheelhouse(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, wheelhouseBin, args...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+kubeCacheDir)
	return cmd
}

// kubeCacheDir keeps the tests' kubectl discovery caches out of ~/.kube.
var kubeCacheDir = filepath.Join(os.TempDir(), "wheelhouse-test-kubecache")

// freePorts finds n consecutive free TCP ports on all addresses. They are
// taken below the kernel's ephemeral range (where the ports of outgoing
// connections come from), so that nothing claims them between this check
// and the cluster listening on them.
func freePorts(n int) (int, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const floor = 20000
	if low-n <= floor {
		return 0, fmt.Errorf("no room below the ephemeral port range (%d)", low)
	}
	for attempt := 0; attempt < 200; attempt++ {
		base := floor + rand.IntN(low-n-floor)
		ok := true
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports", n)
}

var progressLine = regexp.MustCompile(`✓ (\S+)\s+ready in\s+([\d.]+)s\s+\(at\s+([\d.]+)s\)`)
var usableLine = regexp.MustCompile(`Cluster usable after ([\d.]+)s`)

// startCluster runs `wheelhouse up` on a fresh data dir and free ports.
func startCluster(tmp string, nodes int, extra ...string) (*testCluster, error) {
	dir, err := os.MkdirTemp(tmp, "wh-")
	if err != nil {
		return nil, err
	}
	return startClusterIn(dir, nodes, extra...)
}

func startClusterIn(dir string, nodes int, extra ...string) (*testCluster, error) {
	return startClusterEnv(dir, nodes, nil, extra...)
}

// startClusterEnv is startClusterIn with env added to the child's
// environment.
func startClusterEnv(dir string, nodes int, env []string, extra ...string) (*testCluster, error) {
	base, err := freePorts(6 + nodes)
	if err != nil {
		return nil, err
	}
	tc := &testCluster{
		dataDir: dir, apiPort: base, etcdPort: base + 1, uiAddr: fmt.Sprintf("127.0.0.1:%d", base+3),
		kubeletPort: base + 4, schedulerPort: base + 4 + nodes, output: &syncBuffer{}, exited: make(chan error, 1), progress: map[string]time.Duration{},
	}
	tc.cmd = wheelhouse(context.Background(), "up",
		"--data-dir", dir,
		"--api-port", strconv.Itoa(tc.apiPort),
		"--etcd-port", strconv.Itoa(tc.etcdPort),
		"--kubelet-port", strconv.Itoa(tc.kubeletPort),
		"--scheduler-port", strconv.Itoa(tc.schedulerPort),
		"--controller-manager-port", strconv.Itoa(base+5+nodes),
		"--ui-addr", tc.uiAddr,
		"--nodes", strconv.Itoa(nodes),
	)
	tc.cmd.Args = append(tc.cmd.Args, extra...)
	tc.cmd.Env = append(tc.cmd.Env, env...)
	stdout, err := tc.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tc.cmd.Stderr = tc.output
	if err := tc.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			tc.output.Write([]byte(line + "\n"))
			if m := progressLine.FindStringSubmatch(line); m != nil {
				at, _ := strconv.ParseFloat(m[3], 64)
				tc.progress[m[1]] = time.Duration(at * float64(time.Second))
			}
			if m := usableLine.FindStringSubmatch(line); m != nil {
				s, _ := strconv.ParseFloat(m[1], 64)
				tc.usableAfter = time.Duration(s * float64(time.Second))
			}
			if strings.HasPrefix(line, "Press Ctrl-C") {
				close(ready)
			}
		}
	}()
	go func() { tc.exited <- tc.cmd.Wait() }()
	select {
	case <-ready:
		return tc, nil
	case err := <-tc.exited:
		return nil, fmt.Errorf("wheelhouse up exited (%v) before the cluster was usable:\n%s", err, tc.output.String())
	case <-time.After(3 * time.Minute):
		tc.cmd.Process.Kill()
		return nil, fmt.Errorf("wheelhouse up not usable after 3 minutes:\n%s", tc.output.String())
	}
}

// stop sends SIGTERM, as Ctrl-C would, and waits for a clean exit.
func (tc *testCluster) stop() error {
	if err := tc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-tc.exited:
		if err != nil {
			return fmt.Errorf("wheelhouse up exited with %v:\n%s", err, tc.output.String())
		}
		return nil
	case <-time.After(60 * time.Second):
		tc.cmd.Process.Kill()
		return fmt.Errorf("wheelhouse up did not stop within 60s:\n%s", tc.output.String())
	}
}

func (tc *testCluster) kubeconfig() string {
	return filepath.Join(tc.dataDir, "pki", "admin.kubeconfig")
}

func (tc *testCluster) client(t testing.TB) kubernetes.Interface {
	t.Helper()
	return tc.clientWithQPS(t, 100)
}

// clientWithQPS limits the client to qps requests a second; -1 means no
// client-side limit, for measuring the server.
func (tc *testCluster) clientWithQPS(t testing.TB, qps float32) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", tc.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = qps, 200
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kubectlRunner runs one kubectl binary with a kubeconfig.
type kubectlRunner struct {
	name       string
	kubeconfig string
	command    func(ctx context.Context, args ...string) *exec.Cmd
}

// embeddedKubectl is `wheelhouse kubectl` with $KUBECONFIG set.
func embeddedKubectl(kubeconfig string) kubectlRunner {
	return kubectlRunner{name: "wheelhouse kubectl", kubeconfig: kubeconfig, command: func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := wheelhouse(ctx, append([]string{"kubectl"}, args...)...)
		cmd.Env = append(cmd.Env, "KUBECONFIG="+kubeconfig)
		return cmd
	}}
}

// systemKubectl is the machine's own kubectl, if it has one.
func systemKubectl(kubeconfig string) (kubectlRunner, bool) {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		return kubectlRunner{}, false
	}
	return kubectlRunner{name: "kubectl on PATH", kubeconfig: kubeconfig, command: func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBECACHEDIR="+kubeCacheDir)
		return cmd
	}}, true
}

// run runs kubectl and returns stdout and stderr together.
func (k kubectlRunner) run(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := k.command(ctx, args...).CombinedOutput()
	return string(out), err
}

func (k kubectlRunner) mustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := k.run(t, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", k.name, strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond until it returns true, failing after timeout with
// the last reason cond gave.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s (last: %s)", what, timeout, last)
}

// copyKubeconfigWithNamespace writes a kubeconfig whose context works in
// namespace ns, so the chapter's commands run unchanged per client.
func copyKubeconfigWithNamespace(t *testing.T, src, ns string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = ns
	dst := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func readAll(r io.Reader) string { b, _ := io.ReadAll(r); return string(b) }

func itoa(i int) string { return strconv.Itoa(i) }

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return readAll(resp.Body), nil
}

// insecureTLS is for requests that must reach the apiserver without a
// client certificate (to be refused).
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

func metav1GetOptions() metav1.GetOptions { return metav1.GetOptions{} }

// nginxDeployment is a Deployment of nginx pods labelled app=<name>.
func nginxDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "nginx", Image: "nginx"}}}},
		},
	}
}

// shortTempDir is a temporary directory with a short path: the nodes' unix
// sockets must fit in 107 characters, which a test's own t.TempDir (named
// after the test) can exceed.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
