package tracing

import "strings"

// Noise reasons. Noise is real traffic that repeats on a timer and says
// little about what a learner just did; views hide it by default.
const (
	NoiseLease      = "lease renewal (heartbeat or leader election)"
	NoiseEvent      = "Event recording"
	NoisePoll       = "periodic runtime status poll"
	NoiseBookmark   = "watch bookmark (progress marker)"
	NoiseNodeStatus = "kubelet's periodic read of its own Node"
	NoiseUI         = "Wheelhouse's own UI reading the cluster"
	NoiseWheelhouse = "Wheelhouse's own check (start-up readiness)"
	NoiseHealth     = "load balancer health check"
)

// UIClient is the component id of Wheelhouse's own UI, which watches nodes
// and pods to draw them. Its traffic is real but not the cluster's own.
const UIClient = "wheelhouse-ui"

// criPolls are the CRI methods the kubelet calls on a timer (PLEG relist,
// stats, image GC), not because something happened to a pod.
var criPolls = map[string]bool{
	"Version": true, "Status": true, "RuntimeConfig": true,
	"ListPodSandbox": true, "ListContainers": true, "StreamPodSandboxes": true, "StreamContainers": true,
	"PodSandboxStatus": true, "ContainerStatus": true,
	"ListImages": true, "StreamImages": true, "ImageFsInfo": true,
	"ContainerStats": true, "ListContainerStats": true, "StreamContainerStats": true,
	"PodSandboxStats": true, "ListPodSandboxStats": true, "StreamPodSandboxStats": true,
	"ListMetricDescriptors": true, "ListPodSandboxMetrics": true, "StreamPodSandboxMetrics": true,
}

// Classify marks an event as noise when it is one of the routine kinds of
// traffic. It is called by the linker on every event before publication.
func Classify(e *Event) {
	if e.Noise {
		return
	}
	switch {
	case e.From == UIClient || e.To == UIClient:
		e.Noise, e.NoiseReason = true, NoiseUI
	case e.From == Wheelhouse || e.To == Wheelhouse:
		e.Noise, e.NoiseReason = true, NoiseWheelhouse
	case e.Resource == "leases" && e.Kind != KindLifecycle:
		// A Lease's renewals are noise; its change of holder
		// (LeaseAcquired, a lifecycle event) is not.
		e.Noise, e.NoiseReason = true, NoiseLease
	case e.Kind == KindHTTP && e.From == LoadBalancer:
		e.Noise, e.NoiseReason = true, NoiseHealth
	case e.Resource == "events":
		e.Noise, e.NoiseReason = true, NoiseEvent
	case e.Kind == KindWatch && e.Verb == "BOOKMARK":
		e.Noise, e.NoiseReason = true, NoiseBookmark
	case e.Kind == KindCRI && criPolls[e.Verb]:
		e.Noise, e.NoiseReason = true, NoisePoll
	case e.Kind == KindKubeletAPI && e.Resource == "":
		// Stats, metrics and health of the node, not about a pod.
		e.Noise, e.NoiseReason = true, NoisePoll
	case e.Kind == KindHTTP && e.Verb == "get" && e.Resource == "nodes" && e.Subresource == "" &&
		strings.HasPrefix(e.From, Kubelet+"/") && strings.TrimPrefix(e.From, Kubelet+"/") == e.Name:
		e.Noise, e.NoiseReason = true, NoiseNodeStatus
	}
}
