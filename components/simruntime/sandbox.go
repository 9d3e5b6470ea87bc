package simruntime

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/podnet"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

type sandbox struct {
	id          string
	name        string
	config      *runtimeapi.PodSandboxConfig
	handler     string
	kernel      machine.Kernel
	ports       *machine.Ports // what its containers' servers listen on
	detach      func()         // takes it off the pod network (nil: not on it)
	state       runtimeapi.PodSandboxState
	createdAt   int64
	stoppedAt   int64
	ips         []netip.Addr
	hostNetwork bool
	pid         int
	overhead    *runtimeapi.LinuxContainerResources
	resources   *runtimeapi.LinuxContainerResources
}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hostNetwork(cfg *runtimeapi.PodSandboxConfig) bool {
	return cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE
}

func (r *Runtime) sortedSandboxes() []*sandbox {
	out := make([]*sandbox, 0, len(r.sandboxes))
	for _, s := range r.sandboxes {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *sandbox) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), strings.Compare(a.id, b.id))
	})
	return out
}

func (r *Runtime) sortedContainers(sandboxID string) []*container {
	var out []*container
	for _, c := range r.containers {
		if sandboxID == "" || c.sandboxID == sandboxID {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *container) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), strings.Compare(a.id, b.id))
	})
	return out
}

func notFound(kind, id string) error {
	return status.Errorf(codes.NotFound, "an error occurred when try to find %s %q: not found", kind, id)
}

func (r *Runtime) findSandbox(id string) *sandbox { return findByID(r.sandboxes, id) }

// findByID accepts a full id or a unique prefix, as crictl users type.
func findByID[T any](items map[string]*T, id string) *T {
	if v, ok := items[id]; ok {
		return v
	}
	if id == "" {
		return nil
	}
	var found *T
	for k, v := range items {
		if strings.HasPrefix(k, id) {
			if found != nil {
				return nil
			}
			found = v
		}
	}
	return found
}

func (s *runtimeService) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	r := s.r
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md.GetName() == "" || md.GetNamespace() == "" || md.GetUid() == "" {
		return nil, status.Error(codes.InvalidArgument, "sandbox config must include metadata name, namespace and uid")
	}
	kernel, ok := handlerFor(req.GetRuntimeHandler())
	if !ok {
		// containerd's words, when a RuntimeClass names a handler its
		// config does not list (a plain error, so gRPC's Unknown).
		return nil, status.Errorf(codes.Unknown, "failed to get sandbox runtime: no runtime for %q is configured", req.GetRuntimeHandler())
	}
	name := strings.Join([]string{md.GetName(), md.GetNamespace(), md.GetUid(), fmt.Sprint(md.GetAttempt())}, "_")
	id := newID()

	if err := r.lockOpen(); err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	if owner, ok := r.names[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "failed to reserve sandbox name %q: name %q is reserved for %q", name, name, owner)
	}
	sb := &sandbox{
		id:          id,
		name:        name,
		config:      proto.Clone(cfg).(*runtimeapi.PodSandboxConfig),
		handler:     req.GetRuntimeHandler(),
		kernel:      kernel,
		ports:       machine.NewPorts(),
		state:       runtimeapi.PodSandboxState_SANDBOX_READY,
		createdAt:   r.now().UnixNano(),
		hostNetwork: hostNetwork(cfg),
		overhead:    cfg.GetLinux().GetOverhead(),
		resources:   cfg.GetLinux().GetResources(),
	}
	if !sb.hostNetwork {
		ips, err := r.ipam.allocate(id)
		if err != nil {
			msg := err.Error()
			if err == errNoCIDR {
				msg = fmt.Sprintf("no pod CIDR assigned to node %s yet (the kubelet passes it with UpdateRuntimeConfig once the node has spec.podCIDR)", r.cfg.NodeName)
			}
			return nil, status.Errorf(codes.Unknown, "failed to setup network for sandbox %q: plugin type=\"wheelhouse\" failed (add): %s", id, msg)
		}
		sb.ips = ips
		if r.cfg.Network != nil {
			sb.detach = r.cfg.Network.Attach(podnet.Pod{Namespace: md.GetNamespace(), Name: md.GetName(), Node: r.cfg.NodeName, IP: ips[0], Ports: sb.ports})
		}
	}
	if dir := cfg.GetLogDirectory(); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			sb.leaveNetwork()
			r.ipam.release(sb.ips)
			return nil, status.Errorf(codes.Unknown, "failed to create sandbox log directory %q: %v", dir, err)
		}
	}
	sb.pid = r.newPID()
	r.names[name] = id
	r.sandboxes[id] = sb
	r.log.V(2).Info("Started pod sandbox", "pod", md.GetNamespace()+"/"+md.GetName(), "sandbox", id[:13], "ip", sb.ipString())
	r.publishSandbox(sb, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	r.publishSandbox(sb, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// netnsPath is where containerd would have put the sandbox's network
// namespace (its messages name it).
func (sb *sandbox) netnsPath() string { return "/var/run/netns/cni-" + sb.id[:8] }

// leaveNetwork takes the sandbox off the pod network (its address is
// about to be released).
func (sb *sandbox) leaveNetwork() {
	if sb.detach != nil {
		sb.detach()
		sb.detach = nil
	}
}

func (sb *sandbox) ipString() string {
	if len(sb.ips) == 0 {
		return ""
	}
	return sb.ips[0].String()
}

// stopSandboxLocked kills the sandbox's containers and releases its IPs;
// it returns the channels to wait on after unlocking.
func (r *Runtime) stopSandboxLocked(sb *sandbox) []chan struct{} {
	var waits []chan struct{}
	for _, c := range r.containers {
		if c.sandboxID == sb.id && c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			c.kill()
			waits = append(waits, c.done)
		}
	}
	if sb.state == runtimeapi.PodSandboxState_SANDBOX_READY {
		sb.leaveNetwork()
		r.ipam.release(sb.ips)
		sb.ips = nil
		sb.state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		sb.stoppedAt = r.now().UnixNano()
		r.log.V(2).Info("Stopped pod sandbox", "pod", sb.config.GetMetadata().GetNamespace()+"/"+sb.config.GetMetadata().GetName(), "sandbox", sb.id[:13])
		r.publishSandbox(sb, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	}
	return waits
}

func (s *runtimeService) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	r := s.r
	r.mu.Lock()
	sb := r.findSandbox(req.GetPodSandboxId())
	if sb == nil {
		r.mu.Unlock()
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	waits := r.stopSandboxLocked(sb)
	r.mu.Unlock()
	for _, w := range waits {
		<-w
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *runtimeService) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	r := s.r
	r.mu.Lock()
	sb := r.findSandbox(req.GetPodSandboxId())
	if sb == nil {
		r.mu.Unlock()
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	waits := r.stopSandboxLocked(sb)
	r.mu.Unlock()
	for _, w := range waits {
		<-w
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.containers {
		if c.sandboxID == sb.id {
			r.removeContainerLocked(c)
		}
	}
	if _, ok := r.sandboxes[sb.id]; ok {
		delete(r.sandboxes, sb.id)
		delete(r.names, sb.name)
		r.publishSandbox(sb, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (r *Runtime) sandboxStatus(sb *sandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id:             sb.id,
		Metadata:       sb.config.GetMetadata(),
		State:          sb.state,
		CreatedAt:      sb.createdAt,
		Network:        &runtimeapi.PodSandboxNetworkStatus{},
		Labels:         sb.config.GetLabels(),
		Annotations:    sb.config.GetAnnotations(),
		RuntimeHandler: sb.handler,
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: sb.config.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
	}
	if len(sb.ips) > 0 {
		st.Network.Ip = sb.ips[0].String()
		for _, ip := range sb.ips[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip.String()})
		}
	}
	return st
}

func (r *Runtime) publishSandbox(sb *sandbox, t runtimeapi.ContainerEventType) {
	ev := &runtimeapi.ContainerEventResponse{
		ContainerId:        sb.id,
		ContainerEventType: t,
		CreatedAt:          r.now().UnixNano(),
		PodSandboxStatus:   r.sandboxStatus(sb),
	}
	for _, c := range r.sortedContainers(sb.id) {
		ev.ContainersStatuses = append(ev.ContainersStatuses, r.containerStatus(c))
	}
	if n := r.events.publish(ev); n > 0 {
		r.log.V(2).Info("Dropped container event for slow subscribers", "subscribers", n)
	}
}

func (s *runtimeService) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	r := s.r
	sb, unlock, err := r.lockSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	resp := &runtimeapi.PodSandboxStatusResponse{Status: r.sandboxStatus(sb), Timestamp: r.now().UnixNano()}
	for _, c := range r.sortedContainers(sb.id) {
		resp.ContainersStatuses = append(resp.ContainersStatuses, r.containerStatus(c))
	}
	if req.GetVerbose() {
		config, _ := protojson.Marshal(sb.config)
		info, _ := json.Marshal(map[string]any{
			"pid":            sb.pid,
			"runtimeHandler": sb.handler,
			"hostNetwork":    sb.hostNetwork,
			"config":         json.RawMessage(config),
		})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (r *Runtime) listSandboxes(f *runtimeapi.PodSandboxFilter) []*runtimeapi.PodSandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*runtimeapi.PodSandbox
	for _, sb := range r.sortedSandboxes() {
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(sb.id, f.GetId()) {
				continue
			}
			if f.GetState() != nil && f.GetState().GetState() != sb.state {
				continue
			}
			if !labelsMatch(sb.config.GetLabels(), f.GetLabelSelector()) {
				continue
			}
		}
		out = append(out, &runtimeapi.PodSandbox{
			Id:             sb.id,
			Metadata:       sb.config.GetMetadata(),
			State:          sb.state,
			CreatedAt:      sb.createdAt,
			Labels:         sb.config.GetLabels(),
			Annotations:    sb.config.GetAnnotations(),
			RuntimeHandler: sb.handler,
		})
	}
	return out
}

func (s *runtimeService) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: s.r.listSandboxes(req.GetFilter())}, nil
}

func (s *runtimeService) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	sb, unlock, err := s.r.lockSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	if req.GetOverhead() != nil {
		sb.overhead = req.GetOverhead()
	}
	if req.GetResources() != nil {
		sb.resources = req.GetResources()
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
