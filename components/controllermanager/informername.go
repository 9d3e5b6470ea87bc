package controllermanager

import (
	"sync"
	_ "unsafe" // for go:linkname

	"k8s.io/client-go/tools/cache"
)

// app.Run reserves the process-wide informer name "kube-controller-manager"
// (cache.NewInformerName, in CreateControllerContext) and never releases
// it, because a real controller manager ends with its process. Wheelhouse
// stops and starts the controller manager inside one process, so after a
// run ends it releases the name itself, through the registry client-go
// keeps it in. This is the one piece of Kubernetes' package-level state
// Wheelhouse reaches into here; the struct must match client-go v0.37.2's
// informerNameRegistry (tools/cache/identity.go).

//go:linkname informerNameRegistry k8s.io/client-go/tools/cache.informerNameRegistry
var informerNameRegistry struct {
	sync.Mutex
	names map[string]*cache.InformerName
}

const informerName = "kube-controller-manager"

// releaseInformerName frees the name a finished run reserved.
func releaseInformerName() {
	informerNameRegistry.Lock()
	n := informerNameRegistry.names[informerName]
	informerNameRegistry.Unlock()
	n.Release() // nil-safe; takes the registry's lock itself
}
