// Package simruntime is Wheelhouse's simulated container runtime: a real CRI
// v1 gRPC server on a unix socket that a node's real kubelet uses exactly
// as it would use containerd. Images come from a built-in catalogue and
// take time to "download"; containers run small simulated programs (a
// shell interpreter, sleep, nginx, redis, ...) in goroutines and write
// their output in the CRI log format, so `kubectl logs`, restarts,
// CrashLoopBackOff, ImagePullBackOff and graceful termination all behave
// as a learner would see them in a real cluster.
package simruntime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/podnet"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/images"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/programs"
	"github.com/wheelhouse-k8s/wheelhouse/components/unixsocket"
)

const (
	// RuntimeName is what nodes report as their container runtime
	// (node.status.nodeInfo.containerRuntimeVersion is
	// "wheelhouse-sim://<RuntimeVersion>").
	RuntimeName    = "wheelhouse-sim"
	RuntimeVersion = "1.0.0"

	// DefaultPullBytesPerSecond makes nginx (~72 MB compressed) take about
	// a second, long enough to watch ContainerCreating and the Pulling
	// event, short enough not to bore anyone.
	DefaultPullBytesPerSecond = 72_000_000
	// InstantPull, as Config.PullBytesPerSecond, makes every pull complete
	// at once.
	InstantPull = -1

	gracefulStopTimeout = 2 * time.Second

	// sandboxImage is what a real containerd uses for the pod's pause
	// container; it is on the node before any pull, pinned against GC.
	sandboxImage = "registry.k8s.io/pause:3.10.1"
)

// Config configures a simulated runtime for one node.
type Config struct {
	// NodeName is used in logs and as the hostname of host-network pods.
	NodeName string
	// SocketPath is the unix socket to listen on. Its parent directory is
	// created; a stale socket file left by a previous run is removed.
	SocketPath string
	// PullBytesPerSecond is the simulated registry speed; 0 means
	// DefaultPullBytesPerSecond, under which nginx pulls in about one
	// second, and a negative value (InstantPull) means no delay at all.
	PullBytesPerSecond int64
	// ServerOptions are extra gRPC server options, such as interceptors.
	ServerOptions []grpc.ServerOption
	// Logger defaults to klog.Background() with component=runtime/<NodeName>.
	Logger klog.Logger
	// Now is the clock for timestamps; it defaults to time.Now.
	Now func() time.Time
	// Network, when set, is the pod network the node's pods join: their
	// programs' connections reach other pods through it.
	Network *podnet.Network
	// Programs are executables the cluster provides beyond the built-in
	// simulations (CoreDNS's), by name; they take precedence.
	Programs map[string]machine.Program
}

// Runtime is a running simulated container runtime.
type Runtime struct {
	cfg       Config
	log       klog.Logger
	now       func() time.Time
	socket    string
	imageFS   string
	srv       *grpc.Server
	serveDone chan struct{}
	catalogue *images.Catalogue
	events    *eventHub
	streams   *streamer

	closing   chan struct{}
	closeOnce sync.Once
	programs  sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	sandboxes  map[string]*sandbox
	containers map[string]*container
	names      map[string]string // reserved sandbox and container names -> id
	ipam       ipam
	images     map[string]*cachedImage // by image id
	pulls      map[string]chan struct{}
	lastPID    int
}

// Start listens on cfg.SocketPath and serves the CRI runtime and image
// services. It returns once the socket accepts connections. ctx bounds
// start-up only; the runtime runs until Close.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.SocketPath == "" {
		return nil, errors.New("runtime: SocketPath is required")
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "node"
	}
	if cfg.PullBytesPerSecond == 0 {
		cfg.PullBytesPerSecond = DefaultPullBytesPerSecond
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background().WithValues("component", "runtime/"+cfg.NodeName)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	socket, err := filepath.Abs(cfg.SocketPath)
	if err != nil {
		return nil, fmt.Errorf("runtime: socket path: %w", err)
	}
	if len(socket) > unixsocket.MaxPathLen {
		return nil, fmt.Errorf("runtime: socket path %q is %d bytes, longer than the %d a unix socket allows", socket, len(socket), unixsocket.MaxPathLen)
	}
	dir := filepath.Dir(socket)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if err := unixsocket.RemoveStale(ctx, socket); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	imageFS := filepath.Join(dir, "containerd", "io.containerd.snapshotter.v1.overlayfs")
	if err := os.MkdirAll(imageFS, 0o755); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("runtime: listen: %w", err)
	}
	_ = os.Chmod(socket, 0o660)

	r := &Runtime{
		cfg:        cfg,
		log:        cfg.Logger,
		now:        cfg.Now,
		socket:     socket,
		imageFS:    imageFS,
		serveDone:  make(chan struct{}),
		catalogue:  images.NewCatalogue(),
		events:     newEventHub(),
		closing:    make(chan struct{}),
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		names:      map[string]string{},
		ipam:       ipam{allocated: map[netip.Addr]string{}},
		images:     map[string]*cachedImage{},
		pulls:      map[string]chan struct{}{},
		lastPID:    1000,
	}
	// A real node has the sandbox image before the first pod: containerd
	// pulls it on first use and kind preloads it.
	if ref, err := images.ParseRef(sandboxImage); err == nil {
		if def, err := r.catalogue.Resolve(ref); err == nil {
			r.cacheImage(def, ref)
		}
	}
	r.loadState()
	if err := r.startStreaming(); err != nil {
		lis.Close()
		return nil, err
	}
	r.srv = grpc.NewServer(cfg.ServerOptions...)
	runtimeapi.RegisterRuntimeServiceServer(r.srv, &runtimeService{r: r})
	runtimeapi.RegisterImageServiceServer(r.srv, &imageService{r: r})
	go func() {
		defer close(r.serveDone)
		if err := r.srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			r.log.Error(err, "CRI server stopped")
		}
	}()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("runtime: socket does not accept connections: %w", err)
	}
	_ = conn.Close()
	r.log.Info("Simulated container runtime serving", "endpoint", r.Endpoint(), "pullBytesPerSecond", cfg.PullBytesPerSecond)
	return r, nil
}

// Endpoint is the CRI endpoint for the kubelet's --container-runtime-endpoint.
func (r *Runtime) Endpoint() string { return "unix://" + r.socket }

// Close kills every running container program, stops the gRPC server
// (gracefully, within a short bound) and removes the socket.
func (r *Runtime) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.closing)
		r.mu.Lock()
		r.closed = true
		for _, c := range r.containers {
			c.kill()
		}
		r.mu.Unlock()
		r.programs.Wait()

		stopped := make(chan struct{})
		go func() {
			r.srv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(gracefulStopTimeout):
			r.srv.Stop()
			<-stopped
		}
		<-r.serveDone
		r.streams.close()
		if rerr := os.Remove(r.socket); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("runtime: removing socket: %w", rerr)
		}
		r.log.Info("Simulated container runtime stopped")
	})
	return err
}

// newPID returns a host pid for a sandbox or container; it skips a few
// numbers each time, as other processes on a real node take some.
func (r *Runtime) newPID() int {
	r.lastPID += 1 + len(r.containers)%7
	return r.lastPID
}

// SandboxInfo is a plain view of a pod sandbox for the UI and tests.
type SandboxInfo struct {
	ID        string
	Name      string
	Namespace string
	UID       string
	Attempt   uint32
	State     string // "Ready" or "NotReady"
	IP        string
	CreatedAt time.Time
	// PID is the pid of the sandbox's pause process.
	PID        int
	Containers []ContainerInfo
}

// ContainerInfo is a plain view of a container.
type ContainerInfo struct {
	ID         string
	Name       string
	Attempt    uint32
	State      string // "Created", "Running", "Exited"
	Image      string
	ImageID    string
	PID        int
	ExitCode   int32
	Reason     string
	Message    string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// Snapshot returns the sandboxes and their containers, oldest first.
func (r *Runtime) Snapshot() []SandboxInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []SandboxInfo
	for _, s := range r.sortedSandboxes() {
		md := s.config.GetMetadata()
		info := SandboxInfo{
			ID:        s.id,
			Name:      md.GetName(),
			Namespace: md.GetNamespace(),
			UID:       md.GetUid(),
			Attempt:   md.GetAttempt(),
			State:     "Ready",
			CreatedAt: time.Unix(0, s.createdAt),
			PID:       s.pid,
		}
		if s.state != runtimeapi.PodSandboxState_SANDBOX_READY {
			info.State = "NotReady"
		}
		if len(s.ips) > 0 {
			info.IP = s.ips[0].String()
		}
		for _, c := range r.sortedContainers(s.id) {
			ci := ContainerInfo{
				ID:        c.id,
				Name:      c.config.GetMetadata().GetName(),
				Attempt:   c.config.GetMetadata().GetAttempt(),
				Image:     c.imageName,
				ImageID:   c.image.ID,
				PID:       c.pid,
				ExitCode:  c.exitCode,
				Reason:    c.reason,
				Message:   c.message,
				CreatedAt: time.Unix(0, c.createdAt),
			}
			switch c.state {
			case runtimeapi.ContainerState_CONTAINER_CREATED:
				ci.State = "Created"
			case runtimeapi.ContainerState_CONTAINER_RUNNING:
				ci.State = "Running"
			default:
				ci.State = "Exited"
			}
			if c.startedAt != 0 {
				ci.StartedAt = time.Unix(0, c.startedAt)
			}
			if c.finishedAt != 0 {
				ci.FinishedAt = time.Unix(0, c.finishedAt)
			}
			info.Containers = append(info.Containers, ci)
		}
		out = append(out, info)
	}
	return out
}

// network is the pod network as machines see it: nil (not a nil pointer
// in an interface) when the runtime has none.
// program is the simulation of an image's executable.
func (r *Runtime) program(name string) machine.Program {
	if p, ok := r.cfg.Programs[name]; ok {
		return p
	}
	return programs.For(name)
}

func (r *Runtime) network() machine.Network {
	if r.cfg.Network == nil {
		return nil
	}
	return r.cfg.Network
}
