package simruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/wheelhouse-k8s/wheelhouse/components/simruntime/images"
)

// What a node's runtime keeps on disk, as containerd keeps its image
// store and the CNI configuration written from the pod CIDR: a runtime
// stopped and started again (or a restarted Wheelhouse) still has the
// images it pulled and still hands out pod IPs. Without this a restarted
// runtime would refuse every sandbox, because the kubelet sends the pod
// CIDR only when it changes. Containers and sandboxes are not kept: they
// die with the runtime, as processes do, and the kubelet recreates them.
type persistedState struct {
	PodCIDR string `json:"podCIDR,omitempty"`
	// Images are the references images were pulled by.
	Images []string `json:"images,omitempty"`
}

const stateFile = "runtime-state.json"

func (r *Runtime) statePath() string { return filepath.Join(filepath.Dir(r.socket), stateFile) }

// loadState restores what a previous run of this node's runtime kept. A
// missing file is a new node; an unreadable one is reported and ignored
// (the kubelet pulls again), never fatal.
func (r *Runtime) loadState() {
	b, err := os.ReadFile(r.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st persistedState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		r.log.Error(err, "Ignoring the runtime's saved state", "file", r.statePath())
		return
	}
	if _, err := r.ipam.setCIDRs(st.PodCIDR); err != nil {
		r.log.Error(err, "Ignoring the saved pod CIDR", "file", r.statePath())
	}
	for _, name := range st.Images {
		ref, err := images.ParseRef(name)
		if err != nil {
			continue
		}
		if def, err := r.catalogue.Resolve(ref); err == nil {
			r.cacheImage(def, ref)
		}
	}
}

// saveStateLocked writes the state through a temporary file, so a kill in
// the middle leaves the old state; the caller holds r.mu.
func (r *Runtime) saveStateLocked() {
	st := persistedState{PodCIDR: r.ipam.cidrs()}
	for _, ci := range r.images {
		st.Images = append(st.Images, ci.repoTags...)
		if len(ci.repoTags) == 0 {
			st.Images = append(st.Images, ci.repoDigests...)
		}
	}
	slices.Sort(st.Images)
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = writeFileAtomic(r.statePath(), b)
	}
	if err != nil {
		r.log.Error(err, "Saving the runtime's state")
	}
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}
