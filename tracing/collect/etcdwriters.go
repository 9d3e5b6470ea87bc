package collect

import (
	"context"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Who wrote an etcd revision. The watch the etcd collector reads says what
// changed, not which member took the request nor which client sent it; on
// an HA control plane every apiserver writes through its own machine's
// member, and the learner's etcdctl may write through any. So every
// member's gRPC server reports each write it served (its own name and the
// client certificate's common name, which etcd has verified), and the
// collector joins that to the watch by revision.

// EtcdClients maps the common name of an etcd client certificate to the
// component it stands for.
type EtcdClients map[string]string

// writer is who wrote one revision.
type writer struct {
	member string // the member's name ("cp-2"; "wheelhouse" on one machine)
	client string // the client's component id ("apiserver/cp-2", "etcdctl")
}

// writers remembers the writers of the most recent revisions.
type writers struct {
	mu      sync.Mutex
	byRev   map[int64]writer
	order   []int64 // oldest first, at most keepWriters
	changed chan struct{}
}

// keepWriters bounds the memory: the collector reads a revision within
// milliseconds of its write, far fewer than this many writes later.
const keepWriters = 4096

func newWriters() *writers {
	return &writers{byRev: map[int64]writer{}, changed: make(chan struct{})}
}

func (w *writers) add(rev int64, wr writer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.byRev[rev]; !ok {
		w.order = append(w.order, rev)
		if len(w.order) > keepWriters {
			delete(w.byRev, w.order[0])
			w.order = w.order[1:]
		}
	}
	w.byRev[rev] = wr
	close(w.changed)
	w.changed = make(chan struct{})
}

// await returns the writer of rev, waiting up to wait for the member's
// report: the member answers its client after applying the write, and the
// collector's watch may hear of it first. A revision no client wrote (a
// key deleted because its lease expired) has no writer.
func (w *writers) await(ctx context.Context, rev int64, wait time.Duration) (writer, bool) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		wr, ok := w.byRev[rev]
		changed := w.changed
		w.mu.Unlock()
		if ok {
			return wr, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return writer{}, false
		case <-ctx.Done():
			return writer{}, false
		}
	}
}

// ServerOptions are the gRPC server options of the etcd member called
// member: an interceptor that reports each write it serves. clients names
// the components behind the client certificates.
func (e *Etcd) ServerOptions(member string, clients EtcdClients) []grpc.ServerOption {
	e.hooked.Store(true)
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			if rev, ok := wroteRevision(resp); ok {
				e.writers.add(rev, writer{member: member, client: clientOf(ctx, clients)})
			}
		}
		return resp, err
	})}
}

// wroteRevision is the revision a KV response created, if it wrote: a put,
// a delete that deleted something, or a transaction whose chosen branch
// did either (the apiserver writes in transactions guarded by a compare).
func wroteRevision(resp any) (int64, bool) {
	switch r := resp.(type) {
	case *pb.PutResponse:
		return r.GetHeader().GetRevision(), true
	case *pb.DeleteRangeResponse:
		return r.GetHeader().GetRevision(), r.Deleted > 0
	case *pb.TxnResponse:
		return r.GetHeader().GetRevision(), txnWrote(r)
	}
	return 0, false
}

func txnWrote(r *pb.TxnResponse) bool {
	for _, op := range r.Responses {
		switch o := op.Response.(type) {
		case *pb.ResponseOp_ResponsePut:
			return true
		case *pb.ResponseOp_ResponseDeleteRange:
			if o.ResponseDeleteRange.Deleted > 0 {
				return true
			}
		case *pb.ResponseOp_ResponseTxn:
			if txnWrote(o.ResponseTxn) {
				return true
			}
		}
	}
	return false
}

// clientOf names the client of a request by its verified certificate.
func clientOf(ctx context.Context, clients EtcdClients) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return ""
	}
	cn := info.State.PeerCertificates[0].Subject.CommonName
	if id, ok := clients[cn]; ok {
		return id
	}
	return cn
}

// writerComponents are the from and to of an etcd write: the client and
// the member that took it. Without a writer (no member reported it), the
// key either expired with its lease, which etcd itself does, or (with no
// trace hooks in the members) was written by the one client that writes,
// the apiserver.
func writerComponents(wr writer, found, leaseExpiry bool) (from, to string) {
	switch {
	case found && wr.client != "":
		return wr.client, memberComponent(wr.member)
	case found:
		return tracing.Etcd, memberComponent(wr.member)
	case leaseExpiry:
		return tracing.Etcd, tracing.Etcd
	}
	return tracing.APIServer, tracing.Etcd
}
