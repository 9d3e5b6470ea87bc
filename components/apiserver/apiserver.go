// Package apiserver runs the real kube-apiserver in-process, built the way
// its own command builds it (options → Complete → NewConfig →
// CreateServerChain → PrepareRun → Run), and reports ready only once
// /readyz says so.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
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

	// InnerFilter, when set, wraps the apiserver's API handler inside the
	// generic filter chain: it runs after authentication and authorization,
	// so request.UserFrom(ctx) names the calling component. The tracing
	// layer installs its request recorder here.
	InnerFilter func(http.Handler) http.Handler
	// OuterFilter, when set, wraps the whole handler chain, so it also
	// sees requests refused by authentication, authorization or priority
	// and fairness (401, 403, 429).
	OuterFilter func(http.Handler) http.Handler

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
		"--kubelet-preferred-address-types=InternalIP,Hostname",
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
	name, err := cache.NewInformerName("kube-apiserver")
	if err != nil {
		return nil, fmt.Errorf("naming kube-apiserver informers: %w", err)
	}
	completed.InformerName = name

	config, err := app.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("building kube-apiserver config: %w", err)
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
	if err := srv.waitReady(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(s.Loopback)
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
