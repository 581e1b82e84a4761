package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// crashEnv names the database a re-executed test binary writes to as the
// crash test's child.
const crashEnv = "PARLEY_SQLSTORE_CRASH_DB"

// crashExpiry is the expiry of the child's first REGISTER of AOR i; the
// second refreshes it a minute later. Whole seconds, far enough ahead to be
// live when the parent reopens.
func crashExpiry(base int64, i, round int) int64 {
	return base + int64(i%3600) + int64(round)*60
}

// TestCrashChild is the child side of TestSQLiteSurvivesKill; run alone
// it skips. It registers AORs from many goroutines, each twice, and prints
// a line per acknowledged Update: what the registrar would answer 200 OK
// for. It runs until killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the child of TestSQLiteSurvivesKill; runs only when re-executed by it")
	}
	// Should the parent die before killing it, the child ends anyway.
	time.AfterFunc(time.Minute, func() { os.Exit(2) })
	base, _ := strconv.ParseInt(os.Getenv(crashEnv+"_BASE"), 10, 64)
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		next atomic.Int64
		out  sync.Mutex
		wg   sync.WaitGroup
	)
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1)); i < 1e7; i = int(next.Add(1)) {
				for round := range 2 {
					crashRegister(t, s, &out, base, i, round)
				}
			}
		})
	}
	wg.Wait()
}

func crashRegister(t *testing.T, s *Store, out *sync.Mutex, base int64, i, round int) {
	aor := fmt.Sprintf("sip:u%d@example.com", i)
	exp := crashExpiry(base, i, round)
	b := location.Binding{Contact: "sip:u@h", Q: 1000, Expires: time.Unix(exp, 0), CSeq: uint32(round + 1)}
	if _, err := s.Update(context.Background(), aor, time.Now(), replace(b)); err != nil {
		t.Error(err)
		return
	}
	// One write per line, each shorter than PIPE_BUF: a kill never splits one.
	out.Lock()
	fmt.Fprintf(os.Stdout, "ACK %s %d\n", aor, exp)
	out.Unlock()
}

// TestSQLiteSurvivesKill runs the child, kills it with SIGKILL while it is
// registering as fast as it can, reopens the database and checks that
// every binding the child acknowledged is there with its expiry.
func TestSQLiteSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	base := time.Now().Add(time.Hour).Unix()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, crashEnv+"_BASE="+strconv.FormatInt(base, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := readAcks(t, cmd, stdout, 3000, 30*time.Second)
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v, want killed; stderr:\n%s", err, stderr.String())
	}
	if len(acked) == 0 {
		t.Fatalf("child acknowledged nothing; stderr:\n%s", stderr.String())
	}
	checkAcked(t, path, base, acked)
}

// readAcks collects the child's acknowledgements, kills it once it has
// made want of them (or after limit), and reads what it printed before
// dying. It returns the last acknowledged expiry of each AOR.
func readAcks(t *testing.T, cmd *exec.Cmd, stdout interface{ Read([]byte) (int, error) }, want int, limit time.Duration) map[string]int64 {
	timer := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	defer timer.Stop()
	acked := make(map[string]int64)
	lines := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ACK" {
			continue
		}
		exp, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue // a torn last line cannot happen, but would not count
		}
		acked[f[1]] = max(acked[f[1]], exp)
		if lines++; lines == want {
			cmd.Process.Kill() // SIGKILL: no deferred function, no Close
		}
	}
	t.Logf("child acknowledged %d Updates of %d AORs before SIGKILL", lines, len(acked))
	return acked
}

// checkAcked reopens the database and checks every acknowledged binding.
// A binding may hold the refresh that was committed but not yet printed
// when the kill came; it may never hold less than was acknowledged.
func checkAcked(t *testing.T, path string, base int64, acked map[string]int64) {
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	missing := 0
	for aor, exp := range acked {
		bs := mustLookup(t, s, aor, time.Now())
		var i int
		fmt.Sscanf(aor, "sip:u%d@example.com", &i)
		if len(bs) != 1 || (bs[0].Expires.Unix() != exp && bs[0].Expires.Unix() != crashExpiry(base, i, 1)) {
			if missing++; missing <= 10 {
				t.Errorf("%s: acknowledged with expiry %d, found %+v", aor, exp, bs)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged AORs lost or wrong after kill -9", missing, len(acked))
	}
	b, a := s.Count()
	t.Logf("after restart: %d bindings of %d AORs (every one of the %d acknowledged present)", b, a, len(acked))
}
