package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestConfigIsPrivateToTheNode(t *testing.T) {
	l := newLayout("/data/nodes/node-1/containerd")
	cfg := string(renderConfig(l, "node-1", SandboxImage, CNIBinDir))
	for _, want := range []string{
		`version = 3`,
		`root = "/data/nodes/node-1/containerd/root"`,
		`state = "/data/nodes/node-1/containerd/state"`,
		`address = "/data/nodes/node-1/containerd/containerd.sock"`,
		`restrict_oom_score_adj = true`,
		`SystemdCgroup = false`,
		`netns_mounts_under_state_dir = true`,
		`sandbox = "` + SandboxImage + `"`,
		`conf_dir = "/data/nodes/node-1/containerd/cni/net.d"`,
		`bin_dirs = ["/usr/lib/cni"]`,
		`"io.containerd.nri.v1.nri"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s", want)
		}
	}
}

func TestPodNetworkConfig(t *testing.T) {
	dir := t.TempDir()
	l := newLayout(dir)
	if err := os.MkdirAll(l.CNIConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := newPodNetwork(l, "10.244.0.0/16", BridgeName)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cidr, start, end string }{
		{"10.244.0.0/24", "10.244.0.2", "10.244.0.254"}, // the gateway .0.1 is skipped
		{"10.244.3.0/24", "10.244.3.1", "10.244.3.254"},
	} {
		if err := n.write(tc.cidr); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(n.confFile)
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Plugins []struct {
				Type, Bridge string
				IsGateway    bool
				IPAM         struct {
					DataDir string
					Ranges  [][]map[string]string
				}
			}
		}
		if err := json.Unmarshal(b, &conf); err != nil {
			t.Fatal(err)
		}
		br := conf.Plugins[0]
		r := br.IPAM.Ranges[0][0]
		if br.Type != "bridge" || br.Bridge != BridgeName || !br.IsGateway || br.IPAM.DataDir != l.IPAMDir ||
			r["subnet"] != "10.244.0.0/16" || r["gateway"] != "10.244.0.1" || r["rangeStart"] != tc.start || r["rangeEnd"] != tc.end {
			t.Errorf("%s: conflist %s", tc.cidr, b)
		}
	}
	if err := n.write("10.245.0.0/24"); err == nil {
		t.Error("a pod CIDR outside the cluster CIDR was accepted")
	}
}

func TestCheckListsEverythingMissing(t *testing.T) {
	h := Host{Euid: 1000, LookPath: func(string) (string, error) { return "", exec.ErrNotFound }, CNIBinDir: t.TempDir()}
	_, err := h.Check(context.Background())
	var re *RequirementsError
	if !errors.As(err, &re) {
		t.Fatalf("Check = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"not running as root", "no containerd binary", "no runc", "no iptables", "containernetworking-plugins",
		"apt-get install runc containernetworking-plugins iptables busybox-static", "go install", "containerd@" + Version} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestCheckRefusesContainerd1(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "containerd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := Host{Euid: 0, LookPath: func(name string) (string, error) {
		if name == "containerd" {
			return fake, nil
		}
		return "/usr/bin/" + name, nil
	}, CNIBinDir: dir}
	_, err := h.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is containerd 1.6.20; containerd 2.x is needed") {
		t.Fatalf("Check = %v", err)
	}
}

func TestBuiltImagesAreReproducible(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skip("no busybox-static")
	}
	a, err := BuildBusyboxImages(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildBusyboxImages(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("two builds of the busybox images differ")
	}
}

// requireContainerd skips unless this host can run containerd nodes; in
// CI (which installs everything) it fails instead.
func requireContainerd(t *testing.T) string {
	t.Helper()
	bin, err := ThisHost().Check(context.Background())
	if err != nil {
		if os.Getenv("CI") != "" && os.Geteuid() == 0 {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bin
}

// A private containerd starts, runs a pod through its CRI from the images
// Wheelhouse builds, shows it through the client, and leaves nothing
// running or mounted when closed.
func TestPrivateContainerd(t *testing.T) {
	bin := requireContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "whctrd-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := Start(ctx, Config{NodeName: "test", Dir: filepath.Join(dir, "ctrd"), Binary: bin, ClusterCIDR: "10.250.0.0/16", Bridge: "whtest0", LogFile: filepath.Join(dir, "containerd.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.Version(), "2.") {
		t.Errorf("version %q", c.Version())
	}
	if err := c.EnsureImages(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.network.write("10.250.9.0/24"); err != nil {
		t.Fatal(err)
	}
	conn := criConn(t, c.Address())
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	// The CNI configuration is picked up asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := rs.Status(ctx, &runtimeapi.StatusRequest{})
		if err == nil && networkReady(st) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("network not ready: %v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logDir := filepath.Join(dir, "logs")
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "default", Uid: "uid-1"},
		LogDirectory: logDir,
		Labels:       map[string]string{"io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "default"},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	sb, err := rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v\n%s", err, tail(filepath.Join(dir, "containerd.log"), 20))
	}
	ct, err := rs.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: sbCfg, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
		Image:    &runtimeapi.ImageSpec{Image: BusyboxImage},
		Command:  []string{"sh", "-c", "echo hello; sleep 3600"},
		LogPath:  "c/0.log",
		Labels:   map[string]string{"io.kubernetes.container.name": "c"},
	}})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := rs.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ct.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	ex, err := rs.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ct.ContainerId, Cmd: []string{"echo", "hi"}, Timeout: 10})
	if err != nil || strings.TrimSpace(string(ex.Stdout)) != "hi" {
		t.Fatalf("ExecSync = %v, %v", ex, err)
	}
	sbs, err := rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil || !strings.HasPrefix(sbs.GetStatus().GetNetwork().GetIp(), "10.250.9.") {
		t.Errorf("sandbox IP = %v, %v; want one in 10.250.9.0/24", sbs.GetStatus().GetNetwork(), err)
	}

	seen, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range seen {
		if s.ID == ct.ContainerId {
			found = true
			if s.Kind != "container" || s.Task == nil || s.Task.PID == 0 || s.Task.Status != "running" {
				t.Errorf("containerd sees %+v", s)
			} else if _, err := os.Stat(filepath.Join("/proc", itoa(s.Task.PID))); err != nil {
				t.Errorf("task pid %d is not a host process: %v", s.Task.PID, err)
			}
		}
	}
	if !found {
		t.Errorf("containerd does not list container %s: %+v", ct.ContainerId, seen)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := RemoveBridge("whtest0"); err != nil {
		t.Error(err)
	}
	if _, err := netlink.LinkByName("whtest0"); err == nil {
		t.Error("bridge whtest0 still there")
	}
	if leftover := mountsUnder(t, dir); len(leftover) > 0 {
		t.Errorf("mounts left: %v", leftover)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "logs", "c", "0.log")); err != nil || !strings.Contains(string(b), "hello") {
		t.Errorf("container log = %q, %v", b, err)
	}
}

func networkReady(st *runtimeapi.StatusResponse) bool {
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == runtimeapi.NetworkReady {
			return c.Status
		}
	}
	return false
}

func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func criConn(t *testing.T, address string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
