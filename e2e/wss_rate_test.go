package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWSSRegisterRate measures REGISTER/s over WSS, parley beside
// Kamailio 5.6 with its websocket module (bench/peers/kamailio-wss.cfg),
// in the same run and with the same client: PARLEY_WSS_RATE connections
// (say 200) registered, then each refreshes its registration, one
// REGISTER waiting for its 200 at a time, for 10 s. Both servers keep
// registrations in memory, use two worker cores' worth of workers
// (GOMAXPROCS is the machine's; Kamailio -N 2) and the same certificate.
// A measurement, not a check: without the variable it skips; without
// Kamailio only parley is measured.
func TestWSSRegisterRate(t *testing.T) {
	conns, _ := strconv.Atoi(os.Getenv("PARLEY_WSS_RATE"))
	if conns <= 0 {
		t.Skip("a measurement: PARLEY_WSS_RATE=200 go test ./e2e -run TestWSSRegisterRate -v")
	}
	const dur = 10 * time.Second
	raiseNoFile(t, uint64(2*conns+1000))
	data := t.TempDir()
	wssAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, `tcp:
  max_connections_per_ip: 20000
storage:
  engine: memory
security:
  trusted: [127.0.0.0/8]
admin:
  listen: ""
`)
	p := startParley(t, "--config", cfg, "--data-dir", data, "--listen", "wss:"+wssAddr, "--log-level", "info")
	rate := registerRate(t, wssAddr, conns, dur)
	t.Logf("parley: %.0f REGISTER/s over WSS on %d connections", rate, conns)
	_ = p // idle from here on

	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Logf("kamailio not installed (%s): parley only", kamailioWSSHint)
		return
	}
	kamAddr, _ := startKamailioWSS(t, data, 1024)
	krate := registerRate(t, kamAddr, conns, dur)
	t.Logf("kamailio: %.0f REGISTER/s over WSS on %d connections; parley/kamailio = %.2f", krate, conns, rate/krate)
}

// registerRate opens n WSS connections to addr, registers a user on
// each, then has every connection refresh its registration until d has
// passed, and returns the refreshes answered 200 per second.
func registerRate(t *testing.T, addr string, n int, d time.Duration) float64 {
	t.Helper()
	cs := make([]*websocket.Conn, n)
	for i := range cs {
		c, err := registerWSS(addr, i)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		cs[i] = c
		defer c.Close()
	}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cseq := 2; time.Now().Before(end) && cseq < 1_000_000; cseq++ {
				if err := registerOn(c, i, cseq); err != nil {
					failed.Add(1)
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d connections failed a refresh", f)
	}
	return float64(ok.Load()) / time.Since(start).Seconds()
}

const kamailioWSSHint = "apt-get install -y kamailio kamailio-tls-modules kamailio-websocket-modules"

// startKamailioWSS starts Kamailio as a WSS registrar
// (bench/peers/kamailio-wss.cfg) with the certificate parley made in
// data, two TCP workers and shmMB MiB of shared memory, and returns its
// address and main process.
func startKamailioWSS(t *testing.T, data string, shmMB int) (string, *os.Process) {
	t.Helper()
	port := freePort(t, false)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	run := t.TempDir()
	tlsCfg := filepath.Join(run, "tls.cfg")
	os.WriteFile(tlsCfg, []byte("[server:default]\nmethod = TLSv1.2+\ncertificate = "+
		filepath.Join(data, "tls.crt")+"\nprivate_key = "+filepath.Join(data, "tls.key")+"\n"), 0o644)
	k := exec.Command("kamailio", "-f", filepath.Join("..", "bench", "peers", "kamailio-wss.cfg"), "-DD", "-E",
		"-n", "2", "-N", "2", "-m", strconv.Itoa(shmMB), "-l", "tls:"+addr, "-Y", run, "-w", run,
		"-A", `TLS_CONFIG="`+tlsCfg+`"`)
	klog, err := os.Create(filepath.Join(run, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	k.Stdout, k.Stderr = klog, klog
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Kamailio's workers outlive its main process, each holding its
		// share of the shared memory: stop them by PID too.
		for _, pid := range processGroup(k.Process.Pid)[1:] {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		k.Process.Kill()
		k.Wait()
		klog.Close()
		if t.Failed() || os.Getenv("PARLEY_KAMAILIO_LOG") != "" {
			t.Logf("kamailio log, tail:\n%s", tail(klog.Name(), 3000))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !listening(port) {
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not listen on %s: %s", addr, tail(klog.Name(), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, k.Process
}
