package server

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The process's own health, for the admin: how many goroutines, open
// files and inotify instances it holds (what a component that stops must
// give back), and Go's profiles to find what holds them. Both need the
// admin token: a profile shows everything the process is doing.

// ProcessStats is GET /api/debug/process.
type ProcessStats struct {
	Goroutines int    `json:"goroutines"`
	OpenFiles  int    `json:"openFiles"`
	Inotify    int    `json:"inotifyInstances"`
	RSSBytes   uint64 `json:"rssBytes"`
	HeapBytes  uint64 `json:"heapBytes"`
}

// readProcessStats reads this process's figures from the runtime and /proc.
func readProcessStats() (ProcessStats, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := ProcessStats{Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return st, fmt.Errorf("reading /proc/self/fd: %w", err)
	}
	for _, fd := range fds {
		st.OpenFiles++
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && link == "anon_inode:inotify" {
			st.Inotify++
		}
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				st.RSSBytes = kb << 10
			}
		}
	}
	return st, nil
}

func (opts Options) debugRoutes(r chi.Router) {
	guard := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if code, err := checkToken(presentedToken(req), opts.AdminToken); err != nil {
				writeError(w, code, err)
				return
			}
			h.ServeHTTP(w, req)
		})
	}
	r.Method(http.MethodGet, "/api/debug/process", guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st, err := readProcessStats()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, st)
	})))
	r.Method(http.MethodGet, "/debug/pprof/{profile}", guard(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		pprof.Handler(chi.URLParam(req, "profile")).ServeHTTP(w, req)
	})))
}
