package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// crashValue is the value of record i of the crash test.
func crashValue(i int) []byte {
	return fmt.Appendf(nil, "crash-%06d-%s", i, bytes.Repeat([]byte{'z'}, i%50))
}

// readAll reads every partition of topic from its start to its end and
// returns the records by partition.
func readAll(t *testing.T, ctx context.Context, addr, topic string, partitions int32) map[int32][]*kgo.Record {
	t.Helper()
	cl := kgoClient(t, addr)
	ends := map[int32]int64{}
	starts := map[string]map[int32]kgo.Offset{topic: {}}
	want := 0
	for p := range partitions {
		start := listOffsets(t, ctx, cl, topic, p, -2)
		ends[p] = listOffsets(t, ctx, cl, topic, p, -1)
		starts[topic][p] = kgo.NewOffset().At(start)
		want += int(ends[p] - start)
	}
	cl.Close()
	cons := kgoClient(t, addr, kgo.ConsumePartitions(starts))
	defer cons.Close()
	out := map[int32][]*kgo.Record{}
	testkit.Poll(t, ctx, cons, want, func(r *kgo.Record) bool {
		if r.Offset >= ends[r.Partition] {
			return false
		}
		out[r.Partition] = append(out[r.Partition], r)
		return true
	})
	return out
}

// Crash: the broker runs with --fsync always; an idempotent kgo producer
// (acks=all) sends a stream of records and counts acknowledgements; the
// broker is killed with SIGKILL in the middle of the stream, twice, and
// restarted on the same port and directory each time. Afterwards every
// acknowledged record is read back where it was acknowledged, each
// partition's offsets are contiguous, nothing appears that was never sent,
// and nothing appears twice (the idempotent producer's retries of batches

// crashAck is where a record acknowledged in a crash test was stored.
type crashAck struct {
	partition int32
	offset    int64
}

// checkCrashStored checks what a crash test's topic holds: offsets
// contiguous from 0 in every partition, only values crashValue made for
// 0..sent-1, each at most once, and every acknowledged record where its
// acknowledgement said. It returns how many distinct records are stored.
func checkCrashStored(t *testing.T, stored map[int32][]*kgo.Record, acks map[int]crashAck, sent int) int {
	t.Helper()
	seen := map[int]bool{}
	for p, recs := range stored {
		for j, r := range recs {
			if r.Offset != int64(j) {
				t.Fatalf("partition %d: record %d at offset %d: offsets not contiguous", p, j, r.Offset)
			}
			var i int
			if _, err := fmt.Sscanf(string(r.Value), "crash-%06d-", &i); err != nil || i < 0 || i >= sent || !bytes.Equal(r.Value, crashValue(i)) {
				t.Fatalf("%d/%d: %q was never sent", p, r.Offset, r.Value)
			}
			if seen[i] {
				t.Fatalf("record %d stored twice (again at %d/%d)", i, p, r.Offset)
			}
			seen[i] = true
		}
	}
	for i, a := range acks {
		recs := stored[a.partition]
		if a.offset >= int64(len(recs)) || !bytes.Equal(recs[a.offset].Value, crashValue(i)) {
			t.Fatalf("record %d acknowledged at %d/%d is not there", i, a.partition, a.offset)
		}
	}
	return len(seen)
}

// stored before the kill are recognised, from state rebuilt from the log).
func TestCrashKill9(t *testing.T) {
	const (
		total      = 30000
		partitions = 3
	)
	ctx := testContext(t, 4*time.Minute)
	b := startBroker(t, t.TempDir(), "--fsync", "always", "--segment-bytes", "256KiB")
	createTopic(t, ctx, b.addr, "crash", partitions)
	cl := kgoClient(t, b.addr, kgo.DefaultProduceTopic("crash"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))

	var (
		mu       sync.Mutex
		acks     = make(map[int]crashAck)
		failures = make(map[int]error)
		acked    atomic.Int64
	)
	// The kills happen when these many records are acknowledged.
	killAt := []int64{total / 6, total / 2}
	reached := make([]chan struct{}, len(killAt))
	for k := range reached {
		reached[k] = make(chan struct{})
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range total {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%11), Value: crashValue(i)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures[i] = err
					return
				}
				acks[i] = crashAck{r.Partition, r.Offset}
				n := acked.Add(1)
				for k, at := range killAt {
					if n == at {
						close(reached[k])
					}
				}
			})
		}
	}()
	for k := range killAt {
		select {
		case <-reached[k]:
		case <-ctx.Done():
			t.Fatalf("%d records acknowledged, waiting for %d: %v", acked.Load(), killAt[k], ctx.Err())
		}
		b.kill()
		t.Logf("killed the broker after %d acknowledgements", acked.Load())
		b.restart()
	}
	<-produced
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(acks)+len(failures) != total {
		t.Fatalf("%d acknowledged and %d failed of %d", len(acks), len(failures), total)
	}
	if len(failures) > 0 {
		// Allowed (the records then may or may not be stored), but with
		// unlimited retries not expected: report them.
		for i, err := range failures {
			t.Errorf("record %d failed: %v", i, err)
			break
		}
	}

	stored := readAll(t, ctx, b.addr, "crash", partitions)
	n := checkCrashStored(t, stored, acks, total)
	t.Logf("%d records acknowledged, %d stored, across 2 kills", len(acks), n)
}

// Torn tail: with the broker down, bytes are cut from the newest segment of
// a partition, or garbage appended to it. The broker starts, logs the cut,
// serves every record before it, and takes new writes at the right offset.
func TestTornTail(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string)
		lost   int // records lost: the last batch holds one record
	}{
		{"cut", func(t *testing.T, path string) { testkit.CutFile(t, path, 5) }, 1},
		{"garbage", func(t *testing.T, path string) { testkit.AppendFile(t, path, bytes.Repeat([]byte("garbage!"), 300)) }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 301
			ctx := testContext(t, 2*time.Minute)
			dir := t.TempDir()
			b := startBroker(t, dir, "--segment-bytes", "4KiB")
			createTopic(t, ctx, b.addr, "torn", 1)
			cl := kgoClient(t, b.addr, kgo.DefaultProduceTopic("torn"), kgo.ProducerBatchCompression(kgo.NoCompression()))
			for i := 0; i < n-1; i += 10 {
				var rs []*kgo.Record
				for j := i; j < i+10; j++ {
					rs = append(rs, &kgo.Record{Value: crashValue(j)})
				}
				if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: crashValue(n - 1)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cl.Close()
			b.stop()

			segs, _ := filepath.Glob(filepath.Join(dir, "topics", "torn-0", "*.log"))
			slices.Sort(segs)
			if len(segs) < 3 {
				t.Fatalf("segments %v: want several", segs)
			}
			c.damage(t, segs[len(segs)-1])

			b.restart()
			end := n - c.lost
			logged := regexp.MustCompile(`level=WARN msg="seglog: truncated torn or corrupt tail of the newest segment" topic=torn partition=0 .* offset=` + strconv.Itoa(end) + ` `)
			if !b.waitStderr(ctx, logged) {
				t.Errorf("the cut at offset %d was not logged; stderr:\n%s", end, b.stderr())
			}
			recs := readAll(t, ctx, b.addr, "torn", 1)[0]
			if len(recs) != end {
				t.Fatalf("%d records after the restart, want %d", len(recs), end)
			}
			for i, r := range recs {
				if r.Offset != int64(i) || !bytes.Equal(r.Value, crashValue(i)) {
					t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
				}
			}
			cl = kgoClient(t, b.addr, kgo.DefaultProduceTopic("torn"))
			r := &kgo.Record{Value: []byte("after")}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil || r.Offset != int64(end) {
				t.Fatalf("new write at offset %d (%v), want %d", r.Offset, err, end)
			}
		})
	}
}

// fetchAt sends one Fetch of a partition at offset and returns its answer.
func fetchAt(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, partition int32, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	_, ids := metadataTopics(t, ctx, cl)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, ids[topic] // kgo picks the version: v13+ names topics by id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// segmentFile is a segment of a partition directory.
type segmentFile struct {
	base, size int64
}

// segments lists the segments of a partition directory, oldest first,
// skipping any that retention removes while they are listed.
func segments(t *testing.T, dir string) []segmentFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var segs []segmentFile
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), ".log"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, segmentFile{base, fi.Size()})
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return int(a.base - b.base) })
	return segs
}

// Retention: with small segments, segments past --retention-bytes, or whose
// records are older than --retention, are deleted by the broker's periodic
// check; ListOffsets earliest moves forward, a fetch below it gets
// OFFSET_OUT_OF_RANGE, and everything from it on is still served.
//
// Retention runs every 20ms, during the produces too. The test works out,
// from the segment files once everything is produced, where the log start
// must end up (retention only ever deletes a prefix of the segments, so the
// files left at any moment give the same answer), and waits for ListOffsets
// earliest to get there.
func TestRetention(t *testing.T) {
	const (
		n         = 600
		maxBytes  = 16 << 10
		firstNew  = 400 // records from here on are recent in the age case
		segmentSz = "4KiB"
	)
	old := time.Now().Add(-3 * time.Hour)
	for _, c := range []struct {
		name  string
		flags []string
		ts    func(i int) time.Time
		// finalStart computes the log start once retention is done.
		finalStart func(segs []segmentFile) int64
	}{
		{"bytes", []string{"--retention-bytes", "16KiB"}, func(int) time.Time { return time.Now() }, func(segs []segmentFile) int64 {
			var total int64
			for _, s := range segs {
				total += s.size
			}
			for len(segs) > 1 && total-segs[0].size >= maxBytes {
				total -= segs[0].size
				segs = segs[1:]
			}
			return segs[0].base
		}},
		{"age", []string{"--retention", "1h"}, func(i int) time.Time {
			if i < firstNew {
				return old
			}
			return time.Now()
		}, func(segs []segmentFile) int64 {
			// Every segment before the one holding the first recent
			// record holds only old ones.
			start := int64(-1)
			for _, s := range segs {
				if s.base <= firstNew {
					start = s.base
				}
			}
			return start
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			dir := t.TempDir()
			args := append([]string{"--segment-bytes", segmentSz, "--retention-check", "20ms"}, c.flags...)
			b := startBroker(t, dir, args...)
			createTopic(t, ctx, b.addr, "ret", 1)
			cl := kgoClient(t, b.addr, kgo.DefaultProduceTopic("ret"), kgo.ProducerBatchCompression(kgo.NoCompression()))
			for i := 0; i < n; i += 10 {
				var rs []*kgo.Record
				for j := i; j < i+10; j++ {
					rs = append(rs, &kgo.Record{Value: crashValue(j), Timestamp: c.ts(j)})
				}
				if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			segs := segments(t, filepath.Join(dir, "topics", "ret-0"))
			want := c.finalStart(segs)
			if want <= 0 {
				t.Fatalf("segments %v: nothing for retention to delete", segs)
			}
			var start int64
			for start != want {
				if err := ctx.Err(); err != nil {
					t.Fatalf("earliest offset %d, want %d: %v", start, want, err)
				}
				if start > want {
					t.Fatalf("earliest offset %d, beyond %d: retention deleted too much", start, want)
				}
				time.Sleep(5 * time.Millisecond)
				start = listOffsets(t, ctx, cl, "ret", 0, -2)
			}
			if !b.waitStderr(ctx, regexp.MustCompile(`level=INFO msg="seglog: retention deleted segment" topic=ret partition=0 `)) {
				t.Errorf("deletions not logged")
			}
			// As Kafka, an out-of-range answer carries no offsets: the
			// start comes from ListOffsets (above).
			if fp := fetchAt(t, ctx, cl, "ret", 0, 0); fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.LogStartOffset != -1 {
				t.Fatalf("fetch at 0: error %d, log start %d; want OFFSET_OUT_OF_RANGE and -1", fp.ErrorCode, fp.LogStartOffset)
			}
			if fp := fetchAt(t, ctx, cl, "ret", 0, start-1); fp.ErrorCode != kerr.OffsetOutOfRange.Code {
				t.Fatalf("fetch at %d: error %d; want OFFSET_OUT_OF_RANGE", start-1, fp.ErrorCode)
			}
			recs := readAll(t, ctx, b.addr, "ret", 1)[0]
			if len(recs) != n-int(start) {
				t.Fatalf("%d records from %d, want %d", len(recs), start, n-int(start))
			}
			for j, r := range recs {
				if i := int(start) + j; r.Offset != int64(i) || !bytes.Equal(r.Value, crashValue(i)) {
					t.Fatalf("record at %d: offset %d", i, r.Offset)
				}
			}
			if segs := segments(t, filepath.Join(dir, "topics", "ret-0")); segs[0].base != start {
				t.Fatalf("segments %v left, log start %d", segs, start)
			}
		})
	}
}

// metadataTopics asks for all topics' metadata and returns partition counts
// and topic ids by name.
func metadataTopics(t *testing.T, ctx context.Context, cl *kgo.Client) (map[string]int, map[string][16]byte) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	counts, ids := map[string]int{}, map[string][16]byte{}
	for _, tp := range resp.Topics {
		counts[*tp.Topic] = len(tp.Partitions)
		ids[*tp.Topic] = tp.TopicID
	}
	return counts, ids
}

// Topics, partitions and data survive a clean stop and a kill -9 (with the
// default --fsync, since the page cache survives the process), and offsets
// continue where they were.
func TestRestart(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := startBroker(t, t.TempDir(), "--segment-bytes", "8KiB")
	createTopic(t, ctx, b.addr, "one", 1)
	createTopic(t, ctx, b.addr, "four", 4)
	counts, ids := metadataTopics(t, ctx, kgoClient(t, b.addr))
	sent := 0
	produce := func(k int) {
		t.Helper()
		cl := kgoClient(t, b.addr)
		defer cl.Close()
		for range k {
			for _, topic := range []string{"one", "four"} {
				r := &kgo.Record{Topic: topic, Value: crashValue(sent)}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			sent++
		}
	}
	check := func(when string) {
		t.Helper()
		if c, i := metadataTopics(t, ctx, kgoClient(t, b.addr)); !equalMaps(c, counts) || !equalMaps(i, ids) {
			t.Fatalf("%s: topics %v ids %v, want %v %v", when, c, i, counts, ids)
		}
		for _, tc := range []struct {
			topic string
			n     int32
		}{{"one", 1}, {"four", 4}} {
			all := readAll(t, ctx, b.addr, tc.topic, tc.n)
			got := 0
			for p, recs := range all {
				for j, r := range recs {
					if r.Offset != int64(j) {
						t.Fatalf("%s: %s/%d record %d at offset %d", when, tc.topic, p, j, r.Offset)
					}
				}
				got += len(recs)
			}
			if got != sent {
				t.Fatalf("%s: %s holds %d records, want %d", when, tc.topic, got, sent)
			}
		}
	}
	produce(300)
	b.stop()
	b.restart()
	check("after a clean stop")
	produce(300)
	check("after more records")
	b.kill()
	b.restart()
	check("after kill -9")
	produce(10)
	check("after kill -9 and more records")
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Lock: a second broker on the same directory fails at once, naming the
// first one's pid; after kill -9 of the first, a new one starts on the
// directory without anything deleted, and has the data.
func TestLock(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	dir := t.TempDir()
	b := startBroker(t, dir)
	createTopic(t, ctx, b.addr, "locked", 1)
	cl := kgoClient(t, b.addr, kgo.DefaultProduceTopic("locked"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	code, stderr := failToStart(t, "--listen", "127.0.0.1:0", "--dir", dir)
	want := fmt.Sprintf("merlin-broker: broker: data directory is in use by another broker: %s is locked by a running broker (pid %d)", dir, b.cur.cmd.Process.Pid)
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("second broker: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}

	b.kill()
	if _, err := os.Stat(filepath.Join(dir, "merlin.lock")); err != nil {
		t.Fatalf("the lock file: %v", err) // stays, and does not matter
	}
	b.restart()
	if recs := readAll(t, ctx, b.addr, "locked", 1)[0]; len(recs) != 1 || string(recs[0].Value) != "kept" {
		t.Fatalf("after kill -9 and restart: %v", recs)
	}
}

// The binary's start-up failures: a clear message and a non-zero status.
func TestStartupErrors(t *testing.T) {
	b := startBroker(t, t.TempDir())
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	newer := t.TempDir()
	if err := os.WriteFile(filepath.Join(newer, "merlin-format.json"), []byte(`{"format":"merlin-broker-data","version":7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		argv []string
		code int
		want string
	}{
		{"dir not writable", []string{"--listen", "127.0.0.1:0", "--dir", filepath.Join(file, "data")}, 1, "data directory is not writable"},
		{"incompatible version", []string{"--listen", "127.0.0.1:0", "--dir", newer}, 1, "was made by a newer merlin (data format version 7"},
		{"port taken", []string{"--listen", b.addr, "--dir", t.TempDir()}, 1, "cannot listen on " + b.addr},
		{"bad flag", []string{"--fsync", "sometimes", "--dir", t.TempDir()}, 2, `unknown flush policy "sometimes"`},
	} {
		code, stderr := failToStart(t, c.argv...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, stderr, c.code, c.want)
		}
	}
}
