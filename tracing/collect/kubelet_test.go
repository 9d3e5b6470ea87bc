package collect

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// TestKubeletAPIRequestsAreEventsAboutTheirPod: the apiserver's requests
// to a kubelet (its client certificate names it) are events about the pod
// they concern, recorded before the kubelet's handler runs; the node's
// stats and health are polls.
func TestKubeletAPIRequestsAreEventsAboutTheirPod(t *testing.T) {
	s := &sink{}
	served := 0
	h := NewKubeletAPI(s).Filter("node-1")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		if n := len(s.snapshot()); n != served {
			t.Errorf("the handler ran before its request was recorded (%d events, %d served)", n, served)
		}
	}))
	apiserver := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{
		CommonName: tracing.APIServerKubeletClientUser, Organization: []string{"system:masters"}}}}}
	do := func(method, target string) tracing.Event {
		t.Helper()
		r := httptest.NewRequest(method, target, nil)
		r.TLS = apiserver
		h.ServeHTTP(httptest.NewRecorder(), r)
		evs := s.snapshot()
		ev := evs[len(evs)-1]
		tracing.Classify(&ev)
		return ev
	}

	ev := do("POST", "/exec/default/web/nginx?command=sh&command=-c&command=exit+3&output=1")
	if ev.Kind != tracing.KindKubeletAPI || ev.From != tracing.APIServer || ev.To != "kubelet/node-1" ||
		ev.Verb != "exec" || ev.Object() != "pods/default/web" || ev.Subresource != "exec" || ev.Noise {
		t.Errorf("exec: %+v", ev)
	}
	if ev.Detail["container"] != "nginx" || !slices.Equal(ev.Detail["command"].([]string), []string{"sh", "-c", "exit 3"}) {
		t.Errorf("exec detail: %v", ev.Detail)
	}
	if want := `apiserver → kubelet/node-1: exec default/web nginx "sh -c exit 3"`; ev.Summary != want {
		t.Errorf("summary %q, want %q", ev.Summary, want)
	}
	ev = do("GET", "/containerLogs/lab6/once/main?follow=true&tailLines=10&ignored=1")
	if ev.Verb != "log" || ev.Object() != "pods/lab6/once" || ev.Detail["container"] != "main" || ev.Detail["query"] != "follow=true&tailLines=10" {
		t.Errorf("logs: %+v", ev)
	}
	ev = do("POST", "/portForward/default/web/0d6f9b1c-uid")
	if ev.Verb != "portforward" || ev.Object() != "pods/default/web" || ev.Detail["container"] != nil {
		t.Errorf("port-forward: %+v", ev)
	}
	ev = do("GET", "/exec/default/web/0d6f9b1c-uid/nginx?command=date")
	if ev.Detail["container"] != "nginx" || ev.Object() != "pods/default/web" {
		t.Errorf("exec with the pod's uid: %+v", ev)
	}
	ev = do("GET", "/stats/summary")
	if ev.Verb != "stats" || ev.Object() != "" || !ev.Noise {
		t.Errorf("stats: %+v", ev)
	}
	if served != 5 {
		t.Errorf("the kubelet's handler served %d of 5 requests", served)
	}
}

func TestStreamURLHidesItsToken(t *testing.T) {
	if got := streamURL("http://127.0.0.1:40123/exec/AbCdEf12"); got != "http://127.0.0.1:40123/exec/…" {
		t.Errorf("got %q", got)
	}
}
