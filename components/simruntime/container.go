package simruntime

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/images"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

type container struct {
	id         string
	sandboxID  string
	name       string
	config     *runtimeapi.ContainerConfig
	image      *images.Image
	imageName  string // as reported in status: the tag the pod asked for
	imageRef   string // repo@digest, which becomes the pod's imageID
	logPath    string
	state      runtimeapi.ContainerState
	createdAt  int64
	startedAt  int64
	finishedAt int64
	exitCode   int32
	reason     string
	message    string
	pid        int
	resources  *runtimeapi.LinuxContainerResources
	stopSignal machine.Signal
	jitter     float64 // per-container variation of the usage figures

	// Set while running (and kept afterwards for stats and logs).
	machine *machine.Machine
	cancel  context.CancelFunc
	done    chan struct{}
	logs    *criLog
	attach  *attachHub
}

// kill delivers SIGKILL; the caller holds r.mu and may wait on c.done
// after unlocking.
func (c *container) kill() {
	if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING && c.cancel != nil {
		c.cancel()
	}
}

// argv applies Docker/CRI semantics: command replaces the image's
// entrypoint, args replace its cmd, and the image's cmd is dropped when
// only command is given.
func (c *container) argv() []string {
	cmd, args := c.config.GetCommand(), c.config.GetArgs()
	if len(cmd) == 0 {
		cmd = c.image.Config.Entrypoint
		if len(args) == 0 {
			args = c.image.Config.Cmd
		}
	}
	return append(slices.Clone(cmd), args...)
}

func (r *Runtime) findContainer(id string) *container { return findByID(r.containers, id) }

func (s *runtimeService) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	r := s.r
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "container config must include metadata name")
	}
	if err := r.lockOpen(); err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	sb := r.findSandbox(req.GetPodSandboxId())
	if sb == nil {
		return nil, notFound("sandbox", req.GetPodSandboxId())
	}
	if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "failed to create containerd container: sandbox %q is not running", sb.id)
	}
	img := r.lookupImage(cfg.GetImage().GetImage())
	if img == nil {
		return nil, status.Errorf(codes.NotFound, "failed to get image %q: image not found on node %s", cfg.GetImage().GetImage(), r.cfg.NodeName)
	}
	smd := sb.config.GetMetadata()
	name := strings.Join([]string{md.GetName(), smd.GetName(), smd.GetNamespace(), smd.GetUid(), fmt.Sprint(md.GetAttempt())}, "_")
	if owner, ok := r.names[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "failed to reserve container name %q: name %q is reserved for %q", name, name, owner)
	}
	id := newID()
	c := &container{
		id:        id,
		sandboxID: sb.id,
		name:      name,
		config:    proto.Clone(cfg).(*runtimeapi.ContainerConfig),
		image:     img.def,
		imageName: img.displayName(cfg.GetImage()),
		imageRef:  img.def.Repo + "@" + img.def.Digest,
		state:     runtimeapi.ContainerState_CONTAINER_CREATED,
		createdAt: r.now().UnixNano(),
		resources: cfg.GetLinux().GetResources(),
		jitter:    jitterFor(id),
	}
	if dir, p := sb.config.GetLogDirectory(), cfg.GetLogPath(); dir != "" && p != "" {
		c.logPath = filepath.Join(dir, p)
	}
	c.stopSignal, _ = machine.SignalByName(img.def.Config.StopSignal)
	if sig, ok := signalFromCRI(cfg.GetStopSignal()); ok {
		c.stopSignal = sig
	}
	r.containers[id] = c
	r.names[name] = id
	r.log.V(2).Info("Created container", "pod", smd.GetNamespace()+"/"+smd.GetName(), "container", md.GetName(), "attempt", md.GetAttempt(), "id", id[:13], "image", c.imageName)
	r.publishContainer(c, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// environment is what PID 1 starts with: the image's PATH, HOSTNAME, the
// pod's variables, the rest of the image's variables and HOME, in the
// order runc passes them.
func (c *container) environment(hostname string) []string {
	var env []string
	set := map[string]bool{}
	add := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			set[k] = true
			env = append(env, kv)
		}
	}
	pod := map[string]string{}
	var podOrder []string
	for _, kv := range c.config.GetEnvs() {
		if _, dup := pod[kv.GetKey()]; !dup {
			podOrder = append(podOrder, kv.GetKey())
		}
		pod[kv.GetKey()] = string(kv.GetValue())
	}
	imagePath := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range c.image.Config.Env {
		if strings.HasPrefix(kv, "PATH=") {
			imagePath = kv
		}
	}
	if v, ok := pod["PATH"]; ok {
		imagePath = "PATH=" + v
	}
	add(imagePath)
	add("HOSTNAME=" + hostname)
	if c.config.GetTty() {
		add("TERM=xterm")
	}
	for _, k := range podOrder {
		add(k + "=" + pod[k])
	}
	for _, kv := range c.image.Config.Env {
		add(kv)
	}
	add("HOME=/root")
	return env
}

func (r *Runtime) hostsFile(sb *sandbox, hostname string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if ip := sb.ipString(); ip != "" {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	return b.String()
}

func resolvConf(dns *runtimeapi.DNSConfig) string {
	var b strings.Builder
	if len(dns.GetSearches()) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.GetSearches(), " "))
	}
	for _, s := range dns.GetServers() {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.GetOptions()) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.GetOptions(), " "))
	}
	return b.String()
}

// signalFromCRI maps the stop signal of a ContainerConfig; signals the
// simulated programs never handle all behave like SIGTERM to an
// unprepared PID 1, i.e. they are ignored.
func signalFromCRI(s runtimeapi.Signal) (machine.Signal, bool) {
	name := strings.TrimPrefix(s.String(), "SIGNAL_")
	if s == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return 0, false
	}
	if sig, ok := machine.SignalByName(name); ok {
		return sig, true
	}
	return 64, true
}

func signalToCRI(s machine.Signal) runtimeapi.Signal {
	if v, ok := runtimeapi.Signal_value["SIGNAL_"+s.String()]; ok {
		return runtimeapi.Signal(v)
	}
	return runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT
}

// startError is how containerd and runc report an executable that is not
// in the image, when a container starts.
func startError(argv []string) string {
	return "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: " + missingExecutable(argv) + ": unknown"
}

// execError is how they report it for a command run in a running
// container (kubectl exec).
func execError(argv []string) string {
	return "failed to exec in container: OCI runtime exec failed: exec failed: unable to start container process: " + missingExecutable(argv) + ": unknown"
}

func missingExecutable(argv []string) string {
	if len(argv) == 0 {
		return "no command specified"
	}
	if path.IsAbs(argv[0]) {
		return fmt.Sprintf("exec: %q: stat %s: no such file or directory", argv[0], argv[0])
	}
	return fmt.Sprintf("exec: %q: executable file not found in $PATH", argv[0])
}

func (s *runtimeService) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	r := s.r
	if err := r.lockOpen(); err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	c := r.findContainer(req.GetContainerId())
	if c == nil {
		return nil, notFound("container", req.GetContainerId())
	}
	if c.state != runtimeapi.ContainerState_CONTAINER_CREATED {
		return nil, status.Errorf(codes.FailedPrecondition, "failed to set starting state for container %q: container is in %s state", c.id, c.state)
	}
	sb := r.sandboxes[c.sandboxID]
	if sb == nil || sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "sandbox container %q is not running", c.sandboxID)
	}
	logs, err := openCRILog(c.logPath, r.now)
	if err != nil {
		return nil, status.Errorf(codes.Unknown, "failed to create container loggers: %v", err)
	}
	c.logs = logs
	hostname := sb.config.GetHostname()
	if sb.hostNetwork || hostname == "" {
		hostname = r.cfg.NodeName
	}
	workDir := c.config.GetWorkingDir()
	if workDir == "" {
		workDir = c.image.Config.WorkingDir
	}
	pctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := logs.stream("stdout"), logs.stream("stderr")
	c.attach = newAttachHub(c.config.GetStdin(), c.config.GetStdinOnce())
	m := machine.New(machine.Config{
		ContainerID: c.id,
		Ctx:         pctx,
		Image:       c.image,
		Hostname:    hostname,
		IP:          sb.ipString(),
		WorkDir:     workDir,
		Env:         c.environment(hostname),
		Mounts:      c.config.GetMounts(),
		Stdout:      c.attach.writer(stdout, false),
		Stderr:      c.attach.writer(stderr, true),
		Stdin:       c.attach.stdin(),
		StdinOpen:   c.config.GetStdin(),
		Now:         r.now,
		Hosts:       r.hostsFile(sb, hostname),
		Resolv:      resolvConf(sb.config.GetDnsConfig()),
		Kernel:      sb.kernel,
		Ports:       sb.ports,
		Network:     r.network(),
		Programs:    r.program,
	})
	c.machine = m
	argv := c.argv()
	now := r.now().UnixNano()
	if len(argv) == 0 || !func() bool { _, ok := m.Lookup(argv[0]); return ok }() {
		cancel()
		logs.close()
		c.state = runtimeapi.ContainerState_CONTAINER_EXITED
		c.finishedAt = now
		c.exitCode = 128
		c.reason = "StartError"
		c.message = startError(argv)
		r.log.V(2).Info("Container failed to start", "container", c.config.GetMetadata().GetName(), "id", c.id[:13], "err", c.message)
		r.publishContainer(c, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
		return nil, status.Error(codes.Unknown, c.message)
	}
	c.state = runtimeapi.ContainerState_CONTAINER_RUNNING
	c.startedAt = now
	c.pid = r.newPID()
	c.cancel = cancel
	c.done = make(chan struct{})
	r.programs.Add(1)
	go r.runProgram(c, argv, stdout, stderr)
	r.log.V(2).Info("Started container", "container", c.config.GetMetadata().GetName(), "id", c.id[:13], "argv", argv)
	r.publishContainer(c, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	return &runtimeapi.StartContainerResponse{}, nil
}

func (r *Runtime) runProgram(c *container, argv []string, stdout, stderr *logStream) {
	defer r.programs.Done()
	code := c.machine.Run(argv)
	// Everything in the container's PID namespace dies with PID 1.
	c.cancel()
	c.attach.close()
	c.machine.Jobs.Wait()
	stdout.flush()
	stderr.flush()

	r.mu.Lock()
	defer r.mu.Unlock()
	c.state = runtimeapi.ContainerState_CONTAINER_EXITED
	c.finishedAt = r.now().UnixNano()
	c.exitCode = int32(code)
	c.reason = "Completed"
	if code != 0 {
		c.reason = "Error"
	}
	c.logs.close()
	close(c.done)
	r.log.V(2).Info("Container exited", "container", c.config.GetMetadata().GetName(), "id", c.id[:13], "exitCode", code)
	r.publishContainer(c, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
}

// StopContainer sends the stop signal to PID 1 and kills the container
// when the grace period (timeout seconds) ends. Timeout 0 kills at once.
func (s *runtimeService) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	r := s.r
	r.mu.Lock()
	c := r.findContainer(req.GetContainerId())
	if c == nil {
		r.mu.Unlock()
		return nil, notFound("container", req.GetContainerId())
	}
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		r.mu.Unlock()
		return &runtimeapi.StopContainerResponse{}, nil
	}
	done, m, sig := c.done, c.machine, c.stopSignal
	r.mu.Unlock()

	if timeout := req.GetTimeout(); timeout > 0 && sig != machine.SIGKILL {
		m.Deliver(sig)
		t := time.NewTimer(time.Duration(timeout) * time.Second)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		case <-r.closing:
		}
		t.Stop()
	}
	r.mu.Lock()
	c.kill()
	r.mu.Unlock()
	<-done
	return &runtimeapi.StopContainerResponse{}, nil
}

// removeContainerLocked forgets a container that is not running.
func (r *Runtime) removeContainerLocked(c *container) {
	if _, ok := r.containers[c.id]; !ok {
		return
	}
	r.publishContainer(c, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	delete(r.containers, c.id)
	delete(r.names, c.name)
	r.log.V(4).Info("Removed container", "container", c.config.GetMetadata().GetName(), "id", c.id[:13])
}

func (s *runtimeService) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	r := s.r
	r.mu.Lock()
	c := r.findContainer(req.GetContainerId())
	if c == nil {
		r.mu.Unlock()
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
		c.kill()
		done := c.done
		r.mu.Unlock()
		<-done
		r.mu.Lock()
	}
	r.removeContainerLocked(c)
	r.mu.Unlock()
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (r *Runtime) containerStatus(c *container) *runtimeapi.ContainerStatus {
	uid, gid := int64(0), int64(0)
	sc := c.config.GetLinux().GetSecurityContext()
	if sc.GetRunAsUser() != nil {
		uid = sc.GetRunAsUser().GetValue()
	}
	if sc.GetRunAsGroup() != nil {
		gid = sc.GetRunAsGroup().GetValue()
	}
	groups := append([]int64{gid}, sc.GetSupplementalGroups()...)
	spec := c.config.GetImage()
	return &runtimeapi.ContainerStatus{
		Id:         c.id,
		Metadata:   c.config.GetMetadata(),
		State:      c.state,
		CreatedAt:  c.createdAt,
		StartedAt:  c.startedAt,
		FinishedAt: c.finishedAt,
		ExitCode:   c.exitCode,
		Image: &runtimeapi.ImageSpec{
			Image:              c.imageName,
			Annotations:        spec.GetAnnotations(),
			UserSpecifiedImage: spec.GetUserSpecifiedImage(),
			RuntimeHandler:     spec.GetRuntimeHandler(),
		},
		ImageRef:    c.imageRef,
		Reason:      c.reason,
		Message:     c.message,
		Labels:      c.config.GetLabels(),
		Annotations: c.config.GetAnnotations(),
		Mounts:      c.config.GetMounts(),
		LogPath:     c.logPath,
		Resources:   &runtimeapi.ContainerResources{Linux: c.resources},
		ImageId:     c.image.ID,
		User: &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
			Uid: uid, Gid: gid, SupplementalGroups: groups,
		}},
		StopSignal: signalToCRI(c.stopSignal),
	}
}

func (r *Runtime) publishContainer(c *container, t runtimeapi.ContainerEventType) {
	ev := &runtimeapi.ContainerEventResponse{
		ContainerId:        c.id,
		ContainerEventType: t,
		CreatedAt:          r.now().UnixNano(),
	}
	if sb := r.sandboxes[c.sandboxID]; sb != nil {
		ev.PodSandboxStatus = r.sandboxStatus(sb)
	}
	for _, other := range r.sortedContainers(c.sandboxID) {
		ev.ContainersStatuses = append(ev.ContainersStatuses, r.containerStatus(other))
	}
	if t == runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT {
		ev.ContainersStatuses = slices.DeleteFunc(ev.ContainersStatuses, func(st *runtimeapi.ContainerStatus) bool { return st.Id == c.id })
	}
	if n := r.events.publish(ev); n > 0 {
		r.log.V(2).Info("Dropped container event for slow subscribers", "subscribers", n)
	}
}

func (s *runtimeService) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	r := s.r
	c, unlock, err := r.lockContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	resp := &runtimeapi.ContainerStatusResponse{Status: r.containerStatus(c)}
	if req.GetVerbose() {
		info, _ := json.Marshal(map[string]any{
			"sandboxID":  c.sandboxID,
			"pid":        c.pid,
			"args":       c.argv(),
			"image":      c.imageName,
			"imageID":    c.image.ID,
			"stopSignal": c.stopSignal.String(),
			"runtime":    RuntimeName,
		})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

func (r *Runtime) listContainers(f *runtimeapi.ContainerFilter) []*runtimeapi.Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*runtimeapi.Container
	for _, c := range r.sortedContainers("") {
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(c.id, f.GetId()) {
				continue
			}
			if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.sandboxID, f.GetPodSandboxId()) {
				continue
			}
			if f.GetState() != nil && f.GetState().GetState() != c.state {
				continue
			}
			if !labelsMatch(c.config.GetLabels(), f.GetLabelSelector()) {
				continue
			}
		}
		st := r.containerStatus(c)
		out = append(out, &runtimeapi.Container{
			Id:           c.id,
			PodSandboxId: c.sandboxID,
			Metadata:     st.Metadata,
			Image:        st.Image,
			ImageRef:     c.imageRef,
			State:        c.state,
			CreatedAt:    c.createdAt,
			Labels:       st.Labels,
			Annotations:  st.Annotations,
			ImageId:      c.image.ID,
		})
	}
	return out
}

func (s *runtimeService) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: s.r.listContainers(req.GetFilter())}, nil
}

func (s *runtimeService) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	c, unlock, err := s.r.lockContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	if req.GetLinux() != nil {
		c.resources = req.GetLinux()
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

func (s *runtimeService) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	c, unlock, err := s.r.lockContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, status.Errorf(codes.FailedPrecondition, "can't reopen log for a non-running container %q", c.id)
	}
	if err := c.logs.reopen(); err != nil {
		return nil, status.Errorf(codes.Unknown, "failed to reopen container log %q: %v", c.logPath, err)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
