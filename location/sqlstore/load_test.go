package sqlstore

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// realistic is a binding as a UA behind an edge proxy registers it: every
// field a real REGISTER fills, so the load measures real decoding work.
func realistic(i int, expires time.Time) location.Binding {
	return location.Binding{
		Contact:    fmt.Sprintf("sip:u%d@10.%d.%d.%d:5060;transport=tcp;ob", i, i>>16&255, i>>8&255, i&255),
		Q:          1000,
		Expires:    expires,
		CallID:     fmt.Sprintf("%08x-2f1c-4e55-9a1b-7d3f0c9e%04x", i, i&0xffff),
		CSeq:       uint32(i%1000 + 1),
		Path:       []string{"<sip:edge1.example.net;lr;ob>"},
		Transport:  "tcp",
		Source:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), uint16(1024+i%60000)),
		Local:      netip.MustParseAddrPort("192.0.2.1:5060"),
		ConnID:     uint64(i),
		InstanceID: fmt.Sprintf("<urn:uuid:00000000-0000-4000-8000-%012d>", i),
		RegID:      1,
		UserAgent:  "Linphone/5.2.0 (belle-sip/5.2.0)",
		Updated:    t0,
	}
}

// fill writes n bindings (one per AOR, every tenth already expired at t0)
// straight through the backend, in large transactions, to prepare a
// database quickly.
func fill(t testing.TB, path string, n int) {
	t.Helper()
	db, err := openSQLiteDB(path, SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	var cs []*change
	for i := range n {
		exp := t0.Add(time.Duration(60+i%3600) * time.Second)
		if i%10 == 0 {
			exp = t0.Add(-time.Second)
		}
		aor := fmt.Sprintf("sip:user%d@example.com", i)
		cs = append(cs, &change{aor: aor, args: encode(aor, []location.Binding{realistic(i, exp)})})
		if len(cs) == 10000 || i == n-1 {
			if err := db.commit(context.Background(), cs); err != nil {
				t.Fatal(err)
			}
			cs = cs[:0]
		}
	}
}

// TestLoad100k measures the start-up rebuild of the index from 100 000
// bindings (plus 11 112 expired rows to skip and purge) and holds it to
// under a second. The machine is shared, so the best of three opens is
// what counts, and when the machine is oversubscribed the wall-time bound
// gives way to its CPU-time equivalent (two cores for a second). Under the
// race detector, which slows the translated SQLite twentyfold, it loads a
// tenth as many and asserts no time.
func TestLoad100k(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 100 000-binding database; skipped with -short")
	}
	live := 100000
	if raceEnabled {
		live = 10000
	}
	rows := live * 10 / 9 // every tenth row is expired
	path := filepath.Join(t.TempDir(), "parley.db")
	fill(t, path, rows+1)

	best, bestCPU := time.Duration(1<<63-1), time.Duration(0)
	for i := range 3 {
		cpu := cpuTime()
		st := openAndCheck(t, path, live)
		cpu = cpuTime() - cpu
		t.Logf("open %d: loaded %d bindings of %d AORs, skipped %d expired, in %v (CPU %v)",
			i+1, st.Bindings, st.AORs, st.Expired, st.Took, cpu)
		if st.Took < best {
			best, bestCPU = st.Took, cpu
		}
	}
	load, busy := machineBusy()
	t.Logf("best of 3: %d bindings in %v, using %v of CPU; load average %.1f", live, best, bestCPU, load)
	switch {
	case raceEnabled || best <= time.Second:
	case !busy:
		t.Errorf("loading %d bindings took %v at best, want under 1s", live, best)
	case bestCPU > 2*time.Second:
		t.Errorf("loading %d bindings used %v of CPU, want under 2s (1s on each of 2 cores)", live, bestCPU)
	default:
		t.Logf("machine oversubscribed (load %.1f): the CPU-time bound held, the wall-time one is not asserted", load)
	}
}

// openAndCheck opens the database at path, checks it loaded live bindings
// faithfully, closes it, and returns what the load reported.
func openAndCheck(t *testing.T, path string, live int) LoadStats {
	t.Helper()
	s, err := OpenSQLite(path, openAt(t0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Loaded()
	if st.Bindings != live || st.AORs != live {
		t.Errorf("Loaded() = %+v, want %d live bindings and AORs", st, live)
	}
	got := mustLookup(t, s, "sip:user1234@example.com", t0)
	if len(got) != 1 || got[0].ConnID != 0 || got[0].Path[0] != "<sip:edge1.example.net;lr;ob>" {
		t.Errorf("a loaded binding = %+v", got)
	}
	return st
}
