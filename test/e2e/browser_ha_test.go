package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// haState is the part of GET /api/state an HA diagram is drawn from.
type haState struct {
	Topology      string            `json:"topology"`
	ControlPlanes []string          `json:"controlPlanes"`
	Leaders       map[string]string `json:"leaders"`
}

func readHAState(t testing.TB, addr string) haState {
	t.Helper()
	body, err := httpGet("http://" + addr + "/api/state")
	if err != nil {
		t.Fatalf("GET /api/state: %v", err)
	}
	var st haState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /api/state: %v\n%s", err, body)
	}
	return st
}

// leaderMarkJS is the component whose element carries the leader mark of
// role, if exactly one mark of that role is drawn and it has a size on the
// page; otherwise what is wrong with it, in brackets.
func leaderMarkJS(role string) string {
	return fmt.Sprintf(`(() => {
		const marks = document.querySelectorAll('[data-testid="leader-mark"][data-leader-of=%q]');
		if (marks.length !== 1) return '[' + marks.length + ' marks]';
		const box = marks[0].getBoundingClientRect();
		if (!(box.width > 0 && box.height > 0)) return '[mark not visible]';
		const comp = marks[0].closest('[data-component]');
		return comp ? comp.getAttribute('data-component') : '[mark outside any component]';
	})()`, role)
}

// stoppedJS says how the element of component id is drawn: its
// data-state, whether it has the stopped class, and whether it shows the
// stopped badge.
func stoppedJS(id string) string {
	return fmt.Sprintf(`(() => {
		const c = document.querySelector('[data-component=%q]');
		if (!c) return 'missing';
		return [c.getAttribute('data-state') || '-', c.classList.contains('stopped') ? 'greyed' : 'not-greyed',
			c.querySelector(':scope > .state-badge.stopped') ? 'badge' : 'no-badge'].join(' ');
	})()`, id)
}

// routeJS names, for each point of the route a packet from→to travels
// (window.wheelhouse.route), the component whose box it lies on ("-" for
// none), e.g. "kubectl load-balancer load-balancer apiserver/cp-2".
func routeJS(from, to string, comps []string) string {
	list, _ := json.Marshal(comps)
	return fmt.Sprintf(`(() => {
		const route = window.wheelhouse.route(%q, %q);
		if (!route) return 'no route';
		const box = (id) => {
			const el = document.querySelector('[data-component="' + id + '"] > .box');
			return el ? el.getBBox() : null;
		};
		const on = (p, b) => b && p[0] >= b.x - 1 && p[0] <= b.x + b.width + 1 && p[1] >= b.y - 1 && p[1] <= b.y + b.height + 1;
		return route.map((p) => %s.find((id) => on(p, box(id))) || '-').join(' ');
	})()`, from, to, list)
}

// checkRoute asserts that a packet from→to starts on from's box, ends on
// want's (to itself, or the instance a plain id stands for) and passes
// over each of via's boxes.
func checkRoute(t *testing.T, ctx context.Context, from, to, want string, via, comps []string) {
	t.Helper()
	got := evalJS[string](t, ctx, routeJS(from, to, comps))
	points := strings.Fields(got)
	ok := len(points) >= 2 && points[0] == from && points[len(points)-1] == want
	for _, v := range via {
		ok = ok && contains(points[1:len(points)-1], v)
	}
	if !ok {
		t.Errorf("a packet %s → %s travels over %q; want from %s via %v to %s", from, to, got, from, via, want)
	}
}

// The HA topology in the browser (issue 12): one box per control-plane
// machine with its four components, the load balancer, and the marks on
// the leaders; stopping the etcd leader moves its mark to the member
// elected next, and the stopped member is drawn stopped.
func TestBrowserHA(t *testing.T) {
	base, err := freePorts(25)
	if err != nil {
		t.Fatal(err)
	}
	tc := startHACluster(t, shortTempDir(t), base)
	defer tc.stop()
	ctx := newBrowser(t)
	openUI(t, ctx, tc.uiAddr)

	st := readHAState(t, tc.uiAddr)
	if st.Topology != "ha" || strings.Join(st.ControlPlanes, ",") != "cp-1,cp-2,cp-3" {
		t.Fatalf("/api/state: topology %q, control planes %v; want ha with cp-1, cp-2, cp-3", st.Topology, st.ControlPlanes)
	}
	ids := []string{"load-balancer"}
	for _, cp := range st.ControlPlanes {
		for _, kind := range []string{"etcd", "apiserver", "scheduler", "controller-manager"} {
			ids = append(ids, kind+"/"+cp)
		}
	}
	idsJSON, _ := json.Marshal(ids)

	// Every component has its own element, each machine's inside that
	// machine's box.
	eventually(t, 60*time.Second, "an element for each of the 13 HA components", func() (bool, string) {
		missing := evalJS[[]string](t, ctx, fmt.Sprintf(`%s.filter((id) => {
			const el = document.querySelector('[data-testid="diagram"] [data-component="' + id + '"]');
			if (!el) return true;
			const r = el.getBoundingClientRect();
			return !(r.width > 0 && r.height > 0);
		})`, idsJSON))
		return len(missing) == 0, fmt.Sprintf("missing or not visible: %v", missing)
	})
	if topo := evalJS[string](t, ctx, `window.wheelhouse.topology`); topo != "ha" {
		t.Errorf("window.wheelhouse.topology = %q, want ha", topo)
	}
	for _, cp := range st.ControlPlanes {
		inside := evalJS[[]string](t, ctx, fmt.Sprintf(`(() => {
			const m = document.querySelector('[data-machine=%q] rect.machine-box');
			if (!m) return ['no box for %s'];
			const b = m.getBoundingClientRect();
			return ['etcd', 'apiserver', 'scheduler', 'controller-manager'].map((k) => k + '/%s').filter((id) => {
				const r = document.querySelector('[data-component="' + id + '"]').getBoundingClientRect();
				return !(r.left >= b.left && r.right <= b.right && r.top >= b.top && r.bottom <= b.bottom);
			});
		})()`, cp, cp, cp))
		if len(inside) > 0 {
			t.Errorf("not inside the box of %s: %v", cp, inside)
		}
	}

	// The etcd leader's mark is on the member /api/state names, which is
	// the member etcd itself says leads.
	var leader string
	eventually(t, 60*time.Second, "the etcd leader mark on the leader /api/state names", func() (bool, string) {
		want := readHAState(t, tc.uiAddr).Leaders["etcd"]
		got := evalJS[string](t, ctx, leaderMarkJS("etcd"))
		machine, _ := tc.etcdLeader(t, base+10)
		leader = strings.TrimPrefix(want, "etcd/")
		return want != "" && got == want && machine == leader,
			fmt.Sprintf("mark on %s, /api/state says %q, etcdctl says %q", got, want, machine)
	})
	// So are the Lease holders' marks.
	for _, role := range []string{"scheduler", "controller-manager"} {
		eventually(t, 60*time.Second, "the "+role+" leader mark on the Lease holder", func() (bool, string) {
			want := readHAState(t, tc.uiAddr).Leaders[role]
			got := evalJS[string](t, ctx, leaderMarkJS(role))
			return want != "" && got == want, fmt.Sprintf("mark on %s, /api/state says %q", got, want)
		})
	}
	// Packets take the real paths: a client's request through the load
	// balancer to the apiserver that served it, a watch event back the
	// same way, an etcd write from the apiserver to its own member and on
	// to the Raft leader (the plain id "etcd" is the leader).
	comps := append([]string{"kubectl"}, ids...)
	other := "cp-1"
	if leader == other {
		other = "cp-2"
	}
	checkRoute(t, ctx, "kubectl", "apiserver/cp-2", "apiserver/cp-2", []string{"load-balancer"}, comps)
	checkRoute(t, ctx, "apiserver/cp-3", "scheduler/cp-1", "scheduler/cp-1", []string{"load-balancer"}, comps)
	checkRoute(t, ctx, "apiserver/"+other, "etcd", "etcd/"+leader, []string{"etcd/" + other}, comps)

	// An etcd write, having reached the leader, is replicated: a packet
	// from the leader to each of the two other members.
	before := evalJS[float64](t, ctx, `window.wheelhouse.replicated`)
	if out, err := embeddedKubectl(tc.kubeconfig()).run(t, "create", "configmap", "replicated", "--from-literal", "k=v"); err != nil {
		t.Fatalf("kubectl create configmap: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "Raft replication packets for the write", func() (bool, string) {
		n := evalJS[float64](t, ctx, `window.wheelhouse.replicated`)
		return n >= before+2, fmt.Sprintf("%v replication packets, %v before the write", n, before)
	})

	if got := evalJS[string](t, ctx, stoppedJS("etcd/"+leader)); got != "running not-greyed no-badge" {
		t.Fatalf("the leading member before it is stopped is drawn %q, want running", got)
	}
	screenshot(t, ctx, "ui-ha")

	// Stop the leading member: another is elected, the mark moves there
	// and the stopped member is drawn stopped.
	if out, err := tc.componentCommand(t, "stop", "etcd/"+leader); err != nil {
		t.Fatalf("wheelhouse component stop etcd/%s: %v\n%s", leader, err, out)
	}
	stopped := "etcd/" + leader
	var next string
	eventually(t, 30*time.Second, "the etcd leader mark on another member and "+stopped+" drawn stopped", func() (bool, string) {
		next = evalJS[string](t, ctx, leaderMarkJS("etcd"))
		drawn := evalJS[string](t, ctx, stoppedJS(stopped))
		moved := strings.HasPrefix(next, "etcd/cp-") && next != stopped
		return moved && drawn == "stopped greyed badge", fmt.Sprintf("mark on %s; %s drawn %q", next, stopped, drawn)
	})
	// The mark is where etcd and /api/state say the leader now is.
	eventually(t, 30*time.Second, "the moved mark on the member that leads now", func() (bool, string) {
		want := readHAState(t, tc.uiAddr).Leaders["etcd"]
		machine, _ := tc.etcdLeader(t, base+10)
		got := evalJS[string](t, ctx, leaderMarkJS("etcd"))
		next = got
		return got == want && want == "etcd/"+machine && got != stopped,
			fmt.Sprintf("mark on %s, /api/state says %q, etcdctl says %q", got, want, machine)
	})
	t.Logf("etcd leader %s stopped; the mark moved to %s", stopped, next)
	// etcd writes now go to the new leader.
	checkRoute(t, ctx, "apiserver/"+strings.TrimPrefix(next, "etcd/"), "etcd", next, nil, comps)
	screenshot(t, ctx, "ui-ha-etcd-leader-stopped")
}
