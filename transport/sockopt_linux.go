package transport

import "golang.org/x/sys/unix"

func forceRcvBuf(fd, rcvbuf int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf)
}

// askRecvTimestamp has the kernel stamp every datagram of the socket with
// its receive time (SO_TIMESTAMPNS), which recvmmsg returns in each
// message's control data: the start of the relay histogram's time. A
// failure leaves datagrams stamped when read, as on a stream.
func askRecvTimestamp(fd int) {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
}
