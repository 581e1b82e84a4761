package auth

import (
	"fmt"

	"github.com/parley-sip/parley/sip"
)

// CheckIdentity checks that the user who authenticated in realm is who the
// request claims to come from: the From URI must be user@realm, and for a
// REGISTER so must the To URI, the address being registered (RFC 3261
// §10.3 step 3 lets a registrar refuse third-party registration, and
// Parley does). Without this check any subscriber could call as, or
// register the phone of, any other. A non-nil error means 403.
func CheckIdentity(req *sip.Message, user, realm string) error {
	from, err := req.From()
	if err != nil {
		return err
	}
	if !sameUser(from.URI, user, realm) {
		return fmt.Errorf("auth: From %s is not the authenticated %s@%s", from.URI.AOR(), user, realm)
	}
	if req.Method() != "REGISTER" {
		return nil
	}
	to, err := req.To()
	if err != nil {
		return err
	}
	if !sameUser(to.URI, user, realm) {
		return fmt.Errorf("auth: To %s is not the authenticated %s@%s", to.URI.AOR(), user, realm)
	}
	return nil
}

// sameUser compares a URI's user (case-sensitive, escapes resolved) and
// host (case-insensitive) with an authenticated identity.
func sameUser(u sip.URI, user, realm string) bool {
	return u.IsSIP() && sip.Unescape(u.User) == user && sip.EqualFold(u.Host, realm)
}
