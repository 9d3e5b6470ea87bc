package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/go-chi/chi/v5"
)

// Components stops and starts the components a lab may stop (the
// scheduler, the controller manager, a node's kubelet or kube-proxy)
// while the rest of the cluster keeps running.
type Components interface {
	// List describes each component and its state.
	List() any
	// Stop and Start return an error wrapping ErrNotFound for a name that
	// is no such component (404), and ErrConflict for one not in a state
	// for that, such as stopping a stopped one (409).
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	// Crash ends a running component as a killed process ends (nothing
	// it would do on the way out is done), with Stop's errors.
	Crash(ctx context.Context, name string) error
}

func (opts Options) componentRoutes(r chi.Router) {
	if opts.Components == nil {
		return
	}
	c := opts.Components
	r.Get("/api/components", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"components": c.List()})
	})
	// A component's name may have a slash ("kubelet/node-2"): the route is
	// /api/components/<name>/<verb>, with the name as a plain path (an
	// escaped slash, %2F, is read the same).
	r.Method(http.MethodPost, "/api/components/*", requireToken(opts.AdminToken, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, err := url.PathUnescape(chi.URLParam(r, "*"))
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad component name: %w", err))
			return
		}
		name, verb := path.Dir(rest), path.Base(rest)
		var do func(context.Context, string) error
		switch verb {
		case "stop":
			do = c.Stop
		case "start":
			do = c.Start
		case "crash":
			do = c.Crash
		}
		if do == nil || name == "." || name == "" {
			writeError(w, http.StatusNotFound, fmt.Errorf("no such action: POST /api/components/<name>/stop, /start or /crash"))
			return
		}
		// Starting waits for readiness; a kubelet is Ready in about a
		// second, the controller manager in a few.
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
		defer cancel()
		if err := do(ctx, name); err != nil {
			writeError(w, statusOf(err, http.StatusInternalServerError), fmt.Errorf("cannot %s %s: %w", verb, name, err))
			return
		}
		state := map[string]string{"stop": "stopped", "start": "running", "crash": "crashed"}[verb]
		writeJSON(w, map[string]string{"name": name, "state": state})
	})))
}
