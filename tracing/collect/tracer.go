package collect

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/kjson"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/link"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/redact"
)

// redactedNote tells a reader why a Secret's values are not shown.
const redactedNote = "Secret values are hidden: only a client with Wheelhouse's admin token sees them (the apiserver, too, refuses them to anyone without the right)"

// Tracer is the whole tracing layer of one run: the bus, the linker in
// front of it, and the collectors feeding the linker.
type Tracer struct {
	Bus       *bus.Bus
	Linker    *link.Linker
	APIServer *APIServer
	CRI       *CRI
	Kubelets  *KubeletAPI
	Etcd      *Etcd
	decoder   *kjson.Decoder
}

// Options size the tracer.
type Options struct {
	// Capacity is how many events the bus keeps (default 200,000).
	Capacity int
	// ValueBytes bounds the etcd values kept for the inspector (default
	// 64 MiB); older ones are read back from etcd's history.
	ValueBytes int
	// Decoder turns stored values into JSON and compares them.
	Decoder *kjson.Decoder
}

// New builds a tracer; call Run to start linking.
func New(opts Options) *Tracer {
	if opts.ValueBytes <= 0 {
		opts.ValueBytes = 64 << 20
	}
	b := bus.New(opts.Capacity)
	l := link.New(b, link.Options{})
	return &Tracer{
		Bus:       b,
		Linker:    l,
		APIServer: NewAPIServer(l),
		CRI:       NewCRI(l),
		Kubelets:  NewKubeletAPI(l),
		Etcd:      NewEtcd(l, opts.Decoder, NewValueStore(opts.ValueBytes)),
		decoder:   opts.Decoder,
	}
}

// Run links events until ctx ends.
func (t *Tracer) Run(ctx context.Context) { t.Linker.Run(ctx) }

// RuntimeServerOptions are the CRI interceptors for a node's runtime.
func (t *Tracer) RuntimeServerOptions(node string) []grpc.ServerOption {
	return t.CRI.ServerOptions(node)
}

// KubeletAPIFilter is the filter around a node's kubelet API handler,
// whose kubelet trusts clientCAs.
func (t *Tracer) KubeletAPIFilter(node string, clientCAs *x509.CertPool) func(http.Handler) http.Handler {
	return t.Kubelets.Filter(node, clientCAs)
}

// Lifecycle records a component starting, becoming ready, stopping or
// crashing.
func (t *Tracer) Lifecycle(component, verb string, err error) {
	msg := fmt.Sprintf("%s %s", component, verb)
	detail := map[string]any{"component": component, "message": msg}
	if err != nil {
		msg = fmt.Sprintf("%s %s: %v", component, verb, err)
		detail["message"] = msg
	}
	t.Linker.Submit(tracing.Event{Time: time.Now(), Kind: tracing.KindLifecycle, From: component, Verb: verb, Summary: msg, Detail: detail})
}

// Detail gives the inspector what an event does not carry: for an etcd
// write, the object it stored, the object before, and what changed. A
// Secret's values are hidden (its keys and sizes shown) unless reveal,
// which the server sets only for a client with the admin token.
func (t *Tracer) Detail(ctx context.Context, ev tracing.Event, reveal bool) (map[string]any, error) {
	if ev.Kind != tracing.KindEtcd {
		return nil, nil
	}
	key, _ := ev.Detail["key"].(string)
	rev := number(ev.Detail["revision"])
	prev := number(ev.Detail["prevRevision"])
	out := map[string]any{}
	var cur, before json.RawMessage
	var errs []error
	if ev.Verb == "put" {
		v, err := t.Etcd.Value(ctx, key, rev)
		if err != nil {
			errs = append(errs, err)
		} else {
			cur = v
			out["value"] = v
		}
	}
	if prev > 0 {
		v, err := t.Etcd.Value(ctx, key, prev)
		if err != nil {
			errs = append(errs, err)
		} else {
			before = v
			out["previous"] = v
		}
	}
	var changes []kjson.Change
	if cur != nil && before != nil {
		var err error
		if changes, err = t.decoder.Diff(before, cur); err != nil {
			errs = append(errs, err)
		} else {
			out["changes"] = changes
		}
	}
	if !reveal && redact.IsSecretKey(key) {
		hideSecret(out, changes)
	}
	return out, errors.Join(errs...)
}

// hideSecret replaces a Secret write's values in an inspector answer.
func hideSecret(out map[string]any, changes []kjson.Change) {
	for _, k := range []string{"value", "previous"} {
		if v, ok := out[k].(json.RawMessage); ok {
			out[k] = redact.Secret(v)
		}
	}
	if changes != nil {
		hidden := make([]kjson.Change, len(changes))
		for i, c := range changes {
			hidden[i] = kjson.Change{Path: c.Path, Old: redact.Value(c.Path, c.Old), New: redact.Value(c.Path, c.New)}
		}
		out["changes"] = hidden
	}
	out["redacted"] = redactedNote
}

func number(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// Net reports a connection a simulated pod opened (package podnet makes
// the event; its Cause, when known, is the exec or container that ran the
// program).
func (t *Tracer) Net(ev tracing.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	t.Linker.Submit(ev)
}

// LoadBalancerRoute reports the HA load balancer sending the client
// connection from client (its address) to the apiserver backend.
func (t *Tracer) LoadBalancerRoute(client, backend string) {
	msg := fmt.Sprintf("%s sends the connection from %s to %s", tracing.LoadBalancer, client, backend)
	t.Linker.Submit(tracing.Event{Time: time.Now(), Kind: tracing.KindLifecycle, From: tracing.LoadBalancer, To: backend, Verb: "Routed", Summary: msg,
		Detail: map[string]any{"component": tracing.LoadBalancer, "backend": backend, "client": client, "message": msg}})
}

// LoadBalancerHealth reports the HA load balancer taking an apiserver
// out (its /readyz failed) or putting it back.
func (t *Tracer) LoadBalancerHealth(backend string, healthy bool, reason string) {
	verb, msg := "BackendUp", fmt.Sprintf("%s puts %s back in: %s", tracing.LoadBalancer, backend, reason)
	if !healthy {
		verb, msg = "BackendDown", fmt.Sprintf("%s takes %s out and closes its connections: %s", tracing.LoadBalancer, backend, reason)
	}
	t.Linker.Submit(tracing.Event{Time: time.Now(), Kind: tracing.KindLifecycle, From: tracing.LoadBalancer, To: backend, Verb: verb, Summary: msg,
		Detail: map[string]any{"component": tracing.LoadBalancer, "backend": backend, "healthy": healthy, "reason": reason, "message": msg}})
}
