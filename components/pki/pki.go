// Package pki creates the cluster's certificate authorities and what they
// sign, laid out as kubeadm lays out /etc/kubernetes/pki: the cluster CA
// with the apiserver's and kubelets' serving certificates and one client
// certificate (and kubeconfig) per component identity; a separate etcd CA
// (pki/etcd/) with each etcd member's server and peer certificates and the
// few client certificates allowed to reach etcd; and the service-account
// signing key. Everything is generated on first start under one directory
// and reused afterwards, so a restarted cluster keeps trusting the same
// identities and tokens.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"
)

// Names used in the admin kubeconfig, which learners see in
// `kubectl config view`.
const (
	ClusterName  = "wheelhouse"
	AdminUser    = "wheelhouse-admin"
	AdminContext = "wheelhouse"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	// renewBefore makes a restart replace a leaf certificate that is about
	// to expire instead of letting a long-lived lab machine break one day.
	renewBefore = 30 * 24 * time.Hour
)

// Identity is one client of the apiserver: a component or the admin.
type Identity struct {
	// Name is the file name stem: <Name>.crt, <Name>.key, <Name>.kubeconfig.
	Name string
	// User and Groups become the certificate's CN and O, which is how the
	// apiserver's x509 authenticator names the caller.
	User   string
	Groups []string
}

// Admin, the control-plane components and node identities, as Kubernetes'
// default RBAC (and the Node authorizer) expects them.
var (
	Admin             = Identity{Name: "admin", User: "wheelhouse-admin", Groups: []string{"system:masters"}}
	Scheduler         = Identity{Name: "scheduler", User: "system:kube-scheduler"}
	ControllerManager = Identity{Name: "controller-manager", User: "system:kube-controller-manager"}
	KubeProxy         = Identity{Name: "kube-proxy", User: "system:kube-proxy"}
	// APIServerKubeletClient is what the apiserver presents to kubelets
	// for logs, exec and port-forward.
	APIServerKubeletClient = Identity{Name: "apiserver-kubelet-client", User: "kube-apiserver-kubelet-client", Groups: []string{"system:masters"}}
	// Wheelhouse is Wheelhouse's own client: its UI's informers, the lab
	// checks and its readiness polls. It has an identity of its own so the
	// trace never puts those requests on a component's account.
	Wheelhouse = Identity{Name: "wheelhouse", User: "wheelhouse", Groups: []string{"system:masters"}}
)

// EtcdClient is a client certificate signed by the etcd CA: etcd serves
// only clients that present one (--client-cert-auth), as kubeadm sets it
// up, so holding the cluster CA's admin certificate is not enough.
type EtcdClient struct {
	// Name is the file stem under the PKI directory.
	Name string
	CN   string
}

// The clients allowed to reach etcd.
var (
	// EtcdAPIServerClient is kube-apiserver's (--etcd-certfile); kubeadm
	// names it the same and keeps it beside the apiserver's own files.
	EtcdAPIServerClient = EtcdClient{Name: "apiserver-etcd-client", CN: "kube-apiserver-etcd-client"}
	// EtcdTraceClient is Wheelhouse's etcd watcher and etcd browser, which
	// only read.
	EtcdTraceClient = EtcdClient{Name: "etcd/wheelhouse-trace-client", CN: "wheelhouse-trace"}
	// EtcdAdmin is for the learner's etcdctl, as an operator would use
	// kubeadm's etcd/healthcheck-client or server certificate.
	EtcdAdmin = EtcdClient{Name: "etcd/admin", CN: "etcd-admin"}
)

// Node is the identity of a node's kubelet, as the Node authorizer requires.
func Node(name string) Identity {
	return Identity{Name: "node-" + name, User: "system:node:" + name, Groups: []string{"system:nodes"}}
}

// Config says what to generate.
type Config struct {
	Dir string
	// Server is the apiserver URL written into every kubeconfig.
	Server string
	// ServingIPs and ServingDNS go into the apiserver's serving certificate
	// besides localhost/127.0.0.1 and the in-cluster kubernetes names.
	ServingIPs []net.IP
	ServingDNS []string
	Identities []Identity
	// KubeletServing lists node names that need a kubelet serving
	// certificate (the apiserver connects to kubelets for `kubectl logs`).
	KubeletServing []string
	// KubeletIPs are put into every kubelet serving certificate.
	KubeletIPs []net.IP
	// LoopbackServing names components that serve on loopback only (the
	// scheduler's and controller manager's secure ports); each gets a
	// serving certificate <name>-serving.crt for localhost and 127.0.0.1.
	LoopbackServing []string
	// EtcdMembers are the etcd members' names; each gets a server and a
	// peer certificate for localhost and 127.0.0.1.
	EtcdMembers []string
	// EtcdClients get client certificates from the etcd CA.
	EtcdClients []EtcdClient
}

// PKI is the set of files on disk.
type PKI struct {
	Dir      string
	server   string
	ca       authority // the cluster CA
	etcdCA   authority
	certPEMs map[string][]byte
	keyPEMs  map[string][]byte
}

// authority is a CA: its files and what they hold.
type authority struct {
	name string // file stem under the PKI directory
	cn   string
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// CAFile is the CA certificate alone (no leaf in front of it: a bundle
// there breaks ClusterTrustBundle publishing, which wants every entry to
// be a CA).
func (p *PKI) CAFile() string    { return p.file("ca", ".crt") }
func (p *PKI) CAKeyFile() string { return p.file("ca", ".key") }

// CAPool is the CA certificate as a pool, for checking what it signed.
func (p *PKI) CAPool() (*x509.CertPool, error) {
	pem, err := os.ReadFile(p.CAFile())
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the cluster CA %s holds no certificate", p.CAFile())
	}
	return pool, nil
}

// LoopbackServingCertFile and LoopbackServingKeyFile are the serving pair of
// a component named in Config.LoopbackServing.
func (p *PKI) LoopbackServingCertFile(name string) string { return p.file(name+"-serving", ".crt") }
func (p *PKI) LoopbackServingKeyFile(name string) string  { return p.file(name+"-serving", ".key") }

// EtcdCAFile is the etcd CA, which etcd trusts for clients and peers and
// clients trust for etcd (--etcd-cafile, --trusted-ca-file).
func (p *PKI) EtcdCAFile() string { return p.file(etcdCAName, ".crt") }

// EtcdServerCertFile and EtcdServerKeyFile are an etcd member's client-facing
// serving pair; EtcdPeerCertFile and EtcdPeerKeyFile the pair it uses with
// the other members (as server and as client).
func (p *PKI) EtcdServerCertFile(member string) string { return p.file("etcd/server-"+member, ".crt") }
func (p *PKI) EtcdServerKeyFile(member string) string  { return p.file("etcd/server-"+member, ".key") }
func (p *PKI) EtcdPeerCertFile(member string) string   { return p.file("etcd/peer-"+member, ".crt") }
func (p *PKI) EtcdPeerKeyFile(member string) string    { return p.file("etcd/peer-"+member, ".key") }

// EtcdClientCertFile and EtcdClientKeyFile are an etcd client's pair.
func (p *PKI) EtcdClientCertFile(c EtcdClient) string { return p.file(c.Name, ".crt") }
func (p *PKI) EtcdClientKeyFile(c EtcdClient) string  { return p.file(c.Name, ".key") }

const etcdCAName = "etcd/ca"

func (p *PKI) file(stem, ext string) string {
	return filepath.Join(p.Dir, filepath.FromSlash(stem)+ext)
}

// ServingCertFile and ServingKeyFile are the apiserver's serving pair.
func (p *PKI) ServingCertFile() string { return filepath.Join(p.Dir, "apiserver.crt") }
func (p *PKI) ServingKeyFile() string  { return filepath.Join(p.Dir, "apiserver.key") }

// ServiceAccountKeyFile signs service-account tokens; ServiceAccountPubFile
// verifies them.
func (p *PKI) ServiceAccountKeyFile() string { return filepath.Join(p.Dir, "sa.key") }
func (p *PKI) ServiceAccountPubFile() string { return filepath.Join(p.Dir, "sa.pub") }

// CertFile and KeyFile are an identity's client pair.
func (p *PKI) CertFile(id Identity) string { return filepath.Join(p.Dir, id.Name+".crt") }
func (p *PKI) KeyFile(id Identity) string  { return filepath.Join(p.Dir, id.Name+".key") }

// Kubeconfig is the path of an identity's kubeconfig.
func (p *PKI) Kubeconfig(id Identity) string { return filepath.Join(p.Dir, id.Name+".kubeconfig") }

// KubeletServingCertFile and KubeletServingKeyFile are a node's kubelet
// serving pair.
func (p *PKI) KubeletServingCertFile(node string) string {
	return filepath.Join(p.Dir, "kubelet-serving-"+node+".crt")
}
func (p *PKI) KubeletServingKeyFile(node string) string {
	return filepath.Join(p.Dir, "kubelet-serving-"+node+".key")
}

// Ensure loads what exists under cfg.Dir and generates what is missing or
// expiring. Kubeconfigs are rewritten every time, since the apiserver
// address may have changed (--api-port).
func Ensure(cfg Config) (*PKI, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating PKI directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "etcd"), 0o700); err != nil {
		return nil, fmt.Errorf("creating PKI directory: %w", err)
	}
	p := &PKI{Dir: cfg.Dir, server: cfg.Server, certPEMs: map[string][]byte{}, keyPEMs: map[string][]byte{},
		ca: authority{name: "ca", cn: "wheelhouse-ca"}, etcdCA: authority{name: etcdCAName, cn: "etcd-ca"}}
	for _, ca := range []*authority{&p.ca, &p.etcdCA} {
		if err := p.ensureCA(ca); err != nil {
			return nil, err
		}
	}
	servingDNS := append([]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, cfg.ServingDNS...)
	servingIPs := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, cfg.ServingIPs...)
	if err := p.ensureLeaf(&p.ca, "apiserver", leafSpec{cn: "kube-apiserver", dns: servingDNS, ips: servingIPs, usage: serverUse}); err != nil {
		return nil, err
	}
	for _, node := range cfg.KubeletServing {
		spec := leafSpec{cn: "system:node:" + node, orgs: []string{"system:nodes"}, dns: []string{node, "localhost"},
			ips: append([]net.IP{net.IPv4(127, 0, 0, 1)}, cfg.KubeletIPs...), usage: serverUse}
		if err := p.ensureLeaf(&p.ca, "kubelet-serving-"+node, spec); err != nil {
			return nil, err
		}
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, name := range cfg.LoopbackServing {
		spec := leafSpec{cn: name, dns: []string{"localhost"}, ips: loopback, usage: serverUse}
		if err := p.ensureLeaf(&p.ca, name+"-serving", spec); err != nil {
			return nil, err
		}
	}
	for _, m := range cfg.EtcdMembers {
		// As kubeadm issues them: both usages, since a member's serving
		// certificate is also what it presents when it dials its own
		// client URL (the gRPC gateway), and peers are clients and servers
		// of each other.
		spec := leafSpec{cn: m, dns: []string{m, "localhost"}, ips: loopback, usage: serverUse | clientUse}
		if err := p.ensureLeaf(&p.etcdCA, "etcd/server-"+m, spec); err != nil {
			return nil, err
		}
		if err := p.ensureLeaf(&p.etcdCA, "etcd/peer-"+m, spec); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.EtcdClients {
		if err := p.ensureLeaf(&p.etcdCA, c.Name, leafSpec{cn: c.CN, usage: clientUse}); err != nil {
			return nil, err
		}
	}
	for _, id := range cfg.Identities {
		if err := p.ensureLeaf(&p.ca, id.Name, leafSpec{cn: id.User, orgs: id.Groups, usage: clientUse}); err != nil {
			return nil, err
		}
		if err := p.writeKubeconfig(id); err != nil {
			return nil, err
		}
	}
	if err := p.ensureServiceAccountKey(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PKI) ensureCA(ca *authority) error {
	certFile, keyFile := p.file(ca.name, ".crt"), p.file(ca.name, ".key")
	certPEM, keyPEM, err := readPair(certFile, keyFile)
	if err == nil {
		cert, key, perr := parsePair(certPEM, keyPEM)
		if perr != nil {
			return fmt.Errorf("reading %s in %s: %w", ca.cn, p.Dir, perr)
		}
		ca.cert, ca.key, ca.pem = cert, key, certPEM
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", ca.cn, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating the %s key: %w", ca.cn, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: ca.cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("signing the %s certificate: %w", ca.cn, err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key); err != nil {
		return fmt.Errorf("encoding the %s key: %w", ca.cn, err)
	}
	if err := writePair(certFile, certPEM, keyFile, keyPEM); err != nil {
		return err
	}
	ca.cert, ca.key, ca.pem = cert, key, certPEM
	return nil
}

type leafSpec struct {
	cn    string
	orgs  []string
	dns   []string
	ips   []net.IP
	usage usage
}

// usage is what a leaf certificate may be used for.
type usage int

const (
	serverUse usage = 1 << iota
	clientUse
)

func (u usage) ext() []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	if u&serverUse != 0 {
		out = append(out, x509.ExtKeyUsageServerAuth)
	}
	if u&clientUse != 0 {
		out = append(out, x509.ExtKeyUsageClientAuth)
	}
	return out
}

// ensureLeaf keeps an existing certificate when it still says what spec
// asks for and is not close to expiry; otherwise it issues a new one.
func (p *PKI) ensureLeaf(ca *authority, name string, spec leafSpec) error {
	certFile, keyFile := p.file(name, ".crt"), p.file(name, ".key")
	if certPEM, keyPEM, err := readPair(certFile, keyFile); err == nil {
		if cert, _, perr := parsePair(certPEM, keyPEM); perr == nil && stillValid(cert, ca, spec) {
			p.certPEMs[name], p.keyPEMs[name] = certPEM, keyPEM
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating key for %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     spec.dns,
		IPAddresses:  spec.ips,
		ExtKeyUsage:  spec.usage.ext(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("signing certificate for %s: %w", name, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return fmt.Errorf("encoding key for %s: %w", name, err)
	}
	if err := writePair(certFile, certPEM, keyFile, keyPEM); err != nil {
		return err
	}
	p.certPEMs[name], p.keyPEMs[name] = certPEM, keyPEM
	return nil
}

func stillValid(cert *x509.Certificate, ca *authority, spec leafSpec) bool {
	if time.Until(cert.NotAfter) < renewBefore || cert.CheckSignatureFrom(ca.cert) != nil {
		return false
	}
	if !slices.Equal(cert.ExtKeyUsage, spec.usage.ext()) {
		return false
	}
	if cert.Subject.CommonName != spec.cn || !slices.Equal(cert.Subject.Organization, spec.orgs) {
		return false
	}
	for _, d := range spec.dns {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	for _, ip := range spec.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func (p *PKI) ensureServiceAccountKey() error {
	keyPEM, _, err := keyutil.LoadOrGenerateKeyFile(p.ServiceAccountKeyFile())
	if err != nil {
		return fmt.Errorf("service-account signing key: %w", err)
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("parsing service-account signing key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("service-account signing key is %T, not a signer", key)
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return fmt.Errorf("encoding service-account public key: %w", err)
	}
	return os.WriteFile(p.ServiceAccountPubFile(), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
}

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded)
// so the admin's can be copied elsewhere and still work.
func (p *PKI) writeKubeconfig(id Identity) error {
	user := id.Name
	if id.Name == Admin.Name {
		user = AdminUser
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ClusterName] = &clientcmdapi.Cluster{Server: p.server, CertificateAuthorityData: p.ca.pem}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: p.certPEMs[id.Name], ClientKeyData: p.keyPEMs[id.Name]}
	cfg.Contexts[AdminContext] = &clientcmdapi.Context{Cluster: ClusterName, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = AdminContext
	if err := clientcmd.WriteToFile(*cfg, p.Kubeconfig(id)); err != nil {
		return fmt.Errorf("writing kubeconfig for %s: %w", id.Name, err)
	}
	return nil
}

func readPair(certFile, keyFile string) ([]byte, []byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("key is %T, not a signer", key)
	}
	return cert, signer, nil
}

func writePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", keyFile, err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", certFile, err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}
