//go:build race

package interop

// raceEnabled builds the broker binary with -race too, and the tests fail
// when it reports a data race.
const raceEnabled = true
