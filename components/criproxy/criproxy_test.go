package criproxy

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, endpoint string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func startProxy(t *testing.T, upstream string, opts ...grpc.ServerOption) *Proxy {
	t.Helper()
	p, err := Start(ctxT(t), Config{SocketPath: filepath.Join(t.TempDir(), "proxy.sock"), Upstream: upstream, ServerOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// recordingUpstream answers every call with Unimplemented, naming the
// method it received, and remembers the methods.
type recordingUpstream struct {
	mu      sync.Mutex
	methods map[string]bool
}

func (u *recordingUpstream) handle(_ any, ss grpc.ServerStream) error {
	m, _ := grpc.MethodFromServerStream(ss)
	u.mu.Lock()
	u.methods[m] = true
	u.mu.Unlock()
	return status.Errorf(codes.Unimplemented, "upstream has no %s", m)
}

// Every method the CRI declares reaches the runtime, and the runtime's
// status comes back unchanged.
func TestForwardsEveryMethodAndPassesStatusThrough(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "upstream.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	up := &recordingUpstream{methods: map[string]bool{}}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(up.handle))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	p := startProxy(t, sock)
	conn := dial(t, p.Endpoint())
	ctx := ctxT(t)
	var want []string
	for _, service := range []string{runtimeapi.RuntimeService_ServiceDesc.ServiceName, runtimeapi.ImageService_ServiceDesc.ServiceName} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
		if err != nil {
			t.Fatal(err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := 0; i < methods.Len(); i++ {
			m := methods.Get(i)
			full := "/" + service + "/" + string(m.Name())
			want = append(want, full)
			in, _ := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
			out, _ := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
			if m.IsStreamingServer() || m.IsStreamingClient() {
				cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: m.IsStreamingServer(), ClientStreams: m.IsStreamingClient()}, full)
				if err == nil {
					if err = cs.SendMsg(in.New().Interface()); err == nil {
						_ = cs.CloseSend()
						err = cs.RecvMsg(out.New().Interface())
					}
				}
				checkPassedThrough(t, full, err)
				continue
			}
			checkPassedThrough(t, full, conn.Invoke(ctx, full, in.New().Interface(), out.New().Interface()))
		}
	}
	if len(want) < 30 {
		t.Fatalf("only %d CRI methods found in the registry", len(want))
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	var missing []string
	for _, m := range want {
		if !up.methods[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("not forwarded: %v", missing)
	}
}

func checkPassedThrough(t *testing.T, method string, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Unimplemented || st.Message() != "upstream has no "+method {
		t.Errorf("%s: got %v, want the upstream's Unimplemented status", method, err)
	}
}

// In front of a real CRI server (the simulated runtime), the kubelet's
// calls work through the proxy and interceptors see typed requests and
// responses; a streaming call (GetContainerEvents) carries events.
func TestInFrontOfARuntime(t *testing.T) {
	rt, err := simruntime.Start(ctxT(t), simruntime.Config{NodeName: "node-x", SocketPath: filepath.Join(t.TempDir(), "rt.sock"), PullBytesPerSecond: simruntime.InstantPull})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })

	var mu sync.Mutex
	seen := map[string]string{} // method → request type / response type
	intercept := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		mu.Lock()
		seen[info.FullMethod] = typeName(req) + " " + typeName(resp)
		mu.Unlock()
		return resp, err
	}
	p := startProxy(t, strings.TrimPrefix(rt.Endpoint(), "unix://"), grpc.ChainUnaryInterceptor(intercept))
	conn := dial(t, p.Endpoint())
	rs, is := runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
	ctx := ctxT(t)

	v, err := rs.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != simruntime.RuntimeName {
		t.Fatalf("Version through the proxy = %v, %v", v, err)
	}
	if _, err := rs.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{
		RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.244.7.0/24"}}}); err != nil {
		t.Fatal(err)
	}
	events, err := rs.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan *runtimeapi.ContainerEventResponse, 64)
	recvErr := make(chan error, 1)
	go func() {
		for {
			ev, err := events.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			recv <- ev
		}
	}()
	// The client's call returns before the runtime has subscribed (the
	// proxy opens its upstream stream when the call reaches it), so an
	// event right away could be lost. Start sandboxes until one event
	// comes through: from then on the stream is live end to end.
	live := false
	for i := 0; i < 50 && !live; i++ {
		warm := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("warm-%d", i), Namespace: "default", Uid: fmt.Sprintf("w%d", i)}}
		if _, err := rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: warm}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-recv:
			live = true
		case err := <-recvErr:
			t.Fatalf("container events through the proxy: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !live {
		t.Fatal("no container event through the proxy after 50 sandboxes")
	}
	img := &runtimeapi.ImageSpec{Image: "busybox:1.36"}
	if _, err := is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: img}); err != nil {
		t.Fatal(err)
	}
	sbCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "default", Uid: "u1"}}
	sb, err := rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := rs.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: sbCfg,
		Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: img, Command: []string{"sleep", "3600"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox's own event comes first; then the container's.
	for {
		var ev *runtimeapi.ContainerEventResponse
		select {
		case ev = <-recv:
		case err := <-recvErr:
			t.Fatalf("container events through the proxy: %v", err)
		}
		if ev.ContainerId == c.ContainerId {
			if ev.ContainerEventType != runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT {
				t.Fatalf("first event of the container = %v, want CREATED", ev)
			}
			break
		}
	}
	list, err := rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil || len(list.Containers) != 1 || list.Containers[0].Id != c.ContainerId {
		t.Fatalf("ListContainers through the proxy = %v, %v", list, err)
	}
	// An unknown id: the runtime's NotFound, not the proxy's.
	_, err = rs.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("ContainerStatus(nope) = %v, want NotFound", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for method, want := range map[string]string{
		runtimeapi.RuntimeService_RunPodSandbox_FullMethodName:   "RunPodSandboxRequest RunPodSandboxResponse",
		runtimeapi.RuntimeService_CreateContainer_FullMethodName: "CreateContainerRequest CreateContainerResponse",
		runtimeapi.ImageService_PullImage_FullMethodName:         "PullImageRequest PullImageResponse",
	} {
		if seen[method] != want {
			t.Errorf("interceptor saw %s as %q, want %q", method, seen[method], want)
		}
	}
}

func typeName(v any) string {
	if m, ok := v.(interface{ ProtoReflect() protoreflect.Message }); ok {
		return string(m.ProtoReflect().Descriptor().Name())
	}
	return "?"
}

// A leftover socket from a crashed run does not block the next start; a
// live one does.
func TestStaleSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "proxy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctxT(t), Config{SocketPath: sock, Upstream: filepath.Join(dir, "up.sock")}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Start on a live socket = %v, want 'in use'", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	p, err := Start(ctxT(t), Config{SocketPath: sock, Upstream: filepath.Join(dir, "up.sock")})
	if err != nil {
		t.Fatalf("Start on a stale socket: %v", err)
	}
	p.Close()
}
