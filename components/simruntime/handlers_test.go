package simruntime

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A RuntimeClass's handler picks the sandbox's runtime: runsc (gVisor)
// gives its containers gVisor's kernel, runc and "" the node's; a handler
// the runtime does not have fails as containerd fails; Status lists the
// handlers a RuntimeClass may name.
func TestRuntimeHandlers(t *testing.T) {
	c := startRuntime(t, fastPull)
	c.setCIDR(t, "10.244.1.0/24")
	ctx := ctxT(t)
	kernelOf := func(handler string) (release, dmesg string) {
		t.Helper()
		cfg := c.sandboxConfig("rc-" + handler)
		resp, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
		if err != nil {
			t.Fatalf("RunPodSandbox with handler %q: %v", handler, err)
		}
		sb, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: resp.PodSandboxId})
		if err != nil {
			t.Fatal(err)
		}
		if got := sb.GetStatus().GetRuntimeHandler(); got != handler {
			t.Errorf("sandbox status says handler %q, want %q", got, handler)
		}
		id, _, err := c.runContainer(t, resp.PodSandboxId, cfg, "main", "busybox", []string{"sleep", "3600"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		exec := func(cmd ...string) string {
			out, err := c.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 5})
			if err != nil || out.ExitCode != 0 {
				t.Fatalf("exec %v: %v, %+v", cmd, err, out)
			}
			return strings.TrimSpace(string(out.Stdout))
		}
		return exec("uname", "-r"), exec("dmesg")
	}
	for _, h := range []string{"", "runc"} {
		if release, dmesg := kernelOf(h); release != "6.8.0-wheelhouse" || !strings.Contains(dmesg, "Linux version 6.8.0") {
			t.Errorf("handler %q: uname -r %q, dmesg %q; want the node's kernel", h, release, dmesg)
		}
	}
	if release, dmesg := kernelOf("runsc"); release != "4.4.0" || !strings.Contains(dmesg, "Starting gVisor") {
		t.Errorf("handler runsc: uname -r %q, dmesg %q; want gVisor's kernel", release, dmesg)
	}

	_, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: c.sandboxConfig("kata"), RuntimeHandler: "kata"})
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), `no runtime for "kata" is configured`) {
		t.Errorf("an unknown handler: %v; want Unknown, as containerd says it", err)
	}

	st, err := c.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range st.RuntimeHandlers {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != ",runc,runsc" {
		t.Errorf("Status lists handlers %q", names)
	}
}
