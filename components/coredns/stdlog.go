package coredns

import (
	"bytes"
	"log"
	"sync"

	"github.com/go-logr/logr"
)

// routeStandardLog sends the standard library's logger, which CoreDNS's
// plugins log through ("[INFO] plugin/kubernetes: …"), to logger. The
// standard logger is one per process: every CoreDNS of the process
// shares it, so their lines go to one log (component "coredns"), not
// their containers'. Nothing else in Wheelhouse logs through it.
func routeStandardLog(logger logr.Logger) {
	log.SetFlags(0)
	log.SetOutput(&lineWriter{log: logger})
}

// lineWriter turns written lines into log entries.
type lineWriter struct {
	log logr.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.Info(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}
