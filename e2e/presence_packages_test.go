package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var lampLine = regexp.MustCompile(`(?m)^(alice|bob|carol) v([0-9]+) ([a-z]*) ?\(entity ([^)]*)\)\s*$`)

// lampStates reads the desk phone's log: for each key, the states its
// NOTIFYs showed in order ("" for no dialog), checking that the versions
// count 0, 1, 2, … as RFC 4235 §4.1 asks, and that each document is the
// key's user's.
func lampStates(t *testing.T, logs string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(logs)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string][]string{}
	for _, m := range lampLine.FindAllStringSubmatch(string(data), -1) {
		key, state := m[1], m[3]
		if m[4] != key {
			t.Errorf("%s's key got a document of %s", key, m[4])
		}
		if v, _ := strconv.Atoi(m[2]); v != len(states[key]) {
			t.Errorf("%s: NOTIFY version %d after %d NOTIFYs", key, v, len(states[key]))
		}
		states[key] = append(states[key], state)
	}
	return states
}

// TestBusyLamps plays a desk phone with three BLF keys (alice, bob,
// carol): three SUBSCRIBEs for Event: dialog from one sipp. Then alice
// calls bob (a sipp caller, a sipp callee ringing 2 s), and the keys'
// NOTIFYs must go: alice trying, early, confirmed, terminated; bob early,
// confirmed, terminated; carol nothing after her first, empty, document.
// In mode b2bua too: the observer sees the A leg, which names both
// parties, and is told when Parley ends it.
func TestBusyLamps(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, tc := range []struct{ name, mode, admin string }{
		{"stateful", "stateful", "127.0.0.1:0"},
		// Without the admin listener the observer keeps only the
		// messages that can change a call (observe.Config.CallsOnly).
		{"stateful-no-admin", "stateful", ""},
		{"b2bua", "b2bua", "127.0.0.1:0"},
	} {
		t.Run(tc.name, func(t *testing.T) { busyLamps(t, tc.mode, tc.admin) })
	}
}

func busyLamps(t *testing.T, mode, admin string) {
	p := startParley(t, "--mode", mode, "--admin", admin)
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_ring_answer.xml"),
		"-s", "bob", "-d", "2000", p.Addr)
	callee.WaitLog("registered", phoneWait)
	desk := startDesk(t, p, "alice", "bob", "carol")
	if code := runSipp(t, "-sf", scenario("uac_call.xml"), "-s", "bob", p.Addr); code != 0 {
		t.Fatalf("the call from alice to bob: sipp exited %d", code)
	}
	callee.ExpectSuccess()
	desk.ExpectSuccess()
	got := lampStates(t, desk.file("logs"))
	for key, want := range map[string][]string{
		"alice": {"", "trying", "early", "confirmed", "terminated"},
		"bob":   {"", "early", "confirmed", "terminated"},
		"carol": {""},
	} {
		if !lampWent(got[key], want) {
			t.Errorf("%s's lamp went %q, want %q", key, got[key], want)
		}
	}
}

// lampWent reports whether a key's documents went as want, one NOTIFY
// per change. A document is built when its NOTIFY is sent, from the state
// then, so the trying NOTIFY may already say early when the callee's 180
// was handled first (3.5 ms after the INVITE under CI's load, with the
// race detector on): RFC 4235 gives the current state, not each step.
func lampWent(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i] != want[i] && !(want[i] == "trying" && got[i] == "early") {
			return false
		}
	}
	return true
}

// startDesk starts a desk phone with a busy lamp key for each of users
// (blf_desk.xml, one SUBSCRIBE per key) and waits until every key has
// its first document and the notifier's throttle has passed it.
func startDesk(t *testing.T, p *parley, users ...string) *sippProc {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys.csv")
	if err := os.WriteFile(keys, []byte("SEQUENTIAL\n"+strings.Join(users, ";\n")+";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := strconv.Itoa(len(users))
	desk := startSipp(t, "-sf", scenario("blf_desk.xml"), "-inf", keys, "-m", n, "-l", n, p.Addr)
	for _, key := range users {
		desk.WaitLog(key+" v0", phoneWait)
	}
	time.Sleep(1200 * time.Millisecond) // past the first NOTIFYs' throttle
	return desk
}

// TestVoicemailLamp plays the MWI flow: alice's phone subscribes to its
// message-summary and is told "no messages"; a trusted voicemail system
// sends Parley an unsolicited NOTIFY for alice, which Parley answers 200,
// keeps, and relays as a NOTIFY of the phone's subscription.
func TestVoicemailLamp(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg := writeConfig(t, "security:\n  trusted: [127.0.0.1/32]\n")
	p := startParley(t, "--config", cfg)
	phone := startSipp(t, "-sf", scenario("mwi_phone.xml"), "-s", "alice", p.Addr)
	phone.WaitLog("lamp off", phoneWait)
	if code := runSipp(t, "-sf", scenario("mwi_voicemail.xml"), "-s", "alice", p.Addr); code != 0 {
		t.Fatalf("the voicemail system's NOTIFY: sipp exited %d, want its 200", code)
	}
	phone.ExpectSuccess()
}

var regLine = regexp.MustCompile(`(?m)^v([0-9]+) ([a-z]+) ([a-z]*) ?\(aor ([^)]*)\)\s*$`)

// TestRegistrationEvents: an app subscribed to alice's registrations
// (RFC 3680) sees init, then her contact registered (or already
// refreshed, when the NOTIFY is built after the refresh), then, her
// REGISTER flow having unregistered it, the registration terminated with
// the contact unregistered; the versions count 0, 1, 2, ….
func TestRegistrationEvents(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t)
	watch := startSipp(t, "-sf", scenario("reg_watch.xml"), "-s", "alice", p.Addr)
	watch.WaitLog("v0 init", phoneWait)
	time.Sleep(1200 * time.Millisecond) // past the first NOTIFY's throttle
	if code := runSipp(t, "-sf", scenario("register.xml"), "-s", "alice", p.Addr); code != 0 {
		t.Fatalf("alice's REGISTER flow: sipp exited %d", code)
	}
	watch.ExpectSuccess()
	data, err := os.ReadFile(watch.file("logs"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, m := range regLine.FindAllStringSubmatch(string(data), -1) {
		if v, _ := strconv.Atoi(m[1]); v != i || m[4] != "alice" {
			t.Errorf("NOTIFY %d has version %s, for %s", i, m[1], m[4])
		}
		got = append(got, m[2]+" "+m[3])
	}
	t.Logf("NOTIFYs: %q", got)
	if len(got) < 3 || got[0] != "init " || got[len(got)-1] != "terminated unregistered" {
		t.Fatalf("NOTIFYs %q: want init, active, …, terminated unregistered", got)
	}
	for _, s := range got[1 : len(got)-1] {
		if s != "active registered" && s != "active refreshed" {
			t.Errorf("NOTIFYs %q: %q between the first and the last", got, s)
		}
	}
}
