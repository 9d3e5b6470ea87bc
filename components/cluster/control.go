package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// The components a lab may stop and start again while the rest of the
// cluster keeps running: the scheduler, the controller manager and each
// node's kubelet. Stopping one has the effect of its process dying: its
// work stops, nothing is cleaned up, and the rest of the cluster notices
// only through what stops happening (no bindings, no heartbeats …).

// ComponentState is where a controllable component is in its life.
type ComponentState string

const (
	StateRunning  ComponentState = "running"
	StateStopping ComponentState = "stopping"
	StateStopped  ComponentState = "stopped"
	StateStarting ComponentState = "starting"
)

// Errors from StopComponent and StartComponent.
var (
	ErrUnknownComponent = errors.New("no such component")
	ErrWrongState       = errors.New("component is not in a state for that")
)

// ComponentStatus describes one controllable component.
type ComponentStatus struct {
	Name  string         `json:"name"`
	State ComponentState `json:"state"`
	Since time.Time      `json:"since"`
	// Error is why it last stopped on its own, if it crashed.
	Error string `json:"error,omitempty"`
}

// kindError is an error of one of the kinds above with its own words.
type kindError struct {
	kind error
	msg  string
}

func (e kindError) Error() string        { return e.msg }
func (e kindError) Is(target error) bool { return target == e.kind }

type control struct {
	state ComponentState
	since time.Time
	err   string
	// done is closed when the running instance ends on its own or by a
	// stop; nil for a kubelet, which ends as soon as its context does.
	done <-chan struct{}
}

// setControl records that a new instance of name is running; done and
// errOf (both may be nil) tell when and why that instance ends. An end
// nobody asked for is a crash and is reported as one; an asked-for end
// that StopComponent gave up waiting for still lands in Stopped.
func (c *Cluster) setControl(name string, done <-chan struct{}, errOf func() error) {
	c.mu.Lock()
	ctl, ok := c.controls[name]
	if !ok {
		ctl = &control{}
		c.controls[name] = ctl
	}
	ctl.state, ctl.since, ctl.err, ctl.done = StateRunning, time.Now(), "", done
	c.mu.Unlock()
	if done == nil {
		return
	}
	go func() {
		<-done
		c.mu.Lock()
		crashed := !c.stopping && ctl.state == StateRunning
		switch {
		case crashed:
			ctl.state, ctl.since = StateStopped, time.Now()
			if err := errOf(); err != nil {
				ctl.err = err.Error()
			}
		case ctl.state == StateStopping:
			ctl.state, ctl.since = StateStopped, time.Now()
		}
		c.mu.Unlock()
		if crashed {
			c.lifecycle(name, "crashed", errOf())
		}
	}()
}

// Components lists the controllable components and their states, the
// scheduler and controller manager first, then the kubelets by node.
func (c *Cluster) Components() []ComponentStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ComponentStatus, 0, len(c.controls))
	for name, ctl := range c.controls {
		out = append(out, ComponentStatus{Name: name, State: ctl.state, Since: ctl.since, Error: ctl.err})
	}
	rank := func(n string) string {
		switch {
		case n == "scheduler":
			return "0"
		case n == "controller-manager":
			return "1"
		}
		return "2" + n
	}
	sort.Slice(out, func(i, j int) bool { return rank(out[i].Name) < rank(out[j].Name) })
	return out
}

// transition moves name from one of the states in from to to, or says why
// it cannot.
func (c *Cluster) transition(name string, to ComponentState, from ...ComponentState) (*control, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil, errors.New("the cluster is stopping")
	}
	ctl, ok := c.controls[name]
	if !ok {
		return nil, kindError{ErrUnknownComponent, fmt.Sprintf("no such component %q (these can be stopped and started: scheduler, controller-manager, kubelet/<node>)", name)}
	}
	for _, f := range from {
		if ctl.state == f {
			ctl.state, ctl.since = to, time.Now()
			return ctl, nil
		}
	}
	return nil, kindError{ErrWrongState, fmt.Sprintf("%s is %s", name, ctl.state)}
}

func (c *Cluster) setState(ctl *control, s ComponentState) {
	c.mu.Lock()
	ctl.state, ctl.since = s, time.Now()
	c.mu.Unlock()
}

// StopComponent stops a running component as if its process had died.
func (c *Cluster) StopComponent(ctx context.Context, name string) error {
	ctl, err := c.transition(name, StateStopping, StateRunning)
	if err != nil {
		return err
	}
	c.cancel(name)
	if ctl.done != nil {
		select {
		case <-ctl.done:
		case <-ctx.Done():
			// setControl's watcher moves it to Stopped when it ends.
			return fmt.Errorf("waiting for %s to stop: %w", name, ctx.Err())
		}
	}
	c.setState(ctl, StateStopped)
	c.lifecycle(name, "stopped", nil)
	return nil
}

// StartComponent starts a stopped component again and returns once it is
// ready (the scheduler's caches synced, the controller manager working,
// the node heartbeating as Ready).
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	ctl, err := c.transition(name, StateStarting, StateStopped)
	if err != nil {
		return err
	}
	// The component's own lifetime is not ctx's (it runs on after this
	// call), but a caller that gives up on the start cancels it, so a
	// start that never gets ready cannot hang or stay "starting".
	giveUp := context.AfterFunc(ctx, func() { c.cancel(name) })
	switch {
	case name == "scheduler":
		err = c.startScheduler()
	case name == "controller-manager":
		err = c.startControllerManager()
	case strings.HasPrefix(name, "kubelet/"):
		var port int
		if port, err = freePort(c.nodeIP); err == nil {
			err = c.startKubelet(c.Node(strings.TrimPrefix(name, "kubelet/")), port)
		}
	}
	if !giveUp() && err == nil {
		err = ctx.Err() // ready, but too late: the caller had gone
	}
	if err != nil {
		c.setState(ctl, StateStopped)
		c.lifecycle(name, "crashed", err)
		return fmt.Errorf("starting %s again: %w", name, err)
	}
	return nil
}

// Node is the compute node called name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// freePort finds a port for a restarted kubelet. The kubelet's API server
// cannot be shut down (ListenAndServeKubeletServer has no stop, and exits
// the process if its Serve ever fails), so a stopped kubelet's listener
// stays open, as a dead process's would not, and the new kubelet serves
// on a fresh port; it reports that port in its Node's status, which is
// where the apiserver looks for it (kubectl logs, exec).
func freePort(ip net.IP) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port for the kubelet: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// done is closed when the current instance of name ends; nil if none ran.
func (c *Cluster) done(name string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctl, ok := c.controls[name]; ok {
		return ctl.done
	}
	return nil
}
