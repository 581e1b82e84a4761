//go:build unix && !linux

package transport

import "errors"

func forceRcvBuf(int, int) error { return errors.ErrUnsupported }
