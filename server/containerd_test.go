package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestContainerdAPI(t *testing.T) {
	if code, _ := get(t, Handler(Options{}), "/api/nodes/node-1/containerd"); code != http.StatusNotFound {
		t.Errorf("without containerd nodes: %d, want 404", code)
	}
	h := Handler(Options{Containerd: func(_ context.Context, node string) (any, error) {
		switch node {
		case "node-1":
			return map[string]any{"node": node}, nil
		case "node-2":
			return nil, fmt.Errorf("%s runs simulated containers: %w", node, ErrNotFound)
		}
		return nil, errors.New("containerd does not answer")
	}})
	for path, want := range map[string]int{
		"/api/nodes/node-1/containerd": http.StatusOK,
		"/api/nodes/node-2/containerd": http.StatusNotFound,
		"/api/nodes/node-3/containerd": http.StatusServiceUnavailable,
	} {
		code, body := get(t, h, path)
		if code != want {
			t.Errorf("%s: %d %v, want %d", path, code, body, want)
		}
	}
	if _, body := get(t, h, "/api/nodes/node-1/containerd"); body["node"] != "node-1" {
		t.Errorf("body %v", body)
	}
}
