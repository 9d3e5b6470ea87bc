package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dataDirLock keeps two Wheelhouse processes from sharing one data
// directory (two etcds on one member directory would corrupt it). It is an
// flock, so a crashed process never leaves a stale lock behind.
type dataDirLock struct{ f *os.File }

// ErrDataDirInUse is returned when another process holds the data dir.
var ErrDataDirInUse = errors.New("data directory in use")

func lockDataDir(dir string) (*dataDirLock, error) {
	path := filepath.Join(dir, "wheelhouse.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(owner))
		if _, perr := strconv.Atoi(pid); perr != nil {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w: another Wheelhouse (pid %s) is already running on %s; stop it first or pass another --data-dir", ErrDataDirInUse, pid, dir)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dataDirLock{f: f}, nil
}

func (l *dataDirLock) release() {
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
