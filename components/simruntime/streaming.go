package simruntime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/utils/exec"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/machine"
)

// Streaming: `kubectl exec`, `attach` and `port-forward` reach a container
// as they do with containerd. The kubelet asks the runtime for a URL (the
// Exec, Attach and PortForward CRI calls) and proxies the client's stream
// to it; the runtime serves those URLs with k8s.io/cri-streaming, the
// library containerd and CRI-O build on, so the wire protocol (SPDY or
// websockets, exit codes, errors) is the real one. Behind it, a command
// runs as a new process in the container's machine.

// streamer serves the streaming URLs on loopback.
type streamer struct {
	server streaming.Server
	http   *http.Server
	done   chan struct{}
}

func (r *Runtime) startStreaming() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("runtime: listening for exec and attach streams: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: l.Addr().String()}
	srv, err := streaming.NewServer(cfg, streamRuntime{r})
	if err != nil {
		l.Close()
		return fmt.Errorf("runtime: creating the streaming server: %w", err)
	}
	s := &streamer{server: srv, http: &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error(err, "Streaming server stopped")
		}
	}()
	r.streams = s
	return nil
}

// close stops serving streams; open ones are cut, as a runtime's would be
// when it stops.
func (s *streamer) close() {
	if s == nil {
		return
	}
	_ = s.http.Close()
	<-s.done
}

// runningContainer is the running container id names, or why there is none.
func (r *Runtime) runningContainer(id string) (*container, error) {
	c, unlock, err := r.lockContainer(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING || c.machine == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not running", c.id)
	}
	return c, nil
}

func (s *runtimeService) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if _, err := s.r.runningContainer(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.r.streams.server.GetExec(req)
}

func (s *runtimeService) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if _, err := s.r.runningContainer(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.r.streams.server.GetAttach(req)
}

func (s *runtimeService) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	s.r.mu.Lock()
	_, ok := s.r.sandboxes[req.GetPodSandboxId()]
	s.r.mu.Unlock()
	if !ok {
		return nil, notFound("sandbox", req.GetPodSandboxId())
	}
	return s.r.streams.server.GetPortForward(req)
}

// maxExecSyncOutput bounds what one ExecSync keeps of each stream, as the
// kubelet bounds probe output.
const maxExecSyncOutput = 16 << 10

// ExecSync runs a command to completion and returns what it wrote (exec
// probes, `crictl exec`).
func (s *runtimeService) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	c, err := s.r.runningContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	stdout, stderr := &limitedBuffer{limit: maxExecSyncOutput}, &limitedBuffer{limit: maxExecSyncOutput}
	code, err := c.exec(ctx, req.GetCmd(), machine.Stdio{In: strings.NewReader(""), Out: stdout, Err: stderr}, nil)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	if ctx.Err() != nil {
		return nil, status.Errorf(codes.DeadlineExceeded, "command %q timed out after %ds", strings.Join(req.GetCmd(), " "), req.GetTimeout())
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: int32(code)}, nil
}

// streamRuntime is what the streaming server calls once a client's stream
// is open.
type streamRuntime struct{ r *Runtime }

func (s streamRuntime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	c, err := s.r.runningContainer(containerID)
	if err != nil {
		return err
	}
	if in == nil {
		in = strings.NewReader("")
	}
	if out == nil {
		out = nopCloser{io.Discard}
	}
	if errw == nil {
		// With a TTY the terminal is one stream, as in a real container.
		errw = out
	}
	if tty {
		// kubectl exec -it: the keys the learner types go through a
		// terminal's line discipline, as they would through a pty.
		term := machine.NewTerminal(out)
		go term.Run(in)
		go followResizes(ctx, term, resize)
		w := term.Stdout()
		code, err := c.exec(ctx, cmd, machine.Stdio{In: term.Stdin(), Out: w, Err: w}, term)
		return execResult(code, err)
	}
	code, err := c.exec(ctx, cmd, machine.Stdio{In: in, Out: out, Err: errw}, nil)
	return execResult(code, err)
}

// followResizes keeps the terminal's size that of the client's window
// (stty size shows it), until the stream ends.
func followResizes(ctx context.Context, term *machine.Terminal, resize <-chan remotecommandserver.TerminalSize) {
	if resize == nil {
		return
	}
	for {
		select {
		case size, ok := <-resize:
			if !ok {
				return
			}
			term.Resize(size.Height, size.Width)
		case <-ctx.Done():
			return
		}
	}
}

// execResult is how the streaming server reports a command's end.
func execResult(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		// The streaming server reports this as the command's exit code,
		// which kubectl exits with ("command terminated with exit code 3").
		return exec.CodeExitError{Err: fmt.Errorf("command terminated with non-zero exit code: %d", code), Code: code}
	}
	return nil
}

func (s streamRuntime) Attach(ctx context.Context, containerID string, in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan remotecommandserver.TerminalSize) error {
	c, err := s.r.runningContainer(containerID)
	if err != nil {
		return err
	}
	var o, e io.Writer
	if out != nil {
		o = out
	}
	if errw != nil && !tty {
		// With a TTY the terminal is one stream.
		e = errw
	}
	c.attach.attach(ctx, c.done, in, o, e)
	return nil
}

func (s streamRuntime) PortForward(ctx context.Context, sandboxID string, port int32, stream io.ReadWriteCloser) error {
	return s.r.portForward(ctx, sandboxID, port, stream)
}

// exec runs argv as a new process in the container (not PID 1) with the
// given streams, and returns its exit status. A command the image does
// not have is an error, worded as runc words it; the process ends with
// the container, or when ctx ends.
func (c *container) exec(ctx context.Context, argv []string, sio machine.Stdio, term *machine.Terminal) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("no command given")
	}
	prog, ok := c.machine.Lookup(argv[0])
	if !ok {
		return 0, errors.New(execError(argv))
	}
	return c.machine.RunExec(ctx, prog, argv, sio, term), nil
}

// limitedBuffer keeps the first limit bytes written to it and drops the
// rest, so a chatty probe cannot grow the runtime's memory.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	mu    sync.Mutex
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
