//go:build linux

package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"github.com/parley-sip/parley/sip"
	"golang.org/x/sys/unix"
)

// udpReader reads one socket with recvmmsg into buffers, headers and
// address slots it reuses for every batch. x/net's ReadBatch builds a
// net.UDPAddr per datagram; here the kernel writes each source into a
// raw sockaddr slot that datagram decodes into a netip.AddrPort, so a
// read allocates nothing. The Mmsghdrs point into the reader's own
// slices, which live as long as the reader. Each datagram's control data
// (cmsgs) carries its kernel receive time (SO_TIMESTAMPNS, asked for by
// udpControl).
type udpReader struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []rawSockaddr
	bufs  [][]byte
	cmsgs []cmsgSlot

	n    int   // what the last recvmmsg returned
	err  error // and its error
	recv func(fd uintptr) bool
}

func newUDPReader(uc *net.UDPConn, slot int) *udpReader {
	r := &udpReader{
		hdrs:  make([]unix.Mmsghdr, udpBatch),
		iovs:  make([]unix.Iovec, udpBatch),
		names: make([]rawSockaddr, udpBatch),
		bufs:  make([][]byte, udpBatch),
		cmsgs: make([]cmsgSlot, udpBatch),
	}
	r.rc, r.err = uc.SyscallConn()
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, slot)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(slot)
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
		r.hdrs[i].Hdr.Name = &r.names[i][0]
		r.hdrs[i].Hdr.Control = &r.cmsgs[i][0]
	}
	// A method value made once: a closure per read would be an allocation.
	r.recv = r.recvmmsg
	return r
}

// read waits for at least one datagram and takes up to udpBatch. The
// socket's read lock (inside RawConn.Read) lets one of a socket's readers
// into recvmmsg at a time.
func (r *udpReader) read() (int, error) {
	if r.rc == nil {
		return 0, r.err
	}
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = uint32(len(rawSockaddr{}))
		r.hdrs[i].Hdr.SetControllen(len(cmsgSlot{}))
		r.hdrs[i].Hdr.Flags = 0
	}
	r.n, r.err = 0, nil
	if err := r.rc.Read(r.recv); err != nil {
		return 0, err
	}
	return r.n, r.err
}

// recvmmsg is RawConn.Read's callback: false asks the poller to wait
// until the socket is readable.
func (r *udpReader) recvmmsg(fd uintptr) bool {
	var done bool
	r.n, done, r.err = mmsg(unix.SYS_RECVMMSG, "recvmmsg", fd, r.hdrs)
	return done
}

// mmsg makes one recvmmsg or sendmmsg call (trap) with hdrs, retrying
// when a signal interrupts it. done is false when the socket would block,
// which tells RawConn to wait for the poller and call again.
func mmsg(trap uintptr, name string, fd uintptr, hdrs []unix.Mmsghdr) (n int, done bool, err error) {
	for {
		r, _, errno := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), 0, 0, 0)
		switch errno {
		case 0:
			return int(r), true, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, false, nil
		}
		return 0, true, os.NewSyscallError(name, errno)
	}
}

// datagram returns the i-th datagram of the last read, in the reader's
// buffer, its source (an address of another family is invalid) and its
// kernel receive time (0 when the kernel gave none).
func (r *udpReader) datagram(i int) ([]byte, netip.AddrPort, sip.Arrival) {
	h := &r.hdrs[i]
	return r.bufs[i][:h.Len], r.names[i].addrPort(h.Hdr.Namelen), r.cmsgs[i].arrival(int(h.Hdr.Controllen))
}

// cmsgSlot is one datagram's control data: room for the SCM_TIMESTAMPNS
// message (a header and a struct timespec) with some to spare, should
// the kernel add another.
type cmsgSlot [64]byte

// arrival finds the SCM_TIMESTAMPNS among the n bytes of control data the
// kernel wrote, decoded byte by byte (unix.ParseSocketControlMessage
// allocates per datagram). Its header's length and the timespec's two
// fields are machine words: size_t, time_t and long.
func (c *cmsgSlot) arrival(n int) sip.Arrival {
	b := c[:min(n, len(c))]
	for len(b) >= unix.SizeofCmsghdr {
		size := int(word(b))
		level := int32(binary.NativeEndian.Uint32(b[wordSize:]))
		typ := int32(binary.NativeEndian.Uint32(b[wordSize+4:]))
		if size < unix.SizeofCmsghdr || size > len(b) {
			return 0
		}
		data := (unix.SizeofCmsghdr + wordSize - 1) &^ (wordSize - 1) // CMSG_DATA
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && size >= data+2*wordSize {
			return sip.ArrivalAt(word(b[data:])*1e9 + word(b[data+wordSize:]))
		}
		next := (size + wordSize - 1) &^ (wordSize - 1) // CMSG_ALIGN
		if next >= len(b) {
			return 0
		}
		b = b[next:]
	}
	return 0
}

// wordSize is the size of a machine word (size_t, long) in the kernel's
// structures.
const wordSize = int(unsafe.Sizeof(uintptr(0)))

// word reads a machine word from the start of b.
func word(b []byte) int64 {
	if wordSize == 8 {
		return int64(binary.NativeEndian.Uint64(b))
	}
	return int64(int32(binary.NativeEndian.Uint32(b)))
}

// udpWriter writes a socket's queue with sendmmsg from headers, iovecs and
// address slots it reuses, the destinations encoded in place: nothing is
// allocated per datagram (x/net's WriteBatch wants a net.Addr each).
type udpWriter struct {
	rc    syscall.RawConn
	v4    bool // an AF_INET socket; else AF_INET6, which takes IPv4 mapped
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []rawSockaddr

	todo int   // how many headers the next sendmmsg passes
	n    int   // what it returned
	err  error // and its error
	send func(fd uintptr) bool
}

func newUDPWriter(uc *net.UDPConn, v4 bool) *udpWriter {
	w := &udpWriter{
		v4:    v4,
		hdrs:  make([]unix.Mmsghdr, udpQueueMax),
		iovs:  make([]unix.Iovec, udpQueueMax),
		names: make([]rawSockaddr, udpQueueMax),
	}
	w.rc, w.err = uc.SyscallConn()
	for i := range w.hdrs {
		w.hdrs[i].Hdr.Iov = &w.iovs[i]
		w.hdrs[i].Hdr.SetIovlen(1)
		w.hdrs[i].Hdr.Name = &w.names[i][0]
	}
	w.send = w.sendmmsg
	return w
}

// write passes q (at most udpQueueMax) to one sendmmsg and returns how
// many the kernel took; an error comes only with none taken.
func (w *udpWriter) write(q []queued) (int, error) {
	if w.rc == nil {
		return 0, w.err
	}
	for i, e := range q {
		if len(e.msg) > 0 {
			w.iovs[i].Base = &e.msg[0]
		}
		w.iovs[i].SetLen(len(e.msg))
		w.hdrs[i].Hdr.Namelen = w.names[i].set(e.dst, w.v4)
	}
	w.todo, w.n, w.err = len(q), 0, nil
	err := w.rc.Write(w.send)
	for i := range q {
		w.iovs[i].Base = nil // the arena's array may be dropped after the flush
	}
	if err != nil {
		return 0, err
	}
	return w.n, w.err
}

// sendmmsg is RawConn.Write's callback: false asks the poller to wait
// until the socket is writable.
func (w *udpWriter) sendmmsg(fd uintptr) bool {
	var done bool
	w.n, done, w.err = mmsg(unix.SYS_SENDMMSG, "sendmmsg", fd, w.hdrs[:w.todo])
	return done
}
