//go:build unix && !linux

package transport

import "errors"

func forceRcvBuf(int, int) error { return errors.ErrUnsupported }

// askRecvTimestamp does nothing here: the batch reader of these systems
// (x/net) passes no control data, so datagrams are stamped when read.
func askRecvTimestamp(int) {}
