package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/wheelhouse-k8s/wheelhouse/components/cluster"
	"github.com/wheelhouse-k8s/wheelhouse/labs"
	"github.com/wheelhouse-k8s/wheelhouse/labs/kubesource"
	"github.com/wheelhouse-k8s/wheelhouse/server"
	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/collect"
)

func (o *upOptions) labsSource() string {
	if o.labsDir == "" {
		return "built in"
	}
	return "from " + o.labsDir
}

// loadLabs reads the guided labs before the cluster starts. A malformed
// lab is reported (file and line) and left out; the others still load, so
// an instructor's typo costs one lab, not the class. A --labs-dir that
// does not exist at all is an error.
func (o *upOptions) loadLabs() (*labs.Catalog, []labs.LoadError, error) {
	var (
		cat  *labs.Catalog
		errs []labs.LoadError
	)
	if o.labsDir == "" {
		cat, errs = labs.LoadBuiltin()
	} else {
		st, err := os.Stat(o.labsDir)
		if err != nil {
			return nil, nil, fmt.Errorf("--labs-dir: %w", err)
		}
		if !st.IsDir() {
			return nil, nil, fmt.Errorf("--labs-dir %s is not a directory", o.labsDir)
		}
		cat, errs = labs.LoadDir(o.labsDir)
	}
	for _, e := range errs {
		fmt.Fprintf(os.Stderr, "lab not loaded: %s\n", e.Error())
	}
	for _, w := range cat.Warnings {
		fmt.Fprintf(os.Stderr, "lab warning: %s\n", w.Error())
	}
	if o.labsDir != "" && len(cat.Labs) == 0 && len(errs) == 0 {
		return nil, nil, errors.New("--labs-dir " + o.labsDir + " holds no labs (one folder per lab, named like 01-my-lab, with a lab.yaml)")
	}
	return cat, errs, nil
}

// labChecker gives the labs API an engine that reads the cluster (as the
// admin) and the trace.
func labChecker(c *cluster.Cluster, cat *labs.Catalog, errs []labs.LoadError, tracer *collect.Tracer) (*server.Labs, error) {
	l := &server.Labs{Catalog: cat, Errors: errs, Topology: c.Topology(),
		RestartCommand: func(topology string) string {
			return fmt.Sprintf("wheelhouse up --topology %s --data-dir %s", topology, shellQuote(c.DataDir()+"-"+topology))
		}}
	if tracer == nil {
		// Without a trace, trace checks cannot pass; resource checks
		// still could, but a lab half-checked would mislead.
		return l, nil
	}
	// The checks' reads are the UI's own, not the cluster's: they go with
	// Wheelhouse's identity, and the trace marks them as noise so a
	// polling lab does not fill the diagram.
	objects, err := kubesource.New(c.WheelhouseConfig(tracing.UIClient))
	if err != nil {
		return nil, fmt.Errorf("creating the lab checker's client: %w", err)
	}
	l.Checker = labs.NewEngine(objects, labs.NewBusEvents(tracer.Bus))
	return l, nil
}
