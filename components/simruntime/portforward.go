package simruntime

import (
	"context"
	"fmt"
	"io"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// portForward hands stream to what listens on port in the sandbox, or
// fails as containerd does when nothing does. It returns when the client
// or the server ends the connection, or the container or ctx ends.
func (r *Runtime) portForward(ctx context.Context, sandboxID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	r.mu.Lock()
	sb := r.sandboxes[sandboxID]
	ready := sb != nil && sb.state == runtimeapi.PodSandboxState_SANDBOX_READY
	r.mu.Unlock()
	if !ready {
		return fmt.Errorf("failed to find sandbox %q in store: not found", sandboxID)
	}
	l, ok := sb.ports.Listener(port)
	if !ok {
		return fmt.Errorf("failed to execute portforward in network namespace %q: failed to connect to localhost:%d inside namespace %q, IPv4: dial tcp4 127.0.0.1:%d: connect: connection refused IPv6 dial tcp6 [::1]:%d: connect: connection refused ",
			sb.netnsPath(), port, sandboxID, port, port)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		l.Serve(stream)
	}()
	select {
	case <-served:
	case <-l.Ended:
	case <-ctx.Done():
	}
	// Closing the stream ends the server's reads.
	_ = stream.Close()
	<-served
	return nil
}
