package tracing

import "strings"

// WheelhouseUser is the user name of Wheelhouse's own client certificate
// (components/pki.Wheelhouse); WheelhouseUserAgent is what its readiness
// checks send.
const (
	WheelhouseUser      = "wheelhouse"
	WheelhouseUserAgent = "wheelhouse"
	// LoadBalancer is the HA load balancer's component id, and the user
	// agent of its health checks (which are anonymous, as haproxy's are).
	LoadBalancer          = "load-balancer"
	LoadBalancerUserAgent = LoadBalancer
	// MachineGroupPrefix starts the group that names the control-plane
	// machine of an HA scheduler's or controller manager's certificate
	// ("wheelhouse:machine:cp-2"): all are system:kube-scheduler or
	// system:kube-controller-manager, as kubeadm makes them.
	MachineGroupPrefix = "wheelhouse:machine:"
	// APIServerKubeletClientUser is the user of the certificate every
	// apiserver presents to kubelets (components/pki), as kubeadm names it.
	APIServerKubeletClientUser = "kube-apiserver-kubelet-client"
)

// Identity names the component behind an authenticated apiserver client.
// Every component has its own identity (a client certificate, or for each
// controller of the controller manager its own service account), so the
// apiserver's view of who called is the truth; the user agent is only used
// where one identity serves several components (every kube-proxy is
// system:kube-proxy) or for clients outside the cluster.
//
// groups are the caller's groups: on an HA control plane they say which
// machine's scheduler or controller manager called. The controllers'
// service-account calls do not; only the leading controller manager runs
// controllers, and they are named "controller-manager".
func Identity(user string, groups []string, userAgent string) (component, controller string) {
	machine := ""
	for _, g := range groups {
		if m, ok := strings.CutPrefix(g, MachineGroupPrefix); ok {
			machine = m
		}
	}
	switch {
	case user == "system:kube-scheduler" && machine != "":
		return NodeComponent(Scheduler, machine), ""
	case user == "system:kube-scheduler":
		return Scheduler, ""
	case user == "system:kube-controller-manager" && machine != "":
		return NodeComponent(ControllerManager, machine), ""
	case user == "system:kube-controller-manager":
		return ControllerManager, ""
	case user == "system:apiserver", user == APIServerKubeletClientUser:
		return APIServer, ""
	case user == WheelhouseUser:
		// Wheelhouse's own identity: its UI (by user agent) or the rest of
		// it (readiness checks). Only Wheelhouse holds this certificate,
		// so a learner's request can never be hidden as Wheelhouse's.
		if product(userAgent, false) == UIClient {
			return UIClient, ""
		}
		return Wheelhouse, ""
	case strings.HasPrefix(user, "system:node:"):
		return NodeComponent(Kubelet, strings.TrimPrefix(user, "system:node:")), ""
	case user == "system:kube-proxy":
		if node, ok := strings.CutPrefix(product(userAgent, true), KubeProxy+"/"); ok && node != "" {
			return NodeComponent(KubeProxy, node), ""
		}
		return KubeProxy, ""
	case user == CoreDNSUser:
		// The DNS add-on's pods (kubeadm gives them this service account);
		// their user agent is not CoreDNS's here (see components/coredns).
		return CoreDNS, ""
	case strings.HasPrefix(user, "system:serviceaccount:kube-system:") &&
		(strings.HasSuffix(userAgent, "/"+user) || strings.HasSuffix(userAgent, "/"+strings.TrimPrefix(user, "system:serviceaccount:kube-system:"))):
		// --use-service-account-credentials: each controller calls with
		// its own service account (replicaset-controller, …), and the
		// controller manager's client builder appends that identity to the
		// user agent; a pod using a kube-system service account does not.
		return ControllerManager, strings.TrimPrefix(user, "system:serviceaccount:kube-system:")
	}
	// A client outside the cluster is named by its program, except that
	// no one but Wheelhouse's own identity may take Wheelhouse's names: a
	// learner's request must never be filed (and hidden) as Wheelhouse's.
	if p := product(userAgent, false); p != "" && p != Wheelhouse && p != UIClient {
		return p, ""
	}
	if user == "" {
		return "anonymous", ""
	}
	return user, ""
}

// product is the first token of a user agent ("kubectl/v1.37.2 (linux/amd64)
// kubernetes/abc" → "kubectl"); withVersion keeps "name/version".
func product(userAgent string, withVersion bool) string {
	first, _, _ := strings.Cut(strings.TrimSpace(userAgent), " ")
	if withVersion {
		return first
	}
	name, _, _ := strings.Cut(first, "/")
	// client-go names programs by their binary, which for tests is
	// "<package>.test"; keep it readable.
	return strings.TrimSuffix(name, ".test")
}
