package admin

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// TestClusterAPI: "cluster": false on a server that is no cluster node,
// the view as the server gives it, and 503 when the shared state cannot
// be read.
func TestClusterAPI(t *testing.T) {
	f := newFixture(t, "", nil)
	if w := f.do("GET", "/api/cluster", ""); w.Code != http.StatusOK || decode[map[string]any](t, w)["cluster"] != false {
		t.Errorf("no cluster: %d %s, want 200 with cluster false", w.Code, w.Body)
	}
	var fail error
	f.srv.cfg.Cluster = func(context.Context) (any, error) {
		return map[string]any{"self": "n1", "nodes": []map[string]string{{"id": "n1", "state": "alive"}}}, fail
	}
	w := f.do("GET", "/api/cluster", "")
	v := decode[struct {
		Self  string `json:"self"`
		Nodes []struct {
			ID, State string
		} `json:"nodes"`
	}](t, w)
	if w.Code != http.StatusOK || v.Self != "n1" || len(v.Nodes) != 1 || v.Nodes[0].State != "alive" {
		t.Errorf("cluster: %d %s", w.Code, w.Body)
	}
	fail = errors.New("redis: connection refused")
	if w := f.do("GET", "/api/cluster", ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("store down: %d %s, want 503", w.Code, w.Body)
	}
}
