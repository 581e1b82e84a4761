//go:build race

package auth_test

// raceEnabled: the race detector adds allocations of its own.
const raceEnabled = true
