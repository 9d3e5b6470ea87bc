package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
)

// Components stops and starts the components a lab may stop (the
// scheduler, the controller manager, a node's kubelet) while the rest of
// the cluster keeps running.
type Components interface {
	// List describes each component and its state.
	List() any
	// Stop and Start return an error wrapping ErrNotFound for a name that
	// is no such component (404), and ErrConflict for one not in a state
	// for that, such as stopping a stopped one (409).
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
}

func (opts Options) componentRoutes(r chi.Router) {
	if opts.Components == nil {
		return
	}
	c := opts.Components
	r.Get("/api/components", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"components": c.List()})
	})
	act := func(verb string, do func(context.Context, string) error) http.Handler {
		return requireToken(opts.AdminToken, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name, err := url.PathUnescape(chi.URLParam(r, "name"))
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("bad component name: %w", err))
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
			state := "running"
			if verb == "stop" {
				state = "stopped"
			}
			writeJSON(w, map[string]string{"name": name, "state": state})
		}))
	}
	r.Method(http.MethodPost, "/api/components/{name}/stop", act("stop", c.Stop))
	r.Method(http.MethodPost, "/api/components/{name}/start", act("start", c.Start))
}
