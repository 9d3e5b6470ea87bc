package collect

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/kdecode"
)

// ObjectDecoder turns a stored value (Kubernetes protobuf, or JSON for
// custom resources) into JSON.
type ObjectDecoder interface {
	ToJSON(raw []byte) (json.RawMessage, error)
}

// Etcd records every put and delete under /registry, by watching the whole
// keyspace the way any etcd client can: the apiserver remains the only
// writer. Values are kept (bounded) so the inspector can show what a write
// stored and what it changed.
type Etcd struct {
	sink    Sink
	decoder ObjectDecoder
	values  *ValueStore
	now     func() time.Time

	// writers hears from the members who wrote each revision; hooked
	// says whether any member reports (see ServerOptions).
	writers *writers
	hooked  atomic.Bool
	// missed is the last revision no member reported (read by the watch
	// loop only): a lease revoked with many keys deletes them all at one
	// revision, and only the first of those deletes waits.
	missed int64

	mu     sync.Mutex
	client *clientv3.Client
	leader string // see Leader
}

// NewEtcd returns the etcd collector.
func NewEtcd(sink Sink, decoder ObjectDecoder, values *ValueStore) *Etcd {
	return &Etcd{sink: sink, decoder: decoder, values: values, now: time.Now, writers: newWriters()}
}

// registryPrefix is where kube-apiserver keeps every object.
const registryPrefix = "/registry/"

// Run watches etcd at endpoints from its current revision until ctx ends;
// tlsConfig holds the client certificate etcd requires. A compaction that
// overtakes the watch resumes it from the oldest revision still available,
// with a marker saying what was missed.
func (e *Etcd) Run(ctx context.Context, endpoints []string, tlsConfig *tls.Config) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tlsConfig,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		Context:     ctx,
	})
	if err != nil {
		return fmt.Errorf("connecting the etcd collector to %v: %w", endpoints, err)
	}
	defer cli.Close()
	e.mu.Lock()
	e.client = cli
	e.mu.Unlock()

	resp, err := cli.Get(ctx, registryPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("reading etcd's revision: %w", err)
	}
	next := resp.Header.Revision + 1
	go e.followLeader(ctx, cli, endpoints)
	for ctx.Err() == nil {
		next = e.watch(ctx, cli, next)
	}
	return nil
}

// watch follows the keyspace from revision rev and returns the revision to
// resume from when the watch ends.
func (e *Etcd) watch(ctx context.Context, cli *clientv3.Client, rev int64) int64 {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range cli.Watch(wctx, registryPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithPrevKV()) {
		if wr.CompactRevision != 0 {
			e.sink.Submit(tracing.Event{
				Time: e.now(), Kind: tracing.KindDropped, From: tracing.Etcd,
				Summary: fmt.Sprintf("etcd compacted revisions %d–%d before the tracer read them", rev, wr.CompactRevision-1),
				Detail:  map[string]any{"count": wr.CompactRevision - rev, "fromRevision": rev, "toRevision": wr.CompactRevision - 1},
			})
			return wr.CompactRevision
		}
		if err := wr.Err(); err != nil {
			if ctx.Err() == nil {
				klog.FromContext(ctx).Error(err, "etcd collector's watch failed; resuming", "revision", rev)
				time.Sleep(200 * time.Millisecond)
			}
			return rev
		}
		for _, ev := range wr.Events {
			e.record(ctx, ev)
			rev = ev.Kv.ModRevision + 1
		}
	}
	return rev
}

// writerWait bounds how long a watched write waits for its member's
// report (see writers.await); a report comes within a millisecond or so.
const writerWait = 150 * time.Millisecond

func (e *Etcd) record(ctx context.Context, ev *clientv3.Event) {
	key := string(ev.Kv.Key)
	revision := ev.Kv.ModRevision
	var wr writer
	found := false
	if e.hooked.Load() && revision != e.missed {
		if wr, found = e.writers.await(ctx, revision, writerWait); !found {
			e.missed = revision
		}
	}
	leaseExpiry := !found && ev.Type == clientv3.EventTypeDelete && ev.PrevKv != nil && ev.PrevKv.Lease != 0
	from, to := writerComponents(wr, found, leaseExpiry)
	out := tracing.Event{
		Time:   e.now(),
		Kind:   tracing.KindEtcd,
		From:   from,
		To:     to,
		RV:     fmt.Sprint(revision),
		Detail: map[string]any{"key": key, "revision": revision},
	}
	if found {
		out.Detail["member"] = wr.member
	}
	// The Raft leader when the write was read: a member that is not the
	// leader forwarded the write to it, and the leader replicated it to
	// the others.
	if leader := e.Leader(); leader != "" {
		out.Detail["leader"] = leader
	}
	if resource, ns, name, ok := kdecode.ParseRegistryKey(key); ok {
		out.Resource, out.Namespace, out.Name = resource, ns, name
	}
	var prevRev int64
	if ev.PrevKv != nil {
		prevRev = ev.PrevKv.ModRevision
	}
	out.Detail["prevRevision"] = prevRev
	if ev.Type == clientv3.EventTypeDelete {
		out.Verb, out.Status = "delete", "delete"
	} else {
		out.Verb, out.Status = "put", "put"
		out.Detail["valueSize"] = len(ev.Kv.Value)
		if ev.Kv.Lease != 0 {
			out.Detail["leaseId"] = fmt.Sprintf("%x", ev.Kv.Lease)
		}
		e.values.Put(revision, key, ev.Kv.Value)
	}
	out.Summary = fmt.Sprintf("%s → %s: %s %s (rev %d)", from, to, out.Verb, key, revision)
	if leaseExpiry {
		out.Summary = fmt.Sprintf("etcd deleted %s with its lease, which expired or was revoked (rev %d)", key, revision)
	}
	e.sink.Submit(out)
	if out.Resource == "nodes" && out.Name != "" {
		e.nodeTransition(out.Name, ev)
	}
	if out.Resource == "leases" && out.Namespace == "kube-system" {
		e.leaseTransition(out.Name, ev)
	}
}

// nodeTransition reports a node turning Ready or NotReady, read from the
// writes of its status.
func (e *Etcd) nodeTransition(node string, ev *clientv3.Event) {
	was, now := "", ""
	if ev.PrevKv != nil {
		was = e.readyOf(ev.PrevKv.Value)
	}
	if ev.Type != clientv3.EventTypeDelete {
		now = e.readyOf(ev.Kv.Value)
	}
	if now == was || now == "" {
		return
	}
	verb, msg := "NodeNotReady", fmt.Sprintf("node %s is NotReady", node)
	if now == "True" {
		verb, msg = "NodeReady", fmt.Sprintf("node %s is Ready", node)
	}
	e.sink.Submit(tracing.Event{
		Time: e.now(), Kind: tracing.KindLifecycle, From: tracing.NodeComponent(tracing.Kubelet, node),
		Verb: verb, Resource: "nodes", Name: node, RV: fmt.Sprint(ev.Kv.ModRevision), Summary: msg,
		Detail: map[string]any{"component": tracing.NodeComponent(tracing.Kubelet, node), "node": node, "message": msg},
	})
}

func (e *Etcd) readyOf(raw []byte) string {
	js, err := e.decoder.ToJSON(raw)
	if err != nil {
		return ""
	}
	var n struct {
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	}
	if json.Unmarshal(js, &n) != nil {
		return ""
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status
		}
	}
	return ""
}

// Value returns the value key had at revision rev, decoded to JSON: from
// the tracer's own store, or else from etcd's history (until etcd compacts
// it).
func (e *Etcd) Value(ctx context.Context, key string, rev int64) (json.RawMessage, error) {
	raw, ok := e.values.Get(rev, key)
	if !ok {
		e.mu.Lock()
		cli := e.client
		e.mu.Unlock()
		if cli == nil {
			return nil, errors.New("the etcd collector is not connected")
		}
		resp, err := cli.Get(ctx, key, clientv3.WithRev(rev))
		if err != nil {
			return nil, fmt.Errorf("reading %s at revision %d from etcd: %w", key, rev, err)
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].ModRevision != rev {
			return nil, fmt.Errorf("%s at revision %d is no longer available", key, rev)
		}
		raw = resp.Kvs[0].Value
	}
	return e.decoder.ToJSON(raw)
}

// ValueStore keeps recent etcd values by revision, up to a byte budget,
// oldest dropped first.
type ValueStore struct {
	mu     sync.Mutex
	budget int
	size   int
	byRev  map[int64]storedValue
	order  []int64
}

type storedValue struct {
	key   string
	value []byte
}

// NewValueStore keeps at most budget bytes of values.
func NewValueStore(budget int) *ValueStore {
	return &ValueStore{budget: budget, byRev: map[int64]storedValue{}}
}

// Put stores key's value at rev.
func (s *ValueStore) Put(rev int64, key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byRev[rev] = storedValue{key: key, value: value}
	s.order = append(s.order, rev)
	s.size += len(value)
	for s.size > s.budget && len(s.order) > 0 {
		old := s.order[0]
		s.order = s.order[1:]
		s.size -= len(s.byRev[old].value)
		delete(s.byRev, old)
	}
}

// Get returns the value stored for key at rev.
func (s *ValueStore) Get(rev int64, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byRev[rev]
	if !ok || v.key != key {
		return nil, false
	}
	return v.value, true
}
