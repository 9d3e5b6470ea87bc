// Package kubesource reads cluster objects for the labs engine: it is the
// labs.ObjectSource of a live cluster, built on client-go's dynamic client
// so that checks can name any resource, built-in or custom, by its plural
// name ("pods", "deployments.apps").
package kubesource

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
)

// Source is a labs.ObjectSource reading a cluster through its apiserver.
// It is safe for concurrent use.
type Source struct {
	dyn dynamic.Interface
	// mapper turns "deployments.apps" into a served version and says
	// whether the resource is namespaced. It caches discovery in memory,
	// and is reset when a resource is not found in the cache (a CRD
	// created by the lab after the cache was filled).
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

var _ labs.ObjectSource = (*Source)(nil)

// New returns a Source for the cluster cfg reaches.
func New(cfg *rest.Config) (*Source, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the labs' discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the labs' dynamic client: %w", err)
	}
	return newSource(dyn, dc), nil
}

func newSource(dyn dynamic.Interface, dc discovery.DiscoveryInterfaceWithContext) *Source {
	cached := memory.NewMemCacheClientWithContext(dc)
	return &Source{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapperWithContext(cached)}
}

// Get implements labs.ObjectSource. namespace is ignored for
// cluster-scoped resources.
func (s *Source) Get(ctx context.Context, resource, namespace, name string) (map[string]any, error) {
	r, err := s.client(ctx, resource, namespace)
	if err != nil {
		return nil, err
	}
	obj, err := r.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s %q", labs.ErrNotFound, resource, name)
	}
	if err != nil {
		return nil, fmt.Errorf("getting %s %q: %w", resource, name, err)
	}
	return obj.Object, nil
}

// List implements labs.ObjectSource.
func (s *Source) List(ctx context.Context, resource, namespace, selector string) ([]map[string]any, error) {
	r, err := s.client(ctx, resource, namespace)
	if err != nil {
		return nil, err
	}
	list, err := r.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", resource, err)
	}
	out := make([]map[string]any, len(list.Items))
	for i := range list.Items {
		out[i] = list.Items[i].Object
	}
	return out, nil
}

// client returns the dynamic client for a resource in a namespace.
func (s *Source) client(ctx context.Context, resource, namespace string) (dynamic.ResourceInterface, error) {
	gvr, namespaced, err := s.resolve(ctx, resource)
	if meta.IsNoMatchError(err) {
		// The cache may predate the resource: rediscover once.
		s.mapper.ResetWithContext(ctx)
		gvr, namespaced, err = s.resolve(ctx, resource)
	}
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("the cluster serves no resource %q", resource)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up resource %q: %w", resource, err)
	}
	if !namespaced {
		return s.dyn.Resource(gvr), nil
	}
	return s.dyn.Resource(gvr).Namespace(namespace), nil
}

// resolve finds the version the cluster serves of a "plural.group"
// resource, and whether it is namespaced.
func (s *Source) resolve(ctx context.Context, resource string) (schema.GroupVersionResource, bool, error) {
	gvr, err := s.mapper.ResourceForWithContext(ctx, schema.ParseGroupResource(resource).WithVersion(""))
	if err != nil {
		return gvr, false, err
	}
	gvk, err := s.mapper.KindForWithContext(ctx, gvr)
	if err != nil {
		return gvr, false, err
	}
	mapping, err := s.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	if err != nil {
		return gvr, false, err
	}
	return gvr, mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}
