//go:build !unix

package transport

// canPark: no way here to peek at a socket, so connections never park.
const canPark = false

func peekReady(uintptr, []byte) bool { return true }
