//go:build unix

package broker

import (
	"syscall"
	"testing"
)

// hostileConns returns how many hostile connections a test may open: want,
// or fewer when the descriptor limit is low (each costs two descriptors in
// this process, the client's and the broker's).
func hostileConns(t testing.TB, want int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		if room := int(lim.Cur)/2 - 200; room < want {
			want = max(room, 10)
		}
	}
	return want
}
