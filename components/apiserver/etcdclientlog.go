package apiserver

import (
	"bytes"
	"sync"
	_ "unsafe" // for go:linkname

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	_ "k8s.io/apiserver/pkg/storage/storagebackend/factory" // the logger replaced below
)

// The apiserver's etcd client logs through a zap logger that
// k8s.io/apiserver's storage factory builds in its init() and keeps in a
// package variable, writing JSON to the process's stderr at info level.
// That is package-level state Kubernetes forces on us, shared by every
// apiserver of the process: with an etcd member stopped in class, each
// retry of each client would print a line on the learner's terminal. The
// variable is pointed at Wheelhouse's component logs instead (warnings and
// worse, as the apiserver log of the cluster), and put back when the
// cluster stops.
//
//go:linkname etcd3ClientLogger k8s.io/apiserver/pkg/storage/storagebackend/factory.etcd3ClientLogger
var etcd3ClientLogger *zap.Logger

var etcdClientLogMu sync.Mutex

// RouteEtcdClientLog sends the etcd client's log of every apiserver in
// the process to logger, until restore is called. Call it before an
// apiserver starts: a client made earlier keeps the logger it was given.
func RouteEtcdClientLog(logger logr.Logger) (restore func()) {
	etcdClientLogMu.Lock()
	defer etcdClientLogMu.Unlock()
	old := etcd3ClientLogger
	enc := zapcore.EncoderConfig{MessageKey: "msg", NameKey: "logger", CallerKey: "caller", EncodeCaller: zapcore.ShortCallerEncoder, ConsoleSeparator: " "}
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(logrWriter{logger}), zapcore.WarnLevel)
	etcd3ClientLogger = zap.New(core).Named("etcd-client")
	return func() {
		etcdClientLogMu.Lock()
		defer etcdClientLogMu.Unlock()
		etcd3ClientLogger = old
	}
}

// logrWriter writes each line zap encodes as one log entry.
type logrWriter struct{ logger logr.Logger }

func (w logrWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			w.logger.Info(string(line))
		}
	}
	return len(p), nil
}
