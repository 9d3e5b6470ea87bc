package simruntime

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Resource usage figures. They are derived from each image's usage
// profile and the container's run time, so `kubectl top` shows stable,
// plausible numbers (nginx a few MiB, postgres tens of MiB, CPU counters
// that only grow) and the kubelet's stats paths never log errors.

const (
	startupCPU      = 40 * time.Millisecond // CPU time a program burns starting
	pauseWorkingSet = 245_760
)

// jitterFor gives each container a stable usage offset within ±6%.
func jitterFor(id string) float64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return (float64(h.Sum32()%1000)/1000 - 0.5) * 0.12
}

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

func (c *container) runningFor(now time.Time) time.Duration {
	if c.startedAt == 0 {
		return 0
	}
	end := now.UnixNano()
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING && c.finishedAt != 0 {
		end = c.finishedAt
	}
	return time.Duration(max(0, end-c.startedAt))
}

func (r *Runtime) containerStats(c *container, now time.Time) *runtimeapi.ContainerStats {
	ts := now.UnixNano()
	running := c.state == runtimeapi.ContainerState_CONTAINER_RUNNING
	prof := c.image.Usage
	scale := 1 + c.jitter
	ran := c.runningFor(now)

	var cpuTotal, nanoCores uint64
	if c.startedAt != 0 {
		cpuTotal = uint64(startupCPU) + uint64(float64(prof.NanoCores)*scale*ran.Seconds())
	}
	var ws uint64
	if running {
		nanoCores = uint64(float64(prof.NanoCores) * scale)
		// A slow wobble of ±2% so graphs do not look frozen.
		wobble := 1 + 0.02*math.Sin(float64(now.Unix())/37+c.jitter*100)
		ws = uint64(float64(prof.WorkingSet) * scale * wobble)
	}
	mem := &runtimeapi.MemoryUsage{
		Timestamp:       ts,
		WorkingSetBytes: u64(ws),
		UsageBytes:      u64(ws + ws/8),
		RssBytes:        u64(ws * 4 / 5),
		PageFaults:      u64(uint64(ran.Seconds()*3) + ws/4096),
		MajorPageFaults: u64(0),
	}
	if limit := c.resources.GetMemoryLimitInBytes(); limit > 0 && uint64(limit) > ws {
		mem.AvailableBytes = u64(uint64(limit) - ws)
	}
	var written uint64
	files := uint64(0)
	if c.machine != nil {
		written = c.machine.WrittenBytes()
		files = 4
	}
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id:          c.id,
			Metadata:    c.config.GetMetadata(),
			Labels:      c.config.GetLabels(),
			Annotations: c.config.GetAnnotations(),
		},
		Cpu: &runtimeapi.CpuUsage{
			Timestamp:            ts,
			UsageCoreNanoSeconds: u64(cpuTotal),
			UsageNanoCores:       u64(nanoCores),
		},
		Memory: mem,
		WritableLayer: &runtimeapi.FilesystemUsage{
			Timestamp:  ts,
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: r.imageFS},
			UsedBytes:  u64(prof.WritableBase + written),
			InodesUsed: u64(8 + files + prof.WritableBase/16384),
		},
		Swap: &runtimeapi.SwapUsage{Timestamp: ts, SwapAvailableBytes: u64(0), SwapUsageBytes: u64(0)},
		Io:   &runtimeapi.IoUsage{Timestamp: ts},
	}
}

func (s *runtimeService) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	r := s.r
	c, unlock, err := r.lockContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	return &runtimeapi.ContainerStatsResponse{Stats: r.containerStats(c, r.now())}, nil
}

// listContainerStats covers running containers only: like containerd,
// there is nothing to measure once a container's cgroup is gone.
func (r *Runtime) listContainerStats(f *runtimeapi.ContainerStatsFilter) []*runtimeapi.ContainerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*runtimeapi.ContainerStats
	for _, c := range r.sortedContainers("") {
		if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(c.id, f.GetId()) {
				continue
			}
			if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.sandboxID, f.GetPodSandboxId()) {
				continue
			}
			if !labelsMatch(c.config.GetLabels(), f.GetLabelSelector()) {
				continue
			}
		}
		out = append(out, r.containerStats(c, now))
	}
	return out
}

func (s *runtimeService) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return &runtimeapi.ListContainerStatsResponse{Stats: s.r.listContainerStats(req.GetFilter())}, nil
}

func (s *runtimeService) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	if st := s.r.listContainerStats(req.GetFilter()); len(st) > 0 {
		return stream.Send(&runtimeapi.StreamContainerStatsResponse{ContainerStats: st})
	}
	return nil
}

// networkBytes grows slowly while the sandbox is up: DNS lookups, probes
// and the odd request.
func (sb *sandbox) networkBytes(now time.Time) (rx, tx uint64) {
	end := now.UnixNano()
	if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY && sb.stoppedAt != 0 {
		end = sb.stoppedAt
	}
	secs := uint64(max(0, end-sb.createdAt) / int64(time.Second))
	return 1_246 + secs*182, 866 + secs*94
}

func (r *Runtime) sandboxStats(sb *sandbox, now time.Time) *runtimeapi.PodSandboxStats {
	ts := now.UnixNano()
	var cpuTotal, nanoCores, ws, usage, rss uint64
	var containers []*runtimeapi.ContainerStats
	procs := uint64(0)
	ready := sb.state == runtimeapi.PodSandboxState_SANDBOX_READY
	if ready {
		procs = 1
		ws, usage, rss = pauseWorkingSet, pauseWorkingSet, pauseWorkingSet*4/5
		cpuTotal = uint64(12 * time.Millisecond)
	}
	for _, c := range r.sortedContainers(sb.id) {
		if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		st := r.containerStats(c, now)
		containers = append(containers, st)
		cpuTotal += st.Cpu.UsageCoreNanoSeconds.Value
		nanoCores += st.Cpu.UsageNanoCores.Value
		ws += st.Memory.WorkingSetBytes.Value
		usage += st.Memory.UsageBytes.Value
		rss += st.Memory.RssBytes.Value
		procs++
	}
	rx, tx := sb.networkBytes(now)
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id:          sb.id,
			Metadata:    sb.config.GetMetadata(),
			Labels:      sb.config.GetLabels(),
			Annotations: sb.config.GetAnnotations(),
		},
		Linux: &runtimeapi.LinuxPodSandboxStats{
			Cpu: &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(cpuTotal), UsageNanoCores: u64(nanoCores)},
			Memory: &runtimeapi.MemoryUsage{
				Timestamp: ts, WorkingSetBytes: u64(ws), UsageBytes: u64(usage), RssBytes: u64(rss),
				PageFaults: u64(ws / 4096), MajorPageFaults: u64(0),
			},
			Network: &runtimeapi.NetworkUsage{
				Timestamp: ts,
				DefaultInterface: &runtimeapi.NetworkInterfaceUsage{
					Name: "eth0", RxBytes: u64(rx), RxErrors: u64(0), TxBytes: u64(tx), TxErrors: u64(0),
				},
			},
			Process:    &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: u64(procs)},
			Containers: containers,
			Io:         &runtimeapi.IoUsage{Timestamp: ts},
		},
	}
}

func (s *runtimeService) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	r := s.r
	sb, unlock, err := r.lockSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	return &runtimeapi.PodSandboxStatsResponse{Stats: r.sandboxStats(sb, r.now())}, nil
}

func (r *Runtime) listSandboxStats(f *runtimeapi.PodSandboxStatsFilter) []*runtimeapi.PodSandboxStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range r.sortedSandboxes() {
		if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue
		}
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(sb.id, f.GetId()) {
				continue
			}
			if !labelsMatch(sb.config.GetLabels(), f.GetLabelSelector()) {
				continue
			}
		}
		out = append(out, r.sandboxStats(sb, now))
	}
	return out
}

func (s *runtimeService) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: s.r.listSandboxStats(req.GetFilter())}, nil
}

func (s *runtimeService) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	if st := s.r.listSandboxStats(req.GetFilter()); len(st) > 0 {
		return stream.Send(&runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: st})
	}
	return nil
}

// The metrics the kubelet re-exports on /metrics/cadvisor when it takes
// pod and container stats from the CRI. Names follow cAdvisor's.
func metricDescriptors() []*runtimeapi.MetricDescriptor {
	containerMetricLabels := []string{"container", "id", "image", "namespace", "pod"}
	podMetricLabels := []string{"interface", "namespace", "pod"}
	return []*runtimeapi.MetricDescriptor{
		{Name: "container_memory_working_set_bytes", Help: "Current working set of the container in bytes", LabelKeys: containerMetricLabels},
		{Name: "container_memory_usage_bytes", Help: "Current memory usage in bytes, including all memory regardless of when it was accessed", LabelKeys: containerMetricLabels},
		{Name: "container_memory_rss", Help: "Size of RSS in bytes", LabelKeys: containerMetricLabels},
		{Name: "container_cpu_usage_seconds_total", Help: "Cumulative cpu time consumed in seconds (whole seconds)", LabelKeys: containerMetricLabels},
		{Name: "container_start_time_seconds", Help: "Start time of the container since unix epoch in seconds", LabelKeys: containerMetricLabels},
		{Name: "container_network_receive_bytes_total", Help: "Cumulative count of bytes received", LabelKeys: podMetricLabels},
		{Name: "container_network_transmit_bytes_total", Help: "Cumulative count of bytes transmitted", LabelKeys: podMetricLabels},
	}
}

func (s *runtimeService) ListMetricDescriptors(ctx context.Context, req *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: metricDescriptors()}, nil
}

func (r *Runtime) sandboxMetrics() []*runtimeapi.PodSandboxMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*runtimeapi.PodSandboxMetrics
	for _, sb := range r.sortedSandboxes() {
		if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue
		}
		md := sb.config.GetMetadata()
		rx, tx := sb.networkBytes(now)
		podLabels := []string{"eth0", md.GetNamespace(), md.GetName()}
		pm := &runtimeapi.PodSandboxMetrics{
			PodSandboxId: sb.id,
			Metrics: []*runtimeapi.Metric{
				{Name: "container_network_receive_bytes_total", MetricType: runtimeapi.MetricType_COUNTER, LabelValues: podLabels, Value: u64(rx)},
				{Name: "container_network_transmit_bytes_total", MetricType: runtimeapi.MetricType_COUNTER, LabelValues: podLabels, Value: u64(tx)},
			},
		}
		for _, c := range r.sortedContainers(sb.id) {
			if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
				continue
			}
			st := r.containerStats(c, now)
			labels := []string{c.config.GetMetadata().GetName(), c.id, c.imageName, md.GetNamespace(), md.GetName()}
			gauge := func(name string, v uint64) *runtimeapi.Metric {
				return &runtimeapi.Metric{Name: name, MetricType: runtimeapi.MetricType_GAUGE, LabelValues: labels, Value: u64(v)}
			}
			pm.ContainerMetrics = append(pm.ContainerMetrics, &runtimeapi.ContainerMetrics{
				ContainerId: c.id,
				Metrics: []*runtimeapi.Metric{
					gauge("container_memory_working_set_bytes", st.Memory.WorkingSetBytes.Value),
					gauge("container_memory_usage_bytes", st.Memory.UsageBytes.Value),
					gauge("container_memory_rss", st.Memory.RssBytes.Value),
					{Name: "container_cpu_usage_seconds_total", MetricType: runtimeapi.MetricType_COUNTER, LabelValues: labels, Value: u64(st.Cpu.UsageCoreNanoSeconds.Value / uint64(time.Second))},
					gauge("container_start_time_seconds", uint64(c.startedAt/int64(time.Second))),
				},
			})
		}
		out = append(out, pm)
	}
	return out
}

func (s *runtimeService) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: s.r.sandboxMetrics()}, nil
}

func (s *runtimeService) StreamPodSandboxMetrics(req *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	if m := s.r.sandboxMetrics(); len(m) > 0 {
		return stream.Send(&runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: m})
	}
	return nil
}
