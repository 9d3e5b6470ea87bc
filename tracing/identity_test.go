package tracing

import "testing"

func TestIdentity(t *testing.T) {
	for _, tc := range []struct {
		user, ua, component, controller string
	}{
		{"system:kube-scheduler", "kube-scheduler/v1.37.2 (linux/amd64) kubernetes/abc/scheduler", "scheduler", ""},
		{"system:node:node-2", "kubelet/node-2", "kubelet/node-2", ""},
		{"system:kube-proxy", "kube-proxy/node-3", "kube-proxy/node-3", ""},
		{"system:kube-controller-manager", "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abc/shared-informers", "controller-manager", ""},
		{"system:serviceaccount:kube-system:replicaset-controller", "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abc/replicaset-controller", "controller-manager", "replicaset-controller"},
		// In-process the binary's name leads the user agent.
		{"system:serviceaccount:kube-system:deployment-controller", "wheelhouse/v1.37.2 (linux/amd64) kubernetes/$Format/system:serviceaccount:kube-system:deployment-controller", "controller-manager", "deployment-controller"},
		{"system:serviceaccount:kube-system:my-app", "curl/8.5.0", "curl", ""},
		{"system:apiserver", "kube-apiserver/v1.37.2 (linux/amd64) kubernetes/abc", "apiserver", ""},
		{"wheelhouse-admin", "kubectl/v1.37.2 (linux/amd64) kubernetes/abc", "kubectl", ""},
		{"wheelhouse-admin", "curl/8.5.0", "curl", ""},
		// Only Wheelhouse's own certificate is Wheelhouse: the admin
		// calling with Wheelhouse's user agent is still the admin.
		{"wheelhouse-admin", "wheelhouse.test/v0.0.0 (linux/amd64) kubernetes/$Format", "wheelhouse-admin", ""},
		{"wheelhouse-admin", "wheelhouse-ui", "wheelhouse-admin", ""},
		{"system:anonymous", "wheelhouse/dev", "system:anonymous", ""},
		{"wheelhouse", "wheelhouse-ui", "wheelhouse-ui", ""},
		{"wheelhouse", "wheelhouse", "wheelhouse", ""},
		{"wheelhouse", "kubectl/v1.37.2", "wheelhouse", ""},
		{"wheelhouse-admin", "", "wheelhouse-admin", ""},
		{"", "", "anonymous", ""},
		{"system:anonymous", "load-balancer", "load-balancer", ""},
	} {
		c, ctl := Identity(tc.user, nil, tc.ua)
		if c != tc.component || ctl != tc.controller {
			t.Errorf("Identity(%q, %q) = %q, %q; want %q, %q", tc.user, tc.ua, c, ctl, tc.component, tc.controller)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		e     Event
		noise string
	}{
		{Event{Kind: KindHTTP, Verb: "update", Resource: "leases", Namespace: "kube-node-lease", Name: "node-1"}, NoiseLease},
		{Event{Kind: KindEtcd, Verb: "put", Resource: "events"}, NoiseEvent},
		{Event{Kind: KindWatch, Verb: "BOOKMARK"}, NoiseBookmark},
		{Event{Kind: KindCRI, Verb: "ListContainers"}, NoisePoll},
		{Event{Kind: KindCRI, Verb: "StartContainer"}, ""},
		{Event{Kind: KindHTTP, Verb: "get", Resource: "nodes", Name: "node-1", From: "kubelet/node-1"}, NoiseNodeStatus},
		{Event{Kind: KindHTTP, Verb: "get", Resource: "nodes", Name: "node-2", From: "kubelet/node-1"}, ""},
		{Event{Kind: KindHTTP, Verb: "create", Resource: "pods", From: "kubectl"}, ""},
		// A leader-election Lease changing holder is news, not noise.
		{Event{Kind: KindLifecycle, Verb: "LeaseAcquired", Resource: "leases", Name: "kube-scheduler", From: "scheduler/cp-2"}, ""},
		{Event{Kind: KindHTTP, Verb: "get", From: LoadBalancer, To: "apiserver/cp-1"}, NoiseHealth},
		{Event{Kind: KindLifecycle, Verb: "BackendDown", From: LoadBalancer, To: "apiserver/cp-1"}, ""},
		{Event{Kind: KindHTTP, Verb: "get", Resource: "serviceaccounts", From: "wheelhouse"}, NoiseWheelhouse},
		{Event{Kind: KindHTTP, Verb: "list", Resource: "pods", From: "wheelhouse-ui"}, NoiseUI},
	} {
		e := tc.e
		Classify(&e)
		if e.NoiseReason != tc.noise || e.Noise != (tc.noise != "") {
			t.Errorf("Classify(%+v): noise=%v %q, want %q", tc.e, e.Noise, e.NoiseReason, tc.noise)
		}
	}
}

func TestComponentIs(t *testing.T) {
	for _, tc := range []struct {
		id, component string
		want          bool
	}{
		{"kubelet", "kubelet", true},
		{"kubelet/node-1", "kubelet", true},
		{"kubelet/node-1", "kubelet/node-1", true},
		{"kubelets", "kubelet", false},
		{"kubelet/node-10", "kubelet/node-1", false},
		{"kubelet", "kubelet/node-1", false},
		{"kube-proxy/node-1", "kubelet", false},
	} {
		if got := ComponentIs(tc.id, tc.component); got != tc.want {
			t.Errorf("ComponentIs(%q, %q) = %v, want %v", tc.id, tc.component, got, tc.want)
		}
	}
}

// On an HA control plane a scheduler's or controller manager's
// certificate names its machine in a group.
func TestIdentityOfAMachine(t *testing.T) {
	for _, tc := range []struct {
		user, group, want string
	}{
		{"system:kube-scheduler", MachineGroupPrefix + "cp-2", "scheduler/cp-2"},
		{"system:kube-controller-manager", MachineGroupPrefix + "cp-3", "controller-manager/cp-3"},
		{"system:kube-scheduler", "system:authenticated", "scheduler"},
		// The group means nothing on another identity.
		{"wheelhouse-admin", MachineGroupPrefix + "cp-1", "wheelhouse-admin"},
	} {
		if got, _ := Identity(tc.user, []string{"system:authenticated", tc.group}, ""); got != tc.want {
			t.Errorf("Identity(%q, [%q]) = %q, want %q", tc.user, tc.group, got, tc.want)
		}
	}
}
