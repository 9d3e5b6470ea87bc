// Command wheelhouse runs a real Kubernetes cluster in one process and
// shows how it works.
//
//	wheelhouse [up]        start the cluster (the default command)
//	wheelhouse kubectl …   the embedded kubectl, pointed at the cluster
//	wheelhouse component   stop or start the scheduler, controller manager, a kubelet
//	wheelhouse images import F   import an image tarball into containerd nodes
//	wheelhouse replay F    serve a recorded trace, with no cluster
//	wheelhouse version     versions of Wheelhouse and what it embeds
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wheelhouse:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	up := &upOptions{}
	root := &cobra.Command{
		Use:   "wheelhouse",
		Short: "A real Kubernetes cluster in one process, to see how it works",
		Long: `Wheelhouse runs etcd, kube-apiserver, kube-scheduler, kube-controller-manager
and, on every compute node, a kubelet, kube-proxy and a container runtime, all
in this one process, and shows every request between them.

Without a command it runs "up".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			up.nodesSet = cmd.Flags().Changed("nodes")
			up.uiAddrSet = cmd.Flags().Changed("ui-addr")
			return up.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	up.addFlags(root.Flags())
	root.AddCommand(newUpCommand(), newKubectlCommand(), newComponentCommand(), newImagesCommand(), newReplayCommand(), newVersionCommand(), newEtcdctlCommand())
	return root
}
