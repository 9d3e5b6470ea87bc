package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/containerd"
)

func newImagesCommand() *cobra.Command {
	images := &cobra.Command{
		Use:   "images",
		Short: "Images on containerd nodes",
	}
	var dataDir, node string
	imp := &cobra.Command{
		Use:   "import FILE.tar",
		Short: "Import an OCI or docker-archive tarball into containerd nodes (no network needed)",
		Long: `Imports the images in an OCI image layout or docker-archive tarball (what
"docker save" or "ctr images export" write) into the k8s.io namespace of every
containerd node of the running cluster, or of --node only, and unpacks them,
so pods can use them without a registry.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importImages(cmd.Context(), cmd.OutOrStdout(), dataDir, node, args[0])
		},
	}
	imp.Flags().StringVar(&dataDir, "data-dir", dataDirFromEnv(), "the cluster's data directory; also $WHEELHOUSE_DATA_DIR")
	imp.Flags().StringVar(&node, "node", "", "import into this node only (default: every containerd node)")
	images.AddCommand(imp)
	return images
}

// containerdNodes finds the containerd nodes of the cluster in dataDir,
// by the address each records while it runs: node → socket.
func containerdNodes(dataDir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(cluster.NodeDir(dataDir, "*"), cluster.ContainerdAddressFile))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(filepath.Dir(f))] = strings.TrimSpace(string(b))
	}
	return out, nil
}

func importImages(ctx context.Context, out io.Writer, dataDir, only, file string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	nodes, err := containerdNodes(dataDir)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return fmt.Errorf("the cluster in %s has no containerd node: start it with `wheelhouse up --runtime containerd`", dataDir)
	}
	var names []string
	for n := range nodes {
		if only == "" || n == only {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%s is not a containerd node of the cluster in %s", only, dataDir)
	}
	sort.Strings(names)
	if os.Geteuid() != 0 {
		return errors.New("importing images needs root: containerd's socket is root's (run it with sudo)")
	}
	for _, n := range names {
		if err := importInto(ctx, out, n, nodes[n], file); err != nil {
			return err
		}
	}
	return nil
}

func importInto(ctx context.Context, out io.Writer, node, address, file string) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := containerd.Connect(cctx, address)
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w (is `wheelhouse up` running?)", node, err)
	}
	defer c.Close()
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	imported, err := c.Import(ctx, f)
	if err != nil {
		return fmt.Errorf("importing %s into %s: %w", file, node, err)
	}
	for _, img := range imported {
		fmt.Fprintf(out, "%s: imported %s\n", node, img)
	}
	return nil
}
