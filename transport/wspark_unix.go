//go:build unix

package transport

import "syscall"

// canPark: the socket can be peeked at without taking its bytes.
const canPark = true

// peekReady reports whether fd has bytes or its end to read, or an
// error to report, leaving them where they are.
func peekReady(fd uintptr, buf []byte) bool {
	_, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}
