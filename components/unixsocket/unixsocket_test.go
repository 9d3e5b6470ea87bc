package unixsocket

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()

	if err := RemoveStale(ctx, filepath.Join(dir, "absent.sock")); err != nil {
		t.Errorf("absent socket: %v", err)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStale(ctx, file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: err = %v, want a refusal", err)
	}

	served := filepath.Join(dir, "served.sock")
	l, err := net.Listen("unix", served)
	if err != nil {
		t.Fatal(err)
	}
	if err := RemoveStale(ctx, served); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("served socket: err = %v, want a refusal", err)
	}
	if _, err := os.Lstat(served); err != nil {
		t.Errorf("a served socket was removed: %v", err)
	}

	// A socket whose server is gone (closing the listener without
	// unlinking, as a crash would leave it).
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	if err := RemoveStale(ctx, stale); err != nil {
		t.Errorf("stale socket: %v", err)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale socket is still there: %v", err)
	}
	l.Close()
}
