package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/kubectl"
)

func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kubectl [kubectl arguments]",
		Short: "Run the embedded kubectl against the local cluster",
		Long: `Runs the real kubectl built into Wheelhouse. Unless --kubeconfig or $KUBECONFIG
says otherwise it uses the cluster's admin kubeconfig (in $WHEELHOUSE_DATA_DIR,
or the default data directory).`,
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			kubectl.Main(args, filepath.Join(dataDirFromEnv(), "pki", "admin.kubeconfig"))
		},
	}
}

// dataDirFromEnv is $WHEELHOUSE_DATA_DIR or the default data directory.
func dataDirFromEnv() string {
	if d := os.Getenv("WHEELHOUSE_DATA_DIR"); d != "" {
		return d
	}
	return cluster.DefaultDataDir()
}
