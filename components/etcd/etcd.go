// Package etcd runs the cluster's datastore: a real etcd server embedded in
// the process through go.etcd.io/etcd/server/v3/embed, listening on
// loopback only, with its data under the Wheelhouse data directory so the
// cluster's objects survive a restart.
//
// It is set up as kubeadm sets up etcd: TLS on the client and peer ports,
// and only clients that present a certificate of the etcd CA are served
// (--client-cert-auth), so the apiserver, Wheelhouse's read-only watcher
// and the learner's etcdctl reach it and nothing else does. Without that,
// etcd's HTTP gateway would let any web page the learner opens read and
// write every object, Secrets included, past Kubernetes' authentication
// and RBAC.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"

	"github.com/wheelhouse-k8s/wheelhouse/components/component"
)

// Config is what the cluster decides about etcd.
type Config struct {
	// Name is the member's name (default "wheelhouse").
	Name string
	// DataDir holds etcd's member directory (WAL and snapshots).
	DataDir string
	// ClientPort and PeerPort are bound on 127.0.0.1.
	ClientPort int
	PeerPort   int
	// TrustedCAFile is the etcd CA: clients and peers must present a
	// certificate it signed.
	TrustedCAFile string
	// CertFile and KeyFile serve clients; PeerCertFile and PeerKeyFile
	// serve (and dial) the other members.
	CertFile, KeyFile         string
	PeerCertFile, PeerKeyFile string
	// LogFile receives etcd's own (zap) log.
	LogFile string
	// Verbose logs at info level instead of warnings only.
	Verbose bool
	// ReadyTimeout bounds the wait for the member to serve.
	ReadyTimeout time.Duration
	// InitialCluster, for a member of a cluster of several, names every
	// member and its peer URL ("cp-1=https://127.0.0.1:2380,cp-2=…"), as
	// etcd's --initial-cluster. It is read only when the member's data
	// directory is new; empty means a cluster of this member alone.
	InitialCluster string
	// ServerOptions are added to the member's gRPC server (the trace's
	// interceptor, which hears who wrote each revision).
	ServerOptions []grpc.ServerOption
	// Turn, shared by the members of one cluster, makes their starts take
	// turns until each serves its peer port (their waits for a quorum
	// still overlap). A new member first asks every peer whether it has
	// already been bootstrapped, with a fixed 1 s timeout per peer that
	// embed does not expose. A peer that is itself starting has its peer
	// port open but not yet served, so the question hangs for the whole
	// second: three members started at once lose 2 s each. In turns,
	// every peer asked either serves or refuses the connection at once.
	Turn *sync.Mutex
}

// Server is a running etcd member.
type Server struct {
	etcd *embed.Etcd
	url  string
	done chan struct{}
	err  error
}

// Start launches etcd and returns once it serves clients. The member runs
// until ctx ends (then it flushes its data and closes) or fails.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.TrustedCAFile == "" || cfg.CertFile == "" || cfg.PeerCertFile == "" {
		return nil, fmt.Errorf("etcd needs its CA, serving and peer certificates (it serves only TLS clients with certificates)")
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	if ec.Name == "" {
		ec.Name = "wheelhouse"
	}
	ec.Dir = filepath.Clean(cfg.DataDir)
	client := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", cfg.ClientPort)}
	peer := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", cfg.PeerPort)}
	ec.ClientTLSInfo = transport.TLSInfo{
		CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
		TrustedCAFile: cfg.TrustedCAFile, ClientCertAuth: true,
	}
	ec.PeerTLSInfo = transport.TLSInfo{
		CertFile: cfg.PeerCertFile, KeyFile: cfg.PeerKeyFile,
		TrustedCAFile: cfg.TrustedCAFile, ClientCertAuth: true,
	}
	// etcd answers every origin by default (CORS "*", and an empty list
	// means the same). No web page is a client of this etcd, so the one
	// origin allowed is one no page can have: .invalid is reserved (RFC
	// 2606) and never resolves.
	ec.CORS = map[string]struct{}{"https://no-web-page-may-read-etcd.invalid": {}}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
		// The same token for every member: a member of another cluster
		// made from the same list cannot join this one by mistake.
		ec.InitialClusterToken = "wheelhouse"
	}
	// The metrics and pprof listeners would be more ports to collide with.
	ec.ListenMetricsUrls = nil
	ec.LogOutputs = []string{cfg.LogFile}
	ec.LogLevel = "warn"
	if cfg.Verbose {
		ec.LogLevel = "info"
	}
	// A single-member cluster on one machine: keep history bounded the way
	// kube-apiserver expects (it compacts every 5 minutes itself), and let
	// etcd's own compaction catch anything older.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	// Revisions must be delivered to watchers promptly for the trace to
	// feel live; progress notifications keep idle watches confirmed.
	ec.WatchProgressNotifyInterval = 5 * time.Second

	ec.GRPCAdditionalServerOptions = cfg.ServerOptions
	if cfg.Turn != nil {
		cfg.Turn.Lock()
	}
	// StartEtcd returns once the member serves its peer and client ports.
	e, err := embed.StartEtcd(ec)
	if cfg.Turn != nil {
		cfg.Turn.Unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("starting etcd in %s: %w", cfg.DataDir, err)
	}
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(timeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd was not ready after %s (see %s)", timeout, cfg.LogFile)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	s := &Server{etcd: e, url: client.String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		select {
		case <-ctx.Done():
			if component.Killed(ctx) {
				// A killed member hands nothing over: its Raft stops
				// at once, and the others notice the leader gone and
				// elect a new one.
				e.Server.HardStop()
			} else {
				// Asked to stop, a leader transfers its leadership, as
				// etcd does on SIGTERM; here first, not after Close has
				// given open client streams up to 7 s to end, so the
				// cluster has its new leader at once.
				_ = e.Server.TryTransferLeadershipOnShutdown()
			}
		case err := <-e.Err():
			s.err = err
		case <-e.Server.StopNotify():
			s.err = errors.New("etcd's server stopped on its own")
		}
		e.Close()
	}()
	return s, nil
}

// Endpoint is the client URL (https://127.0.0.1:port), for
// kube-apiserver's --etcd-servers.
func (s *Server) Endpoint() string { return s.url }

// Done is closed when the member has stopped and closed its data.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the member stopped, if it failed.
func (s *Server) Err() error { return s.err }
