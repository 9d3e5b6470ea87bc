// Package criproxy is a CRI server that forwards every call to another CRI
// server. A node whose containers run in containerd has its kubelet talk to
// this proxy instead of containerd's socket, so that the tracing
// interceptors (the same gRPC server options the simulated runtime is
// given) see every RuntimeService and ImageService call, with its typed
// request and response.
//
// The proxy is built from the CRI's own service descriptors rather than by
// hand, one method at a time: every method the cri-api module declares,
// unary or streaming, is forwarded, including ones added in later
// versions. A method the runtime does not implement answers with the
// runtime's own status (Unimplemented), as it would without the proxy.
package criproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/unixsocket"
)

// maxMsgSize matches the kubelet's CRI client limit (16 MiB), so a large
// ListContainers answer passes through as it would directly.
const maxMsgSize = 16 << 20

// Config configures one proxy.
type Config struct {
	// SocketPath is the unix socket the kubelet connects to.
	SocketPath string
	// Upstream is the runtime's unix socket path (containerd's).
	Upstream string
	// ServerOptions are extra gRPC server options, such as the tracing
	// interceptors.
	ServerOptions []grpc.ServerOption
	Logger        klog.Logger
}

// Proxy is a running CRI proxy.
type Proxy struct {
	socket    string
	upstream  *grpc.ClientConn
	srv       *grpc.Server
	serveDone chan struct{}
	closeOnce sync.Once
}

// Start listens on cfg.SocketPath and forwards to cfg.Upstream. It returns
// once the socket accepts connections; ctx bounds start-up only.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.SocketPath == "" || cfg.Upstream == "" {
		return nil, errors.New("criproxy: SocketPath and Upstream are required")
	}
	log := cfg.Logger
	if log.GetSink() == nil {
		log = klog.Background()
	}
	socket, err := filepath.Abs(cfg.SocketPath)
	if err != nil {
		return nil, fmt.Errorf("criproxy: socket path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("criproxy: %w", err)
	}
	if err := unixsocket.RemoveStale(ctx, socket); err != nil {
		return nil, fmt.Errorf("criproxy: %w", err)
	}
	conn, err := grpc.NewClient("unix://"+cfg.Upstream,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)))
	if err != nil {
		return nil, fmt.Errorf("criproxy: connecting to %s: %w", cfg.Upstream, err)
	}
	srv := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize)}, cfg.ServerOptions...)...)
	for _, sd := range []grpc.ServiceDesc{runtimeapi.RuntimeService_ServiceDesc, runtimeapi.ImageService_ServiceDesc} {
		desc, err := forwardingDesc(sd, conn)
		if err != nil {
			conn.Close()
			return nil, err
		}
		srv.RegisterService(desc, struct{}{})
	}
	lis, err := net.Listen("unix", socket)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("criproxy: listen: %w", err)
	}
	_ = os.Chmod(socket, 0o660)
	p := &Proxy{socket: socket, upstream: conn, srv: srv, serveDone: make(chan struct{})}
	go func() {
		defer close(p.serveDone)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error(err, "CRI proxy stopped")
		}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("criproxy: socket does not accept connections: %w", err)
	}
	_ = c.Close()
	log.Info("CRI proxy serving", "endpoint", p.Endpoint(), "upstream", cfg.Upstream)
	return p, nil
}

// Endpoint is the CRI endpoint for the kubelet.
func (p *Proxy) Endpoint() string { return "unix://" + p.socket }

// Close stops serving (in-flight streams get a short grace) and removes
// the socket.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		stopped := make(chan struct{})
		go func() { p.srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			// Streams such as GetContainerEvents never end by themselves.
			p.srv.Stop()
			<-stopped
		}
		<-p.serveDone
		p.upstream.Close()
		if rerr := os.Remove(p.socket); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("criproxy: removing socket: %w", rerr)
		}
	})
	return err
}

// forwardingDesc builds a service whose every method forwards to conn.
// The request and response types come from the protobuf registry, so the
// server's interceptors see the same typed messages a hand-written server
// would get.
func forwardingDesc(sd grpc.ServiceDesc, conn *grpc.ClientConn) (*grpc.ServiceDesc, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(sd.ServiceName))
	if err != nil {
		return nil, fmt.Errorf("criproxy: service %s: %w", sd.ServiceName, err)
	}
	svc, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("criproxy: %s is not a service", sd.ServiceName)
	}
	out := &grpc.ServiceDesc{
		ServiceName: sd.ServiceName,
		// Any value serves: the handlers below ignore it.
		HandlerType: (*any)(nil),
		Metadata:    sd.Metadata,
	}
	for i := 0; i < svc.Methods().Len(); i++ {
		m := svc.Methods().Get(i)
		f, err := newForwarder(conn, "/"+sd.ServiceName+"/"+string(m.Name()), m)
		if err != nil {
			return nil, err
		}
		if m.IsStreamingClient() || m.IsStreamingServer() {
			out.Streams = append(out.Streams, grpc.StreamDesc{
				StreamName:    string(m.Name()),
				Handler:       f.stream,
				ServerStreams: m.IsStreamingServer(),
				ClientStreams: m.IsStreamingClient(),
			})
			continue
		}
		out.Methods = append(out.Methods, grpc.MethodDesc{MethodName: string(m.Name()), Handler: f.unary})
	}
	return out, nil
}

// forwarder forwards one method.
type forwarder struct {
	conn       *grpc.ClientConn
	fullMethod string
	in, out    protoreflect.MessageType
	streamDesc grpc.StreamDesc
}

func newForwarder(conn *grpc.ClientConn, fullMethod string, m protoreflect.MethodDescriptor) (*forwarder, error) {
	in, err := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
	if err != nil {
		return nil, fmt.Errorf("criproxy: %s request type: %w", fullMethod, err)
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	if err != nil {
		return nil, fmt.Errorf("criproxy: %s response type: %w", fullMethod, err)
	}
	return &forwarder{conn: conn, fullMethod: fullMethod, in: in, out: out,
		streamDesc: grpc.StreamDesc{StreamName: string(m.Name()), ServerStreams: m.IsStreamingServer(), ClientStreams: m.IsStreamingClient()}}, nil
}

// outgoing carries the caller's metadata on to the runtime.
func outgoing(ctx context.Context) context.Context {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		return metadata.NewOutgoingContext(ctx, md.Copy())
	}
	return ctx
}

func (f *forwarder) unary(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := f.in.New().Interface()
	if err := dec(req); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, req any) (any, error) {
		resp := f.out.New().Interface()
		if err := f.conn.Invoke(outgoing(ctx), f.fullMethod, req, resp); err != nil {
			// The runtime's status (Unimplemented, NotFound…) as it is.
			return nil, err
		}
		return resp, nil
	}
	if interceptor == nil {
		return call(ctx, req)
	}
	return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: f, FullMethod: f.fullMethod}, call)
}

// stream forwards a streaming call: the caller's messages go upstream
// until the caller closes its side, the runtime's come back until it ends
// the stream.
func (f *forwarder) stream(_ any, ss grpc.ServerStream) error {
	ctx, cancel := context.WithCancel(outgoing(ss.Context()))
	defer cancel()
	cs, err := f.conn.NewStream(ctx, &f.streamDesc, f.fullMethod)
	if err != nil {
		return err
	}
	go func() {
		for {
			req := f.in.New().Interface()
			if err := ss.RecvMsg(req); err != nil {
				if errors.Is(err, io.EOF) {
					_ = cs.CloseSend()
				} else {
					cancel() // the caller went away
				}
				return
			}
			if err := cs.SendMsg(req); err != nil {
				return // the runtime's error surfaces on RecvMsg below
			}
		}
	}()
	for {
		resp := f.out.New().Interface()
		if err := cs.RecvMsg(resp); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(resp); err != nil {
			return err
		}
	}
}
