package transport

import "golang.org/x/sys/unix"

func forceRcvBuf(fd, rcvbuf int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf)
}
