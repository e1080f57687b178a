package seglog_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/seglog"
)

func Example() {
	dir, err := os.MkdirTemp("", "seglog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := seglog.Open(dir, seglog.Options{Flush: seglog.FlushAlways()})
	if err != nil {
		log.Fatal(err)
	}

	// Append two batches of three records; the log assigns the offsets.
	for i := 0; i < 2; i++ {
		var bd kbatch.Builder
		for j := 0; j < 3; j++ {
			bd.Add(1_700_000_000_000, nil, []byte(fmt.Sprintf("message %d.%d", i, j)))
		}
		batch, err := bd.AppendBatch(nil)
		if err != nil {
			log.Fatal(err)
		}
		base, last, err := l.Append(batch)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("appended offsets %d to %d\n", base, last)
	}

	// Read from offset 4: the whole batch that holds it comes back.
	s, err := l.Read(4, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	b, err := s.AppendTo(nil) // validated: never corrupt bytes
	s.Close()
	if err != nil {
		log.Fatal(err)
	}
	recs, err := kbatch.Records(b)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Offset, string(r.Value))
	}
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	// Reopening recovers the log and continues its offsets.
	l, err = seglog.Open(dir, seglog.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fmt.Println("offsets", l.StartOffset(), "to", l.NextOffset())
	// Output:
	// appended offsets 0 to 2
	// appended offsets 3 to 5
	// 3 message 1.0
	// 4 message 1.1
	// 5 message 1.2
	// offsets 0 to 6
}

// A FileCache shared by many logs bounds the process's open files.
func ExampleFileCache() {
	root, err := os.MkdirTemp("", "seglog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	files := seglog.NewFileCache(4)
	var logs []*seglog.Log
	for p := 0; p < 10; p++ {
		l, err := seglog.Open(fmt.Sprintf("%s/topic-%d", root, p), seglog.Options{Files: files})
		if err != nil {
			log.Fatal(err)
		}
		defer l.Close()
		var bd kbatch.Builder
		bd.Add(0, nil, []byte("hello"))
		batch, _ := bd.AppendBatch(nil)
		if _, _, err := l.Append(batch); err != nil {
			log.Fatal(err)
		}
		logs = append(logs, l)
	}
	fmt.Println(len(logs), "logs,", files.Stats().Open, "files open")
	// Output: 10 logs, 4 files open
}

func ExampleLog_ApplyRetention() {
	dir, err := os.MkdirTemp("", "seglog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := seglog.Open(dir, seglog.Options{SegmentRecords: 10, RetentionAge: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	for i := 0; i < 3; i++ {
		var bd kbatch.Builder
		for j := 0; j < 10; j++ {
			bd.Add(old, nil, []byte("x"))
		}
		batch, _ := bd.AppendBatch(nil)
		l.Append(batch)
	}
	n, err := l.ApplyRetention(time.Now())
	if err != nil {
		log.Fatal(err)
	}
	_, err = l.Read(0, 100)
	fmt.Println(n, "segments deleted; start offset", l.StartOffset(), "; read of 0:", err)
	// Output: 2 segments deleted; start offset 20 ; read of 0: seglog: offset out of range: offset 0, log holds 20 to 30
}

func ExampleParseFlushPolicy() {
	for _, s := range []string{"always", "every=1000", "interval=200ms", "never", "sometimes"} {
		p, err := seglog.ParseFlushPolicy(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p)
	}
	// Output:
	// always
	// every=1000
	// interval=200ms
	// never
	// seglog: unknown flush policy "sometimes" (want always, never, every=N or interval=DURATION)
}
