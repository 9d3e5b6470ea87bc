package kubelet

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/kubelet/cm"
)

// containerManager is the kubelet's stub container manager (simulated nodes
// have no cgroups) with one difference: asked for a pod's cgroup settings,
// it answers with what the kubelet would have written into that pod's
// cgroup, computed by the kubelet's own helper, instead of an error. The
// kubelet asks for them on every pod status update and would otherwise log
// an error each time.
type containerManager struct {
	cm.ContainerManager
}

func newContainerManager() cm.ContainerManager {
	return containerManager{cm.NewStubContainerManager()}
}

func (c containerManager) NewPodContainerManager() cm.PodContainerManager {
	return podContainerManager{c.ContainerManager.NewPodContainerManager()}
}

type podContainerManager struct {
	cm.PodContainerManager
}

// cfsPeriod is the kernel's default CFS period, in microseconds.
const cfsPeriod = 100000

func (p podContainerManager) GetPodCgroupConfig(pod *v1.Pod, _ v1.ResourceName) (*cm.ResourceConfig, error) {
	rc := cm.ResourceConfigForPod(pod, true, cfsPeriod, false, "")
	// The kubelet dereferences these; a real cgroup always has a value.
	zero, zeroU, period := int64(0), uint64(0), uint64(cfsPeriod)
	if rc.Memory == nil {
		rc.Memory = &zero
	}
	if rc.CPUShares == nil {
		rc.CPUShares = &zeroU
	}
	if rc.CPUQuota == nil {
		rc.CPUQuota = &zero
	}
	if rc.CPUPeriod == nil {
		rc.CPUPeriod = &period
	}
	return rc, nil
}
