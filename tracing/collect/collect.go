// Package collect holds the tracing layer's collectors: the apiserver
// filters that record requests and the watch events written to each
// watcher, the etcd watch that records every write, and the gRPC
// interceptors that record CRI calls. Each turns what it sees into
// tracing.Events and hands them to the linker; none of them ever blocks the
// component it observes.
package collect

import (
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/link"
)

// Sink receives what the collectors see (the linker).
type Sink interface {
	Submit(tracing.Event)
	SubmitHTTP(ev tracing.Event, requestID uint64)
	BeginWrite(link.WriteBegin)
	NextRequestID() uint64
}

var _ Sink = (*link.Linker)(nil)
