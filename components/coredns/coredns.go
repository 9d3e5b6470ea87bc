// Package coredns runs the real CoreDNS as the process of the simulated
// runtime's CoreDNS containers (Program), and installs the DNS add-on as
// kubeadm does (Install): the coredns Deployment, its ConfigMap, service
// account and RBAC, and the kube-dns Service at the cluster DNS address.
//
// A CoreDNS container's process is CoreDNS 1.14.6, the version kubeadm
// v1.37 installs, built into Wheelhouse with the plugins a pod here can
// run: kubernetes (what answers for cluster.local), errors, log, cache,
// loadbalance, rewrite, template and bind. It lists and watches
// Services, EndpointSlices and Namespaces with the pod's own service
// account token, so its requests are CoreDNS's in the trace. Queries reach
// it over the pod network: a datagram to the pod's port 53 is handed to
// CoreDNS's socket on 127.0.0.1 (see Corefile).
package coredns

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	// The plugins a CoreDNS pod here can run; each registers itself with
	// caddy when imported. Those needing sockets of their own (health,
	// ready, prometheus, pprof), the host's resolver or files (forward,
	// hosts) or files that change (reload) are not built in: a Corefile
	// naming one makes CoreDNS exit with "no action found for directive",
	// as a CoreDNS built without the plugin would.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/template"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// Version is the CoreDNS built in, and the image tag of its pods.
const Version = coremain.CoreVersion

// Image is the CoreDNS image kubeadm v1.37 deploys.
const Image = "registry.k8s.io/coredns/coredns:v" + Version

// serviceAccountDir is where the kubelet mounts a pod's service account
// token and the cluster's CA.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Config is what a CoreDNS process needs from the cluster it runs in.
type Config struct {
	// APIServer is the apiserver's URL, where the kubernetes Service's
	// ClusterIP leads.
	APIServer string
	// Log receives CoreDNS's own log lines (they go through the standard
	// library's logger, which only one process-wide writer can receive).
	Log logr.Logger
	// TempDir is where each CoreDNS process writes the kubeconfig made
	// from its pod's token (in a directory of its own, removed when it
	// ends): the cluster's data directory, which is all Wheelhouse
	// writes to. Empty means the system's temporary directory.
	TempDir string
	// RestoreKlog, when set, is called once CoreDNS's plugins are set up:
	// the kubernetes plugin's setup replaces klog's process-wide logger
	// with its own (plugin/kubernetes/setup.go), and Wheelhouse's
	// components log through klog, so Wheelhouse puts its logger back.
	RestoreKlog func()
}

// startMu serialises CoreDNS start-ups. caddy keeps its instances and
// plugin registry in package variables, and setup replaces klog's logger
// (see Config.RestoreKlog): one start at a time keeps each such window
// short and unshared.
var startMu sync.Mutex

// Program is the CoreDNS executable of the CoreDNS image.
func Program(cfg Config) machine.Program {
	return func(p *machine.Process) int { return run(p, cfg) }
}

func run(p *machine.Process, cfg Config) int {
	conf := "Corefile"
	args := p.Argv[1:]
	for i := 0; i < len(args); i++ {
		switch a := strings.TrimLeft(args[i], "-"); {
		case a == "version":
			fmt.Fprintf(p.IO.Out, "%s-%s\n%s/%s, %s, \n", coremain.CoreName, Version, runtime.GOOS, runtime.GOARCH, runtime.Version())
			return 0
		case a == "conf" && i+1 < len(args):
			i++
			conf = args[i]
		case strings.HasPrefix(a, "conf="):
			conf = strings.TrimPrefix(a, "conf=")
		}
	}
	fatal := func(format string, v ...any) int {
		fmt.Fprintf(p.IO.Err, "[FATAL] "+format+"\n", v...)
		return 1
	}
	corefile, err := p.Machine.ReadFile(p.Cwd(), conf)
	if err != nil {
		return fatal("open %s: %s", conf, machine.ErrText(err))
	}
	if cfg.TempDir != "" {
		if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
			return fatal("%v", err)
		}
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "wheelhouse-coredns-")
	if err != nil {
		return fatal("%v", err)
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(p, cfg.APIServer, kubeconfig); err != nil {
		return fatal("plugin/kubernetes: %v", err)
	}
	adapted, err := adapt(conf, string(corefile), kubeconfig, freeLoopbackPort)
	if err != nil {
		return fatal("%v", err)
	}

	inst, err := start(cfg, conf, adapted.Text)
	if err != nil {
		return fatal("%v", err)
	}
	defer func() {
		_ = inst.Stop()
		inst.ShutdownCallbacks()
	}()
	// Even when the container is being killed: a server is stopped only
	// once it serves.
	if err := awaitServing(slices.Collect(maps.Values(adapted.Ports)), 5*time.Second); err != nil {
		return fatal("%v", err)
	}
	for _, k := range adapted.Keys {
		fmt.Fprintln(p.IO.Out, k)
	}
	fmt.Fprintf(p.IO.Out, "%s-%s\n%s/%s, %s, \n", coremain.CoreName, Version, runtime.GOOS, runtime.GOARCH, runtime.Version())

	// The pod's ports lead to CoreDNS's loopback sockets.
	for podPort, local := range adapted.Ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(local))
		closeUDP, ok := p.Machine.Ports.BindUDP(int32(podPort), func(ctx context.Context, datagram []byte, _ string) []byte {
			return forwardDatagram(ctx, addr, datagram)
		})
		if !ok {
			return fatal("listen udp :%d: bind: address already in use", podPort)
		}
		defer closeUDP()
		closeTCP, ok := p.Machine.Ports.Bind(int32(podPort), machine.Listener{
			Serve: func(conn io.ReadWriter) { forwardStream(p.Context(), addr, conn) },
			Ended: p.Context().Done(),
		})
		if !ok {
			return fatal("listen tcp :%d: bind: address already in use", podPort)
		}
		defer closeTCP()
	}

	sig, ok := p.AwaitSignal(machine.SIGTERM, machine.SIGINT, machine.SIGQUIT)
	if !ok {
		return machine.ExitKilled
	}
	fmt.Fprintf(p.IO.Out, "[INFO] %s: Shutting down servers then terminating\n", sig)
	return 0
}

// start starts CoreDNS on the adapted Corefile.
func start(cfg Config, filename, corefile string) (*caddy.Instance, error) {
	startMu.Lock()
	defer startMu.Unlock()
	// CoreDNS prints its banner to the process's stdout unless quiet;
	// Program prints it to the container's instead. (Both are package
	// variables, set the same way every time.)
	dnsserver.Quiet = true
	caddy.Quiet = true
	routeStandardLog(cfg.Log)
	inst, err := caddy.Start(caddy.CaddyfileInput{Filepath: filename, Contents: []byte(corefile), ServerTypeName: "dns"})
	if cfg.RestoreKlog != nil {
		cfg.RestoreKlog()
	}
	if err != nil {
		if inst != nil {
			// What started before the failure (the kubernetes plugin's
			// informers) stops.
			inst.ShutdownCallbacks()
		}
		return nil, err
	}
	return inst, nil
}

// awaitServing waits until CoreDNS serves on each of the loopback ports,
// over UDP and over TCP. caddy.Start returns once it has started its
// servers' goroutines, not once they serve, and a server stopped before
// it serves is never stopped: dnsserver.Server.Stop, which runs once,
// finds no DNS server to shut down yet, or miekg/dns refuses to shut down
// one that has not started, which then serves on with nothing to end it.
// The probe is a message with no question: miekg/dns answers it FORMERR
// itself, before any plugin sees it, so no CoreDNS log shows it.
func awaitServing(ports []int, within time.Duration) error {
	deadline := time.Now().Add(within)
	probe := []byte{probeID[0], probeID[1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // opcode QUERY, no records
	for _, port := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for _, network := range []string{"udp", "tcp"} {
			for !answers(network, addr, probe) {
				if time.Now().After(deadline) {
					return fmt.Errorf("CoreDNS does not answer on %s %s after %s", network, addr, within)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	return nil
}

// probeID is the probe's message id: "WH".
const probeID = "WH"

// answers reports whether a DNS server at addr answers msg, whose id is
// probeID.
func answers(network, addr string, msg []byte) bool {
	c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if network == "tcp" {
		msg = append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
	}
	if _, err := c.Write(msg); err != nil {
		return false
	}
	reply := make([]byte, 512)
	n, err := io.ReadAtLeast(c, reply, 4)
	if network == "tcp" {
		reply, n = reply[2:], n-2
	}
	return err == nil && n >= 2 && reply[0] == probeID[0] && reply[1] == probeID[1]
}

// writeKubeconfig writes the in-cluster configuration of the pod as a
// kubeconfig: the apiserver's address, the pod's mounted CA and token
// (read from their files on the node, so the kubelet's token rotation
// reaches CoreDNS).
func writeKubeconfig(p *machine.Process, server, path string) error {
	token, _ := p.Machine.HostPath(serviceAccountDir + "/token")
	ca, _ := p.Machine.HostPath(serviceAccountDir + "/ca.crt")
	for _, f := range []string{token, ca} {
		if f == "" {
			return fmt.Errorf("unable to load in-cluster configuration: open %s/token: no such file or directory (is the service account token mounted?)", serviceAccountDir)
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("unable to load in-cluster configuration: %w", err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["in-cluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: ca}
	kc.AuthInfos["in-cluster"] = &clientcmdapi.AuthInfo{TokenFile: token}
	kc.Contexts["in-cluster"] = &clientcmdapi.Context{Cluster: "in-cluster", AuthInfo: "in-cluster"}
	kc.CurrentContext = "in-cluster"
	return clientcmd.WriteToFile(*kc, path)
}

// forwardDatagram hands a datagram to CoreDNS's UDP socket and returns
// its answer (nil if none comes before ctx ends).
func forwardDatagram(ctx context.Context, addr string, datagram []byte) []byte {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(datagram); err != nil {
		return nil
	}
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// forwardStream joins a pod-network connection to CoreDNS's TCP socket
// until either side ends.
func forwardStream(ctx context.Context, addr string, conn io.ReadWriter) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(c, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, c); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
