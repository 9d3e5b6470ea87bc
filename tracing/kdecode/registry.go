package kdecode

import "strings"

// registryPrefix is the apiserver's default --etcd-prefix, under which
// every key it writes lives.
const registryPrefix = "/registry/"

// ParseRegistryKey names the object an etcd key under /registry/ stores.
//
// The apiserver's keys are <prefix>/<resource prefix>/[<namespace>/]<name>
// (NamespaceKeyFunc and NoNamespaceKeyFunc in apiserver's generic
// registry), so a key's length tells a namespaced object from a
// cluster-scoped one: object names cannot contain "/". The resource prefix
// is:
//   - for built-in resources, the resource name without its group (both
//     core and events.k8s.io events share "events"), except the historical
//     names in kube-apiserver's SpecialDefaultResourcePrefixes: minions
//     (nodes), services/specs (services), services/endpoints (endpoints),
//     controllers (replicationcontrollers) and ingress (ingresses);
//   - "<group>/<resource>" for what the apiextensions and aggregator
//     servers store (SimpleStorageFactory): customresourcedefinitions,
//     apiservices and every custom resource. Groups of these all contain a
//     dot, and built-in resource names never do.
//
// Two kinds of keys hold apiserver state rather than API objects. The
// service IP and node port allocators keep a bitmap (a RangeAllocation) at
// ranges/serviceips, ranges/secondaryserviceips and ranges/servicenodeports;
// for those resource is the allocator ("serviceips", …) and name is empty.
// masterleases/<ip> holds an Endpoints per apiserver and is returned as
// resource "masterleases", name <ip>.
//
// ok is false for keys outside /registry/ or of no known shape.
func ParseRegistryKey(key string) (resource, namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(key, registryPrefix)
	if !found || rest == "" {
		return "", "", "", false
	}
	segs := strings.Split(rest, "/")
	for _, s := range segs {
		if s == "" {
			return "", "", "", false
		}
	}
	switch first := segs[0]; {
	case first == "ranges":
		if len(segs) != 2 {
			return "", "", "", false
		}
		return segs[1], "", "", true
	case first == "serviceips" || first == "servicenodeports":
		// The allocators' keys without ranges/, as some older layouts
		// and tools name them.
		if len(segs) != 1 {
			return "", "", "", false
		}
		return first, "", "", true
	case first == "services" && len(segs) > 1 && (segs[1] == "specs" || segs[1] == "endpoints"):
		if segs[1] == "specs" {
			resource = "services"
		} else {
			resource = "endpoints"
		}
		segs = segs[2:]
	case strings.Contains(first, "."):
		if len(segs) < 2 {
			return "", "", "", false
		}
		resource = segs[1]
		segs = segs[2:]
	default:
		resource = resourceOfPrefix(first)
		segs = segs[1:]
	}
	switch len(segs) {
	case 1:
		return resource, "", segs[0], true
	case 2:
		return resource, segs[0], segs[1], true
	}
	return "", "", "", false
}

// resourceOfPrefix undoes the single-segment entries of kube-apiserver's
// SpecialDefaultResourcePrefixes (pkg/kubeapiserver).
func resourceOfPrefix(prefix string) string {
	switch prefix {
	case "minions":
		return "nodes"
	case "controllers":
		return "replicationcontrollers"
	case "ingress":
		return "ingresses"
	}
	return prefix
}
