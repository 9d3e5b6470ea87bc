package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// apiError is an error with the HTTP status to answer it with.
type apiError struct {
	code int
	err  error
}

func (e apiError) Error() string { return e.err.Error() }

// Wrapped in an error that a function given to the server returns,
// ErrNotFound answers 404 and ErrConflict (the thing exists but is not in
// a state for what was asked) 409.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// statusOf is the HTTP status that answers err: an apiError's own, 404 for
// ErrNotFound, 409 for ErrConflict, else def, which each route picks for
// errors of no known kind.
func statusOf(err error, def int) int {
	var ae apiError
	switch {
	case errors.As(err, &ae):
		return ae.code
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return def
}

func badRequest(msg string) error { return apiError{http.StatusBadRequest, errors.New(msg)} }

// jsonAPI serves a read-only JSON endpoint: the value, or the error with
// its status (503 for errors without one: the cluster is busy or starting).
func jsonAPI(get func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r)
		if err != nil {
			writeError(w, statusOf(err, http.StatusServiceUnavailable), err)
			return
		}
		writeJSON(w, v)
	}
}

var errReplay = apiError{http.StatusNotFound, errors.New("no cluster: this is a replay")}

func (opts Options) state(r *http.Request) (any, error) {
	if opts.State == nil {
		return nil, errReplay
	}
	st, err := opts.State(r.Context())
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (opts Options) containerd(r *http.Request) (any, error) {
	if opts.Containerd == nil {
		return nil, apiError{http.StatusNotFound, errors.New("no containerd nodes")}
	}
	return opts.Containerd(r.Context(), chi.URLParam(r, "node"))
}

func (opts Options) nodeRules(r *http.Request) (any, error) {
	if opts.NodeRules == nil {
		return nil, apiError{http.StatusNotFound, errors.New("no node rules here (a replay has none)")}
	}
	node := chi.URLParam(r, "node")
	rules, err := opts.NodeRules(node)
	if err != nil {
		return nil, err
	}
	return map[string]string{"node": node, "rules": rules}, nil
}

func (opts Options) etcdKeys(r *http.Request) (any, error) {
	if opts.Etcd == nil {
		return nil, errReplay
	}
	prefix := r.URL.Query().Get("prefix")
	if prefix == "" {
		prefix = "/registry/"
	}
	if !strings.HasPrefix(prefix, "/registry/") {
		return nil, badRequest("prefix must start with /registry/")
	}
	return opts.Etcd.Keys(r.Context(), prefix)
}

func (opts Options) etcdValue(r *http.Request) (any, error) {
	if opts.Etcd == nil {
		return nil, errReplay
	}
	key := r.URL.Query().Get("key")
	if !strings.HasPrefix(key, "/registry/") {
		return nil, badRequest("key must start with /registry/")
	}
	var rev int64
	if s := r.URL.Query().Get("rev"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, badRequest("rev must be a positive integer")
		}
		rev = n
	}
	v, err := opts.Etcd.Value(r.Context(), key, rev, isAdmin(r, opts.AdminToken))
	if err != nil {
		return nil, apiError{http.StatusNotFound, err}
	}
	return v, nil
}
