package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/component"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubeversion"
	"github.com/wheelhouse-k8s/wheelhouse/server"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// clusterState is the UI's picture of nodes and pods, kept by one watch
// each (an informer) rather than a list per browser per second. It calls
// the apiserver as "wheelhouse-ui", which the trace marks as noise.
type clusterState struct {
	nodes  corelisters.NodeLister
	pods   corelisters.PodLister
	leases coordinationlisters.LeaseNamespaceLister // kube-system's
	synced []cache.InformerSynced
	// topology and controlPlanes describe the cluster's shape;
	// etcdLeader says which etcd member leads (HA only).
	topology      string
	controlPlanes []string
	etcdLeader    func() string
	// components lists the cluster's components and their states.
	components func() []component.Status
	// changed hears every add, update and delete of the objects above
	// (coalesced: it holds one), for the pages' state frames.
	changed chan struct{}
}

// notify is an informer event handler that only says "something changed".
func (s *clusterState) notify() cache.ResourceEventHandler {
	poke := func() {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
}

func startClusterState(ctx context.Context, c *cluster.Cluster) (*clusterState, error) {
	client, err := kubernetes.NewForConfig(c.WheelhouseConfig(tracing.UIClient))
	if err != nil {
		return nil, fmt.Errorf("creating the UI's client: %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	nodes, pods := factory.Core().V1().Nodes(), factory.Core().V1().Pods()
	s := &clusterState{nodes: nodes.Lister(), pods: pods.Lister(),
		synced:   []cache.InformerSynced{nodes.Informer().HasSynced, pods.Informer().HasSynced},
		topology: c.Topology(), controlPlanes: c.ControlPlaneNames(), etcdLeader: func() string { return "" },
		components: c.Components,
		changed:    make(chan struct{}, 1)}
	for _, inf := range []cache.SharedIndexInformer{nodes.Informer(), pods.Informer()} {
		if _, err := inf.AddEventHandler(s.notify()); err != nil {
			return nil, fmt.Errorf("watching the UI's view of the cluster: %w", err)
		}
	}
	factory.Start(ctx.Done())
	if c.Topology() == cluster.HA {
		// The leader-election Leases, for the leader marks (kube-system
		// only: the nodes' heartbeat Leases are elsewhere).
		ks := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(metav1.NamespaceSystem))
		leases := ks.Coordination().V1().Leases()
		s.leases = leases.Lister().Leases(metav1.NamespaceSystem)
		s.synced = append(s.synced, leases.Informer().HasSynced)
		if _, err := leases.Informer().AddEventHandler(s.notify()); err != nil {
			return nil, fmt.Errorf("watching the leader-election Leases: %w", err)
		}
		ks.Start(ctx.Done())
	}
	return s, nil
}

// snapshot serves GET /api/state and the pages' state frames.
func (s *clusterState) snapshot(context.Context) (server.ClusterState, error) { return s.view() }

func (s *clusterState) view() (server.ClusterState, error) {
	for _, synced := range s.synced {
		if !synced() {
			return server.ClusterState{}, fmt.Errorf("the UI's view of the cluster is still loading")
		}
	}
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return server.ClusterState{}, err
	}
	pods, err := s.pods.List(labels.Everything())
	if err != nil {
		return server.ClusterState{}, err
	}
	out := server.ClusterState{Mode: "live", Version: kubeversion.Version(), Nodes: []server.NodeState{}, Pods: []server.PodState{},
		Topology: s.topology, ControlPlanes: s.controlPlanes}
	if s.topology == cluster.HA {
		out.Leaders = map[string]string{}
		if l := s.etcdLeader(); l != "" {
			out.Leaders[tracing.Etcd] = l
		}
		for lease, kind := range map[string]string{"kube-scheduler": tracing.Scheduler, "kube-controller-manager": tracing.ControllerManager} {
			l, err := s.leases.Get(lease)
			if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				continue
			}
			machine, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
			out.Leaders[kind] = tracing.NodeComponent(kind, machine)
		}
	}
	for _, st := range s.components() {
		out.Components = append(out.Components, server.ComponentState{Name: st.Name, State: string(st.State), Controllable: st.Controllable, Error: st.Error})
	}
	for _, n := range nodes {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady {
				ready = c.Status == v1.ConditionTrue
			}
		}
		runtime, _, _ := strings.Cut(n.Status.NodeInfo.ContainerRuntimeVersion, "://")
		out.Nodes = append(out.Nodes, server.NodeState{Name: n.Name, Ready: ready, Zone: n.Labels["topology.kubernetes.io/zone"],
			PodCIDR: n.Spec.PodCIDR, Runtime: runtime})
	}
	for _, p := range pods {
		out.Pods = append(out.Pods, server.PodState{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName,
			Phase: string(p.Status.Phase), Reason: podReason(p), IP: p.Status.PodIP})
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	sort.Slice(out.Pods, func(i, j int) bool {
		if out.Pods[i].Namespace != out.Pods[j].Namespace {
			return out.Pods[i].Namespace < out.Pods[j].Namespace
		}
		return out.Pods[i].Name < out.Pods[j].Name
	})
	return out, nil
}

// podReason is the short status kubectl prints, when it says more than
// the phase.
func podReason(p *v1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			return cs.State.Waiting.Reason
		}
		if cs.State.Terminated != nil && cs.State.Terminated.Reason != "" && p.Status.Phase == v1.PodRunning {
			return cs.State.Terminated.Reason
		}
	}
	return p.Status.Reason
}
