// Package kubeversion makes the embedded Kubernetes components report the
// release they were built from (v1.37.2) without any -ldflags.
//
// Kubernetes normally stamps its version into k8s.io/component-base/version
// at link time with -X flags from its own build scripts. Built as a library
// through `go build`, `go run` or `go test`, those variables keep their
// placeholder "v0.0.0-master+$Format:%H$", which nodes then report as their
// kubelet version and `kubectl version` prints. The release is known exactly
// from the module graph (the k8s.io/kubernetes requirement in go.mod), so this
// package reads it from the binary's build information at start-up and writes
// it into those variables.
//
// Package-level state: the variables written here belong to component-base;
// Kubernetes forces them to be process-global.
package kubeversion

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	_ "unsafe" // for go:linkname

	_ "k8s.io/client-go/pkg/version" // its variables are set below
	"k8s.io/component-base/version"
)

// Module is the module whose version the components report.
const Module = "k8s.io/kubernetes"

// fallback is used when the build carries no module information (for
// example a binary built with -trimpath and stripped build info). It must
// match the k8s.io/kubernetes requirement in go.mod; a test checks that.
const fallback = "v1.37.2"

//go:linkname gitMajor k8s.io/component-base/version.gitMajor
var gitMajor string

//go:linkname gitMinor k8s.io/component-base/version.gitMinor
var gitMinor string

//go:linkname gitVersion k8s.io/component-base/version.gitVersion
var gitVersion string

//go:linkname gitTreeState k8s.io/component-base/version.gitTreeState
var gitTreeState string

//go:linkname dynamicGitVersion k8s.io/component-base/version.dynamicGitVersion
var dynamicGitVersion atomic.Value

// client-go keeps a version of its own, used in every component's default
// user agent ("kube-scheduler/v1.37.2 (linux/amd64) …").

//go:linkname clientGitMajor k8s.io/client-go/pkg/version.gitMajor
var clientGitMajor string

//go:linkname clientGitMinor k8s.io/client-go/pkg/version.gitMinor
var clientGitMinor string

//go:linkname clientGitVersion k8s.io/client-go/pkg/version.gitVersion
var clientGitVersion string

func init() {
	v := fromBuildInfo()
	major, minor, ok := majorMinor(v)
	if !ok {
		v = fallback
		major, minor, _ = majorMinor(v)
	}
	gitMajor, gitMinor, gitVersion = major, minor, v
	clientGitMajor, clientGitMinor, clientGitVersion = major, minor, v
	if gitTreeState == "" {
		gitTreeState = "clean"
	}
	// component-base copied the placeholder into its dynamic version at its
	// own init, which ran before this one (this package imports it).
	dynamicGitVersion.Store(v)
}

// Version is the Kubernetes release the embedded components report.
func Version() string { return version.Get().GitVersion }

func fromBuildInfo() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, dep := range info.Deps {
		if dep.Path != Module {
			continue
		}
		if dep.Replace != nil && dep.Replace.Version != "" {
			return dep.Replace.Version
		}
		return dep.Version
	}
	return ""
}

// majorMinor splits "v1.37.2" into "1" and "37". Pseudo-versions and
// anything not of the vMAJOR.MINOR.PATCH form are refused, so a development
// build falls back to the pinned release instead of inventing a version.
func majorMinor(v string) (string, string, bool) {
	if !strings.HasPrefix(v, "v") {
		return "", "", false
	}
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 || strings.Contains(parts[2], "-") {
		return "", "", false
	}
	for _, p := range parts {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || fmt.Sprint(n) != p {
			return "", "", false
		}
	}
	return parts[0], parts[1], true
}
