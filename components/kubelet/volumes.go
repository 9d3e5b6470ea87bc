package kubelet

import (
	"k8s.io/kubernetes/pkg/volume"
	"k8s.io/kubernetes/pkg/volume/configmap"
	"k8s.io/kubernetes/pkg/volume/downwardapi"
	"k8s.io/kubernetes/pkg/volume/emptydir"
	"k8s.io/kubernetes/pkg/volume/hostpath"
	"k8s.io/kubernetes/pkg/volume/local"
	"k8s.io/kubernetes/pkg/volume/projected"
	"k8s.io/kubernetes/pkg/volume/secret"
)

// volumePlugins are the volume types a learner meets first. The kubelet
// materialises them under the node's directory (the mounter is a fake, so
// nothing is mounted on the host); hostPath is the fake variant so a pod
// cannot reach into the real host.
//
// CSI is left out. No CSI driver can register on a Wheelhouse node, and
// the CSI plugin keeps its node state in package variables (nim,
// csiDrivers, PluginHandler in pkg/volume/csi): every kubelet's Init, and
// the controller manager's volume controllers', replaces the last one's,
// so all but one kubelet created their CSINode for the wrong node, and
// each kubelet's start-up goroutine ended the whole process with
// klog.Fatalf ("resource name may not be empty") once the controller
// manager had replaced the node name with its own empty one. Without the
// plugin a node has no CSINode object.
func volumePlugins() []volume.VolumePlugin {
	var plugins []volume.VolumePlugin
	plugins = append(plugins, emptydir.ProbeVolumePlugins()...)
	plugins = append(plugins, hostpath.FakeProbeVolumePlugins(volume.VolumeConfig{})...)
	plugins = append(plugins, secret.ProbeVolumePlugins()...)
	plugins = append(plugins, configmap.ProbeVolumePlugins()...)
	plugins = append(plugins, downwardapi.ProbeVolumePlugins()...)
	plugins = append(plugins, projected.ProbeVolumePlugins()...)
	plugins = append(plugins, local.ProbeVolumePlugins()...)
	return plugins
}
