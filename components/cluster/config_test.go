package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fieldsOf(err error) map[string]string {
	out := map[string]string{}
	var walk func(error)
	walk = func(e error) {
		var fe *FieldError
		if errors.As(e, &fe) && fe == e {
			out[fe.Field] = fe.Message
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

func TestValidateTopologies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string // "" means valid
		says  string
	}{
		{"default", Config{}, "", ""},
		{"ha defaults to 3", Config{Topology: HA}, "", ""},
		{"ha 5", Config{Topology: HA, ControlPlanes: 5}, "", ""},
		{"ha 4", Config{Topology: HA, ControlPlanes: 4}, "ControlPlanes", "3 or 5"},
		{"control planes without ha", Config{ControlPlanes: 3}, "ControlPlanes", "ha topology only"},
		{"unknown topology", Config{Topology: "mesh"}, "Topology", "single-node, single-control-plane, ha"},
		{"single-node with nodes", Config{Topology: SingleNode, Nodes: 3}, "Nodes", "one machine"},
		{"single-node", Config{Topology: SingleNode}, "", ""},
		{"bad lease", Config{Topology: HA, LeaderElection: LeaderElection{LeaseDuration: 2e9, RenewDeadline: 3e9, RetryPeriod: 1e9}}, "LeaderElection", "lease duration"},
		// The HA API port span (load balancer + 3 apiservers) reaches the
		// etcd port.
		{"ha ports overlap", Config{Topology: HA, APIPort: 2376}, "EtcdPort", "overlaps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			fields := fieldsOf(err)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			msg, ok := fields[tc.field]
			if !ok || !strings.Contains(msg, tc.says) {
				t.Fatalf("Validate() = %v; want a %s error saying %q", err, tc.field, tc.says)
			}
		})
	}
}

func TestMachinesAndPorts(t *testing.T) {
	c := Config{Topology: HA}.withDefaults()
	ms := c.machines()
	if len(ms) != 3 {
		t.Fatalf("%d machines, want 3", len(ms))
	}
	seen := map[int]string{c.APIPort: "load balancer"}
	for _, m := range ms {
		for _, p := range []int{m.etcdClient, m.etcdPeer, m.api, m.scheduler, m.controllerManager} {
			if other, dup := seen[p]; dup {
				t.Errorf("port %d of %s is also %s's", p, m.name, other)
			}
			seen[p] = m.name
		}
	}
	if got := ms[1].id("apiserver"); got != "apiserver/cp-2" {
		t.Errorf("id = %q, want apiserver/cp-2", got)
	}
	for _, p := range c.kubeletPorts() {
		if other, dup := seen[p]; dup {
			t.Errorf("kubelet port %d is also %s's", p, other)
		}
	}
	one := Config{}.withDefaults().machines()
	if len(one) != 1 || one[0].id("etcd") != "etcd" || one[0].etcdMember() != "wheelhouse" || one[0].dir("/d") != "/d" {
		t.Errorf("the single control plane is %+v; want ids, member and directory as before topologies", one)
	}
	if got := (Config{Topology: SingleNode}).withDefaults().NodeNames(); len(got) != 1 || got[0] != SingleNodeName {
		t.Errorf("single-node nodes = %v", got)
	}
}

func TestCheckTopology(t *testing.T) {
	dir := t.TempDir()
	ha := Config{Topology: HA}.withDefaults()
	if err := checkTopology(dir, ha); err != nil {
		t.Fatal(err)
	}
	if err := checkTopology(dir, ha); err != nil {
		t.Fatalf("the same topology again: %v", err)
	}
	err := checkTopology(dir, Config{}.withDefaults())
	var mm *TopologyMismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "--topology ha --control-planes 3") {
		t.Fatalf("another topology: %v; want a mismatch naming the flags to use", err)
	}
	// A directory from before topologies, with etcd data, was a single
	// control plane.
	old := t.TempDir()
	if err := os.MkdirAll(filepath.Join(old, "etcd", "member"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := checkTopology(old, ha); !errors.As(err, &mm) || mm.Have != SingleControlPlane {
		t.Fatalf("an old directory opened as ha: %v", err)
	}
	if err := checkTopology(old, Config{}.withDefaults()); err != nil {
		t.Fatalf("an old directory opened as it was: %v", err)
	}
}
