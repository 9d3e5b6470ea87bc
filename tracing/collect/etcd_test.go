package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/link"
)

// sink collects what a collector submits.
type sink struct {
	mu     sync.Mutex
	events []tracing.Event
}

func (s *sink) Submit(ev tracing.Event)               { s.mu.Lock(); s.events = append(s.events, ev); s.mu.Unlock() }
func (s *sink) SubmitHTTP(ev tracing.Event, _ uint64) { s.Submit(ev) }
func (s *sink) BeginWrite(link.WriteBegin)            {}
func (s *sink) NextRequestID() uint64                 { return 1 }
func (s *sink) snapshot() []tracing.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tracing.Event(nil), s.events...)
}

type rawDecoder struct{}

func (rawDecoder) ToJSON(raw []byte) (json.RawMessage, error) { return json.Marshal(string(raw)) }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startEtcd(t *testing.T, opts ...grpc.ServerOption) *clientv3.Client {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.GRPCAdditionalServerOptions = opts
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	client, peer := url.URL{Scheme: "http", Host: freeAddr(t)}, url.URL{Scheme: "http", Host: freeAddr(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{cfg.ListenClientUrls[0].String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestEtcdCollectorSurvivesCompaction: a watch that falls behind a
// compaction resumes from the oldest revision etcd still has, after one
// marker that says which revisions were missed.
func TestEtcdCollectorSurvivesCompaction(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, err := cli.Put(ctx, "/registry/configmaps/default/a", "v1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 5; i++ {
		if _, err := cli.Put(ctx, "/registry/configmaps/default/a", fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	last, err := cli.Put(ctx, "/registry/configmaps/default/b", "x")
	if err != nil {
		t.Fatal(err)
	}
	compactAt := last.Header.Revision - 1
	if _, err := cli.Compact(ctx, compactAt); err != nil {
		t.Fatal(err)
	}

	s := &sink{}
	e := NewEtcd(s, rawDecoder{}, NewValueStore(1<<20))
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	// Resume from before the compaction, as a collector that fell behind.
	next := e.watch(wctx, cli, first.Header.Revision)
	if next != compactAt {
		t.Fatalf("resumes at revision %d, want the compaction revision %d", next, compactAt)
	}
	evs := s.snapshot()
	if len(evs) != 1 || evs[0].Kind != tracing.KindDropped {
		t.Fatalf("want one dropped marker, got %+v", evs)
	}
	go e.watch(wctx, cli, next)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range s.snapshot() {
			if ev.Kind == tracing.KindEtcd && ev.Name == "b" && ev.RV == fmt.Sprint(last.Header.Revision) {
				if ev.Namespace != "default" || ev.Resource != "configmaps" || ev.Detail["key"] != "/registry/configmaps/default/b" {
					t.Fatalf("etcd event %+v", ev)
				}
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the write after the compaction was not recorded: %+v", s.snapshot())
}
