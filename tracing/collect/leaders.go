package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// Leadership, as events of its own: which etcd member leads the Raft
// cluster (and when none does), and which scheduler or controller manager
// holds its leader-election Lease. The Lease renewals themselves are
// noise; a change of holder is not.

// memberComponent is the component id of the etcd member called name:
// "etcd" for the one member of a single control plane (which is called
// "wheelhouse"), "etcd/cp-2" for a member of several.
func memberComponent(name string) string {
	if name == "" || name == "wheelhouse" {
		return tracing.Etcd
	}
	return tracing.NodeComponent(tracing.Etcd, name)
}

// followLeader asks every member for its status twice a second and
// reports each change of the Raft leader. A cluster of one member has
// nothing to report.
func (e *Etcd) followLeader(ctx context.Context, cli *clientv3.Client, endpoints []string) {
	if len(endpoints) < 2 {
		return
	}
	names := map[uint64]string{}
	var leader uint64
	var term uint64
	lost := false
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var now, nowTerm uint64
		for _, ep := range endpoints {
			sctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
			st, err := cli.Status(sctx, ep)
			cancel()
			if err != nil || st.Leader == 0 {
				continue
			}
			if st.RaftTerm >= nowTerm {
				now, nowTerm = st.Leader, st.RaftTerm
			}
		}
		switch {
		case now == 0 && leader != 0 && !lost:
			lost = true
			e.setLeader("")
			e.sink.Submit(tracing.Event{
				Time: e.now(), Kind: tracing.KindLifecycle, From: tracing.Etcd, Verb: "LeaderLost",
				Summary: fmt.Sprintf("the etcd cluster has no leader (%s led in term %d): fewer than a quorum of members answer", memberComponent(names[leader]), term),
				Detail:  map[string]any{"component": tracing.Etcd, "previous": memberComponent(names[leader]), "term": term},
			})
		case now != 0 && (now != leader || lost):
			if _, ok := names[now]; !ok {
				mctx, cancel := context.WithTimeout(ctx, time.Second)
				if ml, err := cli.MemberList(mctx); err == nil {
					for _, m := range ml.Members {
						names[m.ID] = m.Name
					}
				}
				cancel()
			}
			comp := memberComponent(names[now])
			detail := map[string]any{"component": comp, "member": names[now], "term": nowTerm}
			if leader != 0 {
				detail["previous"] = memberComponent(names[leader])
			}
			e.sink.Submit(tracing.Event{
				Time: e.now(), Kind: tracing.KindLifecycle, From: comp, Verb: "LeaderElected",
				Summary: fmt.Sprintf("%s leads the etcd cluster (Raft term %d)", comp, nowTerm),
				Detail:  detail,
			})
			leader, term, lost = now, nowTerm, false
			e.setLeader(comp)
		}
	}
}

// leaderLeases are the leader-election Leases, by the component kind whose
// instances hold them.
var leaderLeases = map[string]string{
	"kube-scheduler":          tracing.Scheduler,
	"kube-controller-manager": tracing.ControllerManager,
}

// leaseTransition reports a leader-election Lease taken by another holder.
// A holder identity is "<machine>_<uuid>"; the holder is the instance on
// that machine.
func (e *Etcd) leaseTransition(name string, ev *clientv3.Event) {
	kind, ok := leaderLeases[name]
	if !ok || ev.Type == clientv3.EventTypeDelete {
		return
	}
	was := ""
	if ev.PrevKv != nil {
		was = e.holderOf(ev.PrevKv.Value)
	}
	now := e.holderOf(ev.Kv.Value)
	if now == was || now == "" {
		return
	}
	machine, _, _ := strings.Cut(now, "_")
	comp := tracing.NodeComponent(kind, machine)
	detail := map[string]any{"component": comp, "lease": name, "holderIdentity": now}
	if was != "" {
		prev, _, _ := strings.Cut(was, "_")
		detail["previous"] = tracing.NodeComponent(kind, prev)
	}
	e.sink.Submit(tracing.Event{
		Time: e.now(), Kind: tracing.KindLifecycle, From: comp, Verb: "LeaseAcquired",
		Resource: "leases", Namespace: "kube-system", Name: name, RV: fmt.Sprint(ev.Kv.ModRevision),
		Summary: fmt.Sprintf("%s holds the %s Lease: it leads", comp, name),
		Detail:  detail,
	})
}

func (e *Etcd) holderOf(raw []byte) string {
	js, err := e.decoder.ToJSON(raw)
	if err != nil {
		return ""
	}
	var l struct {
		Spec struct {
			HolderIdentity string `json:"holderIdentity"`
		} `json:"spec"`
	}
	if json.Unmarshal(js, &l) != nil {
		return ""
	}
	return l.Spec.HolderIdentity
}

func (e *Etcd) setLeader(comp string) {
	e.mu.Lock()
	e.leader = comp
	e.mu.Unlock()
}

// Leader is the component id of the etcd member that leads ("etcd/cp-2"),
// "" while none does or with a single member.
func (e *Etcd) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}
