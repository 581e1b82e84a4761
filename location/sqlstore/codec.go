package sqlstore

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-sip/parley/location"
)

// columnList is the bindings table's columns in the order args and dest
// use; both engines name them alike.
var columnList = []string{"aor", "contact", "params", "q", "expires", "call_id", "cseq", "path", "transport",
	"source", "local", "conn_id", "instance_id", "reg_id", "user_agent", "updated_us"}

// columns is columnList for SQL.
var columns = strings.Join(columnList, ", ")

// encode returns the column values of aor's set bs, row after row. It runs
// in the Updating goroutine, so that the single writer only executes.
func encode(aor string, bs []location.Binding) []any {
	args := make([]any, 0, len(bs)*len(columnList))
	for i := range bs {
		r := toRow(aor, &bs[i])
		args = append(args, r.args()...)
	}
	return args
}

// row is a binding as the database holds it: integers and text only,
// which both engines and their drivers handle without conversion rules.
type row struct {
	AOR, Contact, Params, CallID, Path, Transport, Source, Local, InstanceID, UserAgent string

	Q, RegID                         int64
	Expires, CSeq, ConnID, UpdatedUS int64
}

// toRow encodes b for storage under aor.
func toRow(aor string, b *location.Binding) row {
	return row{
		AOR:        aor,
		Contact:    b.Contact,
		Params:     b.Params,
		Q:          int64(b.Q),
		Expires:    ceilSec(b.Expires),
		CallID:     b.CallID,
		CSeq:       int64(b.CSeq),
		Path:       pathText(b.Path),
		Transport:  b.Transport,
		Source:     addrText(b.Source),
		Local:      addrText(b.Local),
		ConnID:     int64(b.ConnID), // the bits, not the number: uint64 may exceed int64
		InstanceID: b.InstanceID,
		RegID:      int64(b.RegID),
		UserAgent:  b.UserAgent,
		UpdatedUS:  b.Updated.UnixMicro(),
	}
}

// args returns r's values in the order of columns.
func (r *row) args() []any {
	return []any{r.AOR, r.Contact, r.Params, r.Q, r.Expires, r.CallID, r.CSeq, r.Path, r.Transport,
		r.Source, r.Local, r.ConnID, r.InstanceID, r.RegID, r.UserAgent, r.UpdatedUS}
}

// dest returns pointers to r's fields in the order of columns, for Scan.
func (r *row) dest() []any {
	return []any{&r.AOR, &r.Contact, &r.Params, &r.Q, &r.Expires, &r.CallID, &r.CSeq, &r.Path, &r.Transport,
		&r.Source, &r.Local, &r.ConnID, &r.InstanceID, &r.RegID, &r.UserAgent, &r.UpdatedUS}
}

// binding decodes r. A row that does not decode was not written by this
// package (or was damaged): the error names it so an operator can fix it,
// rather than the binding vanishing silently.
func (r *row) binding() (location.Binding, error) {
	path, err := parsePath(r.Path)
	if err == nil {
		var src, local netip.AddrPort
		if src, err = parseAddr(r.Source); err == nil {
			if local, err = parseAddr(r.Local); err == nil {
				return r.decoded(path, src, local), nil
			}
		}
	}
	return location.Binding{}, fmt.Errorf("location/sqlstore: binding %s of %s: %w", r.Contact, r.AOR, err)
}

func (r *row) decoded(path []string, src, local netip.AddrPort) location.Binding {
	return location.Binding{
		AOR:        r.AOR,
		Contact:    r.Contact,
		Params:     r.Params,
		Q:          int(r.Q),
		Expires:    time.Unix(r.Expires, 0).UTC(),
		CallID:     r.CallID,
		CSeq:       uint32(r.CSeq),
		Path:       path,
		Transport:  r.Transport,
		Source:     src,
		Local:      local,
		ConnID:     uint64(r.ConnID),
		InstanceID: r.InstanceID,
		RegID:      int(r.RegID),
		UserAgent:  r.UserAgent,
		Updated:    time.UnixMicro(r.UpdatedUS).UTC(),
	}
}

// addrText stores an address as "ip:port", and no address as "".
func addrText(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func parseAddr(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, nil
	}
	return netip.ParseAddrPort(s)
}

// ceilSec is t in Unix seconds rounded up, for expiries: a stored binding
// may outlive its in-memory twin by under a second, never the reverse.
func ceilSec(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// floorSec is t in Unix seconds rounded down, for purges: a row whose
// rounded-up expiry is at or before it expired at or before t.
func floorSec(t time.Time) int64 {
	return t.Unix()
}
