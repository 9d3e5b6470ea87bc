package collect

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// clientCert is a client certificate for cn signed by a new CA, and that
// CA's pool.
func clientCert(t *testing.T, cn string) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return leaf, pool
}

// TestKubeletAPIRequestsAreEventsAboutTheirPod: the apiserver's requests
// to a kubelet (its client certificate, signed by the CA the kubelet
// trusts, names it) are events about the pod they concern, recorded
// before the kubelet's handler runs; the node's stats and health are
// polls; a certificate the kubelet does not trust names no one.
func TestKubeletAPIRequestsAreEventsAboutTheirPod(t *testing.T) {
	s := &sink{}
	served := 0
	apiserverCert, trusted := clientCert(t, tracing.APIServerKubeletClientUser)
	forged, _ := clientCert(t, tracing.APIServerKubeletClientUser)
	h := NewKubeletAPI(s).Filter("node-1", trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		if n := len(s.snapshot()); n != served {
			t.Errorf("the handler ran before its request was recorded (%d events, %d served)", n, served)
		}
	}))
	caller := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{apiserverCert}}
	do := func(method, target string) tracing.Event {
		t.Helper()
		r := httptest.NewRequest(method, target, nil)
		r.TLS = caller
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
	for _, path := range []string{"/stats/summary", "/healthz"} {
		if ev = do("GET", path); ev.Object() != "" || !ev.Noise {
			t.Errorf("%s: %+v", path, ev)
		}
	}
	caller = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{forged}}
	if ev = do("POST", "/exec/default/web/nginx?command=id"); ev.From == tracing.APIServer || ev.Detail["user"] != nil {
		t.Errorf("a certificate of another CA was taken for the apiserver's: %+v", ev)
	}
	if served != 7 {
		t.Errorf("the kubelet's handler served %d of 7 requests", served)
	}
}

func TestStreamURLHidesItsToken(t *testing.T) {
	if got := streamURL("http://127.0.0.1:40123/exec/AbCdEf12"); got != "http://127.0.0.1:40123/exec/…" {
		t.Errorf("got %q", got)
	}
}
