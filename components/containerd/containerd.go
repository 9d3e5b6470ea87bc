// Package containerd runs a compute node's containers in a real containerd:
// either one Wheelhouse starts for the node (private root, state, socket
// and configuration under the node's directory) and stops with it, or one
// that is already running. Through the containerd Go client it imports
// images (including a busybox and a pause image it builds from Debian's
// busybox-static, for labs without a network) and reports what containerd
// itself sees: containers and tasks with their host PIDs in the k8s.io
// namespace, where the CRI keeps the kubelet's pods.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/unixsocket"
)

// Namespace is the containerd namespace the CRI uses.
const Namespace = "k8s.io"

// Config is one node's private containerd.
type Config struct {
	NodeName string
	// Dir holds the configuration, root, state and socket.
	Dir string
	// Binary is the containerd executable (see Host.Check).
	Binary string
	// ClusterCIDR is the pod network all nodes share (one bridge); the
	// node's own pod CIDR, a part of it, comes from the kubelet.
	ClusterCIDR string
	// Bridge is the Linux bridge for the pods (default BridgeName).
	Bridge string
	// LogFile receives containerd's own log.
	LogFile string
	Logger  klog.Logger
}

// Containerd is a node's containerd, started by Wheelhouse or not.
type Containerd struct {
	log     klog.Logger
	node    string
	address string
	version string
	client  *client.Client
	network *podNetwork // nil for a containerd Wheelhouse did not start

	// Only for a containerd Wheelhouse started.
	layout    layout
	proc      *os.Process
	exited    chan struct{}
	exitErr   error
	closeOnce sync.Once
}

// Start starts the node's containerd and returns once it answers on its
// socket. Whatever a previous run left (a containerd still running after
// a crash, pods nobody stopped) is cleared first. ctx bounds start-up.
func Start(ctx context.Context, cfg Config) (_ *Containerd, err error) {
	log := cfg.Logger
	if log.GetSink() == nil {
		log = klog.Background().WithValues("component", "containerd/"+cfg.NodeName)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	l := newLayout(dir)
	if len(l.Socket) > unixsocket.MaxPathLen {
		return nil, fmt.Errorf("containerd: socket path %s is longer than a unix socket allows; use a shorter --data-dir", l.Socket)
	}
	for _, d := range []string{l.Root, l.State, l.CNIConfDir, l.IPAMDir, l.Opt} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("containerd: %w", err)
		}
	}
	if err := killLeftover(l); err != nil {
		return nil, err
	}
	_ = os.Remove(l.Socket)
	_ = os.Remove(l.Socket + ".ttrpc")
	if err := os.WriteFile(l.Config, renderConfig(l, cfg.NodeName, SandboxImage, CNIBinDir), 0o644); err != nil {
		return nil, fmt.Errorf("containerd: writing its configuration: %w", err)
	}
	if cfg.Bridge == "" {
		cfg.Bridge = BridgeName
	}
	network, err := newPodNetwork(l, cfg.ClusterCIDR, cfg.Bridge)
	if err != nil {
		return nil, err
	}
	logFile := io.Discard
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("containerd: opening its log: %w", err)
		}
		defer f.Close() // the child keeps its own descriptor
		logFile = f
	}

	c := &Containerd{log: log, node: cfg.NodeName, address: l.Socket, layout: l, network: network, exited: make(chan struct{})}
	if err := c.spawn(cfg.Binary, logFile); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := c.waitServing(ctx, cfg.LogFile); err != nil {
		return nil, err
	}
	// Pods a previous run left (it crashed, or the kubelet never stopped
	// them) are gone from the node's point of view: the kubelet recreates
	// the ones that should exist.
	// (Their network is torn down with the previous run's CNI
	// configuration, which is forgotten only then.)
	// One that cannot be removed must not keep the node from starting: the
	// kubelet retries what it needs.
	if err := c.removeAllPods(ctx); err != nil {
		log.Error(err, "Clearing pods from a previous run")
	}
	if err := network.forget(); err != nil {
		return nil, fmt.Errorf("containerd on %s: %w", cfg.NodeName, err)
	}
	log.Info("containerd serving", "address", c.address, "version", c.version, "pid", c.proc.Pid)
	return c, nil
}

// spawn starts the containerd process. It is started from a goroutine
// locked to its OS thread that lives as long as the process: the parent
// death signal that ends containerd if Wheelhouse dies is tied to the
// thread that started it, not to the process.
func (c *Containerd) spawn(binary string, logFile io.Writer) error {
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		cmd := exec.Command(binary, "--config", c.layout.Config)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// The shim is found next to containerd first.
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("containerd: starting %s: %w", binary, err)
			return
		}
		c.proc = cmd.Process
		_ = os.WriteFile(c.layout.PIDFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
		started <- nil
		c.exitErr = cmd.Wait()
		close(c.exited)
	}()
	return <-started
}

// waitServing waits until containerd answers on its socket.
func (c *Containerd) waitServing(ctx context.Context, logFile string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(c.address); err == nil {
			cl, err := client.New(c.address, client.WithDefaultNamespace(Namespace), client.WithTimeout(time.Second))
			if err == nil {
				v, verr := cl.Version(ctx)
				if verr == nil {
					c.client, c.version = cl, v.Version
					return nil
				}
				cl.Close()
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("containerd on %s exited at start (%v); its log %s ends with:\n%s", c.node, c.exitErr, logFile, tail(logFile, 15))
		case <-ctx.Done():
			return fmt.Errorf("containerd on %s did not answer on %s: %w", c.node, c.address, ctx.Err())
		case <-tick.C:
		}
	}
}

// Connect uses a containerd that is already running at address.
func Connect(ctx context.Context, address string) (*Containerd, error) {
	cl, err := client.New(address, client.WithDefaultNamespace(Namespace), client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", address, err)
	}
	v, err := cl.Version(ctx)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("containerd at %s does not answer: %w", address, err)
	}
	return &Containerd{log: klog.Background(), address: address, version: v.Version, client: cl}, nil
}

// Address is containerd's socket.
func (c *Containerd) Address() string { return c.address }

// Version is containerd's version, e.g. "2.4.2".
func (c *Containerd) Version() string { return c.version }

// Owned reports whether Wheelhouse started this containerd.
func (c *Containerd) Owned() bool { return c.proc != nil }

// Client is the containerd client, in the k8s.io namespace.
func (c *Containerd) Client() *client.Client { return c.client }

// Close stops a containerd Wheelhouse started: its pods are stopped and
// removed through the CRI (containers, tasks, network namespaces, IP
// addresses), then containerd itself stops, and any mount left under its
// directory is undone. For a containerd that was already running, only
// the client is closed: its containers are its owner's.
func (c *Containerd) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		if c.proc == nil {
			if c.client != nil {
				errs = append(errs, c.client.Close())
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		select {
		case <-c.exited:
		default:
			if err := c.removeAllPods(ctx); err != nil {
				errs = append(errs, fmt.Errorf("removing pods: %w", err))
			}
		}
		if c.client != nil {
			_ = c.client.Close()
		}
		_ = c.proc.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.proc.Kill()
			<-c.exited
		}
		errs = append(errs, unmountUnder(c.layout.Dir))
		_ = os.Remove(c.layout.PIDFile)
		_ = os.Remove(c.layout.Socket)
		_ = os.Remove(c.layout.Socket + ".ttrpc")
		c.log.Info("containerd stopped")
	})
	return errors.Join(errs...)
}

// removeAllPods stops and removes every pod sandbox through containerd's
// CRI, which also removes their containers and tasks and tears down their
// network.
func (c *Containerd) removeAllPods(ctx context.Context) error {
	conn, err := grpc.NewClient("unix://"+c.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stopping pod %s/%s: %w", sb.GetMetadata().GetNamespace(), sb.GetMetadata().GetName(), err))
			continue
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing pod %s/%s: %w", sb.GetMetadata().GetNamespace(), sb.GetMetadata().GetName(), err))
		}
	}
	if len(list.Items) > 0 {
		c.log.Info("Removed pods", "count", len(list.Items))
	}
	return errors.Join(errs...)
}

// killLeftover ends a containerd that a crashed run of Wheelhouse left
// running on this directory, recognised by its pid file and command line.
func killLeftover(l layout) error {
	b, err := os.ReadFile(l.PIDFile)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !slices.Contains(strings.Split(string(cmdline), "\x00"), l.Config) {
		return nil // gone, or the pid is someone else's now
	}
	p, _ := os.FindProcess(pid)
	_ = p.Kill()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd: a containerd left by a previous run (pid %d) does not stop", pid)
}

// unmountUnder undoes every mount below dir (rootfs overlays, pod network
// namespaces, shm), deepest first. Detached, so a busy one cannot block.
func unmountUnder(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	var points []string
	for _, m := range mounts {
		if m.Mountpoint != dir { // PrefixFilter keeps dir itself too
			points = append(points, m.Mountpoint)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// tail is the last n lines of a file, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// withNamespace is ctx in the CRI's namespace.
func withNamespace(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, Namespace)
}
