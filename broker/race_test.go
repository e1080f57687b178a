//go:build race

package broker

// raceEnabled: the race detector doubles goroutine stacks (their smallest
// size is 4 KiB rather than 2 KiB), which memory measures account for.
const raceEnabled = true
