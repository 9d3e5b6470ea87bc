package simruntime

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The CRI handlers' ways into the runtime's state, each taking r.mu.

// lockOpen locks the runtime, unless it is shutting down.
func (s *runtimeService) lockOpen() (*Runtime, error) {
	r := s.r
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "runtime is shutting down")
	}
	return r, nil
}

// lockContainer locks the runtime and finds the container id names; with
// no such container, it returns NotFound, unlocked.
func (s *runtimeService) lockContainer(id string) (*Runtime, *container, func(), error) {
	r := s.r
	r.mu.Lock()
	c := r.findContainer(id)
	if c == nil {
		r.mu.Unlock()
		return nil, nil, nil, notFound("container", id)
	}
	return r, c, r.mu.Unlock, nil
}

// lockSandbox is lockContainer for a pod sandbox.
func (s *runtimeService) lockSandbox(id string) (*Runtime, *sandbox, func(), error) {
	r := s.r
	r.mu.Lock()
	sb := r.findSandbox(id)
	if sb == nil {
		r.mu.Unlock()
		return nil, nil, nil, notFound("sandbox", id)
	}
	return r, sb, r.mu.Unlock, nil
}
