package logs

import (
	"context"
	"errors"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/components/component"
)

func TestComponentLoggerWritesItsOwnFile(t *testing.T) {
	l, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := l.Logger("kubelet/node-1").WithName("status").WithValues("node", "node-1")
	log.Info("Node became ready", "pods", 3)
	log.Error(errors.New("boom"), "sync failed")
	log.V(4).Info("too chatty") // above the default verbosity

	data, err := os.ReadFile(l.Path("kubelet/node-1"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{`status: Node became ready node="node-1" pods=3`, `E `, `err="boom"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "too chatty") {
		t.Errorf("V(4) line written at verbosity 0:\n%s", got)
	}
	if !strings.HasSuffix(l.Path("kubelet/node-1"), "kubelet-node-1.log") {
		t.Errorf("unexpected path %s", l.Path("kubelet/node-1"))
	}
}

func TestGlobalKlogIsTaggedByCaller(t *testing.T) {
	var term strings.Builder
	l, err := New(Options{Dir: t.TempDir(), Terminal: &term})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	restore := l.Install()
	defer restore()
	klog.InfoS("hello from a test")
	klog.Flush()
	// This file is under components/logs, which is plumbing, so the first
	// frame outside it is the testing package: "wheelhouse".
	if !strings.Contains(term.String(), "[wheelhouse] I ") || !strings.Contains(term.String(), "hello from a test") {
		t.Fatalf("terminal got %q", term.String())
	}
}

func TestComponentOf(t *testing.T) {
	for file, want := range map[string]string{
		"/root/go/pkg/mod/k8s.io/kubernetes@v1.37.2/pkg/scheduler/schedule_one.go":        "scheduler",
		"/root/go/pkg/mod/k8s.io/kubernetes@v1.37.2/pkg/kubelet/kubelet.go":               "kubelet",
		"/root/go/pkg/mod/k8s.io/kubernetes@v1.37.2/pkg/controller/replicaset/replica.go": "controller-manager",
		"/root/go/pkg/mod/k8s.io/apiserver@v0.37.2/pkg/server/genericapiserver.go":        "apiserver",
		"/root/go/pkg/mod/k8s.io/kubernetes@v1.37.2/pkg/proxy/kubemark/hollow_proxy.go":   "kube-proxy",
		"/root/go/pkg/mod/k8s.io/client-go@v0.37.2/tools/cache/reflector.go":              "client-go",
		"/work/main/cmd/wheelhouse/main.go":                                               "wheelhouse",
	} {
		if got := ComponentOf(file); got != want {
			t.Errorf("ComponentOf(%s) = %q, want %q", file, got, want)
		}
	}
}

// klog.Fatal in a component's goroutine ends that goroutine, not the
// process, and is reported with the component's label.
func TestFatalEndsOnlyTheGoroutine(t *testing.T) {
	got := make(chan [2]string, 1)
	l, err := New(Options{Dir: t.TempDir(), OnFatal: func(component, message string) { got <- [2]string{component, message} }})
	if err != nil {
		t.Fatal(err)
	}
	restore := l.Install()
	defer restore()
	defer l.Close()
	ended := make(chan struct{})
	pprof.Do(context.Background(), pprof.Labels(component.Label, "kubelet/node-7"), func(context.Context) {
		go func() {
			defer close(ended) // deferred calls run
			klog.Fatalf("Failed to initialize CSINode after retrying: %v", "boom")
			t.Error("klog.Fatalf returned")
		}()
	})
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine that called klog.Fatalf did not end")
	}
	r := <-got
	if r[0] != "kubelet/node-7" || !strings.Contains(r[1], "TestFatalEndsOnlyTheGoroutine") {
		t.Errorf("reported %q %q; want the component's label and the caller", r[0], r[1])
	}
	b, _ := os.ReadFile(l.Path("kubelet/node-7"))
	if !strings.Contains(string(b), "Wheelhouse ended only that goroutine") {
		t.Errorf("the component's log does not say what happened:\n%s", b)
	}
}
