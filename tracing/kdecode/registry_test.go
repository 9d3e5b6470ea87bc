package kdecode

import "testing"

// TestParseRegistryKeyBuiltins covers the etcd path of every resource in
// k8s.io/kubernetes/test/integration/etcd/data.go (GetEtcdStorageData's
// ExpectedEtcdPath, v1.37.2), the upstream test that pins where the
// apiserver stores each resource. Paths that end in "/" there are
// namespaced; the test adds the namespace and name.
func TestParseRegistryKeyBuiltins(t *testing.T) {
	namespaced := []struct{ prefix, resource string }{
		{"configmaps", "configmaps"},
		{"controllers", "replicationcontrollers"},
		{"events", "events"}, // core and events.k8s.io
		{"limitranges", "limitranges"},
		{"persistentvolumeclaims", "persistentvolumeclaims"},
		{"pods", "pods"},
		{"podtemplates", "podtemplates"},
		{"resourcequotas", "resourcequotas"},
		{"secrets", "secrets"},
		{"serviceaccounts", "serviceaccounts"},
		{"services/endpoints", "endpoints"},
		{"services/specs", "services"},
		{"compositepodgroups", "compositepodgroups"},
		{"controllerrevisions", "controllerrevisions"},
		{"cronjobs", "cronjobs"},
		{"csistoragecapacities", "csistoragecapacities"},
		{"daemonsets", "daemonsets"},
		{"deployments", "deployments"},
		{"endpointslices", "endpointslices"},
		{"evictionrequests", "evictionrequests"},
		{"evictions", "evictions"},
		{"horizontalpodautoscalers", "horizontalpodautoscalers"},
		{"ingress", "ingresses"},
		{"jobs", "jobs"},
		{"leasecandidates", "leasecandidates"},
		{"leases", "leases"},
		{"networkpolicies", "networkpolicies"},
		{"podcertificaterequests", "podcertificaterequests"},
		{"poddisruptionbudgets", "poddisruptionbudgets"},
		{"podgroups", "podgroups"},
		{"replicasets", "replicasets"},
		{"resourceclaims", "resourceclaims"},
		{"resourceclaimtemplates", "resourceclaimtemplates"},
		{"rolebindings", "rolebindings"},
		{"roles", "roles"},
		{"statefulsets", "statefulsets"},
		{"workloads", "workloads"},
		{"cr.bar.com/foos", "foos"}, // a namespaced custom resource
	}
	for _, r := range namespaced {
		key := "/registry/" + r.prefix + "/ns1/obj1"
		res, ns, name, ok := ParseRegistryKey(key)
		if !ok || res != r.resource || ns != "ns1" || name != "obj1" {
			t.Errorf("ParseRegistryKey(%q) = %q, %q, %q, %v; want %q, ns1, obj1, true", key, res, ns, name, ok, r.resource)
		}
	}

	clusterScoped := []struct{ key, resource, name string }{
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/openshiftwebconsoleconfigs.webconsole2.operator.openshift.io", "customresourcedefinitions", "openshiftwebconsoleconfigs.webconsole2.operator.openshift.io"},
		{"/registry/apiregistration.k8s.io/apiservices/v1.apps", "apiservices", "v1.apps"},
		{"/registry/awesome.bears.com/pandas/cr3panda", "pandas", "cr3panda"},
		{"/registry/certificatesigningrequests/csr2", "certificatesigningrequests", "csr2"},
		{"/registry/clusterrolebindings/croleb3", "clusterrolebindings", "croleb3"},
		{"/registry/clusterroles/crole3", "clusterroles", "crole3"},
		{"/registry/clustertrustbundles/example.com:signer:abc", "clustertrustbundles", "example.com:signer:abc"},
		{"/registry/csidrivers/csid2", "csidrivers", "csid2"},
		{"/registry/csinodes/csini2", "csinodes", "csini2"},
		{"/registry/custom.fancy.com/pants/cr2pant", "pants", "cr2pant"},
		{"/registry/deviceclasses/class2name", "deviceclasses", "class2name"},
		{"/registry/devicetaintrules/taint1name", "devicetaintrules", "taint1name"},
		{"/registry/flowschemas/fs-3", "flowschemas", "fs-3"},
		{"/registry/ingressclasses/ingressclass3", "ingressclasses", "ingressclass3"},
		{"/registry/ipaddresses/192.168.1.3", "ipaddresses", "192.168.1.3"},
		{"/registry/minions/node1", "nodes", "node1"},
		{"/registry/mutatingadmissionpolicies/map1", "mutatingadmissionpolicies", "map1"},
		{"/registry/mutatingadmissionpolicybindings/mpb1", "mutatingadmissionpolicybindings", "mpb1"},
		{"/registry/mutatingwebhookconfigurations/hook2", "mutatingwebhookconfigurations", "hook2"},
		{"/registry/namespaces/namespace1", "namespaces", "namespace1"},
		{"/registry/persistentvolumes/pv1name", "persistentvolumes", "pv1name"},
		{"/registry/priorityclasses/pc3", "priorityclasses", "pc3"},
		{"/registry/prioritylevelconfigurations/conf5", "prioritylevelconfigurations", "conf5"},
		{"/registry/random.numbers.com/integers/fortytwo", "integers", "fortytwo"},
		{"/registry/resourcepoolstatusrequests/rpsr1name", "resourcepoolstatusrequests", "rpsr1name"},
		{"/registry/resourceslices/node2slice", "resourceslices", "node2slice"},
		{"/registry/runtimeclasses/rc3", "runtimeclasses", "rc3"},
		{"/registry/servicecidrs/range-b1", "servicecidrs", "range-b1"},
		{"/registry/storageclasses/sc2", "storageclasses", "sc2"},
		{"/registry/storageversionmigrations/test-migration", "storageversionmigrations", "test-migration"},
		{"/registry/storageversions/sv1.test", "storageversions", "sv1.test"},
		{"/registry/validatingadmissionpolicies/vap1", "validatingadmissionpolicies", "vap1"},
		{"/registry/validatingadmissionpolicybindings/pb1", "validatingadmissionpolicybindings", "pb1"},
		{"/registry/validatingwebhookconfigurations/hook2", "validatingwebhookconfigurations", "hook2"},
		{"/registry/volumeattachments/va3", "volumeattachments", "va3"},
		{"/registry/volumeattributesclasses/vac2", "volumeattributesclasses", "vac2"},
		// An Endpoints per apiserver, kept by the lease reconciler
		// (pkg/controlplane: reconcilers.NewLeases(…, "/masterleases/", …)).
		{"/registry/masterleases/172.18.0.2", "masterleases", "172.18.0.2"},
	}
	for _, c := range clusterScoped {
		res, ns, name, ok := ParseRegistryKey(c.key)
		if !ok || res != c.resource || ns != "" || name != c.name {
			t.Errorf("ParseRegistryKey(%q) = %q, %q, %q, %v; want %q, \"\", %q, true", c.key, res, ns, name, ok, c.resource, c.name)
		}
	}
}

// TestParseRegistryKeyAllocators covers the allocator bitmaps
// (pkg/registry/core/rest/storage_core.go: serviceallocator.NewEtcd with
// "/ranges/serviceips", "/ranges/secondaryserviceips",
// "/ranges/servicenodeports"), which are not API objects.
func TestParseRegistryKeyAllocators(t *testing.T) {
	for key, want := range map[string]string{
		"/registry/ranges/serviceips":          "serviceips",
		"/registry/ranges/secondaryserviceips": "secondaryserviceips",
		"/registry/ranges/servicenodeports":    "servicenodeports",
		"/registry/serviceips":                 "serviceips",
		"/registry/servicenodeports":           "servicenodeports",
	} {
		res, ns, name, ok := ParseRegistryKey(key)
		if !ok || res != want || ns != "" || name != "" {
			t.Errorf("ParseRegistryKey(%q) = %q, %q, %q, %v; want %q, \"\", \"\", true", key, res, ns, name, ok, want)
		}
	}
}

func TestParseRegistryKeyRejects(t *testing.T) {
	for _, key := range []string{
		"",
		"/registry",
		"/registry/",
		"registry/pods/default/nginx",
		"/other/pods/default/nginx",
		"compact_rev_key", // etcd3's compactor, outside /registry
		"/registry/pods",
		"/registry/pods/",
		"/registry/pods/default/",
		"/registry/pods//nginx",
		"/registry/pods/default/nginx/extra",
		"/registry/services/specs",
		"/registry/example.com",
		"/registry/example.com/widgets",
		"/registry/example.com/widgets/ns/name/extra",
		"/registry/ranges",
		"/registry/ranges/serviceips/extra",
		"/registry/serviceips/extra",
	} {
		if res, ns, name, ok := ParseRegistryKey(key); ok {
			t.Errorf("ParseRegistryKey(%q) = %q, %q, %q, true; want ok false", key, res, ns, name)
		}
	}
}
