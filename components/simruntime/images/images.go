// Package images is the simulated runtime's built-in registry: the images
// a learner is likely to use, with their real defaults (entrypoint,
// command, environment, stop signal) and realistic compressed sizes, the
// references that name them, and the files each puts in a container.
// Identifiers are derived from name and version with sha256, so they look
// real and are the same on every node and every run.
package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// OS is the distribution an image is built on, which decides how its
// programs word their messages.
type OS struct {
	name     string
	GNU      bool   // GNU coreutils messages rather than busybox ones
	Shell    string // what /bin/sh is: "ash" or "dash"
	Compiler string // as nginx -V reports it
}

// Config is an image's defaults, as its OCI config holds them; the stop
// signal is its name ("SIGQUIT"), as there.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	StopSignal string
	Ports      []string
}

// Usage is what a container of the image uses, which its stats report.
type Usage struct {
	NanoCores    uint64 // steady CPU use
	WorkingSet   uint64 // bytes
	WritableBase uint64 // bytes the program writes to its writable layer
}

// Image is one image of the catalogue: what a pull resolves to and a
// container runs. The catalogue builds it once; nothing changes it after.
type Image struct {
	Repo    string // normalised, e.g. docker.io/library/nginx
	Version string
	tags    []string
	Size    uint64
	Config  Config
	OS      OS
	bins    map[string]bool
	ID      string // sha256:<config digest>
	Digest  string // sha256:<manifest index digest>
	Usage   Usage
	Pinned  bool
	extra   map[string]string // files beyond /etc/os-release
}

// HasBin reports whether the image has an executable of that name.
func (d *Image) HasBin(name string) bool { return d.bins[name] }

// Family is the short repository name ("nginx", "redis", ...).
func (d *Image) Family() string {
	if d == nil {
		return ""
	}
	return d.Repo[strings.LastIndexByte(d.Repo, '/')+1:]
}

// SoftwareVersion is the version of the image's main program.
func (d *Image) SoftwareVersion(family, fallback string) string {
	if d != nil && d.Family() == family {
		return strings.TrimSuffix(d.Version, "-alpine")
	}
	return fallback
}

// Files are the files the image puts in a container's root, by path.
func (d *Image) Files() map[string]string {
	// Every image has its users and groups; root's shell is the image's.
	shell := "/bin/sh"
	if d.OS.name == "debian" || d.OS.name == "ubuntu" {
		shell = "/bin/bash"
	}
	files := map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:" + shell + "\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"/etc/group":  "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n",
	}
	switch d.OS.name {
	case "alpine":
		v := "3.20.3"
		if d.Family() == "alpine" {
			v = d.Version
		}
		files["/etc/os-release"] = fmt.Sprintf("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=%s\nPRETTY_NAME=\"Alpine Linux v%s\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n", v, v[:strings.LastIndexByte(v, '.')])
	case "debian":
		files["/etc/os-release"] = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n"
	case "ubuntu":
		files["/etc/os-release"] = "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nVERSION=\"24.04.1 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nUBUNTU_CODENAME=noble\n"
	}
	for k, v := range d.extra {
		files[k] = v
	}
	return files
}

// Catalogue is the simulated registry's images.
type Catalogue struct {
	byRepo map[string][]*Image
	byID   map[string]*Image
}

func derive(kind, repo, version string) string {
	sum := sha256.Sum256([]byte("wheelhouse/" + kind + "\x00" + repo + "\x00" + version))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func coreutils() string {
	return "sleep echo printf true false test [ pwd date hostname env printenv cat wc head tail grep uname whoami id seq " +
		"touch mkdir rm basename dirname ls cp mv ln chmod chown ps kill sed awk find tar gzip tr cut sort uniq xargs " +
		"df du free mount tee which timeout dmesg stty tty "
}

// NewCatalogue builds the images; each node's runtime has its own.
func NewCatalogue() *Catalogue {
	const stdPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	busyboxOS := OS{name: "busybox", Shell: "ash"}
	alpineOS := OS{name: "alpine", Shell: "ash", Compiler: "gcc 13.2.1 20240309 (Alpine 13.2.1_git20240309)"}
	debianOS := OS{name: "debian", GNU: true, Shell: "dash", Compiler: "gcc 12.2.0 (Debian 12.2.0-14)"}
	ubuntuOS := OS{name: "ubuntu", GNU: true, Shell: "dash", Compiler: "gcc 13.2.0 (Ubuntu 13.2.0-23ubuntu4)"}
	busyboxBins := coreutils() + "sh ash vi wget nc nslookup ping telnet top watch less more"
	alpineBins := busyboxBins + " apk"
	debianBins := coreutils() + "sh dash bash apt apt-get dpkg"
	nginxHTML := "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n" +
		"<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n</body>\n</html>\n"

	nginx := func(version string, tags []string, size uint64, alpine bool) *Image {
		os, bins, njs := debianOS, debianBins+" curl envsubst", "0.8.7"
		if alpine {
			os, bins = alpineOS, alpineBins+" curl envsubst"
		}
		if strings.HasPrefix(version, "1.25") {
			njs = "0.8.4"
		}
		return &Image{
			Repo: "docker.io/library/nginx", Version: version, tags: tags, Size: size, OS: os,
			bins: words(bins + " nginx nginx-debug docker-entrypoint.sh"),
			Config: Config{
				Entrypoint: []string{"/docker-entrypoint.sh"},
				Cmd:        []string{"nginx", "-g", "daemon off;"},
				Env:        []string{stdPath, "NGINX_VERSION=" + strings.TrimSuffix(version, "-alpine"), "NJS_VERSION=" + njs, "NJS_RELEASE=1~bookworm", "PKG_RELEASE=1~bookworm", "DYNPKG_RELEASE=1~bookworm"},
				StopSignal: "SIGQUIT",
				Ports:      []string{"80/tcp"},
			},
			Usage: Usage{NanoCores: 300_000, WorkingSet: 7_900_000, WritableBase: 12_288},
			extra: map[string]string{"/usr/share/nginx/html/index.html": nginxHTML},
		}
	}
	postgres := func(version, major string, tags []string, size uint64) *Image {
		return &Image{
			Repo: "docker.io/library/postgres", Version: version, tags: tags, Size: size, OS: debianOS,
			bins: words(debianBins + " postgres psql pg_ctl pg_isready initdb docker-entrypoint.sh gosu"),
			Config: Config{
				Entrypoint: []string{"docker-entrypoint.sh"},
				Cmd:        []string{"postgres"},
				Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/" + major + "/bin",
					"GOSU_VERSION=1.17", "LANG=en_US.utf8", "PG_MAJOR=" + major, "PG_VERSION=" + version + "-1.pgdg120+1", "PGDATA=/var/lib/postgresql/data"},
				StopSignal: "SIGINT",
				Ports:      []string{"5432/tcp"},
			},
			Usage: Usage{NanoCores: 3_000_000, WorkingSet: 38_000_000, WritableBase: 39_845_888},
		}
	}
	defs := []*Image{
		nginx("1.27.3", []string{"latest", "1.27", "1.27.3", "mainline"}, 72_099_410, false),
		nginx("1.25.5", []string{"1.25", "1.25.5"}, 70_545_004, false),
		nginx("1.27.3-alpine", []string{"alpine", "1.27-alpine", "1.27.3-alpine", "mainline-alpine"}, 20_468_166, true),
		{
			Repo: "docker.io/library/httpd", Version: "2.4.62", tags: []string{"latest", "2.4", "2.4.62"}, Size: 58_183_237, OS: debianOS,
			bins: words(debianBins + " httpd httpd-foreground apachectl"),
			Config: Config{
				Cmd:        []string{"httpd-foreground"},
				Env:        []string{"PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HTTPD_PREFIX=/usr/local/apache2", "HTTPD_VERSION=2.4.62", "HTTPD_PATCHES="},
				WorkingDir: "/usr/local/apache2",
				StopSignal: "SIGWINCH",
				Ports:      []string{"80/tcp"},
			},
			Usage: Usage{NanoCores: 1_000_000, WorkingSet: 12_400_000, WritableBase: 8_192},
			extra: map[string]string{"/usr/local/apache2/htdocs/index.html": "<html><body><h1>It works!</h1></body></html>\n"},
		},
		{
			Repo: "docker.io/library/redis", Version: "7.4.1", tags: []string{"latest", "7", "7.4", "7.4.1"}, Size: 45_139_452, OS: debianOS,
			bins: words(debianBins + " redis-server redis-cli redis-benchmark docker-entrypoint.sh gosu"),
			Config: Config{
				Entrypoint: []string{"docker-entrypoint.sh"},
				Cmd:        []string{"redis-server"},
				Env:        []string{stdPath, "GOSU_VERSION=1.17", "REDIS_VERSION=7.4.1", "REDIS_DOWNLOAD_URL=http://download.redis.io/releases/redis-7.4.1.tar.gz"},
				WorkingDir: "/data",
				Ports:      []string{"6379/tcp"},
			},
			Usage: Usage{NanoCores: 2_000_000, WorkingSet: 9_400_000, WritableBase: 4_096},
		},
		postgres("17.2", "17", []string{"latest", "17", "17.2"}, 158_260_116),
		postgres("16.6", "16", []string{"16", "16.6"}, 153_477_339),
		{
			Repo: "docker.io/library/busybox", Version: "1.36.1", tags: []string{"latest", "1.36", "1.36.1"}, Size: 2_155_235, OS: busyboxOS,
			bins:   words(busyboxBins),
			Config: Config{Cmd: []string{"sh"}, Env: []string{stdPath}},
			Usage:  Usage{NanoCores: 20_000, WorkingSet: 410_000},
		},
		{
			Repo: "docker.io/library/alpine", Version: "3.20.3", tags: []string{"latest", "3.20", "3.20.3", "3"}, Size: 3_625_319, OS: alpineOS,
			bins:   words(alpineBins),
			Config: Config{Cmd: []string{"/bin/sh"}, Env: []string{stdPath}},
			Usage:  Usage{NanoCores: 20_000, WorkingSet: 450_000},
		},
		{
			Repo: "docker.io/library/ubuntu", Version: "24.04", tags: []string{"latest", "24.04", "noble"}, Size: 29_754_290, OS: ubuntuOS,
			bins:   words(debianBins),
			Config: Config{Cmd: []string{"/bin/bash"}, Env: []string{stdPath}},
			Usage:  Usage{NanoCores: 20_000, WorkingSet: 520_000},
		},
		{
			Repo: "docker.io/library/debian", Version: "12.8", tags: []string{"latest", "12", "12.8", "bookworm"}, Size: 49_557_601, OS: debianOS,
			bins:   words(debianBins),
			Config: Config{Cmd: []string{"bash"}, Env: []string{stdPath}},
			Usage:  Usage{NanoCores: 20_000, WorkingSet: 520_000},
		},
		{
			// Kubernetes' e2e test image, which the documentation's
			// dnsutils Pod runs (Debugging DNS Resolution): Alpine with
			// bind-tools (BIND's nslookup, dig and host), netcat-openbsd,
			// curl, iproute2 and bash; its agnhost runs `pause` unless told
			// another subcommand. (Its size here is approximate.)
			Repo: "registry.k8s.io/e2e-test-images/agnhost", Version: "2.39", tags: []string{"2.39"}, Size: 51_288_012, OS: alpineOS,
			bins: words(alpineBins + " agnhost agnhost-2 dig host bash curl ip ss iperf"),
			Config: Config{
				Entrypoint: []string{"/agnhost"},
				Cmd:        []string{"pause"},
				Env:        []string{stdPath},
				Ports:      []string{"80/tcp", "8080/tcp", "8081/tcp", "9376/tcp"},
			},
			Usage: Usage{NanoCores: 20_000, WorkingSet: 2_300_000},
		},
		{
			// The DNS add-on's image, as kubeadm v1.37 deploys it: distroless,
			// CoreDNS alone (its process is the real CoreDNS, see package
			// components/coredns).
			Repo: "registry.k8s.io/coredns/coredns", Version: "v1.14.6", tags: []string{"v1.14.6"}, Size: 22_419_616,
			OS: OS{name: "distroless"}, bins: words("coredns"),
			Config: Config{Entrypoint: []string{"/coredns"}, Ports: []string{"53/tcp", "53/udp"}},
			Usage:  Usage{NanoCores: 2_000_000, WorkingSet: 16_800_000},
		},
		{
			Repo: "registry.k8s.io/pause", Version: "3.10", tags: []string{"3.10"}, Size: 320_368,
			OS: OS{name: "scratch"}, bins: words("pause"), Pinned: true,
			Config: Config{Entrypoint: []string{"/pause"}},
			Usage:  Usage{WorkingSet: 245_760},
		},
		{
			Repo: "registry.k8s.io/pause", Version: "3.10.1", tags: []string{"3.10.1"}, Size: 320_448,
			OS: OS{name: "scratch"}, bins: words("pause"), Pinned: true,
			Config: Config{Entrypoint: []string{"/pause"}},
			Usage:  Usage{WorkingSet: 245_760},
		},
	}
	c := &Catalogue{byRepo: map[string][]*Image{}, byID: map[string]*Image{}}
	for _, d := range defs {
		d.ID = derive("config", d.Repo, d.Version)
		d.Digest = derive("index", d.Repo, d.Version)
		if d.Config.StopSignal == "" {
			d.Config.StopSignal = "SIGTERM"
		}
		c.byRepo[d.Repo] = append(c.byRepo[d.Repo], d)
		c.byID[d.ID] = d
	}
	return c
}

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// ---- references ----

// Ref is a normalised image reference.
type Ref struct {
	Domain string
	Path   string
	Tag    string
	Digest string
}

// Repo is the repository, domain included.
func (r Ref) Repo() string { return r.Domain + "/" + r.Path }

func (r Ref) String() string {
	s := r.Repo()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// ParseRef normalises a reference as containerd's CRI does, with
// the reference library it uses (github.com/distribution/reference):
// nginx -> docker.io/library/nginx:latest, and a reference with a digest
// keeps only the digest. Its errors are the library's ("invalid reference
// format", "repository name must be lowercase"), which the kubelet shows.
func ParseRef(s string) (Ref, error) {
	named, err := reference.ParseDockerRef(s)
	if err != nil {
		return Ref{}, err
	}
	r := Ref{Domain: reference.Domain(named), Path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest().String()
	}
	return r, nil
}

// RegistryError is a failed resolution; NotFound tells a missing image
// (gRPC NotFound) from a registry that refused or could not be reached.
type RegistryError struct {
	NotFound bool
	msg      string
}

func (e *RegistryError) Error() string { return e.msg }

// Resolve plays the registry: it finds the image a reference names, or
// fails the way a real registry lookup fails through containerd.
func (c *Catalogue) Resolve(ref Ref) (*Image, error) {
	wrap := func(notFound bool, cause string) error {
		return &RegistryError{NotFound: notFound, msg: fmt.Sprintf("failed to pull and unpack image %q: failed to resolve reference %q: %s", ref.String(), ref.String(), cause)}
	}
	defs := c.byRepo[ref.Repo()]
	if len(defs) == 0 && wellKnownElsewhere(ref.Repo()) {
		// "pull access denied" would be a lie for an image learners know
		// exists; say what the simulated registry holds instead.
		return nil, wrap(true, fmt.Sprintf("%s: not found in the simulated registry, which has %s; use --runtime containerd for other images", ref.String(), c.repoList()))
	}
	if len(defs) == 0 {
		switch ref.Domain {
		case "docker.io", "quay.io", "ghcr.io", "gcr.io", "public.ecr.aws", "mcr.microsoft.com":
			return nil, wrap(false, "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed")
		case "registry.k8s.io":
			return nil, wrap(true, ref.String()+": not found")
		}
		host, port, hasPort := strings.Cut(ref.Domain, ":")
		if !hasPort {
			port = "443"
		}
		tagOrDigest := ref.Tag
		if ref.Digest != "" {
			tagOrDigest = ref.Digest
		}
		url := fmt.Sprintf("https://%s/v2/%s/manifests/%s", ref.Domain, ref.Path, tagOrDigest)
		if host == "localhost" || host == "127.0.0.1" {
			return nil, wrap(false, fmt.Sprintf("failed to do request: Head %q: dial tcp 127.0.0.1:%s: connect: connection refused", url, port))
		}
		return nil, wrap(false, fmt.Sprintf("failed to do request: Head %q: dial tcp: lookup %s: no such host", url, host))
	}
	for _, d := range defs {
		if ref.Digest != "" {
			if d.Digest == ref.Digest {
				return d, nil
			}
			continue
		}
		for _, t := range d.tags {
			if t == ref.Tag {
				return d, nil
			}
		}
	}
	return nil, wrap(true, ref.String()+": not found")
}

// wellKnownElsewhere lists popular images a tutorial may use that the
// simulator does not provide.
func wellKnownElsewhere(repo string) bool {
	switch repo {
	case "docker.io/library/python", "docker.io/library/node", "docker.io/library/golang", "docker.io/library/mysql",
		"docker.io/library/mariadb", "docker.io/library/mongo", "docker.io/library/rabbitmq", "docker.io/library/memcached",
		"docker.io/library/traefik", "docker.io/library/haproxy", "docker.io/library/caddy", "docker.io/library/openjdk",
		"docker.io/library/eclipse-temurin", "docker.io/library/php", "docker.io/library/ruby", "docker.io/library/wordpress",
		"docker.io/library/centos", "docker.io/library/fedora", "docker.io/library/hello-world", "docker.io/library/registry",
		"docker.io/curlimages/curl", "docker.io/nicolaka/netshoot", "docker.io/hashicorp/http-echo", "docker.io/traefik/whoami",
		"docker.io/grafana/grafana", "docker.io/prom/prometheus", "docker.io/bitnami/kubectl",
		"registry.k8s.io/echoserver", "registry.k8s.io/busybox",
		"gcr.io/google-samples/hello-app", "quay.io/prometheus/prometheus":
		return true
	}
	return false
}

func (c *Catalogue) repoList() string {
	var names []string
	for repo := range c.byRepo {
		names = append(names, strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/library/"), "docker.io/"))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
