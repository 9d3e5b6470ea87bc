package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/components/component"
	"github.com/wheelhouse-k8s/wheelhouse/server"
)

// clusterComponents offers the cluster's stop/start to the server, in the
// server's error vocabulary.
type clusterComponents struct{ c *cluster.Cluster }

func (cc clusterComponents) List() any { return cc.c.Components() }

func (cc clusterComponents) Stop(ctx context.Context, name string) error {
	return serverError(cc.c.StopComponent(ctx, name))
}

func (cc clusterComponents) Start(ctx context.Context, name string) error {
	return serverError(cc.c.StartComponent(ctx, name))
}

func (cc clusterComponents) Crash(ctx context.Context, name string) error {
	return serverError(cc.c.CrashComponent(ctx, name))
}

func serverError(err error) error {
	switch {
	case errors.Is(err, component.ErrUnknown):
		return kindOf{server.ErrNotFound, err}
	case errors.Is(err, component.ErrWrongState), errors.Is(err, component.ErrNotStoppable), errors.Is(err, component.ErrClosed):
		return kindOf{server.ErrConflict, err}
	}
	return err
}

// kindOf gives err the server's kind without repeating the kind's words.
type kindOf struct{ kind, err error }

func (e kindOf) Error() string   { return e.err.Error() }
func (e kindOf) Unwrap() []error { return []error{e.kind, e.err} }

// uiInfo is what a running `wheelhouse up` leaves in its data dir
// (ui.json, readable by its user only) so that commands such as
// `wheelhouse component` can find and use its UI.
type uiInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

func uiInfoPath(dataDir string) string { return filepath.Join(dataDir, "ui.json") }

func readUIInfo(dataDir string) (uiInfo, error) {
	var info uiInfo
	b, err := os.ReadFile(uiInfoPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return info, fmt.Errorf("no running Wheelhouse uses %s (start one with `wheelhouse up`, or set $WHEELHOUSE_DATA_DIR)", dataDir)
	}
	if err != nil {
		return info, fmt.Errorf("reading %s: %w", uiInfoPath(dataDir), err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("reading %s: %w", uiInfoPath(dataDir), err)
	}
	return info, nil
}

func newComponentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "component (list | stop NAME | start NAME | crash NAME)",
		Short: "Stop or start a component: etcd, the apiserver, the scheduler, the controller manager, a node's kubelet, kube-proxy or runtime",
		Long: `Stops a component of the running cluster as its process would stop when asked
to (stop) or when killed (crash), or starts it again; the rest of the cluster
keeps running. NAME is a component id:
etcd, apiserver, scheduler, controller-manager, kubelet/<node>,
kube-proxy/<node> or runtime/<node> (e.g. kubelet/node-1); on an HA control
plane etcd/cp-1, apiserver/cp-2, scheduler/cp-3, controller-manager/cp-1 …,
load-balancer, or a whole control-plane machine (cp-2: stop shuts it down,
crash pulls its plug, start boots it). "wheelhouse component list" shows
every component. It talks to the running "wheelhouse up" whose data
directory is $WHEELHOUSE_DATA_DIR (or the default one).`,
	}
	call := func(method, path string, out io.Writer) error {
		info, err := readUIInfo(dataDirFromEnv())
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(info.URL, "/")+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set(server.TokenHeader, info.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("reaching Wheelhouse's UI at %s (is `wheelhouse up` running?): %w", info.URL, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			var e struct{ Error string }
			if json.Unmarshal(body, &e) == nil && e.Error != "" {
				return errors.New(e.Error)
			}
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		if method == http.MethodGet {
			var list struct{ Components []component.Status }
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("reading the component list: %w", err)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tSTOP/START")
			for _, c := range list.Components {
				control := "no"
				if c.Controllable {
					control = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.State, c.Since.Local().Format(time.TimeOnly), control)
			}
			return tw.Flush()
		}
		var r struct{ Name, State string }
		_ = json.Unmarshal(body, &r)
		fmt.Fprintf(out, "%s %s\n", r.Name, r.State)
		return nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the components that can be stopped, and their states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(http.MethodGet, "/api/components", cmd.OutOrStdout())
		},
	})
	for verb, short := range map[string]string{
		"stop":  "Stop a component as a process asked to end does (SIGTERM): an etcd leader hands its leadership over, a leading scheduler gives its Lease up",
		"start": "Start a stopped or crashed component",
		"crash": "End a component as a killed process ends (kill -9): it hands nothing over, so the others must notice it gone",
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   verb + " NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return call(http.MethodPost, "/api/components/"+args[0]+"/"+verb, cmd.OutOrStdout())
			},
		})
	}
	return cmd
}
