package kubelet

import (
	"context"
	"os"
	"strings"
	"time"

	cadvisorapi "github.com/google/cadvisor/lib/model"
	"k8s.io/klog/v2"
	cadvisortest "k8s.io/kubernetes/pkg/kubelet/cadvisor/testing"
)

// machine stands in for cAdvisor, which would otherwise describe the host
// itself to every node. It gives each simulated node the capacity the
// cluster is configured with and honest OS details: the host's kernel and
// an OS image that says the node is simulated.
type machine struct {
	cadvisortest.Fake
	cores       int
	memoryBytes uint64
	diskBytes   uint64
	kernel      string
	osImage     string
	booted      time.Time
}

func newMachine(node string, cores int, memoryBytes, diskBytes uint64, realContainers bool) *machine {
	osImage := "Wheelhouse simulated node"
	if realContainers {
		osImage = "Wheelhouse node (containers in containerd)"
	}
	return &machine{
		osImage:     osImage,
		Fake:        cadvisortest.Fake{NodeName: node},
		cores:       cores,
		memoryBytes: memoryBytes,
		diskBytes:   diskBytes,
		kernel:      hostKernel(),
		booted:      time.Now(),
	}
}

func (m *machine) MachineInfo(klog.Logger) (*cadvisorapi.MachineInfo, error) {
	return &cadvisorapi.MachineInfo{
		NumCores:         m.cores,
		NumPhysicalCores: m.cores,
		NumSockets:       1,
		MemoryCapacity:   m.memoryBytes,
		MachineID:        m.NodeName,
		SystemUUID:       m.NodeName,
		BootID:           m.NodeName,
		InstanceID:       cadvisorapi.InstanceID(m.NodeName),
	}, nil
}

func (m *machine) VersionInfo() (*cadvisorapi.VersionInfo, error) {
	return &cadvisorapi.VersionInfo{
		KernelVersion:      m.kernel,
		ContainerOsVersion: m.osImage,
	}, nil
}

func (m *machine) fs() cadvisorapi.FsInfo {
	used := m.diskBytes / 10
	return cadvisorapi.FsInfo{
		Device:     "/dev/wheelhouse-" + m.NodeName,
		Mountpoint: "/",
		Capacity:   m.diskBytes,
		Available:  m.diskBytes - used,
		Usage:      used,
		Inodes:     ptr(uint64(6_000_000)),
		InodesFree: ptr(uint64(5_500_000)),
	}
}

func (m *machine) ImagesFsInfo(context.Context) (cadvisorapi.FsInfo, error)    { return m.fs(), nil }
func (m *machine) RootFsInfo() (cadvisorapi.FsInfo, error)                     { return m.fs(), nil }
func (m *machine) ContainerFsInfo(context.Context) (cadvisorapi.FsInfo, error) { return m.fs(), nil }
func (m *machine) GetDirFsInfo(string) (cadvisorapi.FsInfo, error)             { return m.fs(), nil }

func ptr[T any](v T) *T { return &v }

func hostKernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// ContainerInfoV2 answers for the node's root cgroup ("/"), which the
// kubelet's eviction manager and summary API read every few seconds: a
// steady baseline of a lightly loaded machine. (The pods' own figures come
// from the container runtime over CRI.)
func (m *machine) ContainerInfoV2(name string, opts cadvisorapi.RequestOptions) (map[string]cadvisorapi.ContainerInfo, error) {
	now := time.Now()
	sample := func(at time.Time) *cadvisorapi.ContainerStats {
		up := uint64(at.Sub(m.booted).Nanoseconds())
		return &cadvisorapi.ContainerStats{
			Timestamp: at,
			// A twentieth of one core in use since boot.
			Cpu: &cadvisorapi.CpuStats{Usage: cadvisorapi.CpuUsage{Total: up / 20, User: up / 30, System: up / 60}},
			Memory: &cadvisorapi.MemoryStats{
				Usage:      m.memoryBytes / 16,
				WorkingSet: m.memoryBytes / 16,
				RSS:        m.memoryBytes / 20,
			},
		}
	}
	info := cadvisorapi.ContainerInfo{
		ContainerReference: cadvisorapi.ContainerReference{Name: name},
		Spec: cadvisorapi.ContainerSpec{
			CreationTime: m.booted,
			HasCpu:       true,
			HasMemory:    true,
			Memory:       cadvisorapi.MemorySpec{Limit: m.memoryBytes},
		},
		Stats: []*cadvisorapi.ContainerStats{sample(now.Add(-10 * time.Second)), sample(now)},
	}
	return map[string]cadvisorapi.ContainerInfo{name: info}, nil
}
