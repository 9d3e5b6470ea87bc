package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func ensure(t *testing.T, dir string) *PKI {
	t.Helper()
	p, err := Ensure(Config{
		Dir:            dir,
		Server:         "https://127.0.0.1:6443",
		Identities:     []Identity{Admin, Scheduler, Node("node-1")},
		KubeletServing: []string{"node-1"},
		KubeletIPs:     []net.IP{net.ParseIP("192.0.2.10")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return certs
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
}

func TestCAFileHoldsOnlyTheCA(t *testing.T) {
	p := ensure(t, t.TempDir())
	certs := readCerts(t, p.CAFile())
	if len(certs) != 1 || !certs[0].IsCA {
		t.Fatalf("ca.crt has %d certificates (first is CA: %v); it must be the CA alone", len(certs), len(certs) > 0 && certs[0].IsCA)
	}
}

func TestIdentitiesAreNamedAsKubernetesExpects(t *testing.T) {
	p := ensure(t, t.TempDir())
	ca := readCerts(t, p.CAFile())[0]
	for _, tc := range []struct {
		id     Identity
		cn     string
		groups []string
	}{
		{Admin, "wheelhouse-admin", []string{"system:masters"}},
		{Scheduler, "system:kube-scheduler", nil},
		{Node("node-1"), "system:node:node-1", []string{"system:nodes"}},
	} {
		c := readCerts(t, p.CertFile(tc.id))[0]
		if c.Subject.CommonName != tc.cn || !slices.Equal(c.Subject.Organization, tc.groups) {
			t.Errorf("%s: CN=%q O=%v, want %q %v", tc.id.Name, c.Subject.CommonName, c.Subject.Organization, tc.cn, tc.groups)
		}
		if err := c.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s: not signed by the cluster CA: %v", tc.id.Name, err)
		}
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			t.Errorf("%s: not a client certificate", tc.id.Name)
		}
	}
	serving := readCerts(t, p.ServingCertFile())[0]
	if err := serving.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("apiserver certificate: %v", err)
	}
	if err := serving.VerifyHostname("localhost"); err != nil {
		t.Errorf("apiserver certificate: %v", err)
	}
	kubelet := readCerts(t, p.KubeletServingCertFile("node-1"))[0]
	if err := kubelet.VerifyHostname("192.0.2.10"); err != nil {
		t.Errorf("kubelet serving certificate: %v", err)
	}
}

func TestAdminKubeconfig(t *testing.T) {
	p := ensure(t, t.TempDir())
	cfg, err := clientcmd.LoadFromFile(p.Kubeconfig(Admin))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != "wheelhouse" || ctx.Cluster != "wheelhouse" || ctx.AuthInfo != "wheelhouse-admin" {
		t.Fatalf("context %q = %+v", cfg.CurrentContext, ctx)
	}
	if cfg.Clusters["wheelhouse"].Server != "https://127.0.0.1:6443" {
		t.Errorf("server %q", cfg.Clusters["wheelhouse"].Server)
	}
}

func TestSecondEnsureReusesEverything(t *testing.T) {
	dir := t.TempDir()
	first := ensure(t, dir)
	files := []string{first.CAFile(), first.CertFile(Admin), first.ServiceAccountKeyFile(), first.KubeletServingCertFile("node-1")}
	before := map[string][]byte{}
	for _, f := range files {
		before[f], _ = os.ReadFile(f)
	}
	ensure(t, dir)
	for _, f := range files {
		after, _ := os.ReadFile(f)
		if !bytes.Equal(before[f], after) {
			t.Errorf("%s changed on the second start", f)
		}
	}
}
