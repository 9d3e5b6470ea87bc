package runtime

import "strings"

// A runtimeHandler is one of the low-level runtimes the simulated runtime
// offers, as the runtimes a containerd config lists (a RuntimeClass names
// one by its handler). What a container sees of its kernel depends on it:
// runc shares the node's kernel; gVisor's runsc puts a user-space kernel
// of its own between the container and the host, so `uname -r` and
// `dmesg` inside the container show gVisor's, not the node's.
type runtimeHandler struct {
	name string
	// kernelRelease and kernelVersion are what uname -r and -v print.
	kernelRelease, kernelVersion string
	// dmesg is the kernel log a container can read.
	dmesg []string
}

// defaultHandler is runc, the handler of a pod with no RuntimeClass (the
// kubelet asks for "").
const defaultHandler = "runc"

// gvisorHandler is the handler name of gVisor's runtime, runsc, as its
// docs configure containerd with it.
const gvisorHandler = "runsc"

// runtimeHandlers are the handlers this runtime offers, by name.
func runtimeHandlers() map[string]runtimeHandler {
	return map[string]runtimeHandler{
		defaultHandler: {
			name:          defaultHandler,
			kernelRelease: "6.8.0-wheelhouse",
			kernelVersion: "#1 SMP PREEMPT_DYNAMIC",
			dmesg: []string{
				"[    0.000000] Linux version 6.8.0-wheelhouse (wheelhouse@build) #1 SMP PREEMPT_DYNAMIC",
				"[    0.000000] Command line: console=ttyS0 root=/dev/vda1",
				"[    1.204113] EXT4-fs (vda1): mounted filesystem with ordered data mode",
				"[    2.518840] overlayfs: upper fs does not support RENAME_WHITEOUT",
			},
		},
		gvisorHandler: {
			// gVisor reports an old Linux version it emulates and a boot
			// log of its own (its Sentry prints jokes, as real gVisor does).
			name:          gvisorHandler,
			kernelRelease: "4.4.0",
			kernelVersion: "#1 SMP Sun Jan 10 15:06:54 PST 2016",
			dmesg: []string{
				"[    0.000000] Starting gVisor...",
				"[    0.412337] Checking naughty and nice process list...",
				"[    0.873010] Reticulating splines...",
				"[    1.019273] Setting up VFS...",
				"[    1.402751] Ready!",
			},
		},
	}
}

// handlerFor returns the handler a sandbox asked for ("" is the default).
func handlerFor(name string) (runtimeHandler, bool) {
	if name == "" {
		name = defaultHandler
	}
	h, ok := runtimeHandlers()[name]
	return h, ok
}

// utilDmesg prints the kernel log of the container's handler.
func utilDmesg(p *process) int {
	writef(p.io.out, "%s\n", strings.Join(p.m.kernel.dmesg, "\n"))
	return 0
}
