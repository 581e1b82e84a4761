//go:build !unix

package transport

import "syscall"

// reusePortSupported is false here: each UDP listener gets one socket.
const reusePortSupported = false

func udpControl(reuse bool, rcvbuf int) func(network, address string, c syscall.RawConn) error {
	return nil
}
