package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wheelhouse-k8s/wheelhouse/server"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/record"
)

type replayOptions struct {
	speed   float64
	uiAddr  string
	uiHosts []string
}

func newReplayCommand() *cobra.Command {
	o := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Serve a recorded trace (wheelhouse up --record FILE) with no cluster",
		Long: `Replays a trace recorded with "wheelhouse up --record FILE": the same event
stream (/ws/trace) and UI as a live cluster, at the recorded pace or faster,
with no cluster running.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().Float64Var(&o.speed, "speed", 1, "replay speed: 1 is the recorded pace, 4 four times faster, 0 as fast as possible")
	cmd.Flags().StringVar(&o.uiAddr, "ui-addr", "127.0.0.1:8080", "address of the web UI (off loopback, every page needs the token printed)")
	cmd.Flags().StringSliceVar(&o.uiHosts, "ui-host", nil, "a host name browsers use to reach the UI, besides IP addresses and localhost (repeatable)")
	return cmd
}

func (o *replayOptions) run(ctx context.Context, out io.Writer, file string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.speed < 0 {
		return errors.New("--speed must be 0 (as fast as possible) or more")
	}
	rec, err := record.Open(file)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := bus.New(len(rec.Events) + 1)
	token, err := newAdminToken()
	if err != nil {
		return err
	}
	ui, err := server.Start(ctx, server.Options{Addr: o.uiAddr, Hosts: o.uiHosts, Mode: "replay", AdminToken: token, Trace: &server.Trace{Bus: b}})
	if err != nil {
		return err
	}
	page := ui.URL()
	if !server.IsLoopback(o.uiAddr) {
		// Others may reach this address; only those given the token see
		// the recording.
		page += "?token=" + token
	}
	fmt.Fprintf(out, "Replaying %s: %d events", file, len(rec.Events))
	if o.speed > 0 {
		fmt.Fprintf(out, " at %gx the recorded pace", o.speed)
	}
	fmt.Fprintf(out, "\nUI:    %s\nTrace: %sws/trace\nPress Ctrl-C to stop.\n", page, strings.Replace(ui.URL(), "http://", "ws://", 1))
	if err := record.Replay(ctx, rec, b, o.speed); err != nil && ctx.Err() == nil {
		return fmt.Errorf("replaying %s: %w", file, err)
	}
	if ctx.Err() == nil {
		fmt.Fprintln(out, "Replay finished; still serving the trace until Ctrl-C.")
		<-ctx.Done()
	}
	return nil
}
