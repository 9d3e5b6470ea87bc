package simruntime

import "github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"

// A runtime handler is one of the low-level runtimes the simulated runtime
// offers, as the runtimes a containerd config lists (a RuntimeClass names
// one by its handler). What a container sees of its kernel depends on it:
// runc shares the node's kernel; gVisor's runsc puts a user-space kernel
// of its own between the container and the host, so `uname -r` and
// `dmesg` inside the container show gVisor's, not the node's.

// defaultHandler is runc, the handler of a pod with no RuntimeClass (the
// kubelet asks for "").
const defaultHandler = "runc"

// gvisorHandler is the handler name of gVisor's runtime, runsc, as its
// docs configure containerd with it.
const gvisorHandler = "runsc"

// runtimeHandlers are the handlers this runtime offers, by name, with the
// kernel each gives its containers.
func runtimeHandlers() map[string]machine.Kernel {
	return map[string]machine.Kernel{
		defaultHandler: machine.NodeKernel(),
		gvisorHandler: {
			// gVisor reports an old Linux version it emulates and a boot
			// log of its own (its Sentry prints jokes, as real gVisor does).
			Release: "4.4.0",
			Version: "#1 SMP Sun Jan 10 15:06:54 PST 2016",
			Dmesg: []string{
				"[    0.000000] Starting gVisor...",
				"[    0.412337] Checking naughty and nice process list...",
				"[    0.873010] Reticulating splines...",
				"[    1.019273] Setting up VFS...",
				"[    1.402751] Ready!",
			},
		},
	}
}

// handlerFor returns the kernel of the handler a sandbox asked for ("" is
// the default).
func handlerFor(name string) (machine.Kernel, bool) {
	if name == "" {
		name = defaultHandler
	}
	h, ok := runtimeHandlers()[name]
	return h, ok
}
