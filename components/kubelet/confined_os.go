package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
)

// confinedOS is the kubelet's view of the host file system. Inside the
// node's own directory it is the real thing, so pod log files, volumes and
// checkpoints exist and `kubectl logs` can read them. Outside it (the
// kubelet also manages /var/log/containers symlinks) writes are dropped:
// several simulated nodes share one host, and nothing may be written
// outside Wheelhouse's data directory.
type confinedOS struct {
	kubecontainer.RealOS
	root     string
	hostname string
}

var _ kubecontainer.OSInterface = confinedOS{}

func (c confinedOS) inside(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	return abs == c.root || strings.HasPrefix(abs, c.root+string(filepath.Separator))
}

func (c confinedOS) MkdirAll(path string, perm os.FileMode) error {
	if !c.inside(path) {
		return nil
	}
	return c.RealOS.MkdirAll(path, perm)
}

func (c confinedOS) Symlink(oldname, newname string) error {
	if !c.inside(newname) {
		return nil
	}
	return c.RealOS.Symlink(oldname, newname)
}

func (c confinedOS) Remove(path string) error {
	if !c.inside(path) {
		return nil
	}
	return c.RealOS.Remove(path)
}

func (c confinedOS) RemoveAll(path string) error {
	if !c.inside(path) {
		return nil
	}
	return c.RealOS.RemoveAll(path)
}

func (c confinedOS) Create(path string) (*os.File, error) {
	if !c.inside(path) {
		return nil, &os.PathError{Op: "create", Path: path, Err: os.ErrPermission}
	}
	return c.RealOS.Create(path)
}

func (c confinedOS) Chmod(path string, perm os.FileMode) error {
	if !c.inside(path) {
		return nil
	}
	return c.RealOS.Chmod(path, perm)
}

func (c confinedOS) Chtimes(path string, atime, mtime time.Time) error {
	if !c.inside(path) {
		return nil
	}
	return c.RealOS.Chtimes(path, atime, mtime)
}

func (c confinedOS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 && !c.inside(name) {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrPermission}
	}
	return c.RealOS.OpenFile(name, flag, perm)
}

func (c confinedOS) Rename(oldpath, newpath string) error {
	if !c.inside(oldpath) || !c.inside(newpath) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrPermission}
	}
	return c.RealOS.Rename(oldpath, newpath)
}

// Hostname is the node's name, not the host's: every simulated node is a
// machine of its own.
func (c confinedOS) Hostname() (string, error) { return c.hostname, nil }
