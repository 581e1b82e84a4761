package transaction

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"sync/atomic"

	"github.com/parley-sip/parley/sip"
)

// branchPrefix is random per process so that branches stay unique across
// restarts and across servers (§8.1.1.7); a counter makes them unique
// within the process without a random read per branch.
var (
	branchPrefix  = randomToken(10)
	branchCounter atomic.Uint64
)

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return lowerBase32.EncodeToString(b)
}

// NewBranch returns a fresh Via branch: the RFC 3261 magic cookie, a
// random per-process prefix and a counter in base 32. It costs one small
// allocation.
func NewBranch() string {
	var buf [48]byte
	b := append(buf[:0], sip.MagicCookie...)
	b = append(b, branchPrefix...)
	b = strconv.AppendUint(b, branchCounter.Add(1), 32)
	return string(b)
}
