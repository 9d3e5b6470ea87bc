package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wheelhouse-k8s/wheelhouse/components/component"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Stopping and starting one component while the rest of the cluster keeps
// running: every component. Stopping one has the effect of its process
// ending when asked to (SIGTERM; CrashComponent is kill -9): its work
// stops, and the rest of the cluster notices only through what stops
// happening (no bindings, no heartbeats …); the component gives back
// everything it held (goroutines, connections, listeners, watches).

// Components lists every component and its state, in start order.
func (c *Cluster) Components() []component.Status { return c.components.List() }

// StopComponent stops a running component as if its process had died. Its
// errors wrap component.ErrUnknown, ErrNotStoppable and ErrWrongState.
//
// name may also be a control-plane machine of an HA cluster ("cp-2"):
// then its controller manager, scheduler, apiserver and etcd member stop,
// in that order, as when the machine is shut down.
func (c *Cluster) StopComponent(ctx context.Context, name string) error {
	if ids := c.machineComponents(name); ids != nil {
		slices.Reverse(ids)
		return onMachine(name, ids, func(id string) error {
			err := c.components.Stop(ctx, id)
			if errors.Is(err, component.ErrWrongState) {
				// Starting, or crashed and waiting to be restarted:
				// with its machine down it must not come back.
				if c.components.PowerOff(ctx, id) == nil {
					return nil
				}
			}
			return err
		})
	}
	return c.components.Stop(ctx, name)
}

// StartComponent starts a stopped component again and returns once it is
// ready (the scheduler's caches synced, the controller manager working,
// the node heartbeating as Ready).
//
// For a control-plane machine ("cp-2") its etcd member, apiserver,
// scheduler and controller manager start, in that order, as when the
// machine boots.
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	if ids := c.machineComponents(name); ids != nil {
		return onMachine(name, ids, func(id string) error { return c.components.Start(ctx, id) })
	}
	return c.components.Start(ctx, name)
}

// machineComponents are the component ids of the HA control-plane machine
// called name, in start order; nil if name is no such machine.
func (c *Cluster) machineComponents(name string) []string {
	for _, m := range c.machines {
		if m.name != "" && m.name == name {
			return []string{m.id(tracing.Etcd), m.id(tracing.APIServer), m.id(tracing.Scheduler), m.id(tracing.ControllerManager)}
		}
	}
	return nil
}

// onMachine applies do to each of a machine's components. Those already
// in the state asked for are passed over; if all were, the machine was
// not in a state for that either.
func onMachine(machine string, ids []string, do func(id string) error) error {
	var errs []error
	done := 0
	for _, id := range ids {
		err := do(id)
		switch {
		case err == nil:
			done++
		case !errors.Is(err, component.ErrWrongState):
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && done == 0 {
		return fmt.Errorf("%w: every component of %s is already so", component.ErrWrongState, machine)
	}
	return errors.Join(errs...)
}

// CrashComponent ends a running component as a killed process ends
// (kill -9): what it would do on its way out it does not do. An etcd
// leader hands over no leadership, so the other members notice it gone and
// elect a new leader; a leading scheduler or controller manager gives up
// no Lease, so a standby takes over only when the Lease expires. On an HA
// control plane a crashed scheduler or controller manager is started
// again 10 s later, as its kubelet restarts a static pod.
//
// A control-plane machine ("cp-2") loses its power: all its components
// are killed, and none is restarted (its kubelet is gone too) until the
// machine is started.
func (c *Cluster) CrashComponent(ctx context.Context, name string) error {
	if ids := c.machineComponents(name); ids != nil {
		// One after the other, etcd last, within seconds: a killed
		// apiserver here still runs its shutdown hooks (it is a context
		// cancelled, not a process gone), and one of them (the
		// peer-endpoint lease controller's) waits on an etcd call without
		// a deadline, which never returns once the apiserver's only
		// member is gone.
		slices.Reverse(ids)
		return onMachine(name, ids, func(id string) error { return c.components.PowerOff(ctx, id) })
	}
	return c.components.Kill(ctx, name, true)
}
