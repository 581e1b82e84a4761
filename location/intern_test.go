package location

import (
	"strings"
	"testing"
	"unsafe"
)

// TestIntern: equal values share one copy, which is never the caller's
// memory; a value that takes another's slot still comes back equal, and a
// long value is copied but not kept.
func TestIntern(t *testing.T) {
	data := func(s string) *byte { return unsafe.StringData(s) }
	tests := []struct {
		name  string
		a, b  string // two separately allocated values, interned in turn
		share bool   // whether the two results must share memory
	}{
		{"empty", "", "", false},
		{"same User-Agent", "Yealink SIP-T46U 108.86.0.45", "Yealink SIP-T46U 108.86.0.45", true},
		{"different values", "UA/1", "UA/2", false},
		{"longer than internMax", strings.Repeat("u", internMax+1), strings.Repeat("u", internMax+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := strings.Clone(tt.a), strings.Clone(tt.b)
			ia, ib := intern(a), intern(b)
			if ia != tt.a || ib != tt.b {
				t.Fatalf("intern changed the values: %q, %q", ia, ib)
			}
			if tt.a != "" && (data(ia) == data(a) || data(ib) == data(b)) {
				t.Error("intern returned the caller's memory")
			}
			if shared := tt.a != "" && data(ia) == data(ib); shared != tt.share {
				t.Errorf("results share memory: %v, want %v", shared, tt.share)
			}
		})
	}
}
