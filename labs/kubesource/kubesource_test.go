package kubesource

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
)

func object(apiVersion, kind, namespace, name string, labels map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name}
	if namespace != "" {
		md["namespace"] = namespace
	}
	if labels != nil {
		md["labels"] = labels
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind, "metadata": md,
		"status": map[string]any{"phase": "Running"},
	}}
}

// fixture is a fake cluster serving pods, nodes and deployments.apps, and
// widgets.example.com once the test adds them to discovery.
func fixture(t *testing.T) (*Source, *fakediscovery.FakeDiscovery) {
	t.Helper()
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	disc.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "list"}},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: metav1.Verbs{"get", "list"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: metav1.Verbs{"get", "list"}},
		}},
	}
	listKinds := map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "pods"}:                          "PodList",
		{Version: "v1", Resource: "nodes"}:                         "NodeList",
		{Group: "apps", Version: "v1", Resource: "deployments"}:    "DeploymentList",
		{Group: "example.com", Version: "v1", Resource: "widgets"}: "WidgetList",
	}
	dyn := fakedynamic.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds,
		object("v1", "Pod", "default", "web-1", map[string]any{"app": "web"}),
		object("v1", "Pod", "default", "web-2", map[string]any{"app": "web"}),
		object("v1", "Pod", "default", "db", map[string]any{"app": "db"}),
		object("v1", "Node", "", "node-1", nil),
		object("apps/v1", "Deployment", "default", "web", nil),
		object("example.com/v1", "Widget", "default", "w", nil),
	)
	return newSource(dyn, disc), disc
}

func TestGetAndList(t *testing.T) {
	src, _ := fixture(t)
	ctx := context.Background()

	pod, err := src.Get(ctx, "pods", "default", "web-1")
	if err != nil || pod["status"].(map[string]any)["phase"] != "Running" {
		t.Fatalf("Get pod: %v, %v", pod, err)
	}
	// A namespace given for a cluster-scoped resource is ignored.
	if _, err := src.Get(ctx, "nodes", "default", "node-1"); err != nil {
		t.Errorf("Get node: %v", err)
	}
	if _, err := src.Get(ctx, "deployments.apps", "default", "web"); err != nil {
		t.Errorf("Get deployments.apps: %v", err)
	}
	if _, err := src.Get(ctx, "pods", "default", "nope"); !errors.Is(err, labs.ErrNotFound) {
		t.Errorf("Get missing pod: %v, want labs.ErrNotFound", err)
	}

	items, err := src.List(ctx, "pods", "default", "app=web")
	if err != nil || len(items) != 2 {
		t.Errorf("List app=web: %d items, %v; want 2", len(items), err)
	}
	items, err = src.List(ctx, "pods", "", "")
	if err != nil || len(items) != 3 {
		t.Errorf("List all pods: %d items, %v; want 3", len(items), err)
	}
}

func TestUnknownResourceIsRediscoveredOnce(t *testing.T) {
	src, disc := fixture(t)
	ctx := context.Background()
	// Fill the discovery cache, then "install a CRD".
	if _, err := src.Get(ctx, "pods", "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Get(ctx, "widgets.example.com", "default", "w"); err == nil ||
		!strings.Contains(err.Error(), `no resource "widgets.example.com"`) {
		t.Fatalf("Get before the CRD exists: %v, want a no-such-resource error", err)
	}
	disc.Resources = append(disc.Resources, &metav1.APIResourceList{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: metav1.Verbs{"get", "list"}},
	}})
	if _, err := src.Get(ctx, "widgets.example.com", "default", "w"); err != nil {
		t.Errorf("Get after the CRD appeared in discovery: %v (the cache should be reset on a miss)", err)
	}
}
