package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reRegisteredTLS is baresip's line for a registration over TLS.
var reRegisteredTLS = regexp.MustCompile(`\{\d+/TLS/v4\} 200 OK`)

// TestBaresipTLS: two baresip 1.0 softphones register over TLS to
// parley's self-signed certificate, the way the README tells (account
// <sip:USER@DOMAIN;transport=tls>, outbound sip:HOST:5061;transport=tls,
// sip_cafile naming parley's tls.crt), and alice calls bob, the INVITE
// reaching bob on the TLS connection he registered on. Then what the
// README says of baresip 1.0's checks: a sips: account is refused
// outright, and a phone whose sip_cafile names another certificate
// registers all the same, because libre 1.1 does not verify the server.
func TestBaresipTLS(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	data := t.TempDir()
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
	p := startParley(t, "--data-dir", data, "--listen", "tls:"+tlsAddr)
	cafile := "sip_cafile " + filepath.Join(data, "tls.crt")
	tlsCert := parleyCertLine(t, data)
	if !strings.Contains(tail(p.logPath, 20000), tlsCert) {
		t.Errorf("parley's log does not print the certificate's fingerprint (%s)", tlsCert)
	}
	outbound := fmt.Sprintf(`;regint=300;outbound="sip:%s;transport=tls"`, tlsAddr)

	bob := startSoftphone(t, "bob", "<sip:bob@example.com;transport=tls>"+outbound+";answermode=auto", cafile)
	alice := startSoftphone(t, "alice", "<sip:alice@example.com;transport=tls>"+outbound, cafile)
	bob.waitLog(reRegisteredTLS, phoneWait)
	alice.waitLog(reRegisteredTLS, phoneWait)
	softphoneCall(t, alice, bob, "sip:bob@example.com")

	t.Run("sips URI refused by baresip 1.0", func(t *testing.T) {
		carol := startSoftphone(t, "carol", fmt.Sprintf(`<sips:carol@example.com>;regint=300;outbound="sips:%s"`, tlsAddr), cafile)
		carol.waitLog(regexp.MustCompile(`failed to register ua 'sips:carol@example.com'`), phoneWait)
	})
	t.Run("baresip 1.0 does not check the certificate", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.crt")
		writeUnrelatedCert(t, other)
		dave := startSoftphone(t, "dave", "<sip:dave@example.com;transport=tls>"+outbound, "sip_cafile "+other)
		dave.waitLog(reRegisteredTLS, phoneWait)
		dave.quit()
	})
}

// TestBaresipTLSCalleeHangsUp: the callee's BYE reaches a caller on TLS.
// baresip 1.0 connects from an ephemeral port and names in its Contact a
// port where it accepts no TLS (it has no certificate), so parley must
// send the BYE back over the caller's connection; it answered the callee
// 500 and left the caller in the call.
func TestBaresipTLSCalleeHangsUp(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	data := t.TempDir()
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
	p := startParley(t, "--data-dir", data, "--listen", "tls:"+tlsAddr, "--trace")
	outbound := fmt.Sprintf(`;regint=300;outbound="sip:%s;transport=tls"`, tlsAddr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com;transport=tls>"+outbound+";answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@example.com;transport=tls>"+outbound)
	bob.waitLog(reRegisteredTLS, phoneWait)
	alice.waitLog(reRegisteredTLS, phoneWait)
	alice.command("/dial sip:bob@example.com")
	alice.waitLog(reEstablished, phoneWait)
	bob.waitLog(reEstablished, phoneWait)
	time.Sleep(2 * time.Second) // the ACK has reached bob
	bob.command("/hangup")
	alice.waitLog(reTerminated, phoneWait)
	p.expectByeOK(t)
}

// parleyCertLine runs "parley tls" on data and returns its sha256 fingerprint.
func parleyCertLine(t *testing.T, data string) string {
	t.Helper()
	out, err := exec.Command(parleyBin, "tls", "--data-dir", data).CombinedOutput()
	if err != nil {
		t.Fatalf("parley tls: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`sha256 +([0-9A-F:]{95})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("parley tls printed no fingerprint:\n%s", out)
	}
	if !strings.Contains(string(out), "example.com") {
		t.Errorf("the certificate does not name the served domain example.com:\n%s", out)
	}
	return string(m[1])
}

// writeUnrelatedCert writes a self-signed certificate that has nothing to
// do with parley's.
func writeUnrelatedCert(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unrelated CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
