package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	"k8s.io/kubernetes/pkg/kubelet/server"
)

// apiServer is the kubelet's API (logs, exec, attach, port-forward,
// stats, healthz): the kubelet's own handler (server.NewServer), served as
// ListenAndServeKubeletServer serves it, but on a listener Wheelhouse
// owns. ListenAndServeKubeletServer has no shutdown and calls os.Exit when
// its listener fails; this one closes when the kubelet stops, so a
// restarted kubelet serves on the same port again.
type apiServer struct {
	http *http.Server
	done chan struct{}
}

func serveAPI(ctx context.Context, kl *kubelet.Kubelet, deps *kubelet.Dependencies, in *internals, kc *kubeletconfig.KubeletConfiguration, filter func(http.Handler) http.Handler) (*apiServer, error) {
	logger := klog.FromContext(ctx)
	addr := net.JoinHostPort(kc.Address, strconv.Itoa(int(kc.Port)))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the kubelet's API cannot listen on %s: %w", addr, err)
	}
	handler := server.NewServer(ctx, kl, *in.resourceAnalyzer, deps.ContainerManager.GetHealthCheckers(), *in.flagz, deps.Auth, kc)
	handler.InstallTracingFilter(deps.TracerProvider)
	var h http.Handler = &handler
	if filter != nil {
		h = filter(h)
	}
	s := &apiServer{
		http: &http.Server{
			Handler:        h,
			TLSConfig:      deps.TLSConfig, // made by NewMainKubelet from TLSOptions
			IdleTimeout:    90 * time.Second,
			ReadTimeout:    4 * 60 * time.Minute,
			WriteTimeout:   4 * 60 * time.Minute,
			MaxHeaderBytes: 1 << 20,
		},
		done: make(chan struct{}),
	}
	logger.Info("Starting to listen", "address", kc.Address, "port", kc.Port)
	go func() {
		defer close(s.done)
		if err := s.http.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "The kubelet's API stopped serving")
		}
	}()
	return s, nil
}

// stop closes the listener and every connection (streams included, as a
// dying kubelet's would be).
func (s *apiServer) stop() {
	_ = s.http.Close()
	<-s.done
}
