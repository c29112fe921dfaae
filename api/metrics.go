package api

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ventapp/ventapp/engine"
)

// metrics serves the appliance's counters in the Prometheus text format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	st := s.e.Status()
	m := promWriter{w: w}

	m.family("ventapp_jobs", "gauge", "Jobs in the store by state.")
	for _, state := range sortedKeys(st.Jobs) {
		m.sample("ventapp_jobs", st.Jobs[state], "state", state)
	}
	m.family("ventapp_jobs_running", "gauge", "Plugin containers running now, by tool.")
	for _, tool := range sortedKeys(st.Running) {
		m.sample("ventapp_jobs_running", st.Running[tool], "tool", tool)
	}
	jm := s.e.Metrics()
	m.family("ventapp_jobs_finished_total", "counter", "Jobs that ended since the daemon started, by tool and state.")
	for _, tool := range sortedKeys(jm.Finished) {
		for st, n := range jm.Finished[tool] {
			m.sample("ventapp_jobs_finished_total", n, "tool", tool, "state", string(st))
		}
	}
	m.histogram("ventapp_job_duration_seconds", "How long finished jobs ran.", jm.Duration)
	m.histogram("ventapp_dispatch_wait_seconds", "How long jobs waited between being queued and dispatched.",
		jm.DispatchWait)
	m.family("ventapp_containerd_errors_total", "counter", "Failures because containerd was unreachable.")
	m.sample("ventapp_containerd_errors_total", jm.ContainerdErrors)

	m.family("ventapp_queue_depth", "gauge", "Jobs waiting to run.")
	m.sample("ventapp_queue_depth", st.Jobs["queued"])

	for _, name := range sortedKeys(st.Counters) {
		metric := "ventapp_" + name + "_total"
		m.family(metric, "counter", "Since the daemon started: "+strings.ReplaceAll(name, "_", " ")+".")
		m.sample(metric, st.Counters[name])
	}

	m.family("ventapp_containerd_up", "gauge", "1 when containerd answers.")
	m.sample("ventapp_containerd_up", boolNum(st.Containerd.Healthy))
	m.family("ventapp_index_documents", "gauge", "Output lines in the search index.")
	m.sample("ventapp_index_documents", st.Index.Docs)
	ix := s.e.Index().Stats()
	m.family("ventapp_index_bytes", "gauge", "Size of the search index on disk.")
	m.sample("ventapp_index_bytes", ix.BytesOnDisk)
	m.family("ventapp_index_lines_per_second", "gauge", "Recent index ingest rate.")
	m.sample("ventapp_index_lines_per_second", ix.LinesPerSecond)
	m.family("ventapp_index_dropped_total", "counter", "Output lines lost in failed index batches.")
	m.sample("ventapp_index_dropped_total", ix.DocsDropped)
	m.family("ventapp_drop_free_bytes", "gauge", "Free space on the drop folder's filesystem.")
	m.sample("ventapp_drop_free_bytes", st.Drop.FreeBytes)
	m.family("ventapp_watcher_overflows_total", "counter", "inotify queue overflows (each followed by a rescan).")
	m.sample("ventapp_watcher_overflows_total", st.Drop.Watcher.Overflows)

	g := st.GPU
	m.family("ventapp_gpu_available", "gauge", "1 when the NVIDIA driver answers.")
	m.sample("ventapp_gpu_available", boolNum(g.Available))
	m.family("ventapp_gpu_queue_depth", "gauge", "GPU jobs waiting for a device.")
	m.sample("ventapp_gpu_queue_depth", len(g.Queue))
	m.family("ventapp_gpu_memory_total_mb", "gauge", "Memory of each GPU.")
	for _, d := range g.Devices {
		m.sample("ventapp_gpu_memory_total_mb", d.MemTotalMB, "gpu", fmt.Sprint(d.Index))
	}
	m.family("ventapp_gpu_memory_reserved_mb", "gauge", "GPU memory reserved by running ventapp jobs.")
	for _, d := range g.Devices {
		m.sample("ventapp_gpu_memory_reserved_mb", d.ReservedMB, "gpu", fmt.Sprint(d.Index))
	}
	m.family("ventapp_gpu_memory_foreign_mb", "gauge", "GPU memory used by processes outside ventapp.")
	for _, d := range g.Devices {
		m.sample("ventapp_gpu_memory_foreign_mb", d.ForeignMB, "gpu", fmt.Sprint(d.Index))
	}
	m.family("ventapp_gpu_jobs", "gauge", "ventapp jobs running on each GPU.")
	for _, d := range g.Devices {
		m.sample("ventapp_gpu_jobs", len(d.Jobs), "gpu", fmt.Sprint(d.Index))
	}

	taps := s.e.Taps().List()
	m.family("ventapp_tap_packets_total", "counter", "Packets written by each network tap.")
	for _, t := range taps {
		m.sample("ventapp_tap_packets_total", t.Stats.Packets, "tap", t.ID)
	}
	m.family("ventapp_tap_kernel_drops_total", "counter", "Packets the kernel dropped for each tap.")
	for _, t := range taps {
		m.sample("ventapp_tap_kernel_drops_total", t.Stats.KernelDrops, "tap", t.ID)
	}
}

// promWriter writes Prometheus text exposition lines.
type promWriter struct{ w io.Writer }

func (p promWriter) family(name, kind, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func (p promWriter) sample(name string, v any, labels ...string) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", labels[i], labels[i+1])
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(p.w, "%s %v\n", b.String(), v)
}

func (p promWriter) histogram(name, help string, h engine.Histogram) {
	p.family(name, "histogram", help)
	for i, b := range h.Bounds {
		p.sample(name+"_bucket", h.Counts[i], "le", strconv.FormatFloat(b, 'g', -1, 64))
	}
	p.sample(name+"_bucket", h.Count, "le", "+Inf")
	p.sample(name+"_sum", h.Sum)
	p.sample(name+"_count", h.Count)
}

func boolNum(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
