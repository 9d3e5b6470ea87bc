package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Version is the containerd release Wheelhouse is tested with, and the one
// the install hint builds. containerd 2.x is required: Debian's 1.6 lacks
// the CRI RuntimeConfig call that kubelet v1.37 makes (and will require
// from v1.38), and the settings Wheelhouse writes are config version 3.
const Version = "v2.4.2"

// CNIBinDir is where Debian's containernetworking-plugins installs the
// plugins.
const CNIBinDir = "/usr/lib/cni"

// InstallHint tells how to install everything a containerd node needs on
// Debian (or Ubuntu).
const InstallHint = `Install what containerd nodes need (Debian or Ubuntu, as root):
  apt-get install runc containernetworking-plugins iptables busybox-static
  GOBIN=/usr/local/bin go install \
    github.com/containerd/containerd/v2/cmd/containerd@` + Version + ` \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@` + Version + `
(Debian's own containerd package is 1.6 or 1.7; Wheelhouse needs containerd 2.x,
which builds with Go 1.26 from the Go module proxy in a few minutes.)`

// Host is what the checks look at; tests replace parts of it.
type Host struct {
	Euid     int
	LookPath func(string) (string, error)
	// CNIBinDir defaults to CNIBinDir.
	CNIBinDir string
}

// ThisHost is the machine Wheelhouse runs on.
func ThisHost() Host {
	return Host{Euid: os.Geteuid(), LookPath: exec.LookPath, CNIBinDir: CNIBinDir}
}

// RequirementsError lists everything missing, with how to install it.
type RequirementsError struct{ Missing []string }

func (e *RequirementsError) Error() string {
	var b strings.Builder
	b.WriteString("--runtime containerd cannot start on this machine:\n")
	for _, m := range e.Missing {
		b.WriteString("  - " + m + "\n")
	}
	b.WriteString(InstallHint)
	return b.String()
}

// Check reports, in one error, everything this host lacks to run
// containerd nodes that Wheelhouse starts itself: root, containerd 2.x
// and its runc shim, runc, the CNI plugins and iptables. It returns the
// containerd binary to run.
func (h Host) Check(ctx context.Context) (binary string, err error) {
	var missing []string
	if h.Euid != 0 {
		missing = append(missing, "Wheelhouse is not running as root: containerd, runc and the pod network need root (run it with sudo)")
	}
	binary, err = h.LookPath("containerd")
	if err != nil {
		missing = append(missing, "no containerd binary in $PATH")
	} else if v, err := binaryVersion(ctx, binary); err != nil {
		missing = append(missing, fmt.Sprintf("%s does not run: %v", binary, err))
	} else if major(v) < 2 {
		missing = append(missing, fmt.Sprintf("%s is containerd %s; containerd 2.x is needed", binary, v))
	}
	if binary != "" {
		// containerd looks for its shim next to itself first.
		if _, err := os.Stat(filepath.Join(filepath.Dir(binary), "containerd-shim-runc-v2")); err != nil {
			if _, err := h.LookPath("containerd-shim-runc-v2"); err != nil {
				missing = append(missing, "no containerd-shim-runc-v2 next to containerd or in $PATH")
			}
		}
	}
	if _, err := h.LookPath("runc"); err != nil {
		missing = append(missing, "no runc in $PATH (Debian package runc)")
	}
	if _, err := h.LookPath("iptables"); err != nil {
		missing = append(missing, "no iptables in $PATH (Debian package iptables; the bridge plugin masquerades pod traffic with it)")
	}
	dir := h.CNIBinDir
	if dir == "" {
		dir = CNIBinDir
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			missing = append(missing, fmt.Sprintf("no CNI plugin %s in %s (Debian package containernetworking-plugins)", p, dir))
			break
		}
	}
	if len(missing) > 0 {
		return "", &RequirementsError{Missing: missing}
	}
	return binary, nil
}

// CheckExternal checks what a node needs to use an already running
// containerd at address: root (its socket is root's) and a socket that
// answers.
func (h Host) CheckExternal(ctx context.Context, address string) error {
	var missing []string
	if h.Euid != 0 {
		missing = append(missing, "Wheelhouse is not running as root: containerd's socket and the pod network need root (run it with sudo)")
	}
	if fi, err := os.Stat(address); err != nil {
		missing = append(missing, fmt.Sprintf("no containerd socket at %s (is containerd running?)", address))
	} else if fi.Mode()&os.ModeSocket == 0 {
		missing = append(missing, fmt.Sprintf("%s is not a socket", address))
	} else if h.Euid == 0 {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := Connect(ctx, address)
		if err != nil {
			missing = append(missing, fmt.Sprintf("the containerd socket %s does not answer: %v", address, err))
		} else {
			c.Close()
		}
	}
	if len(missing) > 0 {
		return &RequirementsError{Missing: missing}
	}
	return nil
}

var versionRE = regexp.MustCompile(`\bv?(\d+)\.(\d+)\.(\d+)`)

// binaryVersion runs `containerd --version`.
func binaryVersion(ctx context.Context, binary string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	// "containerd github.com/containerd/containerd/v2 2.4.2+unknown …"
	fields := strings.Fields(string(out))
	for _, f := range fields[min(2, len(fields)):] {
		if m := versionRE.FindString(f); m != "" {
			return strings.TrimPrefix(m, "v"), nil
		}
	}
	return "", fmt.Errorf("no version in %q", strings.TrimSpace(string(out)))
}

func major(v string) int {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
