package seglog

import (
	"os"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/internal/testkit"
)

// Verify finds a damaged batch in an older segment, names its offsets and
// where to resume, and checks the batches after it; a clean log and a torn
// newest segment are not damage.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentRecords: 100})
	appendN(t, l, 30, 10, 0) // three segments of ten batches
	l.Close()
	one := len(batch(t, 10, 0, 10))

	rep, err := Verify(dir)
	if err != nil || len(rep.Damage) != 0 || rep.Tail != nil || rep.Segments != 3 || rep.Batches != 30 {
		t.Fatalf("clean log: %+v, %v", rep, err)
	}

	segs := segFiles(t, dir, ".log")
	flipByte(t, segs[1], int64(3*one+100)) // records of offsets 130..139
	flipByte(t, segs[1], int64(6*one+kbatch.HeaderSize-2))
	testkit.AppendFile(t, segs[2], []byte("torn tail"))
	rep, err = Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) != 2 || rep.Batches != 28 {
		t.Fatalf("%d damaged ranges, %d good batches: %+v", len(rep.Damage), rep.Batches, rep.Damage)
	}
	for i, want := range []struct{ first, next, pos int64 }{{130, 140, int64(3 * one)}, {160, 170, int64(6 * one)}} {
		d := rep.Damage[i]
		if d.FirstOffset != want.first || d.NextOffset != want.next || d.Pos != want.pos || d.End != want.pos+int64(one) || d.Segment != segs[1] {
			t.Errorf("damage %d: %+v, want offsets [%d, %d) at %d", i, d, want.first, want.next, want.pos)
		}
		wantErr(t, d.Err, ErrCorrupt)
	}
	if rep.Tail == nil || rep.Tail.Segment != segs[2] || rep.Tail.Pos != int64(10*one) {
		t.Fatalf("tail %+v", rep.Tail)
	}

	// A length destroyed: the damage runs to the segment's end and the
	// consumer resumes at the next segment.
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0x7f, 0xff, 0xff, 0xff}, int64(5*one+8)) // batch length field
	f.Close()
	rep, err = Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Damage[0]; len(rep.Damage) != 3 || d.FirstOffset != 50 || d.NextOffset != 100 || d.End != int64(10*one) {
		t.Fatalf("length destroyed: %+v", rep.Damage)
	}
}
