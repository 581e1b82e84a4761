//go:build race

package sqlstore

// raceEnabled loosens time bounds: the race detector slows code 5-10x.
const raceEnabled = true
