package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubeversion"
	"github.com/wheelhouse-k8s/wheelhouse/components/loadbalancer"
	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime"
	"github.com/wheelhouse-k8s/wheelhouse/server"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/collect"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/kjson"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/record"
	"github.com/wheelhouse-k8s/wheelhouse/web"
)

// classroomAddr is the UI's address with --classroom: every interface, so
// that the students' laptops on the room's network reach it.
const classroomAddr = "0.0.0.0:8080"

type upOptions struct {
	dataDir               string
	apiPort               int
	etcdPort              int
	kubeletPort           int
	schedulerPort         int
	controllerManagerPort int
	nodes                 int
	nodesSet              bool // --nodes was given
	topology              string
	controlPlanes         int
	leaseDuration         time.Duration
	// runtime is "simulated" or "containerd"; containerdNodes how many
	// nodes use containerd (-1: all, with --runtime containerd).
	runtime           string
	containerdNodes   int
	containerdAddress string
	pullSpeed         string
	uiAddr            string
	uiAddrSet         bool // --ui-addr was given
	uiHosts           []string
	classroom         bool
	verbose           bool
	trace             bool
	traceBuffer       int
	record            string
	labsDir           string
}

func (o *upOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dataDir, "data-dir", dataDirFromEnv(), "where the cluster keeps its data (etcd, certificates, logs); also $WHEELHOUSE_DATA_DIR")
	fs.IntVar(&o.apiPort, "api-port", 6443, "kube-apiserver's HTTPS port on 127.0.0.1")
	fs.IntVar(&o.etcdPort, "etcd-port", 2379, "etcd's client port on 127.0.0.1 (the peer port is the next one)")
	fs.IntVar(&o.kubeletPort, "kubelet-port", 10250, "node-1's kubelet API port on 127.0.0.1; node-2 takes the next one, and so on")
	fs.IntVar(&o.schedulerPort, "scheduler-port", 10259, "kube-scheduler's secure port (/healthz, /metrics) on 127.0.0.1, where kubectl get componentstatuses looks")
	fs.IntVar(&o.controllerManagerPort, "controller-manager-port", 10257, "kube-controller-manager's secure port (/healthz, /metrics) on 127.0.0.1, where kubectl get componentstatuses looks")
	fs.IntVar(&o.nodes, "nodes", 3, "number of compute nodes (the single-node topology has one, called wheelhouse)")
	fs.StringVar(&o.topology, "topology", cluster.SingleControlPlane,
		"the cluster's shape: single-node (one machine is control plane and node), single-control-plane (one control-plane machine and --nodes nodes) or ha (--control-planes machines, each with an etcd member, an apiserver, a scheduler and a controller manager, behind a load balancer)")
	fs.IntVar(&o.controlPlanes, "control-planes", 0, "with --topology ha: how many control-plane machines, 3 or 5 (default 3)")
	fs.DurationVar(&o.leaseDuration, "leader-lease-duration", cluster.DefaultLeaderElection.LeaseDuration,
		"with --topology ha: how long a scheduler's or controller manager's leader Lease lasts unrenewed before a standby takes over (renew deadline 3/4 of it, retry period 1/4; Kubernetes' default is 15s)")
	fs.StringVar(&o.runtime, "runtime", "simulated",
		"where containers run: simulated (in Wheelhouse, no root needed) or containerd (real containers: Linux, root, containerd 2.x, runc and the CNI plugins)")
	fs.IntVar(&o.containerdNodes, "containerd-nodes", -1,
		"how many nodes (node-1 first) run real containers in containerd; the others are simulated (default: all, with --runtime containerd)")
	fs.StringVar(&o.containerdAddress, "containerd-address", "",
		"use this already running containerd's socket (for a one-node cluster) instead of starting one per node")
	fs.StringVar(&o.pullSpeed, "pull-speed", "",
		"simulated image registry speed in bytes per second, e.g. 10Mi (default: nginx pulls in about 1s; 0: images pull at once)")
	fs.StringVar(&o.uiAddr, "ui-addr", "127.0.0.1:8080", "address of the web UI (off loopback, every page and API needs the admin token; with --classroom the default is "+classroomAddr+")")
	fs.BoolVar(&o.classroom, "classroom", false, "teach a class: the UI listens on the network, and students open the viewers' link (printed, and as a QR code on /present) to follow the presenter's page live and read-only")
	fs.StringSliceVar(&o.uiHosts, "ui-host", nil, "a host name browsers use to reach the UI, besides IP addresses and localhost (repeatable); requests naming any other host are refused, against DNS rebinding")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "also print every component's log to the terminal")
	fs.BoolVar(&o.trace, "trace", true, "record every request, watch event, etcd write and CRI call (the UI shows them)")
	fs.IntVar(&o.traceBuffer, "trace-buffer", 200_000, "how many trace events to keep in memory for the UI and reconnecting clients")
	fs.StringVar(&o.record, "record", "", "also write every trace event to `file` (JSON lines), for wheelhouse replay")
	fs.StringVar(&o.labsDir, "labs-dir", "", "load the guided labs from this directory instead of the built-in ones (one folder per lab; see labs/content/README.md)")
}

func newUpCommand() *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster and the UI (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.nodesSet = cmd.Flags().Changed("nodes")
			o.uiAddrSet = cmd.Flags().Changed("ui-addr")
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
		return simruntime.InstantPull, nil
	}
	return q.Value(), nil
}

// containerdNodeCount turns --runtime, --containerd-nodes and
// --containerd-address into how many nodes use containerd.
func (o *upOptions) containerdNodeCount() (int, error) {
	switch o.runtime {
	case "simulated", "sim":
		if o.containerdNodes > 0 || o.containerdAddress != "" {
			// --containerd-nodes or --containerd-address alone asks for containerd.
			break
		}
		return 0, nil
	case "containerd":
	default:
		return 0, fmt.Errorf("--runtime must be simulated or containerd, not %q", o.runtime)
	}
	n := o.containerdNodes
	if n < 0 {
		n = o.nodes
		if o.topology == cluster.SingleNode {
			n = 1
		}
		if o.containerdAddress != "" {
			n = 1
		}
	}
	return n, nil // cluster.Config.Validate says what is out of range
}

// flagOf names the flag that sets each cluster.Config field.
var flagOf = map[string]string{
	"DataDir": "--data-dir", "APIPort": "--api-port", "EtcdPort": "--etcd-port", "KubeletPort": "--kubelet-port",
	"SchedulerPort": "--scheduler-port", "ControllerManagerPort": "--controller-manager-port", "Nodes": "--nodes",
	"Topology": "--topology", "ControlPlanes": "--control-planes", "LeaderElection": "--leader-lease-duration",
	"ContainerdNodes": "--containerd-nodes", "ContainerdAddress": "--containerd-address", "PullBytesPerSecond": "--pull-speed",
}

// flagErrors rewrites the configuration's field errors in the words of the
// command line: "--nodes must be from 1 to 100, not 0".
func flagErrors(err error) error {
	var fields []*cluster.FieldError
	var walk func(error)
	walk = func(e error) {
		var fe *cluster.FieldError
		if errors.As(e, &fe) && fe == e {
			fields = append(fields, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	if len(fields) == 0 {
		return err
	}
	var msgs []string
	for _, fe := range fields {
		name := flagOf[fe.Field]
		if name == "" {
			name = fe.Field
		}
		msgs = append(msgs, name+" "+fe.Message)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

func (o *upOptions) run(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	speed, err := o.pullBytesPerSecond()
	if err != nil {
		return err
	}
	containerdNodes, err := o.containerdNodeCount()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	catalog, labErrs, err := o.loadLabs()
	if err != nil {
		return err
	}

	var (
		mu      sync.Mutex
		readyIn []web.Component
	)
	progress := func(p cluster.Progress) {
		mu.Lock()
		defer mu.Unlock()
		readyIn = append(readyIn, web.Component{Name: p.Component, ReadyIn: fmt.Sprintf("%.2fs", p.Elapsed.Seconds())})
		fmt.Fprintf(out, "  ✓ %-26s ready in %6.2fs   (at %5.2fs)\n", p.Component, p.Took.Seconds(), p.Elapsed.Seconds())
	}
	started := time.Now()
	nodes := o.nodes
	if o.topology == cluster.SingleNode && !o.nodesSet {
		nodes = 0 // its one machine
	}
	cfg := cluster.Config{
		DataDir:               o.dataDir,
		APIPort:               o.apiPort,
		EtcdPort:              o.etcdPort,
		KubeletPort:           o.kubeletPort,
		SchedulerPort:         o.schedulerPort,
		ControllerManagerPort: o.controllerManagerPort,
		Nodes:                 nodes,
		Topology:              o.topology,
		ControlPlanes:         o.controlPlanes,
		LeaderElection: cluster.LeaderElection{
			LeaseDuration: o.leaseDuration,
			RenewDeadline: o.leaseDuration * 3 / 4,
			RetryPeriod:   o.leaseDuration / 4,
		},
		ContainerdNodes:    containerdNodes,
		ContainerdAddress:  o.containerdAddress,
		PullBytesPerSecond: speed,
		Verbose:            o.verbose,
		LogTerminal:        os.Stderr,
		Progress:           progress,
	}
	// Wrong flags are said before anything prints or starts.
	if err := cfg.Validate(); err != nil {
		return flagErrors(err)
	}
	fmt.Fprintf(out, "Wheelhouse %s: a real Kubernetes %s cluster in one process\n", wheelhouseVersion(), kubeversion.Version())
	fmt.Fprintf(out, "data: %s\n\n", o.dataDir)

	// The tracer outlives the cluster by a moment, to record it stopping.
	traceCtx, stopTracing := context.WithCancel(context.Background())
	defer stopTracing()
	tracer, recorded, err := o.startTracing(traceCtx, &cfg)
	if err != nil {
		return err
	}
	if o.classroom && !o.uiAddrSet {
		o.uiAddr = classroomAddr
	}
	// Claim the UI address first: a taken one fails at once, like the
	// cluster's own ports, not after a whole start-up.
	uiListener, err := server.Listen(o.uiAddr)
	if err != nil {
		return err
	}
	defer uiListener.Close()
	restoreGC := collectLessWhileStarting()
	c, err := cluster.Start(ctx, cfg)
	restoreGC()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted during start-up")
		}
		return err
	}
	defer func() {
		fmt.Fprintln(out, "\nStopping: nodes, controllers, scheduler, apiserver, then etcd…")
		c.Stop()
		if tracer != nil {
			// Let the linker publish the stop events before tracing ends.
			flushCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = tracer.Linker.Flush(flushCtx)
			cancel()
		}
		stopTracing()
		if recorded != nil {
			if err := <-recorded; err != nil {
				fmt.Fprintf(out, "Recording %s: %v\n", o.record, err)
			} else {
				fmt.Fprintf(out, "Trace recorded in %s.\n", o.record)
			}
		}
		fmt.Fprintf(out, "Stopped. The cluster's data is kept in %s.\n", c.DataDir())
	}()

	state, err := startClusterState(ctx, c)
	if err != nil {
		return err
	}
	if tracer != nil {
		state.etcdLeader = tracer.Etcd.Leader
	}
	token, err := newAdminToken()
	if err != nil {
		return err
	}
	opts := server.Options{
		Addr:       o.uiAddr,
		Hosts:      o.uiHosts,
		Mode:       "live",
		Status:     func(ctx context.Context) web.Status { return statusOf(ctx, c, state, snapshot(&mu, readyIn)) },
		State:      state.snapshot,
		Components: clusterComponents{c},
		AdminToken: token,
		Containerd: func(ctx context.Context, node string) (any, error) {
			return containerdViewOf(ctx, c, state, node)
		},
		NodeRules: func(node string) (string, error) {
			n := c.Node(node)
			if n == nil {
				return "", fmt.Errorf("%w: no node %q", server.ErrNotFound, node)
			}
			return n.Rules(), nil
		},
	}
	if tracer != nil {
		opts.Trace = &server.Trace{Bus: tracer.Bus, Detail: tracer.Detail,
			State: server.StartStateFeed(ctx, server.StateFeedConfig{Read: state.snapshot, Changed: state.changed, Head: tracer.Bus.LastSeq})}
		opts.Etcd = tracer.Browser()
	}
	opts.Labs, err = labChecker(c, catalog, labErrs, tracer)
	if err != nil {
		return err
	}
	ws, err := prepareShellWorkspace(c.DataDir(), c.AdminKubeconfig())
	if err != nil {
		return err
	}
	terminal := &server.Terminal{Dir: ws.Home, Env: ws.Env}
	defer terminal.Close() // Shutdown does not end websockets; this hangs up the shells
	opts.Terminal = terminal
	if o.classroom {
		opts.Classroom, err = server.NewClassroom(server.ViewerBase(uiListener.Addr().String()))
		if err != nil {
			return err
		}
		defer opts.Classroom.Close()
	}
	ui := server.Serve(ctx, uiListener, opts)
	if err := writeUIInfo(c.DataDir(), uiInfo{URL: ui.URL(), Token: token}); err != nil {
		return err
	}
	defer os.Remove(uiInfoPath(c.DataDir()))

	fmt.Fprintf(out, "\nCluster usable after %.1fs: %s, %d %s Ready, default ServiceAccount present.\n\n",
		time.Since(started).Seconds(), c.Topology(), len(c.Nodes()), plural(len(c.Nodes()), "node", "nodes"))
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", c.AdminKubeconfig())
	fmt.Fprintf(out, "  kubectl get nodes            (or: wheelhouse kubectl get nodes)\n\n")
	if containerdNodes > 0 {
		for _, n := range c.Nodes() {
			if cd := n.Containerd(); cd != nil {
				fmt.Fprintf(out, "%s runs real containers in containerd %s (%s)\n", n.Name, cd.Version(), cd.Address())
			}
		}
		fmt.Fprintf(out, "  try: kubectl run hello --image %s -- sh -c \"echo hello; sleep 3600\"\n", containerd.BusyboxImage)
		fmt.Fprintf(out, "  more images: wheelhouse images import FILE.tar\n\n")
	}
	fmt.Fprintf(out, "UI:   %s?token=%s\n", ui.URL(), token)
	if opts.Classroom != nil {
		_, port, _ := net.SplitHostPort(uiListener.Addr().String())
		fmt.Fprintf(out, "      (the presenter's: it opens the terminal and stops components; share it with no one)\n")
		fmt.Fprintf(out, "Viewers: %s\n", opts.Classroom.ViewerURL())
		fmt.Fprintf(out, "      (for the class, also as a QR code on /present: their pages follow yours, read-only;\n")
		fmt.Fprintf(out, "      this machine's firewall must let in TCP port %s; a name instead of the IP needs --ui-host NAME)\n", port)
	} else if server.IsLoopback(o.uiAddr) {
		fmt.Fprintf(out, "      (the token lets that browser open a terminal, stop components and see Secret values)\n")
	} else {
		fmt.Fprintf(out, "      Warning: the UI listens on %s, which other machines may reach. Every page and API\n", o.uiAddr)
		fmt.Fprintf(out, "      except /healthz needs the admin token, so share this address with no one. Names\n")
		fmt.Fprintf(out, "      browsers use other than an IP address must be allowed with --ui-host NAME.\n")
	}
	if tracer != nil {
		fmt.Fprintf(out, "Trace: %sws/trace (websocket, JSON events)\n", strings.Replace(ui.URL(), "http://", "ws://", 1))
	}
	fmt.Fprintf(out, "Labs: %d guided labs (%s)\n", len(catalog.Labs), o.labsSource())
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

// statusOf describes the cluster for the status page, from the UI's cache.
func statusOf(ctx context.Context, c *cluster.Cluster, state *clusterState, components []web.Component) web.Status {
	s := web.Status{
		Version:    kubeversion.Version(),
		Kubeconfig: c.AdminKubeconfig(),
		DataDir:    c.DataDir(),
		Components: components,
	}
	if cfg, err := c.AdminConfig(); err == nil {
		s.APIServer = cfg.Host
	}
	st, err := state.view()
	if err != nil {
		s.Error = err.Error()
		return s
	}
	perNode := map[string]int{}
	for _, p := range st.Pods {
		perNode[p.Node]++
	}
	for _, n := range st.Nodes {
		s.Nodes = append(s.Nodes, web.Node{Name: n.Name, Ready: n.Ready, Zone: n.Zone, PodCIDR: n.PodCIDR, Pods: perNode[n.Name]})
	}
	return s
}

// startTracing builds the tracer and hooks it into the cluster's
// configuration; with --record it also starts writing the trace to a
// file, and the returned channel reports when that recording ends.
func (o *upOptions) startTracing(ctx context.Context, cfg *cluster.Config) (*collect.Tracer, <-chan error, error) {
	if !o.trace {
		if o.record != "" {
			return nil, nil, errors.New("--record needs --trace")
		}
		return nil, nil, nil
	}
	tracer := collect.New(collect.Options{Capacity: o.traceBuffer, Decoder: kjson.NewDecoder()})
	go tracer.Run(ctx)
	cfg.APIServerFilters = tracer.APIServer.Filters
	cfg.LoadBalancerHooks = func() (func(net.Addr, loadbalancer.Backend), func(loadbalancer.Backend, bool, string)) {
		return func(client net.Addr, b loadbalancer.Backend) { tracer.LoadBalancerRoute(client.String(), b.ID) },
			func(b loadbalancer.Backend, healthy bool, reason string) {
				tracer.LoadBalancerHealth(b.ID, healthy, reason)
			}
	}
	cfg.RuntimeServerOptions = tracer.RuntimeServerOptions
	cfg.KubeletAPIFilter = tracer.KubeletAPIFilter
	cfg.EtcdServerOptions = func(member string, clients map[string]string) []grpc.ServerOption {
		return tracer.Etcd.ServerOptions(member, clients)
	}
	cfg.Lifecycle = tracer.Lifecycle
	cfg.NetEvents = tracer.Net
	cfg.EtcdReady = func(etcd cluster.EtcdAccess) {
		go func() {
			if err := tracer.Etcd.Run(ctx, etcd.Endpoints, etcd.TLS); err != nil {
				tracer.Lifecycle("etcd collector", "crashed", err)
			}
		}()
	}
	if o.record == "" {
		return tracer, nil, nil
	}
	f, err := os.Create(o.record)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the recording: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		err := record.Record(ctx, tracer.Bus, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	return tracer, done, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// collectLessWhileStarting lets the heap grow to five times its live size
// before each collection (GOGC=400) until the cluster is up, and returns
// the function that puts the collector back as it was. Start-up allocates
// a great deal that dies at once (every apiserver builds and encodes its
// OpenAPI documents, three of them in HA), and on two cores the collector
// competed with it for CPU: this made an HA start about 0.6 s faster
// (docs/BENCHMARKS.md). Afterwards the heap is collected as usual, and
// what the larger start-up heap took is given back to the system at once
// rather than over minutes. A GOGC set in the environment is left alone.
func collectLessWhileStarting() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	previous := debug.SetGCPercent(400)
	return func() {
		debug.SetGCPercent(previous)
		go debug.FreeOSMemory() // a collection: not on the way to "usable"
	}
}
