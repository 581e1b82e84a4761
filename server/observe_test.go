package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/hep"
)

// testConfig listens on a kernel-chosen loopback UDP port with the memory
// store, admin on a free loopback port, HEP off.
func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: 0}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Storage.Engine = config.EngineMemory
	cfg.Admin.Listen = "127.0.0.1:0"
	return cfg
}

func startServer(t *testing.T, cfg *config.Config) *Server {
	t.Helper()
	return startLogging(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startLogging starts a server from cfg that logs to log, and shuts it
// down at the end of the test.
func startLogging(t *testing.T, cfg *config.Config, log *slog.Logger) *Server {
	t.Helper()
	s, err := New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// udpClient opens a UDP socket on loopback, closed when t ends, and
// returns its address for Via and Contact.
func udpClient(t *testing.T) (*net.UDPConn, string) {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, conn.LocalAddr().String()
}

// options sends an OPTIONS to the server over UDP and waits for its 200.
func options(t *testing.T, s *Server) (client netip.AddrPort) {
	t.Helper()
	client, answer, err := optionsAnswer(t, s, "obs")
	if err != nil || !strings.HasPrefix(answer, "SIP/2.0 200") {
		t.Fatalf("no 200 to OPTIONS: %v %q", err, answer)
	}
	return client
}

// optionsAnswer sends an OPTIONS whose branch and Call-ID start with id
// to the server over UDP and returns its answer, whatever it is.
func optionsAnswer(t *testing.T, s *Server, id string) (client netip.AddrPort, answer string, err error) {
	t.Helper()
	conn, local := udpClient(t)
	server := s.Listeners()[0].Bound
	req := "OPTIONS sip:" + server.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + "-1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=p\r\nTo: <sip:" + server.String() + ">\r\n" +
		"Call-ID: " + id + "-test@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.WriteToUDPAddrPort([]byte(req), server); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	return netip.MustParseAddrPort(local), string(buf[:n]), err
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor reads url until its body holds want, for up to 5 s, and
// returns the last body read (the caller's checks then say what lacks).
func waitFor(t *testing.T, url, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := get(t, url)
		if strings.Contains(body, want) || time.Now().After(deadline) {
			return body
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestObservability runs a server with the admin listener and a HEP
// collector, sends it an OPTIONS and checks what each of them saw.
func TestObservability(t *testing.T) {
	collector, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer collector.Close()
	cfg := testConfig(t)
	cfg.HEP.Address = collector.LocalAddr().String()
	cfg.HEP.AgentID = 77
	s := startServer(t, cfg)
	base := "http://" + s.obs.admin.Addr().String()
	server := s.Listeners()[0].Bound

	client := options(t, s)
	s.obs.obs.Flush()

	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	// A stage is counted when it returns, and local's 200 has gone out
	// by then: on a busy machine the client reads it first. Flush does
	// not cover that, so /metrics is read until the stage shows.
	metrics := waitFor(t, base+"/metrics", `parley_stage_duration_seconds_count{stage="local"} 1`)
	for _, want := range []string{
		`parley_sip_requests_total{direction="received",method="OPTIONS"} 1`,
		`parley_sip_responses_total{class="2xx",direction="sent",method="OPTIONS"} 1`,
		`parley_registrations_active 0`,
		`parley_transactions_active{kind="server"}`,
		`parley_messages_dropped_total{reason="malformed"} 0`,
		// The OPTIONS went through the first stages and was answered by local.
		`parley_stage_requests_total{outcome="next",stage="sanity"} 1`,
		`parley_stage_requests_total{outcome="answered",stage="local"} 1`,
		`parley_stage_requests_total{outcome="next",stage="location"} 0`,
		`parley_stage_duration_seconds_count{stage="local"} 1`,
		`parley_stage_duration_seconds_bucket{stage="local",le="+Inf"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_, stats := get(t, base+"/api/stats")
	for _, want := range []string{`"mode":"stateful"`, `"udp:` + server.String() + `"`, `"hep":{"sent":2,"failed":0}`, `"captured":2`} {
		if !strings.Contains(stats, want) {
			t.Errorf("/api/stats lacks %s: %s", want, stats)
		}
	}

	// The collector got the request and the response, with addresses.
	buf := make([]byte, 65535)
	collector.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, want := range []struct {
		src, dst netip.AddrPort
		first    string
	}{{client, server, "OPTIONS "}, {server, client, "SIP/2.0 200"}} {
		n, _, err := collector.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		p, err := hep.Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if p.Src != want.src || p.Dst != want.dst || p.AgentID != 77 || p.Proto != hep.ProtoUDP ||
			p.Type != hep.TypeSIP || !strings.HasPrefix(p.Payload, want.first) {
			t.Errorf("packet %d: %+v", i, p)
		}
	}
}

func TestObservabilityOff(t *testing.T) {
	for _, on := range []struct{ records, presence bool }{{false, false}, {true, false}, {false, true}} {
		cfg := testConfig(t)
		cfg.Admin.Listen, cfg.CDR.Enabled, cfg.Presence.Enabled = "", on.records, on.presence
		s := startServer(t, cfg)
		// Busy lamps follow calls through the observer's call tracking.
		if (s.obs != nil) != (on.records || on.presence) || (s.records != nil) != on.records {
			t.Fatalf("with admin and HEP off, cdr.enabled %v and presence.enabled %v: observer built %v, records %v",
				on.records, on.presence, s.obs != nil, s.records != nil)
		}
		options(t, s) // the taps are no-ops, or feed the call tracker alone
	}
}

// TestAdminPortTaken: an admin listener that cannot bind stops the start
// with an error that says how to move it, and the SIP port is released.
func TestAdminPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	port := freePort(t)
	cfg.Listen[0].Port = port
	cfg.Admin.Listen = taken.Addr().String()
	s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	if err == nil || !strings.Contains(err.Error(), "admin.listen "+taken.Addr().String()) ||
		!strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--admin") {
		t.Fatalf("Start: %v, want an error naming admin.listen, the cause and --admin", err)
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("the SIP port is still held after the failed start: %v", err)
	}
	c.Close()
}

func TestReadyWhileDraining(t *testing.T) {
	s := startServer(t, testConfig(t))
	if err := s.ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.draining.Store(true)
	if err := s.ready(context.Background()); err == nil || err.Error() != "draining" {
		t.Errorf("ready while draining: %v", err)
	}
	s.draining.Store(false)
}

func TestHEPAddressUnresolvable(t *testing.T) {
	cfg := testConfig(t)
	cfg.HEP.Address = "no-such-host.invalid:9060"
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err == nil || !strings.Contains(err.Error(), "hep.address") {
		t.Errorf("got %v, want a hep.address error", err)
	}
}

// TestCertificateFilesMissing: a certificate path that passed the
// config check but names no file stops the start with the keys named, as
// the README's wss example copied verbatim (Let's Encrypt paths) does.
func TestCertificateFilesMissing(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = append(cfg.Listen, config.Listener{Proto: config.ProtoWSS, Host: "127.0.0.1", Port: freePort(t)})
	dir := t.TempDir()
	cfg.TLS.CertFile, cfg.TLS.KeyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	_, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "tls.cert_file "+cfg.TLS.CertFile) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("got %v, want tls.cert_file %s and why it failed", err, cfg.TLS.CertFile)
	}
}

// TestStatsCertificate: with a TLS listener, /api/stats carries the
// certificate, whose fingerprint is the one a phone pins.
func TestStatsCertificate(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = append(cfg.Listen, config.Listener{Proto: config.ProtoTLS, Host: "127.0.0.1", Port: 0})
	s := startServer(t, cfg)
	cert, ok := s.tp.Certificate()
	if !ok {
		t.Fatal("no certificate")
	}
	_, stats := get(t, "http://"+s.obs.admin.Addr().String()+"/api/stats")
	for _, want := range []string{`"tls":{"file":"` + cert.File + `","self_signed":true,"sha256":"` + cert.SHA256 + `"`, `"example.com"`} {
		if !strings.Contains(stats, want) {
			t.Errorf("/api/stats lacks %s: %s", want, stats)
		}
	}
}
