package simruntime

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/internal/simtest"
)

// kubectl attach: a client joins a running container's output (which
// still goes to the log), and, for a container with stdin open, its input
// is PID 1's stdin; with stdinOnce, PID 1 reads end-of-file once the
// client leaves.
func TestAttachJoinsTheContainersStreams(t *testing.T) {
	c := startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.0.0/24")
	sb, sbCfg := c.runSandbox(t, "att")
	ref := c.pull(t, "busybox")
	cfg := &runtimeapi.ContainerConfig{
		Metadata:  &runtimeapi.ContainerMetadata{Name: "cat"},
		Image:     &runtimeapi.ImageSpec{Image: ref, UserSpecifiedImage: "busybox"},
		Command:   []string{"sh", "-c", "echo waiting; cat; echo done >&2"},
		LogPath:   filepath.Join("cat", "0.log"),
		Stdin:     true,
		StdinOnce: true,
	}
	id, logFile, err := c.runContainerConfig(t, sb, sbCfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, "the container's first line", func() bool { return strings.Contains(readLog(t, logFile), "waiting") })

	out, errw := &simtest.Buffer{}, &simtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- streamRuntime{c.r}.Attach(context.Background(), id, strings.NewReader("typed by the client\n"), out, errw, false, nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Attach did not return when the container ended")
	}
	if got := out.String(); got != "typed by the client\n" {
		t.Errorf("attached stdout %q, want what cat read from the client", got)
	}
	if got := errw.String(); got != "done\n" {
		t.Errorf("attached stderr %q", got)
	}
	if st := c.waitExited(t, id); st.ExitCode != 0 {
		t.Errorf("exit code %d", st.ExitCode)
	}
	if log := readLog(t, logFile); !strings.Contains(log, "stdout F typed by the client") || !strings.Contains(log, "stderr F done") {
		t.Errorf("the log misses the attached session's output:\n%s", log)
	}

	// An exited container takes no attach.
	if err := (streamRuntime{c.r}).Attach(context.Background(), id, nil, out, nil, false, nil); err == nil {
		t.Error("attach to an exited container succeeded")
	}
}

// A client that leaves ends its attach, and the container runs on.
func TestAttachEndsWithTheClient(t *testing.T) {
	c, _, id, _ := startOneContainer(t, "att2", "sleeper", "busybox", "sleep", "3600")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- streamRuntime{c.r}.Attach(ctx, id, nil, &simtest.Buffer{}, nil, true, nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Attach outlived its client")
	}
	if st := c.status(t, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("the container is %s after its client left", st.State)
	}
}
