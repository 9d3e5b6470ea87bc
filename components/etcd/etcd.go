// Package etcd runs the cluster's datastore: a real etcd server embedded in
// the process through go.etcd.io/etcd/server/v3/embed, listening on
// loopback only, with its data under the Wheelhouse data directory so the
// cluster's objects survive a restart.
package etcd

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config is what the cluster decides about etcd.
type Config struct {
	// DataDir holds etcd's member directory (WAL and snapshots).
	DataDir string
	// ClientPort and PeerPort are bound on 127.0.0.1.
	ClientPort int
	PeerPort   int
	// LogFile receives etcd's own (zap) log.
	LogFile string
	// Verbose logs at info level instead of warnings only.
	Verbose bool
	// ReadyTimeout bounds the wait for the member to serve.
	ReadyTimeout time.Duration
}

// Server is a running etcd member.
type Server struct {
	etcd *embed.Etcd
	url  string
}

// Start launches etcd and returns once it serves clients.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	ec := embed.NewConfig()
	ec.Name = "wheelhouse"
	ec.Dir = filepath.Clean(cfg.DataDir)
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cfg.ClientPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cfg.PeerPort)}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
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

	e, err := embed.StartEtcd(ec)
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
	return &Server{etcd: e, url: client.String()}, nil
}

// Endpoint is the client URL, for kube-apiserver's --etcd-servers.
func (s *Server) Endpoint() string { return s.url }

// Err reports a fatal serving error.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the member, flushing its data to disk.
func (s *Server) Close() { s.etcd.Close() }
