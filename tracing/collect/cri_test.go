package collect

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCRICallsAreAttributedToTheirPod: calls that name only a container or
// sandbox id are events about the pod that id belongs to.
func TestCRICallsAreAttributedToTheirPod(t *testing.T) {
	s := &sink{}
	c := NewCRI(s)
	call := c.unary("node-1")
	meta := &runtimeapi.PodSandboxMetadata{Name: "nginx", Namespace: "default", Uid: "u1"}
	do := func(method string, req, resp any) {
		info := &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/" + method}
		if _, err := call(context.Background(), req, info, func(context.Context, any) (any, error) { return resp, nil }); err != nil {
			t.Fatal(err)
		}
	}
	do("RunPodSandbox", &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: meta}}, &runtimeapi.RunPodSandboxResponse{PodSandboxId: "sb"})
	do("CreateContainer", &runtimeapi.CreateContainerRequest{PodSandboxId: "sb", Config: &runtimeapi.ContainerConfig{Image: &runtimeapi.ImageSpec{Image: "nginx"}}}, &runtimeapi.CreateContainerResponse{ContainerId: "c1"})
	do("StartContainer", &runtimeapi.StartContainerRequest{ContainerId: "c1"}, &runtimeapi.StartContainerResponse{})
	do("PodSandboxStatus", &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "sb"}, &runtimeapi.PodSandboxStatusResponse{})
	do("RemoveContainer", &runtimeapi.RemoveContainerRequest{ContainerId: "c1"}, &runtimeapi.RemoveContainerResponse{})
	do("StartContainer", &runtimeapi.StartContainerRequest{ContainerId: "c1"}, &runtimeapi.StartContainerResponse{})

	evs := s.snapshot()
	for i, e := range evs[:5] {
		if e.Object() != "pods/default/nginx" || e.From != "kubelet/node-1" || e.To != "runtime/node-1" {
			t.Errorf("event %d (%s) is about %q from %s to %s", i, e.Verb, e.Object(), e.From, e.To)
		}
	}
	if evs[2].Detail["containerId"] != "c1" || evs[3].Detail["podSandboxId"] != "sb" {
		t.Errorf("ids not recorded: %v, %v", evs[2].Detail, evs[3].Detail)
	}
	if evs[5].Object() != "" {
		t.Errorf("a removed container is still attributed: %+v", evs[5])
	}
}
