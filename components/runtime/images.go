package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// The built-in registry: the images a learner is likely to use, with
// their real defaults (entrypoint, command, environment, stop signal) and
// realistic compressed sizes. Identifiers are derived from name and
// version with sha256, so they look real and are the same on every node
// and every run.

type osFlavour struct {
	name     string
	gnu      bool   // GNU coreutils messages rather than busybox ones
	shell    string // what /bin/sh is: "ash" or "dash"
	compiler string // as nginx -V reports it
}

type imageConfig struct {
	entrypoint []string
	cmd        []string
	env        []string
	workingDir string
	user       string
	stopSignal signal
	ports      []string
}

type usageProfile struct {
	nanoCores    uint64 // steady CPU use
	workingSet   uint64 // bytes
	writableBase uint64 // bytes the program writes to its writable layer
}

type imageDef struct {
	repo    string // normalised, e.g. docker.io/library/nginx
	version string
	tags    []string
	size    uint64
	config  imageConfig
	os      osFlavour
	bins    map[string]bool
	id      string // sha256:<config digest>
	digest  string // sha256:<manifest index digest>
	usage   usageProfile
	pinned  bool
	extra   map[string]string // files beyond /etc/os-release
}

func (d *imageDef) hasBin(name string) bool { return d.bins[name] }

// family is the short repository name ("nginx", "redis", ...).
func (d *imageDef) family() string {
	if d == nil {
		return ""
	}
	return baseName(d.repo)
}

// softwareVersion is the version of the image's main program.
func (d *imageDef) softwareVersion(family, fallback string) string {
	if d != nil && d.family() == family {
		return strings.TrimSuffix(d.version, "-alpine")
	}
	return fallback
}

func (d *imageDef) files() map[string]string {
	files := map[string]string{}
	switch d.os.name {
	case "alpine":
		v := "3.20.3"
		if d.family() == "alpine" {
			v = d.version
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

type catalogue struct {
	byRepo map[string][]*imageDef
	byID   map[string]*imageDef
}

func derive(kind, repo, version string) string {
	sum := sha256.Sum256([]byte("wheelhouse/" + kind + "\x00" + repo + "\x00" + version))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func coreutils() string {
	return "sleep echo printf true false test [ pwd date hostname env printenv cat wc head tail grep uname whoami id seq " +
		"touch mkdir rm basename dirname ls cp mv ln chmod chown ps kill sed awk find tar gzip tr cut sort uniq xargs " +
		"df du free mount tee which timeout dmesg "
}

func newCatalogue() *catalogue {
	const stdPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	busyboxOS := osFlavour{name: "busybox", shell: "ash"}
	alpineOS := osFlavour{name: "alpine", shell: "ash", compiler: "gcc 13.2.1 20240309 (Alpine 13.2.1_git20240309)"}
	debianOS := osFlavour{name: "debian", gnu: true, shell: "dash", compiler: "gcc 12.2.0 (Debian 12.2.0-14)"}
	ubuntuOS := osFlavour{name: "ubuntu", gnu: true, shell: "dash", compiler: "gcc 13.2.0 (Ubuntu 13.2.0-23ubuntu4)"}
	busyboxBins := coreutils() + "sh ash vi wget nc nslookup ping telnet top watch less more"
	alpineBins := busyboxBins + " apk"
	debianBins := coreutils() + "sh dash bash apt apt-get dpkg"
	nginxHTML := "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n" +
		"<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n</body>\n</html>\n"

	nginx := func(version string, tags []string, size uint64, alpine bool) *imageDef {
		os, bins, njs := debianOS, debianBins+" curl envsubst", "0.8.7"
		if alpine {
			os, bins = alpineOS, alpineBins+" curl envsubst"
		}
		if strings.HasPrefix(version, "1.25") {
			njs = "0.8.4"
		}
		return &imageDef{
			repo: "docker.io/library/nginx", version: version, tags: tags, size: size, os: os,
			bins: words(bins + " nginx nginx-debug docker-entrypoint.sh"),
			config: imageConfig{
				entrypoint: []string{"/docker-entrypoint.sh"},
				cmd:        []string{"nginx", "-g", "daemon off;"},
				env:        []string{stdPath, "NGINX_VERSION=" + strings.TrimSuffix(version, "-alpine"), "NJS_VERSION=" + njs, "NJS_RELEASE=1~bookworm", "PKG_RELEASE=1~bookworm", "DYNPKG_RELEASE=1~bookworm"},
				stopSignal: sigQUIT,
				ports:      []string{"80/tcp"},
			},
			usage: usageProfile{nanoCores: 300_000, workingSet: 7_900_000, writableBase: 12_288},
			extra: map[string]string{"/usr/share/nginx/html/index.html": nginxHTML},
		}
	}
	postgres := func(version, major string, tags []string, size uint64) *imageDef {
		return &imageDef{
			repo: "docker.io/library/postgres", version: version, tags: tags, size: size, os: debianOS,
			bins: words(debianBins + " postgres psql pg_ctl pg_isready initdb docker-entrypoint.sh gosu"),
			config: imageConfig{
				entrypoint: []string{"docker-entrypoint.sh"},
				cmd:        []string{"postgres"},
				env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/" + major + "/bin",
					"GOSU_VERSION=1.17", "LANG=en_US.utf8", "PG_MAJOR=" + major, "PG_VERSION=" + version + "-1.pgdg120+1", "PGDATA=/var/lib/postgresql/data"},
				stopSignal: sigINT,
				ports:      []string{"5432/tcp"},
			},
			usage: usageProfile{nanoCores: 3_000_000, workingSet: 38_000_000, writableBase: 39_845_888},
		}
	}
	defs := []*imageDef{
		nginx("1.27.3", []string{"latest", "1.27", "1.27.3", "mainline"}, 72_099_410, false),
		nginx("1.25.5", []string{"1.25", "1.25.5"}, 70_545_004, false),
		nginx("1.27.3-alpine", []string{"alpine", "1.27-alpine", "1.27.3-alpine", "mainline-alpine"}, 20_468_166, true),
		{
			repo: "docker.io/library/httpd", version: "2.4.62", tags: []string{"latest", "2.4", "2.4.62"}, size: 58_183_237, os: debianOS,
			bins: words(debianBins + " httpd httpd-foreground apachectl"),
			config: imageConfig{
				cmd:        []string{"httpd-foreground"},
				env:        []string{"PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HTTPD_PREFIX=/usr/local/apache2", "HTTPD_VERSION=2.4.62", "HTTPD_PATCHES="},
				workingDir: "/usr/local/apache2",
				stopSignal: sigWINCH,
				ports:      []string{"80/tcp"},
			},
			usage: usageProfile{nanoCores: 1_000_000, workingSet: 12_400_000, writableBase: 8_192},
			extra: map[string]string{"/usr/local/apache2/htdocs/index.html": "<html><body><h1>It works!</h1></body></html>\n"},
		},
		{
			repo: "docker.io/library/redis", version: "7.4.1", tags: []string{"latest", "7", "7.4", "7.4.1"}, size: 45_139_452, os: debianOS,
			bins: words(debianBins + " redis-server redis-cli redis-benchmark docker-entrypoint.sh gosu"),
			config: imageConfig{
				entrypoint: []string{"docker-entrypoint.sh"},
				cmd:        []string{"redis-server"},
				env:        []string{stdPath, "GOSU_VERSION=1.17", "REDIS_VERSION=7.4.1", "REDIS_DOWNLOAD_URL=http://download.redis.io/releases/redis-7.4.1.tar.gz"},
				workingDir: "/data",
				ports:      []string{"6379/tcp"},
			},
			usage: usageProfile{nanoCores: 2_000_000, workingSet: 9_400_000, writableBase: 4_096},
		},
		postgres("17.2", "17", []string{"latest", "17", "17.2"}, 158_260_116),
		postgres("16.6", "16", []string{"16", "16.6"}, 153_477_339),
		{
			repo: "docker.io/library/busybox", version: "1.36.1", tags: []string{"latest", "1.36", "1.36.1"}, size: 2_155_235, os: busyboxOS,
			bins:   words(busyboxBins),
			config: imageConfig{cmd: []string{"sh"}, env: []string{stdPath}},
			usage:  usageProfile{nanoCores: 20_000, workingSet: 410_000},
		},
		{
			repo: "docker.io/library/alpine", version: "3.20.3", tags: []string{"latest", "3.20", "3.20.3", "3"}, size: 3_625_319, os: alpineOS,
			bins:   words(alpineBins),
			config: imageConfig{cmd: []string{"/bin/sh"}, env: []string{stdPath}},
			usage:  usageProfile{nanoCores: 20_000, workingSet: 450_000},
		},
		{
			repo: "docker.io/library/ubuntu", version: "24.04", tags: []string{"latest", "24.04", "noble"}, size: 29_754_290, os: ubuntuOS,
			bins:   words(debianBins),
			config: imageConfig{cmd: []string{"/bin/bash"}, env: []string{stdPath}},
			usage:  usageProfile{nanoCores: 20_000, workingSet: 520_000},
		},
		{
			repo: "docker.io/library/debian", version: "12.8", tags: []string{"latest", "12", "12.8", "bookworm"}, size: 49_557_601, os: debianOS,
			bins:   words(debianBins),
			config: imageConfig{cmd: []string{"bash"}, env: []string{stdPath}},
			usage:  usageProfile{nanoCores: 20_000, workingSet: 520_000},
		},
		{
			repo: "registry.k8s.io/pause", version: "3.10", tags: []string{"3.10"}, size: 320_368,
			os: osFlavour{name: "scratch"}, bins: words("pause"), pinned: true,
			config: imageConfig{entrypoint: []string{"/pause"}},
			usage:  usageProfile{workingSet: 245_760},
		},
		{
			repo: "registry.k8s.io/pause", version: "3.10.1", tags: []string{"3.10.1"}, size: 320_448,
			os: osFlavour{name: "scratch"}, bins: words("pause"), pinned: true,
			config: imageConfig{entrypoint: []string{"/pause"}},
			usage:  usageProfile{workingSet: 245_760},
		},
	}
	c := &catalogue{byRepo: map[string][]*imageDef{}, byID: map[string]*imageDef{}}
	for _, d := range defs {
		d.id = derive("config", d.repo, d.version)
		d.digest = derive("index", d.repo, d.version)
		if d.config.stopSignal == 0 {
			d.config.stopSignal = sigTERM
		}
		c.byRepo[d.repo] = append(c.byRepo[d.repo], d)
		c.byID[d.id] = d
	}
	return c
}

// sandboxImage is what a real containerd uses for the pod's pause
// container; it is on the node before any pull, pinned against GC.
const sandboxImage = "registry.k8s.io/pause:3.10.1"

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// ---- references ----

type imageRef struct {
	domain string
	path   string
	tag    string
	digest string
}

func (r imageRef) repo() string { return r.domain + "/" + r.path }

func (r imageRef) String() string {
	s := r.repo()
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

// imageIDHexR is an image id without its "sha256:" (crictl accepts both).
var imageIDHexR = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseImageRef normalises a reference as containerd's CRI does, with
// the reference library it uses (github.com/distribution/reference):
// nginx -> docker.io/library/nginx:latest, and a reference with a digest
// keeps only the digest. Its errors are the library's ("invalid reference
// format", "repository name must be lowercase"), which the kubelet shows.
func parseImageRef(s string) (imageRef, error) {
	named, err := reference.ParseDockerRef(s)
	if err != nil {
		return imageRef{}, err
	}
	r := imageRef{domain: reference.Domain(named), path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.digest = d.Digest().String()
	}
	return r, nil
}

type registryError struct {
	notFound bool
	msg      string
}

func (e *registryError) Error() string { return e.msg }

// resolve plays the registry: it finds the image a reference names, or
// fails the way a real registry lookup fails through containerd.
func (c *catalogue) resolve(ref imageRef) (*imageDef, error) {
	wrap := func(notFound bool, cause string) error {
		return &registryError{notFound: notFound, msg: fmt.Sprintf("failed to pull and unpack image %q: failed to resolve reference %q: %s", ref.String(), ref.String(), cause)}
	}
	defs := c.byRepo[ref.repo()]
	if len(defs) == 0 && wellKnownElsewhere(ref.repo()) {
		// "pull access denied" would be a lie for an image learners know
		// exists; say what the simulated registry holds instead.
		return nil, wrap(true, fmt.Sprintf("%s: not found in the simulated registry, which has %s; use --runtime containerd for other images", ref.String(), c.repoList()))
	}
	if len(defs) == 0 {
		switch ref.domain {
		case "docker.io", "quay.io", "ghcr.io", "gcr.io", "public.ecr.aws", "mcr.microsoft.com":
			return nil, wrap(false, "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed")
		case "registry.k8s.io":
			return nil, wrap(true, ref.String()+": not found")
		}
		host, port, hasPort := strings.Cut(ref.domain, ":")
		if !hasPort {
			port = "443"
		}
		tagOrDigest := ref.tag
		if ref.digest != "" {
			tagOrDigest = ref.digest
		}
		url := fmt.Sprintf("https://%s/v2/%s/manifests/%s", ref.domain, ref.path, tagOrDigest)
		if host == "localhost" || host == "127.0.0.1" {
			return nil, wrap(false, fmt.Sprintf("failed to do request: Head %q: dial tcp 127.0.0.1:%s: connect: connection refused", url, port))
		}
		return nil, wrap(false, fmt.Sprintf("failed to do request: Head %q: dial tcp: lookup %s: no such host", url, host))
	}
	for _, d := range defs {
		if ref.digest != "" {
			if d.digest == ref.digest {
				return d, nil
			}
			continue
		}
		for _, t := range d.tags {
			if t == ref.tag {
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
		"registry.k8s.io/e2e-test-images/agnhost", "registry.k8s.io/echoserver", "registry.k8s.io/busybox",
		"gcr.io/google-samples/hello-app", "quay.io/prometheus/prometheus":
		return true
	}
	return false
}

func (c *catalogue) repoList() string {
	var names []string
	for repo := range c.byRepo {
		names = append(names, strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/library/"), "docker.io/"))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
