package images

import (
	"strings"
	"testing"
)

func TestImageReferences(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                         "docker.io/library/nginx:latest",
		"nginx:1.25":                    "docker.io/library/nginx:1.25",
		"foo/bar":                       "docker.io/foo/bar:latest",
		"index.docker.io/library/redis": "docker.io/library/redis:latest",
		"registry.k8s.io/pause:3.10":    "registry.k8s.io/pause:3.10",
		"localhost:5000/app":            "localhost:5000/app:latest",
		"busybox@sha256:" + hex64('a'):  "docker.io/library/busybox@sha256:" + hex64('a'),
		// As containerd's CRI: with a digest, the tag is dropped.
		"quay.io/org/img:v1@sha256:" + hex64('b'): "quay.io/org/img@sha256:" + hex64('b'),
	} {
		ref, err := ParseRef(in)
		if err != nil || ref.String() != want {
			t.Errorf("ParseRef(%q) = %q, %v; want %q", in, ref.String(), err, want)
		}
	}
	for bad, want := range map[string]string{
		"":                 "invalid reference format",
		"Nginx":            "invalid reference format: repository name (library/Nginx) must be lowercase",
		"nginx:":           "invalid reference format",
		"nginx@sha256:123": "invalid reference format",
		"a//b":             "invalid reference format",
	} {
		if _, err := ParseRef(bad); err == nil || err.Error() != want {
			t.Errorf("ParseRef(%q): %v; want %q", bad, err, want)
		}
	}
}

func hex64(c byte) string { return strings.Repeat(string(c), 64) }
