// Package simtest is what the tests of the simulated runtime's packages
// share: a buffer that programs write to concurrently, and waiting for
// what they do.
package simtest

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Buffer collects what goroutines write. Its Close does nothing, so it
// also stands for a streaming client's output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Close is a no-op.
func (*Buffer) Close() error { return nil }

// WaitFor polls cond until it holds, and fails t after five seconds.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
