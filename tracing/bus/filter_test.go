package bus

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

func TestFilterMatch(t *testing.T) {
	pod := tracing.Event{Kind: tracing.KindHTTP, From: "kubelet/node-1", To: tracing.APIServer,
		Resource: "pods", Namespace: "default", Name: "nginx"}
	node := tracing.Event{Kind: tracing.KindWatch, From: tracing.APIServer, To: "kube-proxy/node-2",
		Resource: "nodes", Name: "node-2"}
	lease := tracing.Event{Kind: tracing.KindHTTP, From: tracing.Scheduler, To: tracing.APIServer,
		Resource: "leases", Namespace: "kube-system", Name: "kube-scheduler", Noise: true, NoiseReason: tracing.NoiseLease}
	dropped := tracing.Event{Kind: tracing.KindDropped, Noise: true}
	errEv := tracing.Event{Kind: tracing.KindError}

	tests := []struct {
		name string
		f    Filter
		ev   tracing.Event
		want bool
	}{
		{"zero filter keeps non-noise", Filter{}, pod, true},
		{"zero filter drops noise", Filter{}, lease, false},
		{"IncludeNoise keeps noise", Filter{IncludeNoise: true}, lease, true},

		{"kind listed", Filter{Kinds: []tracing.Kind{tracing.KindEtcd, tracing.KindHTTP}}, pod, true},
		{"kind not listed", Filter{Kinds: []tracing.Kind{tracing.KindWatch}}, pod, false},

		{"component equals From", Filter{Components: []string{"kubelet/node-1"}}, pod, true},
		{"component prefix of From", Filter{Components: []string{"kubelet"}}, pod, true},
		{"component equals To", Filter{Components: []string{tracing.APIServer}}, pod, true},
		{"component prefix of To", Filter{Components: []string{"kube-proxy"}}, node, true},
		{"other node", Filter{Components: []string{"kubelet/node-2"}}, pod, false},
		{"string prefix is not a component prefix", Filter{Components: []string{"kube"}}, pod, false},
		{"kube-proxy is not kube", Filter{Components: []string{"kube"}}, node, false},
		{"node name prefix is not a match", Filter{Components: []string{"kubelet/node"}}, pod, false},
		{"any component of the list", Filter{Components: []string{"etcd", "kubelet"}}, pod, true},

		{"namespace equal", Filter{Namespace: "default"}, pod, true},
		{"namespace different", Filter{Namespace: "kube-system"}, pod, false},
		{"cluster-scoped event has no namespace", Filter{Namespace: "default"}, node, false},

		{"namespaced object", Filter{Object: "pods/default/nginx"}, pod, true},
		{"cluster-scoped object", Filter{Object: "nodes/node-2"}, node, true},
		{"other name", Filter{Object: "pods/default/nginx2"}, pod, false},
		{"name prefix", Filter{Object: "pods/default/ngin"}, pod, false},
		{"other namespace", Filter{Object: "pods/other/nginx"}, pod, false},
		{"missing namespace", Filter{Object: "pods/nginx"}, pod, false},
		{"extra namespace", Filter{Object: "nodes/x/node-2"}, node, false},
		{"other resource", Filter{Object: "services/default/nginx"}, pod, false},
		{"resource prefix", Filter{Object: "pod/default/nginx"}, pod, false},
		{"event without object", Filter{Object: "pods/default/nginx"}, tracing.Event{Kind: tracing.KindLifecycle}, false},

		{"all fields at once", Filter{Kinds: []tracing.Kind{tracing.KindHTTP}, Components: []string{"kubelet"},
			Namespace: "default", Object: "pods/default/nginx"}, pod, true},
		{"all fields but one", Filter{Kinds: []tracing.Kind{tracing.KindHTTP}, Components: []string{"scheduler"},
			Namespace: "default", Object: "pods/default/nginx"}, pod, false},

		{"dropped marker passes everything", Filter{Kinds: []tracing.Kind{tracing.KindCRI}, Components: []string{"x"},
			Namespace: "n", Object: "a/b"}, dropped, true},
		{"error marker passes everything", Filter{Kinds: []tracing.Kind{tracing.KindCRI}, Components: []string{"x"},
			Namespace: "n", Object: "a/b"}, errEv, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			if got := tt.f.Match(&ev); got != tt.want {
				t.Fatalf("%+v.Match(%+v) = %v, want %v", tt.f, ev, got, tt.want)
			}
			// objectIs must agree with the definition it avoids allocating.
			if tt.f.Object != "" && ev.Kind != tracing.KindDropped && ev.Kind != tracing.KindError {
				if objectIs(&ev, tt.f.Object) != (ev.Object() == tt.f.Object) {
					t.Fatalf("objectIs(%q) disagrees with Object() = %q", tt.f.Object, ev.Object())
				}
			}
		})
	}
}

func TestFilterMatchDoesNotAllocate(t *testing.T) {
	f := Filter{Kinds: []tracing.Kind{tracing.KindHTTP}, Components: []string{"kubelet"},
		Namespace: "default", Object: "pods/default/nginx"}
	ev := tracing.Event{Kind: tracing.KindHTTP, From: "kubelet/node-1", Resource: "pods", Namespace: "default", Name: "nginx"}
	if n := testing.AllocsPerRun(100, func() { f.Match(&ev) }); n != 0 {
		t.Fatalf("Match allocates %v times per call", n)
	}
}

func TestSubscribeCopiesTheFilter(t *testing.T) {
	b := New(10)
	f := Filter{Kinds: []tracing.Kind{tracing.KindHTTP}}
	s := b.Subscribe(f, Live, 0)
	defer s.Close()
	f.Kinds[0] = tracing.KindCRI // the caller reuses its slice
	b.Publish(ev(0))
	if e := next(t, testCtx(t), s); e.Kind != tracing.KindHTTP {
		t.Fatalf("got %s", e.Kind)
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query     string
		want      Filter
		wantSince uint64
	}{
		{"", Filter{}, 0},
		{"kinds=http,watch", Filter{Kinds: []tracing.Kind{tracing.KindHTTP, tracing.KindWatch}}, 0},
		{"kinds=http&kinds=etcd,http", Filter{Kinds: []tracing.Kind{tracing.KindHTTP, tracing.KindEtcd}}, 0},
		{"kinds=+cri+,+lifecycle", Filter{Kinds: []tracing.Kind{tracing.KindCRI, tracing.KindLifecycle}}, 0},
		{"kinds=", Filter{}, 0},
		{"components=scheduler,kubelet/node-1", Filter{Components: []string{"scheduler", "kubelet/node-1"}}, 0},
		{"namespace=kube-system", Filter{Namespace: "kube-system"}, 0},
		{"object=pods/default/nginx", Filter{Object: "pods/default/nginx"}, 0},
		{"object=nodes/node-1", Filter{Object: "nodes/node-1"}, 0},
		{"noise=true", Filter{IncludeNoise: true}, 0},
		{"noise=1", Filter{IncludeNoise: true}, 0},
		{"noise=false", Filter{}, 0},
		{"noise=0", Filter{}, 0},
		{"since=0", Filter{}, 0},
		{"since=18446744073709551615", Filter{}, 18446744073709551615},
		{"kinds=watch&components=kubelet&namespace=default&object=pods/default/web&noise=1&since=42",
			Filter{Kinds: []tracing.Kind{tracing.KindWatch}, Components: []string{"kubelet"}, Namespace: "default",
				Object: "pods/default/web", IncludeNoise: true}, 42},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			f, since, err := ParseQuery(q)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			wantSince := tt.wantSince
			if !strings.Contains(tt.query, "since=") {
				wantSince = Live // no since: live events only
			}
			if !reflect.DeepEqual(f, tt.want) || since != wantSince {
				t.Fatalf("ParseQuery(%q) = %+v, since %d; want %+v, since %d", tt.query, f, since, tt.want, wantSince)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		query string
		// The error must contain each of these: the parameter, the bad
		// value and what is expected.
		want []string
	}{
		{"kind=http", []string{`unknown query parameter "kind"`, "valid: kinds, components, namespace, object, noise, since"}},
		{"b=1&a=2", []string{`unknown query parameters "a", "b"`}},
		{"kinds=http,htp", []string{"kinds", `unknown kind "htp"`, "valid: http, watch, etcd, cri, kubelet-api, net, lifecycle, dropped, error"}},
		{"kinds=HTTP", []string{"kinds", `unknown kind "HTTP"`}},
		{"kinds=http,,watch", []string{"kinds", "empty kind", "http,,watch"}},
		{"components=kubelet/", []string{"components", `"kubelet/"`, "id/node"}},
		{"components=a/b/c", []string{"components", `"a/b/c"`}},
		{"components=scheduler,,kubelet", []string{"components", `""`}},
		{"namespace=Default", []string{"namespace", `"Default"`, "namespace name"}},
		{"namespace=a/b", []string{"namespace", `"a/b"`}},
		{"namespace=a&namespace=b", []string{"namespace", "given 2 times"}},
		{"object=pods", []string{"object", `"pods"`, "resource/name or resource/namespace/name"}},
		{"object=pods//nginx", []string{"object", `"pods//nginx"`}},
		{"object=pods/default/", []string{"object"}},
		{"object=a/b/c/d", []string{"object", `"a/b/c/d"`}},
		{"noise=yes", []string{"noise", `"yes"`, "true, false, 1 or 0"}},
		{"since=-1", []string{"since", `"-1"`, "non-negative integer"}},
		{"since=abc", []string{"since", `"abc"`}},
		{"since=1.5", []string{"since", `"1.5"`}},
		{"since=18446744073709551616", []string{"since"}},
		{"since=1&since=2", []string{"since", "given 2 times"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			f, since, err := ParseQuery(q)
			if err == nil {
				t.Fatalf("ParseQuery(%q) = %+v, since %d; want an error", tt.query, f, since)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("ParseQuery(%q) error %q does not contain %q", tt.query, msg, w)
				}
			}
		})
	}
}
