package collect

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wheelhouse-k8s/wheelhouse/tracing/redact"
)

// EtcdBrowser lets the UI read etcd's keyspace: keys under a prefix, and a
// key's decoded value with its recent revisions. It only reads.
type EtcdBrowser struct{ e *Etcd }

// Browser returns the etcd browser of this tracer.
func (t *Tracer) Browser() EtcdBrowser { return EtcdBrowser{e: t.Etcd} }

// maxKeys bounds one listing; a learner's cluster has a few thousand keys.
const maxKeys = 10000

// KeyInfo is one key in a listing.
type KeyInfo struct {
	Key            string `json:"key"`
	Revision       int64  `json:"revision"`
	CreateRevision int64  `json:"createRevision"`
	Version        int64  `json:"version"`
}

func (b EtcdBrowser) client() (*clientv3.Client, error) {
	b.e.mu.Lock()
	defer b.e.mu.Unlock()
	if b.e.client == nil {
		return nil, errors.New("the etcd collector is not connected")
	}
	return b.e.client, nil
}

// Keys lists the keys under prefix (keys only, no values).
func (b EtcdBrowser) Keys(ctx context.Context, prefix string) (any, error) {
	cli, err := b.client()
	if err != nil {
		return nil, err
	}
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(maxKeys),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("listing etcd keys under %s: %w", prefix, err)
	}
	keys := make([]KeyInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys = append(keys, KeyInfo{Key: string(kv.Key), Revision: kv.ModRevision, CreateRevision: kv.CreateRevision, Version: kv.Version})
	}
	return map[string]any{"keys": keys, "revision": resp.Header.Revision, "more": resp.More}, nil
}

// historyDepth is how many earlier revisions of a key are listed.
const historyDepth = 20

// Value returns key's value at rev (0: the current one), decoded, and the
// revisions at which it was written before, back to its creation or to
// etcd's compaction. A Secret's values are hidden unless reveal.
func (b EtcdBrowser) Value(ctx context.Context, key string, rev int64, reveal bool) (any, error) {
	cli, err := b.client()
	if err != nil {
		return nil, err
	}
	var opts []clientv3.OpOption
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s from etcd: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s does not exist at that revision", key)
	}
	kv := resp.Kvs[0]
	value, err := b.e.decoder.ToJSON(kv.Value)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	type version struct {
		Revision int64 `json:"revision"`
	}
	history := []version{{kv.ModRevision}}
	for r := kv.ModRevision; len(history) < historyDepth && r > kv.CreateRevision; {
		prev, err := cli.Get(ctx, key, clientv3.WithRev(r-1), clientv3.WithKeysOnly())
		if err != nil || len(prev.Kvs) == 0 {
			break // compacted, or created at r
		}
		r = prev.Kvs[0].ModRevision
		history = append(history, version{r})
	}
	out := map[string]any{
		"key": key, "revision": kv.ModRevision, "createRevision": kv.CreateRevision, "version": kv.Version,
		"valueSize": len(kv.Value), "value": value, "history": history,
		"note": "read-only view: only kube-apiserver writes to etcd",
	}
	if !reveal && redact.IsSecretKey(key) {
		out["value"] = redact.Secret(value)
		out["redacted"] = redactedNote
	}
	return out, nil
}
