//go:build linux

package transport

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"golang.org/x/sys/unix"
)

// TestCmsgArrival decodes the kernel's SCM_TIMESTAMPNS from control data
// laid out as Linux writes it, after another control message, and finds
// none in data without it.
func TestCmsgArrival(t *testing.T) {
	at := time.Date(2026, 12, 7, 21, 0, 1, 234_567_000, time.UTC)
	var c cmsgSlot
	n := putCmsg(c[:], 0, 0x1234, 7, make([]byte, 4))
	ts := make([]byte, 2*wordSize)
	putWord(ts, at.Unix())
	putWord(ts[wordSize:], int64(at.Nanosecond()))
	n = putCmsg(c[:], n, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)
	if got, want := c.arrival(n), sip.ArrivalAt(at.UnixNano()); got != want {
		t.Errorf("arrival %d, want %d", got, want)
	}
	var other cmsgSlot
	if got := other.arrival(putCmsg(other[:], 0, 0x1234, 7, make([]byte, 4))); got != 0 {
		t.Errorf("arrival %d from data without a timestamp", got)
	}
	if got := c.arrival(0); got != 0 {
		t.Errorf("arrival %d from no control data", got)
	}
}

// putCmsg writes one control message (header and data) at b[off:] and
// returns the offset of the next, aligned as the kernel aligns them.
func putCmsg(b []byte, off int, level, typ int32, data []byte) int {
	hdr := (unix.SizeofCmsghdr + wordSize - 1) &^ (wordSize - 1)
	putWord(b[off:], int64(hdr+len(data)))
	binary.NativeEndian.PutUint32(b[off+wordSize:], uint32(level))
	binary.NativeEndian.PutUint32(b[off+wordSize+4:], uint32(typ))
	copy(b[off+hdr:], data)
	return off + (hdr+len(data)+wordSize-1)&^(wordSize-1)
}

func putWord(b []byte, v int64) {
	if wordSize == 8 {
		binary.NativeEndian.PutUint64(b, uint64(v))
		return
	}
	binary.NativeEndian.PutUint32(b, uint32(v))
}

// TestUDPReaderArrival: a listener's socket gives each datagram the
// kernel's receive time, between the send and the read.
func TestUDPReaderArrival(t *testing.T) {
	srv := udpClient(t, families[0])
	rc, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { askRecvTimestamp(int(fd)) })
	c := udpClient(t, families[0])
	rd := newUDPReader(srv, 2048)
	before := sip.ArrivalAt(time.Now().UnixNano())
	if _, err := c.WriteToUDPAddrPort(response(1), addrPort(srv.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	n, err := rd.read()
	after := time.Now().UnixNano()
	if err != nil || n != 1 {
		t.Fatalf("read %d, %v", n, err)
	}
	_, _, at := rd.datagram(0)
	if at == 0 || before.Age(after) < at.Age(after) || at.Age(after) < 0 {
		t.Errorf("arrival %d, want between %d and %d", at, before, sip.ArrivalAt(after))
	}
}
