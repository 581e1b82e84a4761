package registrar

import (
	"context"
	"testing"

	"github.com/parley-sip/parley/transport"
)

// TestNodePath: a REGISTER straight from a phone gets this node's Path
// (the flow it came on named), which the 200 does not echo; one through
// an edge proxy keeps the edge's Path; a refresh that lands on another
// node moves the binding to that node.
func TestNodePath(t *testing.T) {
	nodePath := func(node string) func(*transport.Incoming) string {
		return func(in *transport.Incoming) string {
			return "<sip:ft." + in.Source.String() + "@" + node + ";lr;ob>"
		}
	}
	tests := []struct {
		name     string
		nodes    []string // the node of each REGISTER in turn; "" for no NodePath
		extra    []string
		wantPath string
	}{
		{"straight from the phone", []string{"n1"}, nil, "<sip:ft.198.51.100.7:40000@n1;lr;ob>"},
		{"single server", []string{""}, nil, ""},
		{"through an edge proxy", []string{"n1"}, []string{"Path: <sip:edge.example.net;lr>", "Supported: path"}, "<sip:edge.example.net;lr>"},
		{"re-registered at another node", []string{"n1", "n2"}, nil, "<sip:ft.198.51.100.7:40000@n2;lr;ob>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(DefaultPolicy)
			for i, node := range tt.nodes {
				f.r.NodePath = nil
				if node != "" {
					f.r.NodePath = nodePath(node)
				}
				lines := append([]string{"Contact: <sip:alice@10.0.0.5:5060>"}, tt.extra...)
				resp := f.register(t, "c1", i+1, lines...)
				mustCode(t, resp, 200)
				if tt.extra == nil && resp.HasHeader("Path") {
					t.Errorf("the 200 echoes a Path the phone never sent: %q", resp.Header("Path"))
				}
			}
			bs, _ := f.r.Store.Lookup(context.Background(), "sip:alice@example.com", f.clk.Now())
			if len(bs) != 1 {
				t.Fatalf("bindings %d, want 1", len(bs))
			}
			got := ""
			if len(bs[0].Path) > 0 {
				got = bs[0].Path[0]
			}
			if got != tt.wantPath || len(bs[0].Path) > 1 {
				t.Errorf("path %q, want %q", bs[0].Path, tt.wantPath)
			}
		})
	}
}
