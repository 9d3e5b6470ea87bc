package kubelet

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"k8s.io/apiserver/pkg/server/flagz"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/certificate"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/kubernetes/pkg/kubelet"
	"k8s.io/kubernetes/pkg/kubelet/logs"
	"k8s.io/kubernetes/pkg/kubelet/oom"
	"k8s.io/kubernetes/pkg/kubelet/pleg"
	"k8s.io/kubernetes/pkg/kubelet/runtimeclass"
	serverstats "k8s.io/kubernetes/pkg/kubelet/server/stats"
)

// The kubelet is written for a process that ends with it: it has no Stop,
// and several of its loops run with wait.NeverStop or
// context.Background() instead of the context it is given. In one process
// that starts and stops kubelets, each of those would outlive its kubelet
// and keep running: the pod lifecycle event generator relisting the
// runtime, the plugin watcher's inotify instance, the OOM watcher's open
// /dev/kmsg, the node Lease heartbeat. Wheelhouse reaches those few
// pieces of the kubelet's (unexported) state here, before Run and after
// the kubelet's context ends, and gives each the lifetime it has in a
// real kubelet: the kubelet's own. The field names and types are those of
// k8s.io/kubernetes v1.37.2 (pkg/kubelet/kubelet.go); internals_test.go
// fails when they change.
//
// What remains out of reach is listed in docs/architecture.md ("What a
// stopped kubelet leaves"): informers that NewMainKubelet starts itself
// with wait.NeverStop, and a few loops inside the kubelet's managers.

// field returns a pointer to the unexported field name of the struct that
// ptr points to, checking its type.
func field[T any](ptr any, name string) (*T, error) {
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("kubelet internals: %T is not a pointer to a struct", ptr)
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() {
		return nil, fmt.Errorf("kubelet internals: %s has no field %s (Kubernetes changed; see components/kubelet/internals.go)", v.Elem().Type(), name)
	}
	if want := reflect.TypeFor[T](); f.Type() != want {
		return nil, fmt.Errorf("kubelet internals: %s.%s is a %s, not a %s (Kubernetes changed)", v.Elem().Type(), name, f.Type(), want)
	}
	return (*T)(unsafe.Pointer(f.UnsafeAddr())), nil
}

// internals are the pieces of one kubelet Wheelhouse manages itself.
type internals struct {
	pluginManagerStopCh *<-chan struct{}
	oomWatcher          *oom.Watcher
	nodeLease           *lease.Controller
	runtimeClasses      informers.SharedInformerFactory // nil when the kubelet has no RuntimeClass manager
	pleg                *pleg.PodLifecycleEventGenerator
	resourceAnalyzer    *serverstats.ResourceAnalyzer
	flagz               *flagz.Reader
	servingCert         *certificate.Manager
	// logQueue is the container log manager's work queue, whose workers
	// wait on it until it shuts down, which nothing in the kubelet does.
	logQueue interface{ ShutDown() }
}

func reach(kl *kubelet.Kubelet) (*internals, error) {
	var in internals
	var err error
	if in.pluginManagerStopCh, err = field[<-chan struct{}](kl, "pluginManagerStopCh"); err != nil {
		return nil, err
	}
	if in.oomWatcher, err = field[oom.Watcher](kl, "oomWatcher"); err != nil {
		return nil, err
	}
	if in.nodeLease, err = field[lease.Controller](kl, "nodeLeaseController"); err != nil {
		return nil, err
	}
	if in.pleg, err = field[pleg.PodLifecycleEventGenerator](kl, "pleg"); err != nil {
		return nil, err
	}
	if in.resourceAnalyzer, err = field[serverstats.ResourceAnalyzer](kl, "resourceAnalyzer"); err != nil {
		return nil, err
	}
	if in.flagz, err = field[flagz.Reader](kl, "flagz"); err != nil {
		return nil, err
	}
	if in.servingCert, err = field[certificate.Manager](kl, "serverCertificateManager"); err != nil {
		return nil, err
	}
	logs, err := field[logs.ContainerLogManager](kl, "containerLogManager")
	if err != nil {
		return nil, err
	}
	if q, ok := unexported(*logs, "queue").(interface{ ShutDown() }); ok {
		in.logQueue = q
	}
	rcm, err := field[*runtimeclass.Manager](kl, "runtimeClassManager")
	if err != nil {
		return nil, err
	}
	if *rcm != nil {
		f, err := field[informers.SharedInformerFactory](*rcm, "informerFactory")
		if err != nil {
			return nil, err
		}
		in.runtimeClasses = *f
	}
	return &in, nil
}

// bind gives the reached pieces the kubelet's lifetime; call it after
// NewMainKubelet and before Run.
func (in *internals) bind(ctx context.Context) {
	// The plugin manager (and its inotify watch of plugins_registry) runs
	// until this channel closes; production kubelets pass NeverStop.
	*in.pluginManagerStopCh = ctx.Done()
	// The OOM watcher reads /dev/kmsg in a goroutine nothing can stop,
	// holding the file open (NewMainKubelet has opened it already). A
	// simulated container is never killed by the kernel's OOM killer, and a
	// containerd node reports its containers' OOM kills through
	// containerd, so the node goes without the "SystemOOM" event a real
	// machine's kubelet would record.
	closeKmsg(*in.oomWatcher)
	*in.oomWatcher = nil
	// Run starts the Lease heartbeat with context.Background() so that it
	// outlives a graceful node shutdown; a stopped kubelet must not renew.
	*in.nodeLease = leaseFor{ctx: ctx, Controller: *in.nodeLease}
	// Run starts the RuntimeClass informers with NeverStop; started here
	// first with the kubelet's context, Run's Start finds them running.
	if in.runtimeClasses != nil {
		in.runtimeClasses.Start(ctx.Done())
	}
}

// unexported is the value of the unexported field name of the struct that
// the pointer p (perhaps behind an interface) points to, or nil.
func unexported(p any, name string) any {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() {
		return nil
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
}

// closeKmsg closes the /dev/kmsg reader an OOM watcher opened:
// realWatcher.oomStreamer (an *oomparser.OomParser) holds it as parser.
func closeKmsg(w oom.Watcher) {
	if w == nil {
		return
	}
	if c, ok := unexported(unexported(w, "oomStreamer"), "parser").(io.Closer); ok {
		_ = c.Close()
	}
}

// stop ends what does not end with the kubelet's context.
func (in *internals) stop() {
	// The generic PLEG relists the runtime every second until Stop, which
	// its interface does not have; the evented PLEG (off by default) is
	// not used here.
	if g, ok := (*in.pleg).(interface{ Stop() }); ok {
		g.Stop()
	}
	if in.logQueue != nil {
		in.logQueue.ShutDown()
	}
	// The serving certificate's file watcher (an inotify instance) runs
	// from Start, which Run calls, until Stop.
	if *in.servingCert != nil {
		(*in.servingCert).Stop()
	}
}

// leaseFor runs a Lease controller with the kubelet's context, whatever
// context Run gives it.
type leaseFor struct {
	ctx context.Context
	lease.Controller
}

func (l leaseFor) Run(context.Context) { l.Controller.Run(l.ctx) }
