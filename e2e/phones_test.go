package e2e

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// Messages in parley's --trace log: quotes are escaped (\"), header lines
// end in a written \r\n.
var (
	// reByeOK is a 200 to a BYE that parley sent.
	reByeOK = regexp.MustCompile(`msg=send .*msg="\\nSIP/2\.0 200 .*\\r\\nCSeq: \d+ BYE\\r\\n`)
	// reRegisterOK is a 200 to a REGISTER that parley sent, with a binding.
	reRegisterOK = regexp.MustCompile(`msg=send .*msg="\\nSIP/2\.0 200 .*\\r\\nCSeq: \d+ REGISTER\\r\\nContact: `)
)

// expectTrace fails the test unless parley's log, with --trace, holds a
// message that re matches; what names it for the failure.
func (p *parley) expectTrace(t *testing.T, re *regexp.Regexp, what string) {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !re.Match(b) {
		t.Errorf("parley's trace holds no %s", what)
	}
}

// expectByeOK fails the test unless parley relayed a 200 to a BYE: the
// hang-up went through it to the other phone and back.
func (p *parley) expectByeOK(t *testing.T) {
	t.Helper()
	p.expectTrace(t, reByeOK, "200 sent to a BYE")
}

// TestBaresipDialsServerAddress is how a stranger sets baresip up: parley
// out of the box (every domain served), each phone's account the server's
// address with a transport, and the call dialled the same way:
// sip:bob@HOST:PORT;transport=udp. baresip 1.0 then repeats the account's
// transport in the Request-URI and To (";transport=udp;transport=udp"),
// which parley must relay (issue 13, defect 1). With passwords, auth is
// on with nothing else set, so the default digest algorithms must be ones
// baresip answers (defect 7).
func TestBaresipDialsServerAddress(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	for _, tr := range []string{"udp", "tcp"} {
		for _, passwords := range []bool{false, true} {
			name := tr + "/open"
			if passwords {
				name = tr + "/passwords"
			}
			t.Run(name, func(t *testing.T) {
				data := t.TempDir()
				args := []string{"--data-dir", data, "--trace"}
				bobPw, alicePw := "", ""
				if passwords {
					// The realm is the domain the phones use: the server's address.
					bobPw, alicePw = "bob-pw-22", "alice-pw-1"
					addSubscriber(t, data, "bob@127.0.0.1", bobPw)
					addSubscriber(t, data, "alice@127.0.0.1", alicePw)
					args = append(args, "--config", writeConfig(t, "auth:\n  enabled: true\n"))
				}
				p := startParleyServing(t, nil, args...)
				account := func(user, password string) string {
					a := fmt.Sprintf("<sip:%s@%s;transport=%s>;regint=300", user, p.Addr, tr)
					if password != "" {
						a += ";auth_pass=" + password
					}
					return a
				}
				bob := startSoftphone(t, "bob", account("bob", bobPw)+";answermode=auto")
				alice := startSoftphone(t, "alice", account("alice", alicePw))
				bob.waitLog(reRegistered, phoneWait)
				alice.waitLog(reRegistered, phoneWait)
				softphoneCall(t, alice, bob, fmt.Sprintf("sip:bob@%s;transport=%s", p.Addr, tr))
				p.expectByeOK(t)
			})
		}
	}
}
