package main

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
	"github.com/wheelhouse-k8s/wheelhouse/server"
)

// containerdView is GET /api/nodes/{node}/containerd: what the node's
// containerd itself sees, through its Go client, beside what the node's
// kubelet reports in its pods' status. A learner can match them by id.
type containerdView struct {
	Node      string `json:"node"`
	Runtime   string `json:"runtime"`
	Address   string `json:"address"`
	Namespace string `json:"namespace"`
	// Containers are containerd's containers in the k8s.io namespace:
	// pod sandboxes and containers, each with its task and host PID.
	Containers []containerd.Container `json:"containers"`
	// Kubelet is what the kubelet reports in the status of the node's pods.
	Kubelet []kubeletContainer `json:"kubelet"`
}

type kubeletContainer struct {
	Pod         string `json:"pod"`
	Container   string `json:"container"`
	ContainerID string `json:"containerID"` // containerd://<id>
	State       string `json:"state"`
}

func containerdViewOf(ctx context.Context, c *cluster.Cluster, state *clusterState, node string) (any, error) {
	n := c.Node(node)
	if n == nil {
		return nil, fmt.Errorf("no node %s: %w", node, server.ErrNotFound)
	}
	cd := n.Containerd()
	if cd == nil {
		return nil, fmt.Errorf("%s runs simulated containers, not containerd: %w", node, server.ErrNotFound)
	}
	cs, err := cd.Containers(ctx)
	if err != nil {
		return nil, err
	}
	v := containerdView{Node: node, Runtime: "containerd " + cd.Version(), Address: cd.Address(),
		Namespace: containerd.Namespace, Containers: cs, Kubelet: []kubeletContainer{}}
	pods, err := state.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		if p.Spec.NodeName != node {
			continue
		}
		for _, s := range append(append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...), p.Status.EphemeralContainerStatuses...) {
			st := "waiting"
			switch {
			case s.State.Running != nil:
				st = "running"
			case s.State.Terminated != nil:
				st = "terminated"
			}
			v.Kubelet = append(v.Kubelet, kubeletContainer{Pod: p.Namespace + "/" + p.Name, Container: s.Name, ContainerID: s.ContainerID, State: st})
		}
	}
	sort.Slice(v.Kubelet, func(i, j int) bool {
		if v.Kubelet[i].Pod != v.Kubelet[j].Pod {
			return v.Kubelet[i].Pod < v.Kubelet[j].Pod
		}
		return v.Kubelet[i].Container < v.Kubelet[j].Container
	})
	return v, nil
}
