package broker

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestDiskIdlePartitionsGoroutines: idle partitions on a DiskStorage with
// the default flush policy (interval=1s) start no goroutine each; the
// periodic fsync runs from timers.
func TestDiskIdlePartitionsGoroutines(t *testing.T) {
	s, err := NewDiskStorage(t.TempDir(), DiskOptions{RetentionAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := runtime.NumGoroutine()
	const partitions = 300
	for i := range partitions {
		if _, err := s.OpenPartition("idle-"+strconv.Itoa(i%10), int32(i/10)); err != nil {
			t.Fatal(err)
		}
	}
	// Goroutines that other tests left ending may go meanwhile; only
	// growth counts, with room for a few of the runtime's own.
	added := runtime.NumGoroutine() - before
	t.Logf("%d idle partitions: %d goroutines added", partitions, added)
	if added > 10 {
		t.Fatalf("%d idle partitions added %d goroutines, want O(1)", partitions, added)
	}
}
