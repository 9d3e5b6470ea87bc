package tracing

import "strings"

// Identity names the component behind an authenticated apiserver client.
// Every component has its own identity (a client certificate, or for each
// controller of the controller manager its own service account), so the
// apiserver's view of who called is the truth; the user agent is only used
// where one identity serves several components (every kube-proxy is
// system:kube-proxy) or for clients outside the cluster.
func Identity(user string, userAgent string) (component, controller string) {
	switch {
	case user == "system:kube-scheduler":
		return Scheduler, ""
	case user == "system:kube-controller-manager":
		return ControllerManager, ""
	case user == "system:apiserver":
		return APIServer, ""
	case strings.HasPrefix(user, "system:node:"):
		return NodeComponent(Kubelet, strings.TrimPrefix(user, "system:node:")), ""
	case user == "system:kube-proxy":
		if node, ok := strings.CutPrefix(product(userAgent, true), KubeProxy+"/"); ok && node != "" {
			return NodeComponent(KubeProxy, node), ""
		}
		return KubeProxy, ""
	case strings.HasPrefix(user, "system:serviceaccount:kube-system:") &&
		(strings.HasSuffix(userAgent, "/"+user) || strings.HasSuffix(userAgent, "/"+strings.TrimPrefix(user, "system:serviceaccount:kube-system:"))):
		// --use-service-account-credentials: each controller calls with
		// its own service account (replicaset-controller, …), and the
		// controller manager's client builder appends that identity to the
		// user agent; a pod using a kube-system service account does not.
		return ControllerManager, strings.TrimPrefix(user, "system:serviceaccount:kube-system:")
	}
	if p := product(userAgent, false); p != "" {
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
