package collect

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// CRI records every call a node's kubelet makes to its container runtime,
// as gRPC interceptors on the runtime's server (the simulated runtime's, or
// later the proxy in front of containerd). It remembers which pod each
// sandbox and container belongs to, so that a StartContainer, which names
// only a container id, is still an event about its pod.
type CRI struct {
	sink Sink
	now  func() time.Time

	mu         sync.Mutex
	sandboxes  map[string]podRef // sandbox id → pod
	containers map[string]podRef // container id → pod
}

type podRef struct{ namespace, name, uid string }

// NewCRI returns the CRI collector.
func NewCRI(sink Sink) *CRI {
	return &CRI{sink: sink, now: time.Now, sandboxes: map[string]podRef{}, containers: map[string]podRef{}}
}

// ServerOptions are the interceptors for one node's runtime server.
func (c *CRI) ServerOptions(node string) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(c.unary(node)),
		grpc.ChainStreamInterceptor(c.stream(node)),
	}
}

func (c *CRI) unary(node string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := c.now()
		resp, err := handler(ctx, req)
		c.record(node, info.FullMethod, start, req, resp, err)
		return resp, err
	}
}

func (c *CRI) stream(node string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := c.now()
		err := handler(srv, ss)
		c.record(node, info.FullMethod, start, nil, nil, err)
		return err
	}
}

func (c *CRI) record(node, fullMethod string, start time.Time, req, resp any, err error) {
	method := path.Base(fullMethod)
	ev := tracing.Event{
		Time:      start,
		Kind:      tracing.KindCRI,
		From:      tracing.NodeComponent(tracing.Kubelet, node),
		To:        tracing.NodeComponent(tracing.Runtime, node),
		Verb:      method,
		Status:    status.Code(err).String(),
		LatencyMs: float64(c.now().Sub(start).Microseconds()) / 1000,
		Detail:    map[string]any{"method": fullMethod},
	}
	if err != nil {
		ev.Detail["error"] = status.Convert(err).Message()
	}
	if r, ok := resp.(interface{ GetUrl() string }); ok && r.GetUrl() != "" {
		// Exec, Attach and PortForward answer with the URL of the
		// runtime's streaming server, which the kubelet then connects
		// to. Its last segment is a one-time token: not shown.
		ev.Detail["streamUrl"] = streamURL(r.GetUrl())
	}
	pod := c.describe(&ev, req, resp, err == nil)
	if pod.name != "" {
		ev.Resource, ev.Namespace, ev.Name = "pods", pod.namespace, pod.name
		if pod.uid != "" {
			ev.Detail["podUid"] = pod.uid
		}
	}
	target := ""
	if pod.name != "" {
		target = " " + pod.name
	}
	if img, ok := ev.Detail["image"].(string); ok && img != "" {
		target += " " + img
	}
	ev.Summary = fmt.Sprintf("%s → %s: %s%s (%s, %.1fms)", ev.From, ev.To, method, target, ev.Status, ev.LatencyMs)
	c.sink.Submit(ev)
}

func podOf(m *runtimeapi.PodSandboxMetadata) podRef {
	if m == nil {
		return podRef{}
	}
	return podRef{namespace: m.Namespace, name: m.Name, uid: m.Uid}
}

// describe fills the call's key fields and returns the pod it concerns.
func (c *CRI) describe(ev *tracing.Event, req, resp any, ok bool) podRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := ev.Detail
	switch r := req.(type) {
	case *runtimeapi.RunPodSandboxRequest:
		pod := podOf(r.GetConfig().GetMetadata())
		d["attempt"] = r.GetConfig().GetMetadata().GetAttempt()
		if h := r.GetRuntimeHandler(); h != "" {
			// The handler of the pod's RuntimeClass.
			d["runtimeHandler"] = h
		}
		if out, isResp := resp.(*runtimeapi.RunPodSandboxResponse); isResp && ok {
			d["podSandboxId"] = out.PodSandboxId
			c.sandboxes[out.PodSandboxId] = pod
		}
		return pod
	case *runtimeapi.RemovePodSandboxRequest:
		d["podSandboxId"] = r.PodSandboxId
		pod := c.sandboxes[r.PodSandboxId]
		if ok {
			delete(c.sandboxes, r.PodSandboxId)
		}
		return pod
	case *runtimeapi.CreateContainerRequest:
		d["podSandboxId"] = r.PodSandboxId
		d["image"] = r.GetConfig().GetImage().GetImage()
		d["container"] = r.GetConfig().GetMetadata().GetName()
		d["attempt"] = r.GetConfig().GetMetadata().GetAttempt()
		pod := c.sandboxes[r.PodSandboxId]
		if pod.name == "" {
			pod = podOf(r.GetSandboxConfig().GetMetadata())
		}
		if out, isResp := resp.(*runtimeapi.CreateContainerResponse); isResp && ok {
			d["containerId"] = out.ContainerId
			c.containers[out.ContainerId] = pod
		}
		return pod
	case *runtimeapi.RemoveContainerRequest:
		d["containerId"] = r.ContainerId
		pod := c.containers[r.ContainerId]
		if ok {
			delete(c.containers, r.ContainerId)
		}
		return pod
	// Every other call about one container (Start, Stop, Status, Exec,
	// Attach, logs, stats…) or one sandbox (Stop, Status, PortForward…)
	// names it by id; the generated getters say which.
	case interface{ GetContainerId() string }:
		d["containerId"] = r.GetContainerId()
		return c.containers[r.GetContainerId()]
	case interface{ GetPodSandboxId() string }:
		d["podSandboxId"] = r.GetPodSandboxId()
		return c.sandboxes[r.GetPodSandboxId()]
	case *runtimeapi.PullImageRequest:
		d["image"] = r.GetImage().GetImage()
		return podOf(r.GetSandboxConfig().GetMetadata())
	case *runtimeapi.ImageStatusRequest:
		d["image"] = r.GetImage().GetImage()
	case *runtimeapi.RemoveImageRequest:
		d["image"] = r.GetImage().GetImage()
	}
	return podRef{}
}

// streamURL is a streaming URL with its token left out:
// "http://127.0.0.1:4001/exec/…".
func streamURL(u string) string {
	if i := strings.LastIndex(u, "/"); i >= 0 && i < len(u)-1 {
		return u[:i+1] + "…"
	}
	return u
}
