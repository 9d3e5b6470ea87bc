package containerd

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The images Wheelhouse builds when a node lacks them. They are named
// under localhost/ so that no one takes them for a registry's, and tagged
// (not latest) so that the kubelet's default pull policy, IfNotPresent,
// never tries a registry for them.
const (
	BusyboxImage = "localhost/wheelhouse/busybox:1"
	// SandboxImage is every pod's sandbox ("pause") container.
	SandboxImage = "localhost/wheelhouse/pause:1"

	// BusyboxPath is where Debian's busybox-static installs busybox.
	BusyboxPath = "/bin/busybox"
	snapshotter = "overlayfs"
)

// EnsureImages makes sure the busybox and pause images are in containerd
// and unpacked, building them from the host's static busybox if not.
func (c *Containerd) EnsureImages(ctx context.Context) error {
	ctx = withNamespace(ctx)
	var missing bool
	for _, name := range []string{BusyboxImage, SandboxImage} {
		img, err := c.client.GetImage(ctx, name)
		if err != nil {
			if !errdefs.IsNotFound(err) {
				return fmt.Errorf("looking up %s in containerd: %w", name, err)
			}
			missing = true
			break
		}
		if ok, err := img.IsUnpacked(ctx, snapshotter); err != nil || !ok {
			missing = true
			break
		}
	}
	if !missing {
		return nil
	}
	layout, err := BuildBusyboxImages(BusyboxPath)
	if err != nil {
		return err
	}
	if _, err := c.Import(ctx, bytes.NewReader(layout)); err != nil {
		return fmt.Errorf("importing the busybox and pause images: %w", err)
	}
	return nil
}

// Import imports an OCI image layout or docker-archive tarball into the
// k8s.io namespace and unpacks each image for the CRI. It returns the
// names of the images imported.
func (c *Containerd) Import(ctx context.Context, r io.Reader) ([]string, error) {
	return Import(withNamespace(ctx), c.client, r)
}

// Import imports a tarball through cl (whose context must carry the
// namespace), as Containerd.Import.
func Import(ctx context.Context, cl *client.Client, r io.Reader) ([]string, error) {
	imgs, err := cl.Import(ctx, r, client.WithSkipDigestRef(func(string) bool { return true }))
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, errors.New("the archive names no image (an OCI layout needs an org.opencontainers.image.ref.name annotation with a full name such as example.com/app:1)")
	}
	var names []string
	for _, img := range imgs {
		if err := client.NewImage(cl, img).Unpack(ctx, snapshotter); err != nil {
			return names, fmt.Errorf("unpacking %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// BuildBusyboxImages builds an OCI image layout (as a tar) with two
// images sharing one layer: the busybox image (every applet linked at its
// usual path, a shell by default) and the pause image (busybox sleeping
// until it is killed). busybox must be statically linked: the image has
// no C library.
func BuildBusyboxImages(busybox string) ([]byte, error) {
	const hint = "Wheelhouse builds its busybox and pause images from a static busybox: apt-get install busybox-static"
	f, err := elf.Open(busybox)
	if err != nil {
		return nil, fmt.Errorf("no usable %s (%v). %s", busybox, err, hint)
	}
	static := true
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			static = false
		}
	}
	f.Close()
	if !static {
		return nil, fmt.Errorf("%s is dynamically linked. %s", busybox, hint)
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox's applets: %w", err)
	}
	applets := strings.Fields(string(out))

	layer, diffID, err := busyboxLayer(bin, applets)
	if err != nil {
		return nil, err
	}
	l := &ociLayout{blobs: map[digest.Digest][]byte{}}
	layerDesc := l.add(ocispec.MediaTypeImageLayerGzip, layer)
	for _, im := range []struct {
		name string
		cfg  ocispec.ImageConfig
	}{
		{BusyboxImage, ocispec.ImageConfig{Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}}},
		// PID 1 of its namespace: it ignores SIGTERM, and the CRI stops a
		// sandbox with SIGKILL.
		{SandboxImage, ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Entrypoint: []string{"/bin/sleep", "2147483647"}}},
	} {
		cfg, _ := json.Marshal(ocispec.Image{
			Platform: ocispec.Platform{Architecture: goruntime.GOARCH, OS: "linux"},
			Config:   im.cfg,
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		})
		cfgDesc := l.add(ocispec.MediaTypeImageConfig, cfg)
		manifest, _ := json.Marshal(ocispec.Manifest{
			Versioned: specsVersioned,
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    cfgDesc,
			Layers:    []ocispec.Descriptor{layerDesc},
		})
		md := l.add(ocispec.MediaTypeImageManifest, manifest)
		md.Platform = &ocispec.Platform{Architecture: goruntime.GOARCH, OS: "linux"}
		md.Annotations = map[string]string{images.AnnotationImageName: im.name, ocispec.AnnotationRefName: im.name}
		l.manifests = append(l.manifests, md)
	}
	return l.tar()
}

// epoch is the timestamp of every file in the built layer, so the layer
// (and the image ids) are the same on every build of the same busybox.
var epoch = time.Unix(0, 0)

func busyboxLayer(bin []byte, applets []string) (gz []byte, diffID digest.Digest, err error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	addDir := func(d string, mode int64) {
		if d == "." || d == "" || dirs[d] {
			return
		}
		dirs[d] = true
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch})
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "root", "var", "home"} {
		addDir(d, 0o755)
	}
	addDir("tmp", 0o1777)
	file := func(name string, mode int64, body []byte) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: epoch})
		_, _ = tw.Write(body)
	}
	file("bin/busybox", 0o755, bin)
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n"))
	sort.Strings(applets)
	for _, a := range applets {
		a = strings.TrimPrefix(path.Clean("/"+a), "/")
		if a == "bin/busybox" || a == "" {
			continue
		}
		addDir(path.Dir(a), 0o755)
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: "/bin/busybox", Mode: 0o777, ModTime: epoch})
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID = digest.FromBytes(raw.Bytes())
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return z.Bytes(), diffID, nil
}

// ociLayout is an OCI image layout held in memory.
type ociLayout struct {
	blobs     map[digest.Digest][]byte
	manifests []ocispec.Descriptor
}

func (l *ociLayout) add(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	l.blobs[d] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (l *ociLayout) tar() ([]byte, error) {
	index, _ := json.Marshal(ocispec.Index{Versioned: specsVersioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: l.manifests})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	file := func(name string, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := file(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return nil, err
	}
	if err := file(ocispec.ImageIndexFile, index); err != nil {
		return nil, err
	}
	ds := make([]string, 0, len(l.blobs))
	for d := range l.blobs {
		ds = append(ds, string(d))
	}
	sort.Strings(ds)
	for _, d := range ds {
		dg := digest.Digest(d)
		if err := file(path.Join("blobs", dg.Algorithm().String(), dg.Encoded()), l.blobs[dg]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

var specsVersioned = specs.Versioned{SchemaVersion: 2}
