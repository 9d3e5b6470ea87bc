package server

import (
	"context"
	"errors"
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
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
}

// Errors a Components implementation wraps so the API can answer 404 and
// 409.
var (
	ErrNoSuchComponent = errors.New("no such component")
	ErrComponentState  = errors.New("component is not in a state for that")
)

// TokenHeader carries the admin token on API calls that change the cluster.
const TokenHeader = "X-Wheelhouse-Token"

// requireToken refuses requests without the admin token, which
// `wheelhouse up` prints with the UI's address. A custom header also means
// no other site's page can make a learner's browser send the request.
func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || !tokenMatches(r.Header.Get(TokenHeader), token) {
			writeError(w, http.StatusUnauthorized, errors.New(
				"this needs the admin token: open the UI with the address `wheelhouse up` printed (it ends in ?token=…), or send the "+TokenHeader+" header"))
			return
		}
		next.ServeHTTP(w, r)
	})
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
				code := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrNoSuchComponent):
					code = http.StatusNotFound
				case errors.Is(err, ErrComponentState):
					code = http.StatusConflict
				}
				writeError(w, code, fmt.Errorf("cannot %s %s: %w", verb, name, err))
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
