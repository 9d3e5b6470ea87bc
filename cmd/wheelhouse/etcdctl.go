package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
)

func newEtcdctlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "etcdctl [etcdctl arguments]",
		Short: "Run the embedded etcdctl against the cluster's etcd",
		Long: `Runs the real etcdctl (` + "go.etcd.io/etcd/etcdctl/v3" + `) built into Wheelhouse, with every
etcd member's endpoint and the etcd admin client certificate preset (from
$WHEELHOUSE_DATA_DIR, or the default data directory), as kubeadm's etcd
pods are reached with /etc/kubernetes/pki/etcd. Flags and $ETCDCTL_*
variables given override the presets. For example:

  wheelhouse etcdctl member list -w table
  wheelhouse etcdctl endpoint status --cluster -w table
  wheelhouse etcdctl get /registry/pods --prefix --keys-only`,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			dir := dataDirFromEnv()
			b, err := os.ReadFile(filepath.Join(dir, cluster.EtcdEndpointsFile))
			if err != nil {
				return fmt.Errorf("finding etcd's endpoints in %s (has `wheelhouse up` run with this data directory?): %w", dir, err)
			}
			pki := filepath.Join(dir, "pki", "etcd")
			for name, value := range map[string]string{
				"ETCDCTL_ENDPOINTS": strings.TrimSpace(string(b)),
				"ETCDCTL_CACERT":    filepath.Join(pki, "ca.crt"),
				"ETCDCTL_CERT":      filepath.Join(pki, "admin.crt"),
				"ETCDCTL_KEY":       filepath.Join(pki, "admin.key"),
			} {
				if _, set := os.LookupEnv(name); !set {
					os.Setenv(name, value)
				}
			}
			// etcdctl reads its arguments from os.Args, and its commands
			// are package-level: it runs once, in this process of its own,
			// and exits with its own status.
			os.Args = append([]string{"etcdctl"}, args...)
			ctlv3.MustStart()
			return nil
		},
	}
}
