// Package logs gives every embedded component a logger tagged with its
// component and routes all of klog (which every Kubernetes component uses,
// often through the process-global functions) to per-component files under
// the data directory, so the terminal stays readable.
//
// klog is process-global: Kubernetes forces that. Contextual loggers handed
// to a component carry its tag directly; a line logged through the global
// functions is tagged from the Go package that logged it.
package logs

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/component"
)

// Options say where lines go.
type Options struct {
	// Dir receives <component>.log files.
	Dir string
	// Verbosity is the klog -v level (0 is quiet).
	Verbosity int
	// Terminal, when set, also receives every line, prefixed with its tag.
	Terminal io.Writer
	// OnFatal hears that a goroutine called klog's fatal exit (klog.Fatal,
	// klog.Exit, klog.FlushAndExit): component is the component it belongs
	// to (its component.Label, "" if it has none), message where it was.
	OnFatal func(component, message string)
}

// Logs owns the open files.
type Logs struct {
	opts  Options
	mu    sync.Mutex
	files map[string]*os.File
	now   func() time.Time
}

// New creates the directory. Call Install to route klog to it.
func New(opts Options) (*Logs, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	return &Logs{opts: opts, files: map[string]*os.File{}, now: time.Now}, nil
}

// Install makes klog (global and contextual) write through these logs.
// It returns a function that restores klog's defaults.
func (l *Logs) Install() (restore func()) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", fmt.Sprint(l.opts.Verbosity))
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetLoggerWithOptions(l.Logger(""), klog.ContextualLogger(true))
	// klog's fatal functions end the process (klog.OsExit, os.Exit by
	// default), which Kubernetes components call on conditions a real
	// process would be restarted for. Here they end only the goroutine
	// that called them: the process, and every other component, run on,
	// and the component is reported crashed. (Calls of os.Exit itself
	// cannot be caught; Wheelhouse keeps their causes away instead.)
	prevExit := klog.OsExit
	klog.OsExit = l.fatalExit
	return func() {
		klog.OsExit = prevExit
		klog.ClearLogger()
		_ = fs.Set("v", "0")
	}
}

// Reinstall puts Logs back as klog's logger, after a library replaced it
// (CoreDNS's kubernetes plugin does, when it is set up).
func (l *Logs) Reinstall() {
	klog.SetLoggerWithOptions(l.Logger(""), klog.ContextualLogger(true))
}

// fatalExit stands in for os.Exit in klog: it reports the call and ends
// the calling goroutine (its deferred calls run).
func (l *Logs) fatalExit(code int) {
	component, where := fatalSite()
	msg := fmt.Sprintf("exited through klog's fatal exit (code %d) at %s", code, where)
	l.write(fileOwner(component), []byte(fmt.Sprintf("F %s %s; Wheelhouse ended only that goroutine\n", l.now().Format("2006-01-02T15:04:05.000000Z07:00"), msg)))
	if l.opts.OnFatal != nil {
		l.opts.OnFatal(component, msg)
	}
	runtime.Goexit()
}

func fileOwner(component string) string {
	if component == "" {
		return "wheelhouse"
	}
	return component
}

// fatalMu keeps two fatal exits from reading each other's label.
var fatalMu sync.Mutex

// fatalSite is the component of the calling goroutine and where it called
// klog. The component is its pprof label, which Go offers no way to read
// for the current goroutine but in a goroutine profile: the one record
// that is inside fatalSite is this goroutine's.
func fatalSite() (owner, where string) {
	fatalMu.Lock()
	defer fatalMu.Unlock()
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	inKlog := false
	for {
		f, more := frames.Next()
		isKlog := strings.Contains(f.File, "/k8s.io/klog/")
		if inKlog && !isKlog {
			// The first frame after klog's is its caller.
			where = fmt.Sprintf("%s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
			break
		}
		inKlog = inKlog || isKlog
		if !more {
			break
		}
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return "", where
	}
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(rec, "components/logs.fatalSite") {
			continue
		}
		for _, line := range strings.Split(rec, "\n") {
			labels, ok := strings.CutPrefix(line, "# labels: ")
			if !ok {
				continue
			}
			var m map[string]string
			if json.Unmarshal([]byte(labels), &m) == nil {
				return m[component.Label], where
			}
		}
	}
	return "", where
}

// Logger returns a logger whose lines are tagged component. An empty
// component means "decide from the caller's package".
func (l *Logs) Logger(component string) logr.Logger {
	return logr.New(&sink{logs: l, component: component})
}

// Path is the file a component's lines go to.
func (l *Logs) Path(component string) string {
	return filepath.Join(l.opts.Dir, fileName(component))
}

// Close closes the files.
func (l *Logs) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, f := range l.files {
		f.Close()
		delete(l.files, name)
	}
	return nil
}

func (l *Logs) write(component string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.files[component]
	if !ok {
		var err error
		f, err = os.OpenFile(l.Path(component), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return // a log line is not worth failing a component for
		}
		l.files[component] = f
	}
	_, _ = f.Write(line)
	if l.opts.Terminal != nil {
		fmt.Fprintf(l.opts.Terminal, "[%s] %s", component, line)
	}
}

func fileName(component string) string {
	if component == "" {
		component = "wheelhouse"
	}
	return strings.ReplaceAll(component, "/", "-") + ".log"
}

// sink is a logr.LogSink writing klog-like text lines.
type sink struct {
	logs      *Logs
	component string
	name      string
	values    []any
}

var _ logr.CallDepthLogSink = (*sink)(nil)

func (s *sink) Init(logr.RuntimeInfo)          {}
func (s *sink) Enabled(level int) bool         { return level <= s.logs.opts.Verbosity }
func (s *sink) WithCallDepth(int) logr.LogSink { return s }

func (s *sink) WithName(name string) logr.LogSink {
	c := *s
	if c.name != "" {
		name = c.name + "/" + name
	}
	c.name = name
	return &c
}

func (s *sink) WithValues(kv ...any) logr.LogSink {
	c := *s
	c.values = append(append([]any(nil), s.values...), kv...)
	return &c
}

func (s *sink) Info(level int, msg string, kv ...any) { s.emit('I', msg, nil, kv) }
func (s *sink) Error(err error, msg string, kv ...any) {
	s.emit('E', msg, err, kv)
}

func (s *sink) emit(severity byte, msg string, err error, kv []any) {
	component := s.component
	if component == "" {
		component = ComponentOf(callerFile())
	}
	var b bytes.Buffer
	b.WriteByte(severity)
	b.WriteString(s.logs.now().Format(" 2006-01-02T15:04:05.000000Z07:00 "))
	if s.name != "" {
		b.WriteString(s.name)
		b.WriteString(": ")
	}
	b.WriteString(strings.TrimRight(msg, "\n"))
	if err != nil {
		fmt.Fprintf(&b, " err=%q", err.Error())
	}
	writeKV(&b, s.values)
	writeKV(&b, kv)
	b.WriteByte('\n')
	s.logs.write(component, b.Bytes())
}

func writeKV(b *bytes.Buffer, kv []any) {
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(b, " %v=", kv[i])
		switch v := kv[i+1].(type) {
		case string:
			fmt.Fprintf(b, "%q", v)
		case error:
			fmt.Fprintf(b, "%q", v.Error())
		case fmt.Stringer:
			fmt.Fprintf(b, "%q", safeString(v))
		default:
			fmt.Fprintf(b, "%+v", v)
		}
	}
	if len(kv)%2 == 1 {
		fmt.Fprintf(b, " %v=<missing>", kv[len(kv)-1])
	}
}

// safeString guards against Stringers that panic on nil receivers, which
// klog's own serializer also tolerates.
func safeString(v fmt.Stringer) (s string) {
	defer func() {
		if recover() != nil {
			s = "<panic>"
		}
	}()
	return v.String()
}

// callerFile finds the first stack frame outside the logging plumbing.
func callerFile() string {
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !isPlumbing(f.File) {
			return f.File
		}
		if !more {
			return ""
		}
	}
}

func isPlumbing(file string) bool {
	return strings.Contains(file, "/k8s.io/klog/") ||
		strings.Contains(file, "/go-logr/") ||
		strings.Contains(file, "/components/logs/") ||
		strings.Contains(file, "/k8s.io/component-base/logs/") ||
		strings.HasSuffix(file, "/log/log.go")
}

// packageTags maps a source path fragment to the component that owns it.
// Staging modules come first: their paths can contain the same
// subdirectories as k8s.io/kubernetes (apiextensions-apiserver has a
// pkg/controller/ of its own, run by the apiserver).
var packageTags = []struct{ fragment, component string }{
	{"/k8s.io/apiserver@", "apiserver"},
	{"/k8s.io/kube-aggregator@", "apiserver"},
	{"/k8s.io/apiextensions-apiserver@", "apiserver"},
	{"/k8s.io/pod-security-admission@", "apiserver"},
	{"/k8s.io/kube-scheduler@", "scheduler"},
	{"/k8s.io/kubelet@", "kubelet"},
	{"/k8s.io/cri-client@", "kubelet"},
	{"/k8s.io/mount-utils@", "kubelet"},
	{"/k8s.io/controller-manager@", "controller-manager"},
	{"/k8s.io/cloud-provider@", "controller-manager"},
	{"/k8s.io/endpointslice@", "controller-manager"},
	{"/k8s.io/client-go@", "client-go"},
	{"/go.etcd.io/", "etcd"},
	{"/pkg/scheduler/", "scheduler"},
	{"/cmd/kube-scheduler/", "scheduler"},
	{"/pkg/kubelet/", "kubelet"},
	{"/cmd/kubelet/", "kubelet"},
	{"/pkg/kubemark/", "kubelet"},
	{"/pkg/volume/", "kubelet"},
	{"/pkg/proxy/", "kube-proxy"},
	{"/cmd/kube-proxy/", "kube-proxy"},
	{"/pkg/controller/", "controller-manager"},
	{"/cmd/kube-controller-manager/", "controller-manager"},
	{"/cmd/kube-apiserver/", "apiserver"},
	{"/pkg/controlplane/", "apiserver"},
	{"/pkg/registry/", "apiserver"},
	{"/pkg/kubeapiserver/", "apiserver"},
	{"/plugin/pkg/", "apiserver"},
	{"/components/simruntime/", "runtime"},
}

// ComponentOf names the component that owns a source file.
func ComponentOf(file string) string {
	for _, t := range packageTags {
		if strings.Contains(file, t.fragment) {
			return t.component
		}
	}
	return "wheelhouse"
}
