package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wheelhouse-k8s/wheelhouse/components/kubectl"
)

// newAdminToken makes the secret that guards the browser terminal and
// component control, printed with the UI address as Jupyter does.
func newAdminToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the admin token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeUIInfo leaves the UI's address and token where `wheelhouse
// component` finds them; only this user can read it.
func writeUIInfo(dataDir string, info uiInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	path := uiInfoPath(dataDir)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// shellWorkspace is where the browser terminal's shell (and a lab's
// solution script) runs: a home directory of its own under the data dir,
// and a bin directory whose kubectl and wheelhouse run this binary, so
// that `kubectl` in the terminal is Wheelhouse's embedded kubectl even on
// a machine that has another one, or none.
type shellWorkspace struct {
	Home, Bin string
	Env       []string // to add to the environment
}

func prepareShellWorkspace(dataDir, kubeconfig string) (shellWorkspace, error) {
	ws := shellWorkspace{Home: filepath.Join(dataDir, "home"), Bin: filepath.Join(dataDir, "bin")}
	exe, err := os.Executable()
	if err != nil {
		return ws, fmt.Errorf("finding this program's path for the terminal's kubectl: %w", err)
	}
	for _, d := range []string{ws.Home, ws.Bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return ws, fmt.Errorf("preparing the terminal's %s: %w", d, err)
		}
	}
	scripts := map[string]string{
		"kubectl": fmt.Sprintf("#!/bin/sh\n# Wheelhouse's embedded kubectl, in kubectl's own kubeconfig order.\nexport %s=1\nexec %s kubectl \"$@\"\n",
			kubectl.UsesHomeEnv, shellQuote(exe)),
		"wheelhouse": fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", shellQuote(exe)),
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(ws.Bin, name), []byte(body), 0o755); err != nil {
			return ws, fmt.Errorf("writing the terminal's %s: %w", name, err)
		}
	}
	ws.Env = []string{
		"KUBECONFIG=" + kubeconfig,
		"PATH=" + ws.Bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + ws.Home,
		"WHEELHOUSE_DATA_DIR=" + dataDir,
		"TERM=xterm-256color",
	}
	return ws, nil
}

// shellQuote quotes s for sh, single quotes and all.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
