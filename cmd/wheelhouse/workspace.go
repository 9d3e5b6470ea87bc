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
		"etcdctl": fmt.Sprintf("#!/bin/sh\n# Wheelhouse's embedded etcdctl, with the members and the etcd admin certificate preset.\nexec %s etcdctl \"$@\"\n",
			shellQuote(exe)),
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(ws.Bin, name), []byte(body), 0o755); err != nil {
			return ws, fmt.Errorf("writing the terminal's %s: %w", name, err)
		}
	}
	if err := writeShellRC(ws.Home); err != nil {
		return ws, err
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

// rcMarker starts the shell start-up files Wheelhouse writes, so it
// rewrites its own (after an upgrade) but never one the learner replaced.
const rcMarker = "# Written by Wheelhouse for the browser terminal."

// shellRCs are the terminal's start-up files: Tab completes kubectl's
// commands, resources and names, as the chapter's section on kubectl's
// autocompletion has the learner set up. bash's completion needs the
// bash-completion package; without it the shell says so once.
var shellRCs = map[string]string{
	".bashrc": rcMarker + `
# Wheelhouse rewrites this file at each start while its first line is the one
# above; change or delete that line to keep edits of your own.
PS1='\u@wheelhouse:\w\$ '
if ! declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
  for f in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
    [ -r "$f" ] && . "$f" && break
  done
fi
if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
  source <(kubectl completion bash)
else
  echo "(Tab completion of kubectl needs the bash-completion package: apt-get install bash-completion)"
fi
`,
	".zshrc": rcMarker + `
# Wheelhouse rewrites this file at each start while its first line is the one
# above; change or delete that line to keep edits of your own.
autoload -Uz compinit && compinit -u
source <(kubectl completion zsh)
`,
}

func writeShellRC(home string) error {
	for name, body := range shellRCs {
		path := filepath.Join(home, name)
		if old, err := os.ReadFile(path); err == nil && !strings.HasPrefix(string(old), rcMarker) {
			continue // the learner's own
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing the terminal's %s: %w", name, err)
		}
	}
	return nil
}
