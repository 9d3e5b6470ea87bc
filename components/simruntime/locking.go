package simruntime

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The CRI handlers' ways into the runtime's state, each taking r.mu.

// lockOpen locks the runtime, unless it is shutting down.
func (r *Runtime) lockOpen() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return status.Error(codes.Unavailable, "runtime is shutting down")
	}
	return nil
}

// lockContainer locks the runtime and finds the container id names; with
// no such container, it returns NotFound, unlocked.
func (r *Runtime) lockContainer(id string) (*container, func(), error) {
	r.mu.Lock()
	c := r.findContainer(id)
	if c == nil {
		r.mu.Unlock()
		return nil, nil, notFound("container", id)
	}
	return c, r.mu.Unlock, nil
}

// lockSandbox is lockContainer for a pod sandbox.
func (r *Runtime) lockSandbox(id string) (*sandbox, func(), error) {
	r.mu.Lock()
	sb := r.findSandbox(id)
	if sb == nil {
		r.mu.Unlock()
		return nil, nil, notFound("sandbox", id)
	}
	return sb, r.mu.Unlock, nil
}
