package collect

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// KubeletAPI records every request a node's kubelet receives on its own
// HTTPS API, as a filter around the kubelet's handler. `kubectl logs`,
// `exec`, `attach` and `port-forward` reach a container through this hop:
// the apiserver authorises the client's request and then opens its own to
// the pod's kubelet, which asks its runtime (CRI) for the stream.
//
// A request is recorded when it arrives, not when it ends: an exec lasts
// as long as its session, and the CRI calls the kubelet makes to serve it
// must come after it in the trace.
type KubeletAPI struct {
	sink Sink
	now  func() time.Time
}

// NewKubeletAPI returns the kubelet API collector.
func NewKubeletAPI(sink Sink) *KubeletAPI { return &KubeletAPI{sink: sink, now: time.Now} }

// Filter wraps the handler of node's kubelet API. clientCAs are the
// authorities the kubelet trusts for client certificates: the filter runs
// before the kubelet's own authentication, so it names a caller by its
// certificate only once the certificate checks out against them.
func (k *KubeletAPI) Filter(node string, clientCAs *x509.CertPool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k.record(node, clientCAs, r)
			next.ServeHTTP(w, r)
		})
	}
}

// kubeletPodPaths maps the kubelet API's per-container (or per-pod) paths
// to what they ask of the pod (pkg/kubelet/server: /containerLogs/{ns}/
// {pod}/{container}, /exec/{ns}/{pod}[/{uid}]/{container}, /attach/…,
// /run/…, /portForward/{ns}/{pod}[/{uid}]).
var kubeletPodPaths = map[string]string{
	"containerLogs": "log",
	"exec":          "exec",
	"attach":        "attach",
	"run":           "run",
	"portForward":   "portforward",
	"checkpoint":    "checkpoint",
}

func (k *KubeletAPI) record(node string, clientCAs *x509.CertPool, r *http.Request) {
	// The caller is named by its client certificate (the apiserver's is
	// kube-apiserver-kubelet-client), if it is one the kubelet trusts.
	var user string
	var groups []string
	if cert := verifiedClient(r.TLS, clientCAs); cert != nil {
		user, groups = cert.Subject.CommonName, cert.Subject.Organization
	}
	from, _ := tracing.Identity(user, groups, r.UserAgent())
	kubelet := tracing.NodeComponent(tracing.Kubelet, node)
	ev := tracing.Event{
		Time: k.now(),
		Kind: tracing.KindKubeletAPI,
		From: from,
		To:   kubelet,
		Detail: map[string]any{
			"path":   r.URL.Path,
			"method": r.Method,
		},
	}
	if user != "" {
		ev.Detail["user"] = user
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	ev.Verb = segs[0]
	what := r.URL.Path
	if verb, ok := kubeletPodPaths[segs[0]]; ok && len(segs) >= 3 {
		ev.Verb = verb
		ev.Resource, ev.Subresource, ev.Namespace, ev.Name = "pods", verb, segs[1], segs[2]
		what = segs[1] + "/" + segs[2]
		if verb != "portforward" {
			// The container is the last segment (a pod uid may come
			// before it).
			if len(segs) >= 4 {
				ev.Detail["container"] = segs[len(segs)-1]
				what += " " + segs[len(segs)-1]
			}
		}
		if cmd := r.URL.Query()["command"]; len(cmd) > 0 {
			ev.Detail["command"] = cmd
			what += fmt.Sprintf(" %q", strings.Join(cmd, " "))
		}
		if q := logQuery(r.URL.Query()); q != "" {
			ev.Detail["query"] = q
		}
	}
	ev.Summary = fmt.Sprintf("%s → %s: %s %s", from, kubelet, ev.Verb, what)
	k.sink.Submit(ev)
}

// verifiedClient is the client's certificate if it chains to clientCAs
// for client authentication, else nil.
func verifiedClient(state *tls.ConnectionState, clientCAs *x509.CertPool) *x509.Certificate {
	if state == nil || len(state.PeerCertificates) == 0 || clientCAs == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range state.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := state.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: clientCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil
	}
	return leaf
}

// logQuery keeps the options of a log request a learner set (follow,
// tailLines, previous…), which say why it stays open.
func logQuery(q url.Values) string {
	keep := url.Values{}
	for _, k := range []string{"follow", "previous", "tailLines", "sinceSeconds", "timestamps", "tty", "stdin"} {
		if v, ok := q[k]; ok {
			keep[k] = v
		}
	}
	return keep.Encode()
}
