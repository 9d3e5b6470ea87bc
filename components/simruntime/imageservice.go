package simruntime

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/images"
)

type imageService struct {
	runtimeapi.UnimplementedImageServiceServer
	r *Runtime
}

// cachedImage is an image present on this node under the names it was
// pulled by.
type cachedImage struct {
	def         *images.Image
	repoTags    []string
	repoDigests []string
}

func (ci *cachedImage) displayName(spec *runtimeapi.ImageSpec) string {
	for _, cand := range []string{spec.GetUserSpecifiedImage(), spec.GetImage()} {
		if ref, err := images.ParseRef(cand); err == nil && ref.Digest == "" && slices.Contains(ci.repoTags, ref.String()) {
			return ref.String()
		}
	}
	if len(ci.repoTags) > 0 {
		return ci.repoTags[0]
	}
	if len(ci.repoDigests) > 0 {
		return ci.repoDigests[0]
	}
	return ci.def.ID
}

// cacheImage records the image under the reference it was pulled by; the
// caller holds r.mu (or is the constructor).
func (r *Runtime) cacheImage(def *images.Image, ref images.Ref) *cachedImage {
	ci := r.images[def.ID]
	if ci == nil {
		ci = &cachedImage{def: def}
		r.images[def.ID] = ci
	}
	if ref.Tag != "" {
		tagged := ref.Repo() + ":" + ref.Tag
		if !slices.Contains(ci.repoTags, tagged) {
			ci.repoTags = append(ci.repoTags, tagged)
		}
	}
	digested := def.Repo + "@" + def.Digest
	if !slices.Contains(ci.repoDigests, digested) {
		ci.repoDigests = append(ci.repoDigests, digested)
	}
	return ci
}

// imageIDHexR is an image id without its "sha256:" (crictl accepts both).
var imageIDHexR = regexp.MustCompile(`^[0-9a-f]{64}$`)

// lookupImage finds a cached image by id, by name:tag or by name@digest,
// as containerd resolves the image field of CRI requests.
func (r *Runtime) lookupImage(s string) *cachedImage {
	if s == "" {
		return nil
	}
	if imageIDHexR.MatchString(s) {
		s = "sha256:" + s
	}
	if ci := r.images[s]; ci != nil {
		return ci
	}
	ref, err := images.ParseRef(s)
	if err != nil {
		return nil
	}
	for _, ci := range r.images {
		if ref.Digest != "" {
			if ci.def.Repo == ref.Repo() && ci.def.Digest == ref.Digest {
				return ci
			}
			continue
		}
		if slices.Contains(ci.repoTags, ref.String()) {
			return ci
		}
	}
	return nil
}

func (r *Runtime) toCRIImage(ci *cachedImage) *runtimeapi.Image {
	img := &runtimeapi.Image{
		Id:          ci.def.ID,
		RepoTags:    slices.Clone(ci.repoTags),
		RepoDigests: slices.Clone(ci.repoDigests),
		Size:        ci.def.Size,
		Spec:        &runtimeapi.ImageSpec{Image: ci.def.ID},
		Pinned:      ci.def.Pinned,
	}
	// As containerd: a numeric USER becomes uid, a name becomes username,
	// and no USER leaves both empty (which the kubelet treats as root).
	if u := ci.def.Config.User; u != "" {
		if n, err := parseUint(u); err == nil {
			img.Uid = &runtimeapi.Int64Value{Value: n}
		} else {
			img.Username = u
		}
	}
	return img
}

func parseUint(s string) (int64, error) {
	s, _, _ = strings.Cut(s, ":")
	var n int64
	if s == "" {
		return 0, errors.New("empty")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

func (r *Runtime) listImages(f *runtimeapi.ImageFilter) []*runtimeapi.Image {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*runtimeapi.Image
	if want := f.GetImage().GetImage(); want != "" {
		if ci := r.lookupImage(want); ci != nil {
			out = append(out, r.toCRIImage(ci))
		}
		return out
	}
	for _, ci := range r.images {
		out = append(out, r.toCRIImage(ci))
	}
	slices.SortFunc(out, func(a, b *runtimeapi.Image) int { return strings.Compare(a.Id, b.Id) })
	return out
}

func (s *imageService) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	return &runtimeapi.ListImagesResponse{Images: s.r.listImages(req.GetFilter())}, nil
}

func (s *imageService) StreamImages(req *runtimeapi.StreamImagesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamImagesResponse]) error {
	if imgs := s.r.listImages(req.GetFilter()); len(imgs) > 0 {
		return stream.Send(&runtimeapi.StreamImagesResponse{Images: imgs})
	}
	return nil
}

func (s *imageService) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	ci := r.lookupImage(req.GetImage().GetImage())
	if ci == nil {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	resp := &runtimeapi.ImageStatusResponse{Image: r.toCRIImage(ci)}
	if req.GetVerbose() {
		c := ci.def.Config
		info, _ := json.Marshal(map[string]any{
			"imageSpec": map[string]any{
				"architecture": "amd64",
				"os":           "linux",
				"config": map[string]any{
					"Entrypoint":   c.Entrypoint,
					"Cmd":          c.Cmd,
					"Env":          c.Env,
					"WorkingDir":   c.WorkingDir,
					"User":         c.User,
					"StopSignal":   c.StopSignal,
					"ExposedPorts": c.Ports,
				},
			},
		})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// PullImage "downloads" the image at the configured registry speed. A
// cached image is returned at once; concurrent pulls of one image share a
// single download.
func (s *imageService) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	r := s.r
	name := req.GetImage().GetImage()
	ref, err := images.ParseRef(name)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed to pull and unpack image %q: failed to resolve reference %q: %v", name, name, err)
	}
	def, err := r.catalogue.Resolve(ref)
	if err != nil {
		var re *images.RegistryError
		if errors.As(err, &re) && re.NotFound {
			return nil, status.Error(codes.NotFound, err.Error())
		}
		return nil, status.Error(codes.Unknown, err.Error())
	}
	for {
		r.mu.Lock()
		if r.images[def.ID] != nil {
			r.cacheImage(def, ref)
			r.mu.Unlock()
			return &runtimeapi.PullImageResponse{ImageRef: def.ID}, nil
		}
		if wait, busy := r.pulls[def.ID]; busy {
			r.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
		done := make(chan struct{})
		r.pulls[def.ID] = done
		r.mu.Unlock()

		start := time.Now()
		var d time.Duration
		if r.cfg.PullBytesPerSecond > 0 {
			d = time.Duration(float64(def.Size) / float64(r.cfg.PullBytesPerSecond) * float64(time.Second))
		}
		r.log.V(2).Info("Pulling image", "image", ref.String(), "size", def.Size, "expected", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		var failed error
		select {
		case <-t.C:
		case <-ctx.Done():
			failed = status.FromContextError(ctx.Err()).Err()
		case <-r.closing:
			failed = status.Error(codes.Unavailable, "runtime is shutting down")
		}
		t.Stop()

		r.mu.Lock()
		delete(r.pulls, def.ID)
		close(done)
		if failed != nil {
			r.mu.Unlock()
			return nil, failed
		}
		r.cacheImage(def, ref)
		r.saveStateLocked()
		r.mu.Unlock()
		r.log.V(2).Info("Pulled image", "image", ref.String(), "imageID", def.ID, "duration", time.Since(start).Round(time.Millisecond))
		return &runtimeapi.PullImageResponse{ImageRef: def.ID}, nil
	}
}

func (s *imageService) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if ci := r.lookupImage(req.GetImage().GetImage()); ci != nil {
		delete(r.images, ci.def.ID)
		r.saveStateLocked()
		r.log.V(2).Info("Removed image", "imageID", ci.def.ID, "tags", ci.repoTags)
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

func (s *imageService) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	var used, inodes uint64
	for _, ci := range r.images {
		used += ci.def.Size
		inodes += 64 + ci.def.Size/32768
	}
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems: []*runtimeapi.FilesystemUsage{{
			Timestamp:  r.now().UnixNano(),
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: r.imageFS},
			UsedBytes:  &runtimeapi.UInt64Value{Value: used},
			InodesUsed: &runtimeapi.UInt64Value{Value: inodes},
		}},
	}, nil
}
