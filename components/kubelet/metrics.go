package kubelet

import (
	"errors"
	_ "unsafe" // for go:linkname

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/component-base/metrics"
	_ "k8s.io/component-base/metrics/legacyregistry" // the registry wrapped below
)

// Several kubelets share this process, and the kubelet registers some
// per-instance Prometheus collectors (volume stats, log metrics, pod
// certificates) into the process-global registries with MustRegister, which
// panics for the second kubelet: "duplicate metrics collector registration
// attempted". Those registries are package-level state that Kubernetes
// forces on us. The fix is made at the registries themselves rather than by
// patching the kubelet: both registries are wrapped so that registering a
// collector whose descriptors are already registered is a no-op instead of
// a panic. Every other registration behaves as before, and a real
// conflict (same name, different help or labels) still panics.
//
// The effect on metrics is the honest one for one process hosting many
// kubelets: the process exposes one set of kubelet metrics, served by the
// first kubelet's collectors.

//go:linkname legacyDefaultRegistry k8s.io/component-base/metrics/legacyregistry.defaultRegistry
var legacyDefaultRegistry metrics.KubeRegistry

func init() {
	legacyDefaultRegistry = sharedKubeRegistry{legacyDefaultRegistry}
	prometheus.DefaultRegisterer = sharedRegisterer{prometheus.DefaultRegisterer}
}

func alreadyRegistered(err error) bool {
	var are prometheus.AlreadyRegisteredError
	return errors.As(err, &are)
}

type sharedKubeRegistry struct{ metrics.KubeRegistry }

func (r sharedKubeRegistry) CustomMustRegister(cs ...metrics.StableCollector) {
	for _, c := range cs {
		if err := r.KubeRegistry.CustomRegister(c); err != nil && !alreadyRegistered(err) {
			panic(err)
		}
	}
}

type sharedRegisterer struct{ prometheus.Registerer }

func (r sharedRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Registerer.Register(c); err != nil && !alreadyRegistered(err) {
			panic(err)
		}
	}
}
