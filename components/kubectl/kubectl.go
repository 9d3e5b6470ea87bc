// Package kubectl is the real kubectl (k8s.io/kubectl), embedded so that
// `wheelhouse kubectl …` works on a machine without one, talking to the
// local cluster by default.
package kubectl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // auth plugins, as kubectl has them
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	_ "github.com/wheelhouse-k8s/wheelhouse/components/kubeversion" // report v1.37.2
)

// UsesHomeEnv, set to 1, makes the embedded kubectl follow kubectl's own
// order to the end (--kubeconfig, then $KUBECONFIG, then ~/.kube/config)
// before it falls back to the admin kubeconfig. The browser terminal's
// kubectl sets it, so a lab can show ~/.kube/config at work there; plain
// `wheelhouse kubectl` does not, so a user's own ~/.kube/config (for
// another cluster) never redirects it away from Wheelhouse's cluster.
const UsesHomeEnv = "WHEELHOUSE_KUBECTL_USES_HOME"

// Main runs kubectl with args (without the program name) and exits the
// process as kubectl does. Unless --kubeconfig or $KUBECONFIG says
// otherwise (or, with UsesHomeEnv, ~/.kube/config), it uses
// adminKubeconfig, the local cluster's admin identity.
func Main(args []string, adminKubeconfig string) {
	usesHome := os.Getenv(UsesHomeEnv) == "1" && hasHomeConfig()
	if !hasKubeconfigFlag(args) && os.Getenv("KUBECONFIG") == "" && !usesHome {
		if _, err := os.Stat(adminKubeconfig); err == nil {
			os.Setenv("KUBECONFIG", adminKubeconfig)
		} else if needsServer(args) {
			// Without a kubeconfig kubectl would try localhost:8080 and
			// report refused connections there, which points nowhere
			// useful. (--server, help, completion and config still run.)
			fmt.Fprintf(os.Stderr, "wheelhouse: no cluster here (no %s): start one with `wheelhouse up`, or set WHEELHOUSE_DATA_DIR to its data directory\n", adminKubeconfig)
			os.Exit(1)
		}
	}
	argv := append([]string{"kubectl"}, args...)
	// As kubectl's own main: verbosity must be known before the command
	// is built, because building it already logs.
	_, _ = logs.GlogSetter(cmd.GetLogVerbosity(argv))
	os.Args = argv
	command := cmd.NewDefaultKubectlCommand()
	command.SetArgs(args)
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
	os.Exit(0)
}

func hasHomeConfig() bool {
	home, err := os.UserHomeDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(home, ".kube", "config"))
	return err == nil
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}

// needsServer tells whether kubectl args talk to a cluster: not help,
// completion, `version --client`, `config …`, or with --server given.
func needsServer(args []string) bool {
	first := ""
	for _, a := range args {
		switch {
		case a == "--":
			return true
		case a == "-h" || a == "--help" || a == "--client" || a == "--client=true":
			return false
		case a == "-s" || a == "--server" || strings.HasPrefix(a, "--server=") || strings.HasPrefix(a, "-s="):
			return false
		case first == "" && !strings.HasPrefix(a, "-"):
			first = a
		}
	}
	switch first {
	case "", "help", "completion", "config", "plugin", "options", "kustomize":
		return false
	}
	return true
}
