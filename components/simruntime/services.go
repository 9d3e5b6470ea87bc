package simruntime

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runtimeService implements every method of the CRI RuntimeService; the
// embedded Unimplemented server only answers methods added to the API
// after v0.37.
type runtimeService struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	r *Runtime
}

// NotSupportedMessage starts the error of every CRI call the simulator
// cannot serve (checkpoints): they need real processes.
const NotSupportedMessage = "not supported by the simulated runtime; use --runtime containerd"

func notSupported() error { return status.Error(codes.Unimplemented, NotSupportedMessage) }

func (s *runtimeService) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           "0.1.0",
		RuntimeName:       RuntimeName,
		RuntimeVersion:    RuntimeVersion,
		RuntimeApiVersion: "v1",
	}, nil
}

func (s *runtimeService) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	features := &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: true}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{Type: runtimeapi.NetworkReady, Status: true},
		}},
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{
			{Name: "", Features: features},
			{Name: defaultHandler, Features: features},
			{Name: gvisorHandler, Features: features},
		},
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		s.r.mu.Lock()
		info, _ := json.Marshal(map[string]any{
			"node":          s.r.cfg.NodeName,
			"podCIDR":       s.r.ipam.cidrs(),
			"sandboxImage":  sandboxImage,
			"cgroupDriver":  "cgroupfs",
			"pullBandwidth": s.r.cfg.PullBytesPerSecond,
		})
		s.r.mu.Unlock()
		resp.Info = map[string]string{"config": string(info)}
	}
	return resp, nil
}

func (s *runtimeService) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{
		CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS,
	}}, nil
}

// UpdateRuntimeConfig receives the node's pod CIDR from the kubelet once
// the node controller has assigned one; pods get IPs from it.
func (s *runtimeService) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	r := s.r
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	r.mu.Lock()
	changed, err := r.ipam.setCIDRs(cidr)
	if changed {
		r.saveStateLocked()
	}
	r.mu.Unlock()
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if changed {
		r.log.Info("Pod CIDR set", "podCIDR", cidr)
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

func (s *runtimeService) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	ch, cancel := s.r.events.subscribe()
	defer cancel()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.r.closing:
			return nil
		case ev := <-ch:
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

func (s *runtimeService) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	if items := s.r.listSandboxes(req.GetFilter()); len(items) > 0 {
		return stream.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: items})
	}
	return nil
}

func (s *runtimeService) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	if items := s.r.listContainers(req.GetFilter()); len(items) > 0 {
		return stream.Send(&runtimeapi.StreamContainersResponse{Containers: items})
	}
	return nil
}

func (s *runtimeService) CheckpointContainer(context.Context, *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, notSupported()
}

func (s *runtimeService) CheckpointPod(context.Context, *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return nil, notSupported()
}

func (s *runtimeService) RestorePod(context.Context, *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return nil, notSupported()
}
