package containerd

import (
	"bytes"
	"path/filepath"
	"strconv"
	"text/template"
)

// layout is where one private containerd keeps everything, all under its
// node's directory.
type layout struct {
	Dir        string
	Config     string // config.toml, written by Wheelhouse
	Root       string // persistent: content, snapshots, metadata
	State      string // runtime state: task bundles, pod netns mounts
	Socket     string
	RuncRoot   string
	CNIConfDir string
	IPAMDir    string // host-local's allocations
	PIDFile    string
	Opt        string
}

func newLayout(dir string) layout {
	return layout{
		Dir:        dir,
		Config:     filepath.Join(dir, "config.toml"),
		Root:       filepath.Join(dir, "root"),
		State:      filepath.Join(dir, "state"),
		Socket:     filepath.Join(dir, "containerd.sock"),
		RuncRoot:   filepath.Join(dir, "state", "runc"),
		CNIConfDir: filepath.Join(dir, "cni", "net.d"),
		IPAMDir:    filepath.Join(dir, "cni", "ipam"),
		PIDFile:    filepath.Join(dir, "containerd.pid"),
		Opt:        filepath.Join(dir, "opt"),
	}
}

// configTemplate is containerd 2.x's configuration (version 3). Every path
// is the node's own (TOML basic strings quote like Go strings), so several containerds share one host without
// meeting; plugins that would reach for host-wide paths (NRI's socket in
// /var/run/nri, snapshotters this host cannot use) are off.
var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(`# Written by Wheelhouse for {{.Node}}; rewritten at every start.
version = 3
root = {{q .Root}}
state = {{q .State}}
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
]

[grpc]
  address = {{q .Socket}}

[ttrpc]
  address = {{q .TTRPCSocket}}

[plugins."io.containerd.internal.v1.opt"]
  path = {{q .Opt}}

[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = {{q .VerifierDir}}

# The CRI server: its streaming endpoint (exec, attach, port-forward) on
# loopback at a port of its own choosing; the kubelet proxies to it.
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {{q .SandboxImage}}

[plugins."io.containerd.cri.v1.runtime"]
  # Without CAP_SYS_RESOURCE (this machine kind's sandboxes have none) runc
  # fails to lower oom_score_adj ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  # Pod network namespaces live under the state directory, not /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_cdi = false
  cdi_spec_dirs = []
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        # No systemd here, and cgroups v1: the cgroupfs driver, as the kubelet.
        SystemdCgroup = false
        Root = {{q .RuncRoot}}
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [{{q .CNIBinDir}}]
    conf_dir = {{q .CNIConfDir}}
    max_conf_num = 1
`))

type configData struct {
	layout
	Node         string
	TTRPCSocket  string
	VerifierDir  string
	SandboxImage string
	CNIBinDir    string
}

func renderConfig(l layout, node, sandboxImage, cniBinDir string) []byte {
	var b bytes.Buffer
	err := configTemplate.Execute(&b, configData{
		layout:       l,
		Node:         node,
		TTRPCSocket:  l.Socket + ".ttrpc",
		VerifierDir:  filepath.Join(l.Opt, "image-verifier", "bin"),
		SandboxImage: sandboxImage,
		CNIBinDir:    cniBinDir,
	})
	if err != nil {
		panic(err) // the template and its data are fixed
	}
	return b.Bytes()
}
