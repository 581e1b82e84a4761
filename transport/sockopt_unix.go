//go:build unix

package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported says whether several sockets can share a UDP port.
const reusePortSupported = true

// udpControl sets SO_REUSEPORT (when the listener has several sockets)
// and the receive buffer before bind, which is when the kernel needs them,
// and asks for receive timestamps.
func udpControl(reuse bool, rcvbuf int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if reuse {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
			setRcvBuf(int(fd), rcvbuf)
			askRecvTimestamp(int(fd))
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// setRcvBuf asks for rcvbuf bytes of receive buffer. The forced variant
// passes net.core.rmem_max when the process may (CAP_NET_ADMIN); else the
// kernel caps the plain one silently, which is still better than the
// default. Failures are ignored: the socket works either way.
func setRcvBuf(fd, rcvbuf int) {
	if forceRcvBuf(fd, rcvbuf) == nil {
		return
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
}
