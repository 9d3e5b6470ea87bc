package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
	etcdversion "go.etcd.io/etcd/api/v3/version"

	"github.com/wheelhouse-k8s/wheelhouse/components/kubeversion"
)

// wheelhouseVersion is the main module's version, or "dev" for a build
// from a work tree.
func wheelhouseVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of Wheelhouse and the components it embeds",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Wheelhouse:  %s\n", wheelhouseVersion())
			fmt.Fprintf(out, "Kubernetes:  %s\n", kubeversion.Version())
			fmt.Fprintf(out, "etcd:        v%s\n", etcdversion.Version)
		},
	}
}
