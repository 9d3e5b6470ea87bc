package simruntime

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/internal/simtest"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/components/unixsocket"
)

type criClient struct {
	r   *Runtime
	rt  runtimeapi.RuntimeServiceClient
	img runtimeapi.ImageServiceClient
	dir string
}

// fastPull makes every simulated download take well under a millisecond.
const fastPull = 1 << 40

func startRuntime(t *testing.T, bps int64) *criClient {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "c.sock")
	if len(sock) > unixsocket.MaxPathLen {
		t.Fatalf("temp dir too long for a unix socket: %s", sock)
	}
	r, err := Start(context.Background(), Config{
		NodeName:           "node-1",
		SocketPath:         sock,
		PullBytesPerSecond: bps,
		Logger:             klog.Background().V(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Endpoint(), "unix://"+sock; got != want {
		t.Fatalf("Endpoint() = %q, want %q", got, want)
	}
	conn, err := grpc.NewClient(r.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &criClient{r: r, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn), dir: dir}
}

// startOneContainer starts a runtime, a sandbox and one running container
// in it; it returns the client, the sandbox's and the container's ids and
// the container's log file.
func startOneContainer(t *testing.T, sandbox, name, image string, command ...string) (c *criClient, sandboxID, id, logFile string) {
	t.Helper()
	c = startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.0.0/24")
	sandboxID, sbCfg := c.runSandbox(t, sandbox)
	id, logFile, err := c.runContainer(t, sandboxID, sbCfg, name, image, command, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, sandboxID, id, logFile
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (c *criClient) setCIDR(t *testing.T, cidr string) {
	t.Helper()
	_, err := c.rt.UpdateRuntimeConfig(ctxT(t), &runtimeapi.UpdateRuntimeConfigRequest{
		RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (c *criClient) sandboxConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: "uid-" + name},
		Hostname:     name,
		LogDirectory: filepath.Join(c.dir, "pods", "default_"+name),
		Labels:       map[string]string{"app": name},
		Annotations:  map[string]string{"note": "kept as is"},
	}
}

func (c *criClient) runSandbox(t *testing.T, name string) (string, *runtimeapi.PodSandboxConfig) {
	t.Helper()
	cfg := c.sandboxConfig(name)
	resp, err := c.rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return resp.PodSandboxId, cfg
}

func (c *criClient) pull(t *testing.T, image string) string {
	t.Helper()
	resp, err := c.img.PullImage(ctxT(t), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ImageRef
}

// runContainer pulls the image, creates and starts a container and
// returns its id and log file; startErr is StartContainer's error.
func (c *criClient) runContainer(t *testing.T, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig, name, image string, command, args []string) (id, logFile string, startErr error) {
	t.Helper()
	ref := c.pull(t, image)
	cfg := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: name},
		Image:       &runtimeapi.ImageSpec{Image: ref, UserSpecifiedImage: image},
		Command:     command,
		Args:        args,
		LogPath:     filepath.Join(name, "0.log"),
		Labels:      map[string]string{"container": name},
		Annotations: map[string]string{"io.kubernetes.container.restartCount": "0"},
		Envs:        []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hello")}},
	}
	return c.runContainerConfig(t, sandboxID, sbCfg, cfg)
}

func (c *criClient) runContainerConfig(t *testing.T, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) (id, logFile string, startErr error) {
	t.Helper()
	resp, err := c.rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: cfg, SandboxConfig: sbCfg})
	if err != nil {
		t.Fatal(err)
	}
	_, startErr = c.rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId})
	return resp.ContainerId, filepath.Join(sbCfg.LogDirectory, cfg.LogPath), startErr
}

func (c *criClient) status(t *testing.T, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	resp, err := c.rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

func (c *criClient) waitExited(t *testing.T, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	var st *runtimeapi.ContainerStatus
	simtest.WaitFor(t, "container to exit", func() bool {
		st = c.status(t, id)
		return st.State == runtimeapi.ContainerState_CONTAINER_EXITED
	})
	return st
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) (F|P) (.*)$`)

// logLines parses a CRI log file strictly, as the kubelet does.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n") {
		if line == "" {
			continue
		}
		m := criLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a CRI log line: %q", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Fatalf("bad timestamp in %q: %v", line, err)
		}
		out = append(out, m[2]+" "+m[3]+" "+m[4])
	}
	return out
}

func TestImages(t *testing.T) {
	// nginx (72 MB) takes about 0.1 s at this speed.
	c := startRuntime(t, 720_000_000)
	ctx := ctxT(t)

	id := c.pull(t, "nginx")
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("image ref %q is not an image id", id)
	}
	st, err := c.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "nginx"}})
	if err != nil || st.Image == nil {
		t.Fatalf("ImageStatus(nginx) = %v, %v", st, err)
	}
	if st.Image.Id != id || st.Image.Size < 60_000_000 || len(st.Image.RepoTags) != 1 || st.Image.RepoTags[0] != "docker.io/library/nginx:latest" {
		t.Fatalf("unexpected image %+v", st.Image)
	}
	if len(st.Image.RepoDigests) != 1 || !strings.HasPrefix(st.Image.RepoDigests[0], "docker.io/library/nginx@sha256:") {
		t.Fatalf("repo digests %v", st.Image.RepoDigests)
	}
	// Same image under another tag: not known by that name until pulled,
	// then the pull is immediate and adds the tag.
	if st, _ := c.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "nginx:1.27"}}); st.Image != nil {
		t.Fatalf("nginx:1.27 present before being pulled")
	}
	if again := c.pull(t, "docker.io/library/nginx:1.27"); again != id {
		t.Fatalf("nginx:1.27 is %s, want the same image as latest %s", again, id)
	}
	// By digest and by id.
	if byDigest := c.pull(t, st.Image.RepoDigests[0]); byDigest != id {
		t.Fatalf("pull by digest gave %s", byDigest)
	}
	if st, _ := c.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: id}}); st.Image == nil || len(st.Image.RepoTags) != 2 {
		t.Fatalf("ImageStatus by id: %+v", st.Image)
	}

	list, err := c.img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	var total uint64
	for _, img := range list.Images {
		tags = append(tags, img.RepoTags...)
		total += img.Size
	}
	for _, want := range []string{"docker.io/library/nginx:latest", "docker.io/library/nginx:1.27", sandboxImage} {
		if !strings.Contains(strings.Join(tags, " "), want) {
			t.Errorf("ListImages tags %v lack %s", tags, want)
		}
	}
	fs, err := c.img.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil || len(fs.ImageFilesystems) != 1 || fs.ImageFilesystems[0].UsedBytes.Value != total || fs.ImageFilesystems[0].FsId.Mountpoint == "" {
		t.Fatalf("ImageFsInfo = %+v, %v (want used %d)", fs, err, total)
	}

	for _, tc := range []struct {
		image, msg string
		code       codes.Code
	}{
		{"nosuch", `failed to pull and unpack image "docker.io/library/nosuch:latest": failed to resolve reference "docker.io/library/nosuch:latest": pull access denied, repository does not exist or may require authorization`, codes.Unknown},
		{"nginx:9.9", `failed to pull and unpack image "docker.io/library/nginx:9.9": failed to resolve reference "docker.io/library/nginx:9.9": docker.io/library/nginx:9.9: not found`, codes.NotFound},
		{"registry.example.com/team/app:v1", `dial tcp: lookup registry.example.com: no such host`, codes.Unknown},
		{"python:3.12", `docker.io/library/python:3.12: not found in the simulated registry, which has alpine, busybox, debian, httpd, nginx, postgres, redis, registry.k8s.io/coredns/coredns, registry.k8s.io/e2e-test-images/agnhost, registry.k8s.io/pause, ubuntu; use --runtime containerd`, codes.NotFound},
	} {
		_, err := c.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: tc.image}})
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("PullImage(%s) = %v, want %v with %q", tc.image, err, tc.code, tc.msg)
		}
	}

	// A pull honours its context.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.img.PullImage(short, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "postgres:16"}}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("cancelled pull: %v", err)
	}
	if st, _ := c.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "postgres:16"}}); st.Image != nil {
		t.Errorf("cancelled pull left the image cached")
	}

	if _, err := c.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "nginx:1.27"}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "nginx:latest"}}); st.Image != nil {
		t.Errorf("removing one tag must remove the image with all its tags")
	}
	if _, err := c.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "nginx"}}); err != nil {
		t.Errorf("RemoveImage must be idempotent: %v", err)
	}
}

func TestSandboxNetwork(t *testing.T) {
	c := startRuntime(t, fastPull)
	ctx := ctxT(t)

	_, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: c.sandboxConfig("early")})
	if err == nil || !strings.Contains(err.Error(), "no pod CIDR assigned to node node-1 yet") {
		t.Fatalf("RunPodSandbox without CIDR: %v", err)
	}

	c.setCIDR(t, "10.244.1.0/24")
	prefix := netip.MustParsePrefix("10.244.1.0/24")
	idA, cfgA := c.runSandbox(t, "a")
	idB, _ := c.runSandbox(t, "b")
	ip := func(id string) string {
		resp, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status.Network.Ip
	}
	ipA, ipB := ip(idA), ip(idB)
	for _, s := range []string{ipA, ipB} {
		addr, err := netip.ParseAddr(s)
		if err != nil || !prefix.Contains(addr) || s == "10.244.1.0" || s == "10.244.1.1" {
			t.Fatalf("pod IP %q is not a usable address of %s", s, prefix)
		}
	}
	if ipA == ipB {
		t.Fatalf("two sandboxes share %s", ipA)
	}
	if fi, err := os.Stat(cfgA.LogDirectory); err != nil || !fi.IsDir() {
		t.Fatalf("log directory not created: %v", err)
	}
	st, _ := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: idA})
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Status.CreatedAt == 0 ||
		st.Status.Labels["app"] != "a" || st.Status.Annotations["note"] != "kept as is" || st.Status.Metadata.Name != "a" {
		t.Fatalf("sandbox status %+v", st.Status)
	}
	// The same name and attempt cannot be run twice.
	if _, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfgA}); err == nil {
		t.Fatalf("duplicate sandbox name accepted")
	}

	for i := 0; i < 2; i++ { // StopPodSandbox is idempotent
		if _, err := c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: idA}); err != nil {
			t.Fatal(err)
		}
	}
	if got := ip(idA); got != "" {
		t.Fatalf("stopped sandbox still has IP %s", got)
	}
	list, _ := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if len(list.Items) != 1 || list.Items[0].Id != idB {
		t.Fatalf("ready sandboxes: %v", list.Items)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: idA}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: idA}); status.Code(err) != codes.NotFound {
		t.Fatalf("status of removed sandbox: %v", err)
	}

	// A /30 has exactly one usable pod address: it is released on stop.
	c.setCIDR(t, "10.9.0.0/30")
	idC, _ := c.runSandbox(t, "c")
	if got := ip(idC); got != "10.9.0.2" {
		t.Fatalf("IP in /30 = %s", got)
	}
	if _, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: c.sandboxConfig("d")}); err == nil || !strings.Contains(err.Error(), "no IP addresses available") {
		t.Fatalf("exhausted range: %v", err)
	}
	if _, err := c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: idC}); err != nil {
		t.Fatal(err)
	}
	idD, _ := c.runSandbox(t, "d")
	if got := ip(idD); got != "10.9.0.2" {
		t.Fatalf("released IP not reused: %s", got)
	}

	hostCfg := c.sandboxConfig("host")
	hostCfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
	}}
	hr, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: hostCfg})
	if err != nil {
		t.Fatalf("host-network pods need no pod IP: %v", err)
	}
	if got := ip(hr.PodSandboxId); got != "" {
		t.Fatalf("host-network sandbox got IP %s", got)
	}
}

func TestContainersRunToCompletion(t *testing.T) {
	c := startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.0.0/24")
	sb, sbCfg := c.runSandbox(t, "jobs")

	t.Run("echo", func(t *testing.T) {
		id, logFile, err := c.runContainer(t, sb, sbCfg, "echo", "busybox", []string{"sh", "-c", "echo done"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		st := c.waitExited(t, id)
		if st.ExitCode != 0 || st.Reason != "Completed" || st.FinishedAt < st.StartedAt || st.StartedAt < st.CreatedAt {
			t.Fatalf("status %+v", st)
		}
		if st.LogPath != logFile {
			t.Fatalf("log path %q, want %q", st.LogPath, logFile)
		}
		raw := readLog(t, logFile)
		if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z stdout F done$`).MatchString(raw) {
			t.Fatalf("log file %q lacks a CRI line ending 'stdout F done'", raw)
		}
		if st.Image.Image != "docker.io/library/busybox:latest" || !strings.HasPrefix(st.ImageRef, "docker.io/library/busybox@sha256:") || !strings.HasPrefix(st.ImageId, "sha256:") {
			t.Fatalf("image fields: %q %q %q", st.Image.Image, st.ImageRef, st.ImageId)
		}
		if st.Labels["container"] != "echo" || st.Annotations["io.kubernetes.container.restartCount"] != "0" {
			t.Fatalf("labels/annotations not kept: %v %v", st.Labels, st.Annotations)
		}
	})
	t.Run("image default command", func(t *testing.T) {
		id, _, err := c.runContainer(t, sb, sbCfg, "default", "busybox", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st := c.waitExited(t, id); st.ExitCode != 0 || st.Reason != "Completed" {
			t.Fatalf("busybox default sh: %+v", st)
		}
	})
	t.Run("false", func(t *testing.T) {
		id, _, err := c.runContainer(t, sb, sbCfg, "false", "busybox", []string{"false"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st := c.waitExited(t, id); st.ExitCode != 1 || st.Reason != "Error" {
			t.Fatalf("false: %+v", st)
		}
	})
	t.Run("exit 3 with args only", func(t *testing.T) {
		// args without command keep the image's entrypoint (none for busybox).
		id, logFile, err := c.runContainer(t, sb, sbCfg, "exit3", "busybox", nil, []string{"sh", "-c", "echo $GREETING $HOSTNAME; echo oops >&2; exit 3"})
		if err != nil {
			t.Fatal(err)
		}
		if st := c.waitExited(t, id); st.ExitCode != 3 || st.Reason != "Error" {
			t.Fatalf("exit 3: %+v", st)
		}
		got := strings.Join(logLines(t, logFile), "\n")
		if got != "stdout F hello jobs\nstderr F oops" {
			t.Fatalf("log lines %q", got)
		}
	})
	t.Run("unknown binary", func(t *testing.T) {
		id, logFile, err := c.runContainer(t, sb, sbCfg, "bad", "busybox", []string{"foo"}, nil)
		if err == nil || !strings.Contains(err.Error(), `failed to create containerd task`) || !strings.Contains(err.Error(), `exec: "foo": executable file not found in $PATH`) {
			t.Fatalf("StartContainer error %v", err)
		}
		st := c.status(t, id)
		if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 128 || st.Reason != "StartError" || !strings.Contains(st.Message, "executable file not found") {
			t.Fatalf("status %+v", st)
		}
		if _, err := os.Stat(logFile); err != nil {
			t.Fatalf("log file should exist (empty) as with containerd: %v", err)
		}
	})
	t.Run("multi-line output and partial last line", func(t *testing.T) {
		id, logFile, err := c.runContainer(t, sb, sbCfg, "lines", "busybox", []string{"sh", "-c", `for i in 1 2 3; do echo "line $i"; done; printf tail`}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.waitExited(t, id)
		if got := strings.Join(logLines(t, logFile), "|"); got != "stdout F line 1|stdout F line 2|stdout F line 3|stdout F tail" {
			t.Fatalf("log lines %q", got)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		configDir := filepath.Join(c.dir, "volumes", "config")
		if err := os.MkdirAll(configDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(configDir, "key"), []byte("value\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		termLog := filepath.Join(c.dir, "volumes", "termination-log")
		if err := os.WriteFile(termLog, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		ref := c.pull(t, "busybox")
		id, logFile, err := c.runContainerConfig(t, sb, sbCfg, &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "volumes"},
			Image:    &runtimeapi.ImageSpec{Image: ref},
			Command:  []string{"sh", "-c", "cat /etc/config/key; echo new > /etc/config/new; echo bye > /dev/termination-log"},
			LogPath:  "volumes/0.log",
			Mounts: []*runtimeapi.Mount{
				{ContainerPath: "/etc/config", HostPath: configDir, Readonly: true},
				{ContainerPath: "/dev/termination-log", HostPath: termLog},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.waitExited(t, id)
		if got := strings.Join(logLines(t, logFile), "|"); got != "stdout F value|stderr F sh: can't create /etc/config/new: Read-only file system" {
			t.Fatalf("log lines %q", got)
		}
		if got := readLog(t, termLog); got != "bye\n" {
			t.Fatalf("termination log %q", got)
		}
	})

	list, err := c.rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		PodSandboxId:  sb,
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED},
		LabelSelector: map[string]string{"container": "false"},
	}})
	if err != nil || len(list.Containers) != 1 || list.Containers[0].Metadata.Name != "false" {
		t.Fatalf("filtered ListContainers = %v, %v", list, err)
	}

	snap := c.r.Snapshot()
	if len(snap) != 1 || snap[0].Name != "jobs" || snap[0].Namespace != "default" || snap[0].IP == "" || len(snap[0].Containers) != 7 {
		t.Fatalf("snapshot %+v", snap)
	}
	for _, ci := range snap[0].Containers {
		if ci.State != "Exited" || ci.ID == "" || ci.Image == "" {
			t.Fatalf("snapshot container %+v", ci)
		}
	}

	// Removing the sandbox removes its containers; removal is idempotent.
	ctx := ctxT(t)
	if _, err := c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb}); err != nil {
		t.Fatal(err)
	}
	if all, _ := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); len(all.Containers) != 0 {
		t.Fatalf("containers survive their sandbox: %v", all.Containers)
	}
	if _, err := c.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: list.Containers[0].Id}); err != nil {
		t.Fatalf("RemoveContainer must be idempotent: %v", err)
	}
}

func TestStopContainer(t *testing.T) {
	c := startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.0.0/24")
	sb, sbCfg := c.runSandbox(t, "web")
	ctx := ctxT(t)

	t.Run("nginx stops gracefully", func(t *testing.T) {
		id, logFile, err := c.runContainer(t, sb, sbCfg, "nginx", "nginx", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		simtest.WaitFor(t, "nginx start-up lines", func() bool {
			b, _ := os.ReadFile(logFile)
			return strings.Contains(string(b), "start worker processes")
		})
		if st := c.status(t, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.StopSignal != runtimeapi.Signal_SIGNAL_SIGQUIT {
			t.Fatalf("running nginx: %+v", st)
		}
		start := time.Now()
		if _, err := c.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 30}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("nginx took %v to stop", d)
		}
		st := c.status(t, id)
		if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 || st.Reason != "Completed" {
			t.Fatalf("stopped nginx: %+v", st)
		}
		lines := strings.Join(logLines(t, logFile), "\n")
		for _, want := range []string{
			"stdout F /docker-entrypoint.sh: Configuration complete; ready for start up",
			"[notice] 1#1: nginx/1.27.3",
			"[notice] 1#1: start worker processes",
			"signal 3 (SIGQUIT) received from 0, shutting down",
			"[notice] 1#1: exit",
		} {
			if !strings.Contains(lines, want) {
				t.Errorf("nginx log lacks %q:\n%s", want, lines)
			}
		}
		// Stopping again is a no-op.
		if _, err := c.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 30}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("sleep is killed after the grace period", func(t *testing.T) {
		id, _, err := c.runContainer(t, sb, sbCfg, "sleeper", "busybox", []string{"sleep", "3600"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("sleep stopped after %v; PID 1 must ignore SIGTERM until the 1 s grace period ends", d)
		}
		if st := c.status(t, id); st.ExitCode != machine.ExitKilled || st.Reason != "Error" {
			t.Fatalf("killed sleep: %+v", st)
		}
	})
	t.Run("timeout 0 kills at once", func(t *testing.T) {
		id, _, err := c.runContainer(t, sb, sbCfg, "sleeper0", "busybox", []string{"sleep", "infinity"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
			t.Fatal(err)
		}
		if st := c.status(t, id); st.ExitCode != machine.ExitKilled {
			t.Fatalf("exit code %d", st.ExitCode)
		}
	})
	t.Run("remove kills a running container", func(t *testing.T) {
		id, _, err := c.runContainer(t, sb, sbCfg, "victim", "redis", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); status.Code(err) != codes.NotFound {
			t.Fatalf("status after remove: %v", err)
		}
	})
}

func TestUnsupportedAndInfo(t *testing.T) {
	c := startRuntime(t, fastPull)
	ctx := ctxT(t)
	_, err1 := c.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "x", Cmd: []string{"ls"}})
	_, err2 := c.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: "x", Cmd: []string{"sh"}, Stdout: true})
	_, err3 := c.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: "x", Stdout: true})
	_, err4 := c.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "x"})
	for i, err := range []error{err1, err2, err3, err4} {
		if status.Code(err) != codes.NotFound {
			t.Errorf("streaming call %d for an unknown container: %v, want NotFound", i, err)
		}
	}
	_, err5 := c.rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: "x"})
	if status.Code(err5) != codes.Unimplemented || !strings.HasPrefix(status.Convert(err5).Message(), "not supported by the simulated runtime; use --runtime containerd") {
		t.Errorf("CheckpointContainer: %v", err5)
	}

	v, err := c.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "wheelhouse-sim" || v.RuntimeApiVersion != "v1" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	s, err := c.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil || len(s.Status.Conditions) != 2 || !s.Status.Conditions[0].Status || !s.Status.Conditions[1].Status {
		t.Fatalf("Status = %v, %v", s, err)
	}
	rc, err := c.rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.Linux.CgroupDriver != runtimeapi.CgroupDriver_CGROUPFS {
		t.Fatalf("RuntimeConfig = %v, %v", rc, err)
	}
}

// A command runs in the container as a new process: it sees the
// container's files and environment, and its exit status and output come
// back; a command the image lacks fails as runc says it.
func TestExecInARunningContainer(t *testing.T) {
	c := startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.0.0/24")
	ctx := ctxT(t)
	sb, sbCfg := c.runSandbox(t, "execme")
	id, _, err := c.runContainer(t, sb, sbCfg, "box", "busybox", []string{"sleep", "3600"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd            []string
		stdout, stderr string
		code           int32
	}{
		{[]string{"cat", "/etc/hostname"}, sbCfg.GetHostname() + "\n", "", 0},
		{[]string{"sh", "-c", "echo out; echo err >&2; exit 3"}, "out\n", "err\n", 3},
		{[]string{"sh", "-c", "echo $HOSTNAME"}, sbCfg.GetHostname() + "\n", "", 0},
	} {
		resp, err := c.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: tc.cmd, Timeout: 10})
		if err != nil {
			t.Fatalf("ExecSync %q: %v", tc.cmd, err)
		}
		if string(resp.Stdout) != tc.stdout || string(resp.Stderr) != tc.stderr || resp.ExitCode != tc.code {
			t.Errorf("ExecSync %q = %q %q %d, want %q %q %d", tc.cmd, resp.Stdout, resp.Stderr, resp.ExitCode, tc.stdout, tc.stderr, tc.code)
		}
	}
	_, err = c.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"nosuchtool"}})
	if err == nil || !strings.Contains(err.Error(), `exec: "nosuchtool": executable file not found in $PATH`) {
		t.Errorf("ExecSync of a missing command: %v", err)
	}
	// A streaming exec gets a URL on loopback, which the kubelet proxies.
	resp, err := c.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"ls"}, Stdout: true})
	if err != nil || !strings.HasPrefix(resp.GetUrl(), "http://127.0.0.1:") {
		t.Fatalf("Exec = %v, %v; want a loopback URL", resp, err)
	}
	// A container that has exited takes no commands.
	done, _, err := c.runContainer(t, sb, sbCfg, "done", "busybox", []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.waitExited(t, done)
	if _, err := c.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: done, Cmd: []string{"ls"}}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("ExecSync in an exited container: %v, want FailedPrecondition", err)
	}
}

func TestStatsAndEvents(t *testing.T) {
	c := startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.0.0/24")
	ctx := ctxT(t)

	events, err := c.rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The stream is established once the server registered the
	// subscriber; give it a moment before producing events.
	time.Sleep(50 * time.Millisecond)

	sb, sbCfg := c.runSandbox(t, "stats")
	id, _, err := c.runContainer(t, sb, sbCfg, "redis", "redis", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[runtimeapi.ContainerEventType]bool{}
	for !seen[runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT] {
		ev, err := events.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.ContainerId == id {
			seen[ev.ContainerEventType] = true
			if ev.PodSandboxStatus.GetId() != sb {
				t.Fatalf("event without its sandbox status: %v", ev)
			}
		}
	}
	if !seen[runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT] {
		t.Fatalf("no created event before started")
	}

	time.Sleep(20 * time.Millisecond)
	cs, err := c.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if cs.Stats.Cpu.UsageCoreNanoSeconds.Value == 0 || cs.Stats.Memory.WorkingSetBytes.Value < 1<<20 || cs.Stats.WritableLayer.UsedBytes == nil || cs.Stats.Cpu.Timestamp == 0 {
		t.Fatalf("container stats %+v", cs.Stats)
	}
	list, err := c.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil || len(list.Stats) != 1 || list.Stats[0].Attributes.Id != id {
		t.Fatalf("ListContainerStats = %v, %v", list, err)
	}
	ps, err := c.rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: sb})
	if err != nil || ps.Stats.Linux.Memory.WorkingSetBytes.Value <= cs.Stats.Memory.WorkingSetBytes.Value/2 || len(ps.Stats.Linux.Containers) != 1 || ps.Stats.Linux.Network.DefaultInterface.Name != "eth0" {
		t.Fatalf("PodSandboxStats = %v, %v", ps, err)
	}
	lps, err := c.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil || len(lps.Stats) != 1 {
		t.Fatalf("ListPodSandboxStats = %v, %v", lps, err)
	}
	md, err := c.rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil || len(md.Descriptors) == 0 {
		t.Fatalf("ListMetricDescriptors = %v, %v", md, err)
	}
	pm, err := c.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil || len(pm.PodMetrics) != 1 || len(pm.PodMetrics[0].ContainerMetrics) != 1 {
		t.Fatalf("ListPodSandboxMetrics = %v, %v", pm, err)
	}
	keys := map[string]int{}
	for _, d := range md.Descriptors {
		keys[d.Name] = len(d.LabelKeys)
	}
	for _, m := range append(pm.PodMetrics[0].Metrics, pm.PodMetrics[0].ContainerMetrics[0].Metrics...) {
		if n, ok := keys[m.Name]; !ok || n != len(m.LabelValues) {
			t.Errorf("metric %s does not match its descriptor", m.Name)
		}
	}
	if _, err := c.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}}); err != nil {
		t.Fatal(err)
	}
	if st := c.status(t, id); st.Resources.GetLinux().GetMemoryLimitInBytes() != 64<<20 {
		t.Fatalf("resources not stored: %v", st.Resources)
	}
	if _, err := c.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	before := goruntime.NumGoroutine()
	dir := t.TempDir()
	sock := filepath.Join(dir, "c.sock")

	// A socket file left behind by a crashed runtime is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = stale.Close()

	r, err := Start(context.Background(), Config{NodeName: "node-9", SocketPath: sock, PullBytesPerSecond: fastPull, Logger: klog.Background().V(10)})
	if err != nil {
		t.Fatalf("Start over a stale socket: %v", err)
	}
	conn, err := grpc.NewClient(r.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := &criClient{r: r, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn), dir: dir}
	c.setCIDR(t, "10.244.0.0/24")
	sb, sbCfg := c.runSandbox(t, "long")
	if _, _, err := c.runContainer(t, sb, sbCfg, "server", "nginx", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.runContainer(t, sb, sbCfg, "loop", "busybox", []string{"sh", "-c", "while true; do sleep 1 & wait; done"}, nil); err != nil {
		t.Fatal(err)
	}
	events, err := c.rt.GetContainerEvents(ctxT(t), &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_ = events

	// A second runtime cannot take over a socket that is being served.
	if _, err := Start(context.Background(), Config{SocketPath: sock}); err == nil {
		t.Fatal("second runtime started on a live socket")
	}

	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	_ = conn.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket not removed: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	simtest.WaitFor(t, "goroutines to finish", func() bool { return goruntime.NumGoroutine() <= before+2 })
}

// A runtime stopped and started again keeps what containerd keeps on
// disk (pulled images, the pod CIDR the kubelet sent once) and loses what
// dies with a process (sandboxes and containers).
func TestRestartKeepsImagesAndPodCIDR(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "c.sock")
	start := func() (*Runtime, *criClient) {
		r, err := Start(context.Background(), Config{NodeName: "node-1", SocketPath: sock, PullBytesPerSecond: fastPull, Logger: klog.Background().V(10)})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(r.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close(); _ = r.Close() })
		return r, &criClient{r: r, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn), dir: dir}
	}
	r, c := start()
	c.setCIDR(t, "10.244.3.0/24")
	c.pull(t, "nginx:1.27")
	if _, _, err := c.runContainer(t, mustSandbox(t, c, "before"), c.sandboxConfig("before"), "web", "nginx:1.27", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	_, c = start()
	imgs, err := c.img.ListImages(ctxT(t), &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, im := range imgs.Images {
		tags = append(tags, im.RepoTags...)
	}
	if !slices.Contains(tags, "docker.io/library/nginx:1.27") {
		t.Errorf("images after restart = %v, want docker.io/library/nginx:1.27 among them", tags)
	}
	sbs, err := c.rt.ListPodSandbox(ctxT(t), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sbs.Items) != 0 {
		t.Errorf("%d sandboxes survived the restart, want none", len(sbs.Items))
	}
	id := mustSandbox(t, c, "after")
	st, err := c.rt.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	if ip := st.GetStatus().GetNetwork().GetIp(); !strings.HasPrefix(ip, "10.244.3.") {
		t.Errorf("sandbox IP after restart = %q, want one from the saved 10.244.3.0/24", ip)
	}

	// A damaged state file costs the saved state, never the start.
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := Start(context.Background(), Config{NodeName: "node-1", SocketPath: filepath.Join(dir, "d.sock"), PullBytesPerSecond: fastPull, Logger: klog.Background().V(10)})
	if err != nil {
		t.Fatalf("start with a damaged state file: %v", err)
	}
	_ = r2.Close()
}

func mustSandbox(t *testing.T, c *criClient, name string) string {
	t.Helper()
	id, _ := c.runSandbox(t, name)
	return id
}
