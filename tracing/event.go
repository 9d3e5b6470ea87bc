// Package tracing is Wheelhouse's record of what happens between the
// components of the cluster: every HTTP request to the apiserver, every
// watch event it sends, every etcd write and every CRI call, each an Event,
// linked to the event that caused it. The browser animates only these.
//
// This package and its pure subpackages import nothing from Kubernetes, so
// their tests build in seconds. The format is public and versioned: see
// docs/trace-format.md.
package tracing

import (
	"strings"
	"time"
)

// FormatVersion is the version of the event format in docs/trace-format.md.
// It changes when a field changes meaning or is removed; adding a field
// does not change it.
const FormatVersion = 1

// Kind says which collector saw an event.
type Kind string

const (
	// KindHTTP is a request to the apiserver, recorded when it completes.
	KindHTTP Kind = "http"
	// KindWatch is one event the apiserver wrote to one watcher.
	KindWatch Kind = "watch"
	// KindEtcd is one put or delete in etcd.
	KindEtcd Kind = "etcd"
	// KindCRI is one call from a kubelet to its container runtime.
	KindCRI Kind = "cri"
	// KindKubeletAPI is one request to a kubelet's own HTTPS API, nearly
	// always from the apiserver passing on a client's `kubectl logs`,
	// `exec`, `attach` or `port-forward`. It is recorded when it arrives,
	// before the kubelet acts on it (an exec lasts as long as its
	// session), so it has no status or latency.
	KindKubeletAPI Kind = "kubelet-api"
	// KindNet is one connection a simulated pod's program opened: from
	// the source pod, through the source node's kube-proxy rules, to the
	// pod that answered (or why none did). Detail says which chains and
	// rules it went through, the endpoint and the outcome.
	KindNet Kind = "net"
	// KindLifecycle is a component starting, becoming ready, stopping or
	// crashing, or a node turning Ready or NotReady.
	KindLifecycle Kind = "lifecycle"
	// KindDropped is a marker a slow subscriber receives instead of the
	// events it could not keep up with; Detail["count"] says how many.
	KindDropped Kind = "dropped"
	// KindError is sent to a stream client whose request was malformed,
	// just before the stream is closed; Summary says what was wrong.
	KindError Kind = "error"
)

// Well-known component ids. Per-node components are "<id>/<node>", e.g.
// "kubelet/node-1"; clients outside the cluster are named by their user
// agent's product ("kubectl", "curl", …).
const (
	APIServer         = "apiserver"
	Etcd              = "etcd"
	Scheduler         = "scheduler"
	ControllerManager = "controller-manager"
	Kubelet           = "kubelet"
	KubeProxy         = "kube-proxy"
	Runtime           = "runtime"
	Kubectl           = "kubectl"
	Etcdctl           = "etcdctl"
	Wheelhouse        = "wheelhouse"
	// CoreDNS is the DNS add-on's pods, which call the apiserver with its
	// service account (CoreDNSUser).
	CoreDNS     = "coredns"
	CoreDNSUser = "system:serviceaccount:kube-system:coredns"
)

// NodeComponent names a per-node component: NodeComponent(Kubelet, "node-1")
// is "kubelet/node-1".
func NodeComponent(component, node string) string { return component + "/" + node }

// ComponentIs reports whether the component id is component itself or one
// of its per-node instances: "kubelet/node-1" is Kubelet, "kubelets" is
// not, and "kubelet/node-10" is not "kubelet/node-1". It is the one rule by
// which trace filters and lab checks name components.
func ComponentIs(id, component string) bool {
	return strings.HasPrefix(id, component) && (len(id) == len(component) || id[len(component)] == '/')
}

// Event is one thing that happened. Fields that do not apply to a kind are
// empty and omitted from JSON.
type Event struct {
	// Seq is assigned by the bus: 1, 2, 3… in the order events are
	// published in one run. Zero until published.
	Seq uint64 `json:"seq"`
	// Time is when it happened (for http: when the request arrived).
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// From and To are component ids: for http the client and "apiserver";
	// for watch "apiserver" and the watcher; for etcd "apiserver" and
	// "etcd"; for cri the kubelet and the node's runtime; for kubelet-api
	// the client (the apiserver) and the kubelet.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Verb is, for http, the apiserver's verb (create, get, list, watch,
	// update, patch, delete, deletecollection); for watch, the event type
	// (ADDED, MODIFIED, DELETED, BOOKMARK); for etcd, put or delete; for
	// cri, the method (RunPodSandbox…); for kubelet-api, what is asked of
	// the pod (log, exec, attach, portforward) or the API's first path
	// segment (stats, metrics, healthz…); for lifecycle, started, ready,
	// stopped, crashed, NodeReady or NodeNotReady.
	Verb        string `json:"verb,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	// RV is the object's resourceVersion after the event, which is the
	// etcd revision that wrote it.
	RV string `json:"rv,omitempty"`
	// Status is the HTTP status code ("201"), the gRPC code ("OK",
	// "NotFound"), or for etcd the operation ("put", "delete").
	Status    string  `json:"status,omitempty"`
	LatencyMs float64 `json:"latencyMs,omitempty"`
	// Summary is one human-readable line.
	Summary string `json:"summary"`
	// Cause is the Seq of the event that caused this one, when known.
	Cause uint64 `json:"cause,omitempty"`
	// Noise marks real but routine traffic (lease renewals, Events,
	// leader election) that views hide by default; NoiseReason says why.
	Noise       bool   `json:"noise,omitempty"`
	NoiseReason string `json:"noiseReason,omitempty"`
	// Detail holds kind-specific fields; see docs/trace-format.md.
	Detail map[string]any `json:"detail,omitempty"`
}

// Object is the event's object reference, "resource/namespace/name" or
// "resource/name" for cluster-scoped objects; empty if it has none.
func (e *Event) Object() string {
	return ObjectKey(e.Resource, e.Namespace, e.Name)
}

// ObjectKey builds the key Event.Object returns and /api/flows takes.
func ObjectKey(resource, namespace, name string) string {
	if resource == "" || name == "" {
		return ""
	}
	if namespace == "" {
		return resource + "/" + name
	}
	return resource + "/" + namespace + "/" + name
}

// IsWrite reports whether an http event changed state.
func (e *Event) IsWrite() bool {
	if e.Kind != KindHTTP {
		return false
	}
	switch e.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// ProxiedToKubelet reports whether the apiserver serves a pod subresource
// by opening a request of its own to the pod's kubelet (kubectl logs,
// exec, attach, port-forward).
func ProxiedToKubelet(subresource string) bool {
	switch subresource {
	case "log", "exec", "attach", "portforward":
		return true
	}
	return false
}
