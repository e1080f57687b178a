package seglog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// W6 of docs/BENCHMARKS.md: append and read of 100-byte records in batches of
// 100. One op is one batch; ns/record is the figure to compare with the
// per-message reference in docs/BENCHMARKS.md.

const benchRecords = 100

func benchBatch(b *testing.B) []byte {
	var bd kbatch.Builder
	v := make([]byte, 100)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	for i := 0; i < benchRecords; i++ {
		bd.Add(1_700_000_000_000+int64(i), nil, v)
	}
	out, err := bd.AppendBatch(nil)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func reportPerRecord(b *testing.B, records int64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkAppend(b *testing.B) {
	for _, p := range []FlushPolicy{FlushNever(), DefaultFlush, FlushEveryN(10000), FlushAlways()} {
		b.Run("flush="+p.String(), func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), Options{Flush: p})
			defer l.Close()
			benchAppends(b, l, func(int) {})
		})
	}
}

// benchAppends appends b.N batches of benchRecords records to l, calling
// after with each batch's size, and reports the cost per record.
func benchAppends(b *testing.B, l *Log, after func(batchBytes int)) {
	bt := benchBatch(b)
	b.SetBytes(int64(len(bt)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := l.Append(bt); err != nil {
			b.Fatal(err)
		}
		after(len(bt))
	}
	b.StopTimer()
	reportPerRecord(b, int64(b.N)*benchRecords)
}

// BenchmarkAppendPageCache measures what an append costs on top of the
// kernel's write: no fsync at all, so that the disk's bandwidth does not
// enter (one 2 GiB segment, no background fsync).
// BenchmarkPhysicalWrite is its baseline.
func BenchmarkAppendPageCache(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Options{Flush: FlushNever(), SegmentBytes: MaxSegmentBytes})
	defer l.Close()
	l.earlyFlush = 1 << 62
	benchAppends(b, l, func(batchBytes int) {
		if l.active.size > MaxSegmentBytes-int64(batchBytes) {
			b.Fatal("the benchmark rolled: lower -benchtime")
		}
	})
}

func BenchmarkRead(b *testing.B) {
	const batches = 4000 // 400 000 records, about 43 MB, across segments
	l := mustOpen(b, b.TempDir(), Options{SegmentBytes: 16 << 20, Flush: FlushNever()})
	defer l.Close()
	bt := benchBatch(b)
	for i := 0; i < batches; i++ {
		if _, _, err := l.Append(bt); err != nil {
			b.Fatal(err)
		}
	}
	end := l.NextOffset()
	for _, tc := range []struct {
		name     string
		maxBytes int
		writeTo  bool
	}{
		{"fetch=1MiB/AppendTo", 1 << 20, false},
		{"fetch=1MiB/WriteTo", 1 << 20, true},
		{"fetch=1batch/AppendTo", 1, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var buf []byte
			var records, bytes int64
			off := int64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := l.Read(off, tc.maxBytes)
				if err != nil {
					b.Fatal(err)
				}
				if tc.writeTo {
					_, err = s.WriteTo(io.Discard)
				} else {
					buf, err = s.AppendTo(buf[:0])
				}
				if err != nil {
					b.Fatal(err)
				}
				n := int64(s.Len()) / int64(len(bt)) // whole batches of the same size
				s.Close()
				records += n * benchRecords
				bytes += int64(s.Len())
				off += n * benchRecords
				if off >= end {
					off = 0
				}
			}
			b.StopTimer()
			reportPerRecord(b, records)
			b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// The physical limits on the same machine, for the ratio: the same bytes
// written with one pwrite per batch and no checks, and read back with one
// pread per MiB.

// rawFile creates a file for the physical benchmarks, closed when the
// benchmark ends, and returns it with the batch they write.
func rawFile(b *testing.B) (*os.File, []byte) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f, benchBatch(b)
}

func BenchmarkPhysicalWrite(b *testing.B) {
	f, bt := rawFile(b)
	var err error
	b.SetBytes(int64(len(bt)))
	b.ResetTimer()
	var pos int64
	for i := 0; i < b.N; i++ {
		if _, err := f.WriteAt(bt, pos); err != nil {
			b.Fatal(err)
		}
		pos += int64(len(bt))
		if pos > DefaultSegmentBytes { // a new file every 64 MiB, as segments roll
			f.Close()
			if f, err = os.Create(fmt.Sprintf("%s.%d", f.Name(), i)); err != nil {
				b.Fatal(err)
			}
			pos = 0
		}
	}
	b.StopTimer()
	reportPerRecord(b, int64(b.N)*benchRecords)
}

func BenchmarkPhysicalRead(b *testing.B) {
	f, bt := rawFile(b)
	const size = 43 << 20
	for pos := int64(0); pos < size; pos += int64(len(bt)) {
		f.WriteAt(bt, pos)
	}
	buf := make([]byte, 1<<20)
	perMiB := int64(len(buf)) / int64(len(bt)) * benchRecords
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	var pos int64
	for i := 0; i < b.N; i++ {
		if _, err := f.ReadAt(buf, pos); err != nil {
			b.Fatal(err)
		}
		if pos += int64(len(buf)); pos+int64(len(buf)) > size {
			pos = 0
		}
	}
	b.StopTimer()
	reportPerRecord(b, int64(b.N)*perMiB)
}
