package containerd

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/containerd/errdefs"
)

// The labels the CRI puts on the containerd containers it creates.
const (
	labelKind          = "io.cri-containerd.kind" // "sandbox" or "container"
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Container is one containerd container as containerd itself sees it,
// with its task (the running process), if any.
type Container struct {
	ID string `json:"id"`
	// Kind is "sandbox" (a pod's pause container) or "container".
	Kind      string    `json:"kind"`
	Image     string    `json:"image"`
	Pod       string    `json:"pod,omitempty"` // namespace/name
	PodUID    string    `json:"podUID,omitempty"`
	Container string    `json:"container,omitempty"`
	Created   time.Time `json:"created"`
	// Task is nil when the container has no task (created, or removed).
	Task *Task `json:"task"`
}

// Task is a container's process as containerd reports it.
type Task struct {
	PID    uint32 `json:"pid"`
	Status string `json:"status"` // running, stopped, created, paused…
}

// Containers lists the containers in the k8s.io namespace with their
// tasks, sandboxes first, then by pod and name.
func (c *Containerd) Containers(ctx context.Context) ([]Container, error) {
	ctx = withNamespace(ctx)
	list, err := c.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing containerd's containers: %w", err)
	}
	out := make([]Container, 0, len(list))
	for _, ct := range list {
		info, err := ct.Info(ctx)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // removed meanwhile
			}
			return nil, err
		}
		v := Container{ID: info.ID, Kind: info.Labels[labelKind], Image: info.Image, PodUID: info.Labels[labelPodUID],
			Container: info.Labels[labelContainerName], Created: info.CreatedAt}
		if ns, name := info.Labels[labelPodNamespace], info.Labels[labelPodName]; name != "" {
			v.Pod = ns + "/" + name
		}
		task, err := ct.Task(ctx, nil)
		switch {
		case err == nil:
			st, err := task.Status(ctx)
			if err != nil && !errdefs.IsNotFound(err) {
				return nil, err
			}
			v.Task = &Task{PID: task.Pid(), Status: string(st.Status)}
		case errdefs.IsNotFound(err):
		default:
			return nil, fmt.Errorf("task of %s: %w", info.ID, err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Pod != b.Pod {
			return a.Pod < b.Pod
		}
		if a.Kind != b.Kind {
			return a.Kind == "sandbox"
		}
		return a.Container < b.Container
	})
	return out, nil
}
