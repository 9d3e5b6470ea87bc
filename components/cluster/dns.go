package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/wheelhouse-k8s/wheelhouse/components/coredns"
	simmachine "github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// The cluster DNS: CoreDNS pods, installed as kubeadm's addon phase
// installs them once the control plane answers, whose process is the real
// CoreDNS (package coredns). Only simulated nodes can run them: a
// containerd node has no CoreDNS image and cannot pull one offline, so a
// cluster with containerd nodes has no DNS add-on.

// dnsAddon reports whether the cluster gets the DNS add-on.
func (c *Cluster) dnsAddon() bool {
	return c.cfg.ContainerdNodes == 0 && c.cfg.ContainerdAddress == ""
}

// programs are the executables the simulated runtimes take from the
// cluster rather than simulate: CoreDNS.
func (c *Cluster) programs() map[string]simmachine.Program {
	return map[string]simmachine.Program{
		"coredns": coredns.Program(coredns.Config{
			APIServer:   fmt.Sprintf("https://127.0.0.1:%d", c.cfg.APIPort),
			TempDir:     filepath.Join(c.cfg.DataDir, "coredns"),
			Log:         c.logs.Logger(tracing.CoreDNS),
			RestoreKlog: c.logs.Reinstall,
		}),
	}
}

// installDNS creates the DNS add-on's objects that are missing. A failure
// leaves the cluster running without cluster DNS, and says why.
func (c *Cluster) installDNS(ctx context.Context) error {
	t := time.Now()
	client, err := kubernetes.NewForConfig(c.WheelhouseConfig(tracing.WheelhouseUserAgent))
	if err != nil {
		return fmt.Errorf("installing the DNS add-on: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := coredns.Install(ctx, client, ClusterDNSIP); err != nil {
		return err
	}
	c.progress("dns add-on", t)
	return nil
}
