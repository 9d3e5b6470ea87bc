// Package apiserver runs the real kube-apiserver in-process, built the way
// its own command builds it (options → Complete → NewConfig →
// CreateServerChain → PrepareRun → Run), and reports ready only once
// /readyz says so.
package apiserver

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/cryptobyte"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/egressselector"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// Config says how the apiserver is wired into the cluster.
type Config struct {
	EtcdServers []string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile are how it reaches etcd:
	// the etcd CA and its own etcd client certificate.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// BindAddress and Port are where it serves HTTPS.
	BindAddress string
	Port        int
	// CertDir is where the apiserver may write anything it generates.
	CertDir string

	ClientCAFile            string
	ServingCertFile         string
	ServingKeyFile          string
	ServiceAccountKeyFile   string // private, signs tokens
	ServiceAccountPubFile   string // public, verifies them
	KubeletClientCertFile   string
	KubeletClientKeyFile    string
	ServiceClusterIPRange   string
	ServiceAccountIssuerURL string
	// KubeletCAFile verifies the kubelets' serving certificates.
	KubeletCAFile string
	// DialKubelet, when set, is how the apiserver connects to a kubelet
	// (logs, exec, attach, port-forward). It is given the
	// node's Hostname address and the kubelet's port, as a real
	// apiserver's resolver would be; the cluster maps node names to the
	// loopback address its kubelets listen on, as /etc/hosts would.
	DialKubelet func(ctx context.Context, network, addr string) (net.Conn, error)
	// Observer is Wheelhouse's own client configuration, for the readiness
	// check (GET /readyz), so it is not traced as the apiserver's own
	// loopback traffic.
	Observer *rest.Config

	// InnerFilter, when set, wraps the apiserver's API handler inside the
	// generic filter chain: it runs after authentication and authorization,
	// so request.UserFrom(ctx) names the calling component. The tracing
	// layer installs its request recorder here.
	InnerFilter func(http.Handler) http.Handler
	// OuterFilter, when set, wraps the whole handler chain, so it also
	// sees requests refused by authentication, authorization or priority
	// and fairness (401, 403, 429).
	OuterFilter func(http.Handler) http.Handler

	// Hostname, if set, stands for the host's name where the apiserver
	// derives its identity (its Lease in kube-system, apiserver-<hash>)
	// from it: several apiservers in this one process share a host name.
	Hostname string

	// ExtraFlags are appended to the kube-apiserver flags (for tests and
	// experiments; e.g. "--audit-log-path=…").
	ExtraFlags []string
}

// Server is a running apiserver.
type Server struct {
	// Loopback is the apiserver's own privileged client configuration.
	Loopback *rest.Config
	done     chan struct{}
	err      error
}

// Flags renders the configuration as kube-apiserver flags, exactly as a
// learner would see them on a kubeadm control-plane node.
func (c Config) Flags() []string {
	flags := []string{
		"--etcd-servers=" + strings.Join(c.EtcdServers, ","),
		"--etcd-cafile=" + c.EtcdCAFile,
		"--etcd-certfile=" + c.EtcdCertFile,
		"--etcd-keyfile=" + c.EtcdKeyFile,
		"--bind-address=" + c.BindAddress,
		fmt.Sprintf("--secure-port=%d", c.Port),
		"--advertise-address=" + c.BindAddress,
		"--cert-dir=" + c.CertDir,
		"--client-ca-file=" + c.ClientCAFile,
		"--tls-cert-file=" + c.ServingCertFile,
		"--tls-private-key-file=" + c.ServingKeyFile,
		"--service-account-issuer=" + c.ServiceAccountIssuerURL,
		"--service-account-key-file=" + c.ServiceAccountPubFile,
		"--service-account-signing-key-file=" + c.ServiceAccountKeyFile,
		"--service-cluster-ip-range=" + c.ServiceClusterIPRange,
		"--kubelet-client-certificate=" + c.KubeletClientCertFile,
		"--kubelet-client-key=" + c.KubeletClientKeyFile,
		// Every kubelet serves on loopback under its own port; the node's
		// InternalIP is the host's address, which must be on one of its
		// interfaces, so the apiserver reaches a kubelet by its hostname.
		"--kubelet-preferred-address-types=Hostname,InternalIP",
		"--kubelet-certificate-authority=" + c.KubeletCAFile,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
		// The advertised address is loopback, which the endpoint
		// reconciler refuses to publish for the kubernetes Service.
		"--endpoint-reconciler-type=none",
	}
	return append(flags, c.ExtraFlags...)
}

// Start builds and runs the apiserver and returns once /readyz is OK. The
// server stops when ctx is cancelled; Done is closed when it has.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	logger := klog.FromContext(ctx)
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(cfg.Flags()); err != nil {
		return nil, fmt.Errorf("parsing kube-apiserver flags: %w", err)
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, fmt.Errorf("applying kube-apiserver feature gates: %w", err)
	}
	// As the apiserver's own command does: its loopback clients should not
	// log warnings it issued itself.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("completing kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("validating kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	// app.Run names its informers; calling NewConfig directly we must.
	informerName := "kube-apiserver"
	if cfg.Hostname != "" {
		informerName += "-" + cfg.Hostname // several run at once
	}
	name, err := cache.NewInformerName(informerName)
	if err != nil {
		return nil, fmt.Errorf("naming kube-apiserver informers: %w", err)
	}
	completed.InformerName = name

	config, err := app.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("building kube-apiserver config: %w", err)
	}
	if cfg.Hostname != "" {
		id := identity(cfg.Hostname)
		config.KubeAPIs.ControlPlane.Generic.APIServerID = id
		config.ApiExtensions.GenericConfig.APIServerID = id
		config.Aggregator.GenericConfig.APIServerID = id
	}
	if cfg.DialKubelet != nil {
		// Where kube-apiserver would use an egress selector's dialer for
		// the cluster network (cmd/kube-apiserver/app/server.go), its
		// kubelet client uses this one. (nodes/proxy is not served: the
		// apiserver refuses to proxy to an address that is not global
		// unicast, and the kubelets are on loopback.)
		dial := cfg.DialKubelet
		config.KubeAPIs.Extra.KubeletClientConfig.Lookup = func(egressselector.NetworkContext) (utilnet.DialFunc, error) {
			return dial, nil
		}
	}
	if cfg.InnerFilter != nil || cfg.OuterFilter != nil {
		// The aggregator's chain is the outermost one that every request
		// passes through; wrapping the handler it is given puts a filter
		// after authentication, authorization and priority-and-fairness,
		// and wrapping the chain it builds puts one before them all.
		inner, outer := cfg.InnerFilter, cfg.OuterFilter
		if inner == nil {
			inner = func(h http.Handler) http.Handler { return h }
		}
		if outer == nil {
			outer = func(h http.Handler) http.Handler { return h }
		}
		generic := config.Aggregator.GenericConfig
		build := generic.BuildHandlerChainFunc
		generic.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
			return outer(build(inner(apiHandler), c))
		}
	}
	completedConfig, err := config.Complete()
	if err != nil {
		return nil, fmt.Errorf("completing kube-apiserver config: %w", err)
	}
	chain, err := app.CreateServerChain(completedConfig)
	if err != nil {
		return nil, fmt.Errorf("creating kube-apiserver server chain: %w", err)
	}
	// A stopped apiserver goes as a killed process goes: its open
	// requests (the watches above all) end at once instead of being given
	// the request timeout (60 s) to drain.
	chain.GenericAPIServer.ShutdownTimeout = 2 * time.Second
	prepared, err := chain.PrepareRun()
	if err != nil {
		return nil, fmt.Errorf("preparing kube-apiserver: %w", err)
	}

	srv := &Server{Loopback: rest.CopyConfig(chain.GenericAPIServer.LoopbackClientConfig), done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		defer name.Release()
		if err := prepared.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			srv.err = err
			logger.Error(err, "kube-apiserver stopped")
		}
	}()
	if err := srv.waitReady(ctx, cfg.Observer); err != nil {
		return nil, err
	}
	return srv, nil
}

func (s *Server) waitReady(ctx context.Context, observer *rest.Config) error {
	if observer == nil {
		observer = s.Loopback
	}
	client, err := kubernetes.NewForConfig(observer)
	if err != nil {
		return fmt.Errorf("creating readiness client: %w", err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		select {
		case <-s.done:
			if s.err != nil {
				return fmt.Errorf("kube-apiserver stopped before it was ready: %w", s.err)
			}
			return errors.New("kube-apiserver stopped before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-apiserver /readyz (last answer: %s): %w", last, ctx.Err())
		case <-tick.C:
		}
		var status int
		body, err := client.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status).Raw()
		if err == nil && status == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("%d %s", status, strings.TrimSpace(string(body)))
	}
}

// Done is closed when the apiserver has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the reason the apiserver stopped, if it failed.
func (s *Server) Err() error { return s.err }

// identity is the apiserver id k8s.io/apiserver's NewConfig derives from a
// host name: "apiserver-" and the base32 of the first 16 bytes of the
// SHA-256 of the length-prefixed host name and "kube-apiserver".
func identity(hostname string) string {
	b := cryptobyte.NewBuilder(nil)
	for _, part := range []string{hostname, "kube-apiserver"} {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(part)) })
	}
	hash := sha256.Sum256(b.BytesOrPanic())
	return "apiserver-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(hash[:16]))
}
