// Package unixsocket holds what every component that serves on a unix
// socket needs before it listens: the path limit, and removing a socket a
// crashed run left behind without taking one that is still served.
package unixsocket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"
)

// MaxPathLen is the longest path a unix socket may have on Linux
// (sun_path is 108 bytes, with the terminating NUL).
const MaxPathLen = 107

// RemoveStale removes a socket left by a previous run, but refuses to
// remove a regular file or a socket someone is still serving on.
func RemoveStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	var d net.Dialer
	if conn, err := d.DialContext(dctx, "unix", path); err == nil {
		_ = conn.Close()
		return fmt.Errorf("%s is in use by another server", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
}
