package collect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// TestEtcdWritesSayWhoWroteThem: each write the collector reads names the
// member that served it; a transaction whose compare failed wrote nothing
// and reports nothing; a key deleted with its lease is etcd's own doing.
func TestEtcdWritesSayWhoWroteThem(t *testing.T) {
	s := &sink{}
	e := NewEtcd(s, rawDecoder{}, NewValueStore(1<<20))
	cli := startEtcd(t, e.ServerOptions("cp-2", EtcdClients{"kube-apiserver-etcd-client": "apiserver/cp-2"})...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	key := "/registry/configmaps/default/a"
	put, err := cli.Put(ctx, key, "v1")
	if err != nil {
		t.Fatal(err)
	}
	// The apiserver's update: a put guarded by the object's revision.
	// Guarded by a stale one, it fails and writes nothing.
	stale, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", put.Header.Revision-1)).Then(clientv3.OpPut(key, "no")).Else(clientv3.OpGet(key)).Commit()
	if err != nil || stale.Succeeded {
		t.Fatalf("stale txn: %v, succeeded %v", err, stale)
	}
	if _, ok := e.writers.await(ctx, stale.Header.Revision+1, 50*time.Millisecond); ok {
		t.Fatal("a failed compare reported a write")
	}
	upd, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", put.Header.Revision)).Then(clientv3.OpPut(key, "v2")).Commit()
	if err != nil || !upd.Succeeded {
		t.Fatalf("txn: %v, succeeded %v", err, upd)
	}
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"/registry/events/default/e1", "/registry/events/default/e2"} {
		if _, err := cli.Put(ctx, k, "x", clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go e.watch(wctx, cli, start.Header.Revision+1)
	want := []struct{ verb, key, from, to, member string }{
		{"put", key, "etcd", "etcd/cp-2", "cp-2"}, // no client certificate here: the member itself
		{"put", key, "etcd", "etcd/cp-2", "cp-2"},
		{"put", "/registry/events/default/e1", "etcd", "etcd/cp-2", "cp-2"},
		{"put", "/registry/events/default/e2", "etcd", "etcd/cp-2", "cp-2"},
		// Both deleted with their lease, at one revision.
		{"delete", "/registry/events/default/e1", "etcd", "etcd", ""},
		{"delete", "/registry/events/default/e2", "etcd", "etcd", ""},
		{"delete", key, "etcd", "etcd/cp-2", "cp-2"},
	}
	var got []tracing.Event
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = s.snapshot(); len(got) >= len(want) {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		ev := got[i]
		member, _ := ev.Detail["member"].(string)
		if ev.Verb != w.verb || ev.Detail["key"] != w.key || ev.From != w.from || ev.To != w.to || member != w.member {
			t.Errorf("event %d: %s %v from %s to %s member %q; want %s %s from %s to %s member %q (%s)",
				i, ev.Verb, ev.Detail["key"], ev.From, ev.To, member, w.verb, w.key, w.from, w.to, w.member, ev.Summary)
		}
	}
}

// TestEtcdClientOfCertificate: the client is named by its verified
// certificate's common name, through the map the cluster gives.
func TestEtcdClientOfCertificate(t *testing.T) {
	clients := EtcdClients{"kube-apiserver-etcd-client": "apiserver/cp-1", "etcd-admin": tracing.Etcdctl}
	withCN := func(cn string) context.Context {
		state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: cn}}}}
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
	}
	for cn, want := range map[string]string{"etcd-admin": "etcdctl", "kube-apiserver-etcd-client": "apiserver/cp-1", "someone": "someone"} {
		if got := clientOf(withCN(cn), clients); got != want {
			t.Errorf("clientOf(%s) = %q, want %q", cn, got, want)
		}
	}
	if got := clientOf(context.Background(), clients); got != "" {
		t.Errorf("without a peer: %q", got)
	}
}
