package seglog

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// TestConcurrentAppendRead runs appenders, tailing readers, retention and a
// tiny file cache at once; run it with -race.
func TestConcurrentAppendRead(t *testing.T) {
	const appenders, perAppender, readers = 2, 300, 3
	files := NewFileCache(3)
	l := mustOpen(t, t.TempDir(), Options{
		SegmentBytes: 8 << 10, IndexIntervalBytes: 512, Files: files,
		Flush: FlushEveryN(50), RetentionBytes: 64 << 10,
	})
	defer l.Close()
	total := int64(appenders * perAppender * 5)

	var wg sync.WaitGroup
	errc := make(chan error, appenders+readers+1)
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perAppender; i++ {
				if _, _, err := l.Append(batch(t, 5, int64(i), 20)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	var retention sync.WaitGroup
	retention.Add(1)
	go func() {
		defer retention.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.ApplyRetention(time.Now()); err != nil {
				errc <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			off := int64(0)
			var buf []byte
			for off < total {
				s, err := l.Read(off, 100+r*3000)
				if errors.Is(err, ErrOffsetOutOfRange) && off < l.StartOffset() {
					off = l.StartOffset() // retention overtook this reader
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				buf, err = s.AppendTo(buf[:0])
				s.Close()
				if err != nil {
					errc <- err
					return
				}
				for b := buf; len(b) > 0; {
					h, err := kbatch.Validate(b)
					if err != nil {
						errc <- err
						return
					}
					if off < h.BaseOffset || off > h.LastOffset() {
						errc <- errors.New("batch does not contain the offset read")
						return
					}
					off = h.LastOffset() + 1
					b = b[h.Size():]
				}
			}
		}(r)
	}
	wg.Wait()
	close(done)
	retention.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if l.NextOffset() != total {
		t.Fatalf("NextOffset %d, want %d", l.NextOffset(), total)
	}
	if st := files.Stats(); st.Evictions == 0 {
		t.Fatalf("no evictions: %+v", st)
	}
}

func TestGroupCommit(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{Flush: FlushAlways()})
	defer l.Close()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, _, err := l.Append(batch(t, 1, 0, 10)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := l.syncs.Load(); n == 0 || n > 200 {
		t.Fatalf("%d fsyncs for 200 appends", n)
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncedSeq != 200 {
		t.Fatalf("synced up to append %d of 200", l.syncedSeq)
	}
}

func TestCloseWhileBusy(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{SegmentBytes: 4096, Files: NewFileCache(2), Flush: FlushInterval(time.Millisecond)})
	appendN(t, l, 20, 5, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if g == 0 {
					_, _, err = l.Append(batch(t, 2, 0, 30))
				} else {
					var s Slice
					if s, err = l.Read(int64(i%100), 500); err == nil {
						_, err = s.AppendTo(nil)
						s.Close()
					}
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		}(g)
	}
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
}
