package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubeversion"
	"github.com/wheelhouse-k8s/wheelhouse/components/runtime"
	"github.com/wheelhouse-k8s/wheelhouse/server"
	"github.com/wheelhouse-k8s/wheelhouse/web"
)

type upOptions struct {
	dataDir     string
	apiPort     int
	etcdPort    int
	kubeletPort int
	nodes       int
	pullSpeed   string
	uiAddr      string
	verbose     bool
}

func (o *upOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dataDir, "data-dir", dataDirFromEnv(), "where the cluster keeps its data (etcd, certificates, logs); also $WHEELHOUSE_DATA_DIR")
	fs.IntVar(&o.apiPort, "api-port", 6443, "kube-apiserver's HTTPS port on 127.0.0.1")
	fs.IntVar(&o.etcdPort, "etcd-port", 2379, "etcd's client port on 127.0.0.1 (the peer port is the next one)")
	fs.IntVar(&o.kubeletPort, "kubelet-port", 10250, "node-1's kubelet API port; node-2 takes the next one, and so on")
	fs.IntVar(&o.nodes, "nodes", 3, "number of compute nodes")
	fs.StringVar(&o.pullSpeed, "pull-speed", "",
		"simulated image registry speed in bytes per second, e.g. 10Mi (default: nginx pulls in about 1s; 0: images pull at once)")
	fs.StringVar(&o.uiAddr, "ui-addr", "127.0.0.1:8080", "address of the web UI")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "also print every component's log to the terminal")
}

func newUpCommand() *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster and the UI (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *upOptions) pullBytesPerSecond() (int64, error) {
	if o.pullSpeed == "" {
		return 0, nil // the runtime's default
	}
	q, err := resource.ParseQuantity(o.pullSpeed)
	if err != nil || q.Sign() < 0 {
		return 0, fmt.Errorf("--pull-speed %q is not a size per second such as 70Mi or 5M", o.pullSpeed)
	}
	if q.IsZero() {
		return runtime.InstantPull, nil
	}
	return q.Value(), nil
}

func (o *upOptions) run(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	speed, err := o.pullBytesPerSecond()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(out, "Wheelhouse %s: a real Kubernetes %s cluster in one process\n", wheelhouseVersion(), kubeversion.Version())
	fmt.Fprintf(out, "data: %s\n\n", o.dataDir)
	var (
		mu      sync.Mutex
		readyIn []web.Component
	)
	progress := func(p cluster.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Component == "cluster usable" {
			return
		}
		readyIn = append(readyIn, web.Component{Name: p.Component, ReadyIn: fmt.Sprintf("%.2fs", p.Elapsed.Seconds())})
		fmt.Fprintf(out, "  ✓ %-26s ready in %6.2fs   (at %5.2fs)\n", p.Component, p.Took.Seconds(), p.Elapsed.Seconds())
	}
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Config{
		DataDir:            o.dataDir,
		APIPort:            o.apiPort,
		EtcdPort:           o.etcdPort,
		KubeletPort:        o.kubeletPort,
		Nodes:              o.nodes,
		PullBytesPerSecond: speed,
		Verbose:            o.verbose,
		LogTerminal:        os.Stderr,
		Progress:           progress,
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted during start-up")
		}
		return err
	}
	defer func() {
		fmt.Fprintln(out, "\nStopping: nodes, controllers, scheduler, apiserver, then etcd…")
		c.Stop()
		fmt.Fprintf(out, "Stopped. The cluster's data is kept in %s.\n", c.DataDir())
	}()

	ui, err := server.Start(ctx, server.Options{
		Addr:   o.uiAddr,
		Status: func(ctx context.Context) web.Status { return statusOf(ctx, c, snapshot(&mu, readyIn)) },
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nCluster usable after %.1fs: %d nodes Ready, default ServiceAccount present.\n\n", time.Since(started).Seconds(), o.nodes)
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", c.AdminKubeconfig())
	fmt.Fprintf(out, "  kubectl get nodes            (or: wheelhouse kubectl get nodes)\n\n")
	fmt.Fprintf(out, "UI:   %s\n", ui.URL())
	fmt.Fprintf(out, "Logs: %s\n", c.LogDir())
	fmt.Fprintf(out, "Press Ctrl-C to stop; the cluster's data is kept.\n")
	<-ctx.Done()
	return nil
}

func snapshot(mu *sync.Mutex, cs []web.Component) []web.Component {
	mu.Lock()
	defer mu.Unlock()
	return append([]web.Component(nil), cs...)
}

// statusOf asks the apiserver for what the status page shows.
func statusOf(ctx context.Context, c *cluster.Cluster, components []web.Component) web.Status {
	s := web.Status{
		Version:    kubeversion.Version(),
		Kubeconfig: c.AdminKubeconfig(),
		DataDir:    c.DataDir(),
		Components: components,
	}
	cfg, err := c.AdminConfig()
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.APIServer = cfg.Host
	client, err := c.Client()
	if err != nil {
		s.Error = err.Error()
		return s
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		s.Error = "listing nodes: " + err.Error()
		return s
	}
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		s.Error = "listing pods: " + err.Error()
		return s
	}
	perNode := map[string]int{}
	for _, p := range pods.Items {
		perNode[p.Spec.NodeName]++
	}
	for _, n := range nodes.Items {
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == v1.NodeReady {
				ready = cond.Status == v1.ConditionTrue
			}
		}
		s.Nodes = append(s.Nodes, web.Node{
			Name: n.Name, Ready: ready, Zone: n.Labels["topology.kubernetes.io/zone"],
			PodCIDR: strings.Join(n.Spec.PodCIDRs, ","), Pods: perNode[n.Name],
		})
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Name < s.Nodes[j].Name })
	return s
}
