package kubelet

import (
	"context"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/pkg/kubelet/config"
	kubetypes "k8s.io/kubernetes/pkg/kubelet/types"
)

// watchAssignedPods is the kubelet's apiserver pod source, as
// pkg/kubelet/config.NewSourceApiserver makes it (the same list and watch
// of the pods bound to this node, once the node itself has synced), except
// that its reflector stops with the kubelet: NewSourceApiserver runs it
// with wait.NeverStop, so every stopped kubelet would keep watching.
func watchAssignedPods(ctx context.Context, client kubernetes.Interface, node string, nodeSynced func() bool, podCfg *config.PodConfig) error {
	ch := podCfg.Channel(ctx, kubetypes.ApiserverSource)
	send, err := sourceSender(ch)
	if err != nil {
		return err
	}
	closeSource := func() { reflect.ValueOf(ch).Close() }
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", node))
	store := cache.NewUndeltaStore(func(objs []any) {
		pods := make([]*v1.Pod, 0, len(objs))
		for _, o := range objs {
			pods = append(pods, o.(*v1.Pod))
		}
		send(ctx, pods)
	}, cache.MetaNamespaceKeyFunc)
	go func() {
		// The pod config's mux reads this source's channel until it is
		// closed; closing it once the reflector has stopped ends that too.
		defer closeSource()
		// As NewSourceApiserver: the node first, so pods are admitted
		// knowing the node's labels and capacity.
		tick := time.NewTicker(config.WaitForAPIServerSyncPeriod)
		defer tick.Stop()
		for !nodeSynced() {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		cache.NewReflector(lw, &v1.Pod{}, store, 0).RunWithContext(ctx)
	}()
	return nil
}

// sourceSender sends pod lists on a channel of the pod config's
// (unexported) update type, struct{ Pods []*v1.Pod }, which
// PodConfig.Channel returns and only the config package can name.
func sourceSender(ch any) (func(context.Context, []*v1.Pod), error) {
	cv := reflect.ValueOf(ch)
	if cv.Kind() != reflect.Chan {
		return nil, fmt.Errorf("kubelet pod source: PodConfig.Channel gave a %T", ch)
	}
	elem := cv.Type().Elem()
	if elem.Kind() != reflect.Struct || elem.NumField() != 1 || elem.Field(0).Name != "Pods" || elem.Field(0).Type != reflect.TypeFor[[]*v1.Pod]() {
		return nil, fmt.Errorf("kubelet pod source: %s is not struct{ Pods []*v1.Pod } (Kubernetes changed)", elem)
	}
	return func(ctx context.Context, pods []*v1.Pod) {
		u := reflect.New(elem).Elem()
		*(*[]*v1.Pod)(unsafe.Pointer(u.Field(0).UnsafeAddr())) = pods
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectSend, Chan: cv, Send: u},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		reflect.Select(cases)
	}, nil
}
