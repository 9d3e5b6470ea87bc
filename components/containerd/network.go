package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BridgeName is the Linux bridge every containerd node's pods plug into.
const BridgeName = "wh0"

// RemoveBridge deletes the pods' bridge once no containerd node uses it
// (Wheelhouse stopped them all), so the host is left as it was; the bridge
// plugin makes it again for the next pod.
func RemoveBridge(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("looking up bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("removing bridge %s: %w", name, err)
	}
	return nil
}

// podNetwork writes a node's CNI configuration once the node's pod CIDR
// is known, the job a network add-on (flannel, say) does on a real node.
//
// All nodes share one bridge and one L2 segment: the whole cluster CIDR is
// the subnet, with one gateway address on the bridge (Linux's bridge
// plugin keeps one IPv4 address per bridge), and each node hands out
// addresses only from its own pod CIDR. So a pod on node-1 reaches a pod
// on node-2 by its pod IP directly across the bridge, as pods on one
// flat network would.
type podNetwork struct {
	bridge   string
	confFile string
	ipamDir  string
	cluster  netip.Prefix

	mu      sync.Mutex
	written string // the pod CIDR the current file is for
}

func newPodNetwork(l layout, clusterCIDR, bridge string) (*podNetwork, error) {
	cluster, err := netip.ParsePrefix(clusterCIDR)
	if err != nil || !cluster.Addr().Is4() {
		return nil, fmt.Errorf("containerd: cluster CIDR %q is not an IPv4 prefix", clusterCIDR)
	}
	conf := filepath.Join(l.CNIConfDir, "10-wheelhouse.conflist")
	return &podNetwork{bridge: bridge, confFile: conf, ipamDir: l.IPAMDir, cluster: cluster.Masked()}, nil
}

// Interceptor is a CRI server interceptor that, when the kubelet passes
// the node's pod CIDR (UpdateRuntimeConfig), writes the CNI configuration
// before containerd sees the call. containerd notices the file and reports
// its network ready, and the kubelet marks the node Ready.
func (c *Containerd) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*runtimeapi.UpdateRuntimeConfigRequest); ok && c.network != nil {
			if cidr := r.GetRuntimeConfig().GetNetworkConfig().GetPodCidr(); cidr != "" {
				if err := c.network.write(cidr); err != nil {
					c.log.Error(err, "Writing the pod network configuration", "podCIDR", cidr)
					return nil, status.Error(codes.Internal, err.Error())
				}
			}
		}
		return handler(ctx, req)
	}
}

// forget removes the configuration a previous run wrote: it may name
// another pod CIDR. The kubelet passes the current one, and until then
// the node's network is not ready.
func (n *podNetwork) forget() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.written = ""
	if err := os.Remove(n.confFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// write writes the CNI configuration for podCIDR (the first of a
// comma-separated list; IPv4 only).
func (n *podNetwork) write(podCIDRs string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if podCIDRs == n.written {
		return nil
	}
	conf, err := n.conflist(podCIDRs)
	if err != nil {
		return err
	}
	tmp := n.confFile + ".tmp"
	if err := os.WriteFile(tmp, conf, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, n.confFile); err != nil {
		return err
	}
	n.written = podCIDRs
	return nil
}

func (n *podNetwork) conflist(podCIDRs string) ([]byte, error) {
	var pod netip.Prefix
	var err error
	for _, s := range strings.Split(podCIDRs, ",") {
		if pod, err = netip.ParsePrefix(s); err == nil && pod.Addr().Is4() {
			break
		}
	}
	if !pod.IsValid() || !pod.Addr().Is4() {
		return nil, fmt.Errorf("no IPv4 pod CIDR in %q", podCIDRs)
	}
	pod = pod.Masked()
	if !n.cluster.Contains(pod.Addr()) || pod.Bits() < n.cluster.Bits() {
		return nil, fmt.Errorf("pod CIDR %s is not inside the cluster CIDR %s", pod, n.cluster)
	}
	gateway := n.cluster.Addr().Next()
	first, last := pod.Addr().Next(), lastAddr(pod).Prev()
	if first == gateway {
		first = first.Next()
	}
	if !first.IsValid() || !last.IsValid() || last.Less(first) {
		return nil, fmt.Errorf("pod CIDR %s is too small", pod)
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "wheelhouse",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      n.bridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": n.ipamDir,
					"ranges": [][]map[string]string{{{
						"subnet":     n.cluster.String(),
						"rangeStart": first.String(),
						"rangeEnd":   last.String(),
						"gateway":    gateway.String(),
					}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
