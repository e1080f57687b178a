package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/internal/testkit"
	"github.com/merlinkafka/merlin/seglog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logBuffer collects log output, for tests that check what was logged, and
// passes it on to the test's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	out io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	return l.out.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func capturingLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{out: t.Output()}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})), lb
}

// openDisk opens a DiskStorage that the test closes at its end (a second
// Close is harmless).
func openDisk(t testing.TB, dir string, opts DiskOptions) *DiskStorage {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := NewDiskStorage(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// closeBroker closes a broker (and its disk storage) before the test ends,
// as a clean shutdown does.
func closeBroker(t testing.TB, b *Broker) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// Beyond the contract: a batch the on-disk log refuses is ErrInvalidBatch
// (answered CORRUPT_MESSAGE), not a storage failure.
func TestDiskLogRefusesInvalidBatch(t *testing.T) {
	s := openDisk(t, t.TempDir(), DiskOptions{})
	l, err := s.OpenPartition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := buildBatch(t, 2, 1, nil)
	bad[len(bad)-1] ^= 0xff
	if _, err := l.Append(bad); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("append of a bad batch: %v, want ErrInvalidBatch", err)
	}
}

// The produce handler checks a batch's CRC and the disk log trusts it
// (appendValidated): a corrupt batch is still answered CORRUPT_MESSAGE and
// never stored.
func TestDiskProduceRefusesCorruptBatch(t *testing.T) {
	b := startBroker(t, Config{Storage: openDisk(t, t.TempDir(), DiskOptions{})})
	createTopic(t, b, "crc", 1)
	rc := dialRaw(t, b.Addr())
	bad := buildBatch(t, 3, 1, nil)
	bad[len(bad)-1] ^= 0xff
	if p := rc.produce("crc", 0, bad); p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("bad CRC: error %d, want CORRUPT_MESSAGE", p.ErrorCode)
	}
	if p := rc.produce("crc", 0, buildBatch(t, 2, 1, nil)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the bad one: %+v, want base offset 0", p)
	}
}

// stubLog is a PartitionLog whose Append fails with a given error.
type stubLog struct {
	copyLog
	err error
}

func (l *stubLog) Append([]byte) (int64, error) { return 0, l.err }

// Append errors map to Kafka codes: a refused batch to CORRUPT_MESSAGE,
// anything else to KAFKA_STORAGE_ERROR.
func TestAppendErrorCodes(t *testing.T) {
	h, _ := kbatch.ParseHeader(buildBatch(t, 1, 1, nil))
	for _, c := range []struct {
		err  error
		code int16
	}{
		{fmt.Errorf("%w: bad crc", ErrInvalidBatch), kerr.CorruptMessage.Code},
		{errors.New("disk on fire"), kerr.KafkaStorageError.Code},
		{seglog.ErrCorrupt, kerr.KafkaStorageError.Code},
	} {
		p := newPartition(&topic{name: "x"}, 0, &stubLog{err: c.err}, 0)
		if res := p.append(0, buildBatch(t, 1, 1, nil), h); res.code != c.code {
			t.Errorf("%v: code %d, want %d", c.err, res.code, c.code)
		}
	}
}

// Topics (names, ids, partition counts), data, offsets, the idempotent
// producer state and the producer id allocator survive a restart.
func TestDiskRestart(t *testing.T) {
	dir := t.TempDir()
	b1 := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 4096})})
	createTopic(t, b1, "kept", 3)
	createTopic(t, b1, "other.topic_1", 1)
	want := b1.Cluster().Topics()
	rc := dialRaw(t, b1.Addr())
	for i := range 30 {
		if p := rc.produce("kept", int32(i%3), buildBatch(t, 10, int64(i), nil)); p.ErrorCode != 0 || p.BaseOffset != int64(i/3*10) {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	idem := idemBatch(t, 41, 0, 0, 3)
	if p := rc.produce("kept", 1, idem); p.ErrorCode != 0 || p.BaseOffset != 100 {
		t.Fatal(p)
	}
	closeBroker(t, b1)

	b2 := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 4096})})
	if got := b2.Cluster().Topics(); !slices.Equal(got, want) {
		t.Fatalf("restored topics %+v, want %+v", got, want)
	}
	for p, next := range []int64{100, 103, 100} {
		if start, n, err := b2.Cluster().Offsets("kept", int32(p)); err != nil || start != 0 || n != next {
			t.Fatalf("partition %d: offsets %d..%d, %v; want 0..%d", p, start, n, err, next)
		}
	}
	rc = dialRaw(t, b2.Addr())
	if p := rc.produce("kept", 1, idem); p.ErrorCode != 0 || p.BaseOffset != 100 {
		t.Fatalf("idempotent retry after restart: %+v, want base 100", p)
	}
	if p := rc.produce("kept", 1, idemBatch(t, 41, 0, 9, 1)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap after restart: error %d", p.ErrorCode)
	}
	if p := rc.produce("kept", 0, buildBatch(t, 5, 1, nil)); p.ErrorCode != 0 || p.BaseOffset != 100 {
		t.Fatalf("offsets do not continue: %+v", p)
	}
	if pid := b2.Cluster().allocProducerID(); pid <= 41 {
		t.Fatalf("allocated producer id %d, reusing stored ones", pid)
	}
	// Every record is there, in order, across segments.
	var offs []int64
	for off := int64(0); off < 105; {
		fp := rc.fetchOne(11, "kept", 0, off, 0, 1, 1<<20, 1<<20)
		if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
			t.Fatalf("fetch at %d: %+v", off, fp)
		}
		offs = append(offs, batchOffsets(t, fp.RecordBatches)...)
		off = nextAfter(t, fp.RecordBatches)
	}
	if len(offs) != 11 || offs[10] != 100 {
		t.Fatalf("batches at %v", offs)
	}
	closeBroker(t, b2)

	// What the files say.
	raw, err := os.ReadFile(filepath.Join(dir, "topics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version int
		Topics  []topicEntry
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.Version != 1 || len(f.Topics) != 2 || f.Topics[0].Name != "kept" || f.Topics[0].ID != formatUUID(want[0].ID) {
		t.Fatalf("topics.json %s: %+v, %v", raw, f, err)
	}
	for _, name := range []string{"kept-0", "kept-1", "kept-2", "other.topic_1-0"} {
		if fi, err := os.Stat(filepath.Join(dir, "topics", name)); err != nil || !fi.IsDir() {
			t.Errorf("partition directory %s: %v", name, err)
		}
	}
}

// A kgo client round trip, with compression, over disk storage, and again
// after a restart.
func TestDiskKgoRoundTrip(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DefaultPartitions: 3, Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 64 << 10})})
	roundTrip(t, b.Addr(), "disk-plain", 2000)
	roundTrip(t, b.Addr(), "disk-lz4", 2000, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	closeBroker(t, b)
	b = startBroker(t, Config{DefaultPartitions: 3, Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 64 << 10})})
	roundTrip(t, b.Addr(), "disk-after-restart", 1000)
}

func TestDiskLock(t *testing.T) {
	dir := t.TempDir()
	s1 := openDisk(t, dir, DiskOptions{})
	_, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)})
	if !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second open: %v, want ErrDataDirLocked naming pid %d", err, os.Getpid())
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	openDisk(t, dir, DiskOptions{}) // the lock went with Close
}

func TestDiskDirErrors(t *testing.T) {
	t.Run("newer version", func(t *testing.T) {
		dir := t.TempDir()
		openDisk(t, dir, DiskOptions{}).Close()
		writeFile(t, filepath.Join(dir, "merlin-format.json"), `{"format":"merlin-broker-data","version":99}`)
		_, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)})
		if !errors.Is(err, ErrDataDirIncompatible) || !strings.Contains(err.Error(), "newer merlin (data format version 99") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("not merlin's", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "notes.txt"), "mine")
		_, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)})
		if !errors.Is(err, ErrDataDirIncompatible) || !strings.Contains(err.Error(), "not a merlin data directory") {
			t.Fatalf("%v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "topics.json")); err == nil {
			t.Fatal("wrote into a directory that is not merlin's")
		}
	})
	t.Run("foreign format file", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "merlin-format.json"), `{"something":"else"}`)
		if _, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)}); !errors.Is(err, ErrDataDirIncompatible) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("damaged topic list", func(t *testing.T) {
		dir := t.TempDir()
		s := openDisk(t, dir, DiskOptions{})
		if err := s.SaveTopics([]TopicSpec{{Name: "abc", ID: newTopicID(), Partitions: 2}}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		path := filepath.Join(dir, "topics.json")
		raw, _ := os.ReadFile(path)
		writeFile(t, path, strings.Replace(string(raw), `"partitions":2`, `"partitions":3`, 1))
		_, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)})
		if !errors.Is(err, ErrDataDirIncompatible) || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("%v", err)
		}
		os.Remove(path)
		if _, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)}); !errors.Is(err, ErrDataDirIncompatible) {
			t.Fatalf("missing topic list: %v", err)
		}
	})
	t.Run("under a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		writeFile(t, file, "x")
		_, err := NewDiskStorage(filepath.Join(file, "data"), DiskOptions{Logger: testLogger(t)})
		if !errors.Is(err, ErrDataDirNotWritable) {
			t.Fatalf("%v", err)
		}
		if _, err := NewDiskStorage(file, DiskOptions{Logger: testLogger(t)}); !errors.Is(err, ErrDataDirNotWritable) {
			t.Fatalf("a file as directory: %v", err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into read-only directories")
		}
		dir := t.TempDir()
		openDisk(t, dir, DiskOptions{}).Close()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		if _, err := NewDiskStorage(dir, DiskOptions{Logger: testLogger(t)}); !errors.Is(err, ErrDataDirNotWritable) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []DiskOptions{{SegmentBytes: -1}, {RetentionAge: -time.Second}, {RetentionBytes: -1}, {MaxOpenFiles: -1}} {
			if _, err := NewDiskStorage(t.TempDir(), o); !errors.Is(err, ErrConfig) {
				t.Errorf("%+v: %v", o, err)
			}
		}
	})
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A partition directory left by a topic creation that never reached the
// topic list is replaced when the partition is created again.
func TestDiskStrayPartitionDirectory(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir, DiskOptions{}).Close()
	stray := filepath.Join(dir, "topics", "late-0")
	if err := os.MkdirAll(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := seglog.Open(stray, seglog.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(buildBatch(t, 7, 1, nil)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	logger, logs := capturingLogger(t)
	b := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{Logger: logger})})
	if !strings.Contains(logs.String(), "partition directory of no saved topic") {
		t.Errorf("stray directory not reported; log:\n%s", logs)
	}
	createTopic(t, b, "late", 1)
	if start, next, _ := b.Cluster().Offsets("late", 0); start != 0 || next != 0 {
		t.Fatalf("new topic holds offsets %d..%d of a stray directory", start, next)
	}
}

// A torn tail (a cut batch, or garbage after the last batch) is cut at
// restart and logged; the rest is served and new writes continue at the
// right offset.
func TestDiskTornTail(t *testing.T) {
	for _, c := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantEnd int64 // 10 batches of 10 records were written
	}{
		{"cut", func(t *testing.T, path string) { testkit.CutFile(t, path, 7) }, 90},
		{"garbage", func(t *testing.T, path string) {
			testkit.AppendFile(t, path, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100))
		}, 100},
		{"zeros", func(t *testing.T, path string) { testkit.AppendFile(t, path, make([]byte, 4096)) }, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			b := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 1024})})
			createTopic(t, b, "torn", 1)
			rc := dialRaw(t, b.Addr())
			for i := range 10 {
				if p := rc.produce("torn", 0, buildBatch(t, 10, int64(i), nil)); p.ErrorCode != 0 {
					t.Fatal(p)
				}
			}
			closeBroker(t, b)
			c.damage(t, newestSegment(t, filepath.Join(dir, "topics", "torn-0")))

			logger, logs := capturingLogger(t)
			b = startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 1024, Logger: logger})})
			if !strings.Contains(logs.String(), "truncated torn or corrupt tail") {
				t.Errorf("the cut was not logged; log:\n%s", logs)
			}
			if _, next, _ := b.Cluster().Offsets("torn", 0); next != c.wantEnd {
				t.Fatalf("log end %d, want %d", next, c.wantEnd)
			}
			rc = dialRaw(t, b.Addr())
			var got []int64
			for off := int64(0); off < c.wantEnd; {
				fp := rc.fetchOne(11, "torn", 0, off, 0, 1, 1<<20, 1<<20)
				if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
					t.Fatalf("fetch %d: %+v", off, fp)
				}
				got = append(got, batchOffsets(t, fp.RecordBatches)...)
				off = nextAfter(t, fp.RecordBatches)
			}
			if len(got) != int(c.wantEnd/10) {
				t.Fatalf("batches at %v", got)
			}
			if p := rc.produce("torn", 0, buildBatch(t, 3, 1, nil)); p.ErrorCode != 0 || p.BaseOffset != c.wantEnd {
				t.Fatalf("new write: %+v, want base %d", p, c.wantEnd)
			}
		})
	}
}

// nextAfter returns the offset after the last batch in b.
func nextAfter(t testing.TB, b []byte) int64 {
	t.Helper()
	next := int64(-1)
	for len(b) > 0 {
		_, rest, h, err := kbatch.Next(b)
		if err != nil {
			t.Fatal(err)
		}
		next, b = h.LastOffset()+1, rest
	}
	return next
}

func newestSegment(t testing.TB, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	slices.Sort(logs)
	return logs[len(logs)-1]
}

// Corruption in an older segment is never served: the batches before it are,
// then the fetch gets CORRUPT_MESSAGE. VerifyDisk names the damaged range and
// the offset after it, from which a consumer reads the rest (finding 5 of
// issue 13: consumers were stuck at the damage).
func TestDiskCorruptOlderSegment(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 1 << 20})})
	createTopic(t, b, "rot", 1)
	rc := dialRaw(t, b.Addr())
	var sizes []int
	for i := range 5 {
		batch := buildBatch(t, 10, int64(i), nil)
		sizes = append(sizes, len(batch))
		if p := rc.produce("rot", 0, batch); p.ErrorCode != 0 {
			t.Fatal(p)
		}
	}
	closeBroker(t, b)
	// Flip a byte in the records of the third batch of the (only, newest)
	// segment, then add a segment after it so that it is an older one and
	// recovery leaves it alone.
	pdir := filepath.Join(dir, "topics", "rot-0")
	seg := newestSegment(t, pdir)
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos := int64(sizes[0] + sizes[1] + kbatch.HeaderSize + 3)
	var one [1]byte
	f.ReadAt(one[:], pos)
	one[0] ^= 0xff
	f.WriteAt(one[:], pos)
	f.Close()
	writeFile(t, filepath.Join(pdir, fmt.Sprintf("%020d.log", 50)), "")

	b = startBroker(t, Config{Storage: openDisk(t, dir, DiskOptions{SegmentBytes: 1 << 20})})
	rc = dialRaw(t, b.Addr())
	fp := rc.fetchOne(11, "rot", 0, 0, 0, 1, 1<<20, 1<<20)
	if fp.ErrorCode != 0 || !slices.Equal(batchOffsets(t, fp.RecordBatches), []int64{0, 10}) {
		t.Fatalf("fetch from 0: error %d, batches %v", fp.ErrorCode, batchOffsets(t, fp.RecordBatches))
	}
	for _, off := range []int64{20, 25} {
		if fp := rc.fetchOne(11, "rot", 0, off, 0, 1, 1<<20, 1<<20); fp.ErrorCode != kerr.CorruptMessage.Code {
			t.Fatalf("fetch of the corrupt batch at %d: error %d, %d bytes", off, fp.ErrorCode, len(fp.RecordBatches))
		}
	}
	if p := rc.produce("rot", 0, buildBatch(t, 1, 1, nil)); p.ErrorCode != 0 || p.BaseOffset != 50 {
		t.Fatalf("produce after: %+v", p)
	}

	reps, err := VerifyDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Topic != "rot" || len(reps[0].Damage) != 1 {
		t.Fatalf("verify: %+v", reps)
	}
	d := reps[0].Damage[0]
	if d.FirstOffset != 20 || d.NextOffset != 30 || d.Pos != int64(sizes[0]+sizes[1]) || d.Segment != seg {
		t.Fatalf("damage %+v, want offsets 20 to 30 in %s", d, seg)
	}
	// The documented way past: seek to NextOffset.
	ctx := testContext(t)
	cons := newClient(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"rot": {0: kgo.NewOffset().At(d.NextOffset)},
	}))
	var got []int64
	for len(got) < 21 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v: %v", got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
	}
	if got[0] != 30 || got[len(got)-1] != 50 {
		t.Fatalf("consumed offsets %v, want 30 to 50", got)
	}
}

// listOffset asks a broker for one partition's offset at ts.
func (rc *rawClient) listOffset(topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	rc.t.Helper()
	req := testkit.ListOffsets(topic, ts, partition)
	req.Version = 7
	return rc.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
}

// Retention by bytes and by age deletes whole old segments, moves the log
// start offset (ListOffsets earliest), and a fetch below it gets
// OFFSET_OUT_OF_RANGE. The idempotent state of a producer whose batches
// retention deleted is rebuilt from what is left after a restart.
func TestDiskRetention(t *testing.T) {
	now := time.Now()
	old := now.Add(-3 * time.Hour).UnixMilli()
	for _, c := range []struct {
		name string
		opts DiskOptions
		ts   func(i int) int64
	}{
		{"bytes", DiskOptions{SegmentBytes: 2048, RetentionBytes: 8 << 10}, func(int) int64 { return now.UnixMilli() }},
		{"age", DiskOptions{SegmentBytes: 2048, RetentionAge: time.Hour}, func(i int) int64 {
			if i < 150 {
				return old
			}
			return now.UnixMilli()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			logger, logs := capturingLogger(t)
			c.opts.Logger = logger
			s := openDisk(t, dir, c.opts)
			b := startBroker(t, Config{Storage: s})
			createTopic(t, b, "ret", 1)
			rc := dialRaw(t, b.Addr())
			for i := range 200 {
				batch := buildBatch(t, 5, c.ts(i), func(bd *kbatch.Builder) { bd.SetProducer(7, 0, int32(5*i)) })
				if p := rc.produce("ret", 0, batch); p.ErrorCode != 0 || p.BaseOffset != int64(5*i) {
					t.Fatalf("produce %d: %+v", i, p)
				}
			}
			if p := rc.listOffset("ret", 0, -2); p.ErrorCode != 0 || p.Offset != 0 {
				t.Fatalf("earliest before retention: %+v", p)
			}
			n, err := s.ApplyRetention(now)
			if err != nil || n == 0 {
				t.Fatalf("ApplyRetention: %d segments, %v", n, err)
			}
			if !strings.Contains(logs.String(), "retention deleted segment") {
				t.Errorf("deletions not logged")
			}
			start, next, _ := b.Cluster().Offsets("ret", 0)
			if start == 0 || next != 1000 {
				t.Fatalf("offsets %d..%d after retention", start, next)
			}
			if c.name == "age" && start > 750 {
				t.Fatalf("age retention deleted recent records: start %d", start)
			}
			if p := rc.listOffset("ret", 0, -2); p.ErrorCode != 0 || p.Offset != start {
				t.Fatalf("earliest after retention: %+v, want %d", p, start)
			}
			// As Kafka, an out-of-range answer carries no offsets (-1):
			// consumers ask ListOffsets for the start.
			if fp := rc.fetchOne(11, "ret", 0, 0, 0, 1, 1<<20, 1<<20); fp.ErrorCode != kerr.OffsetOutOfRange.Code || fp.LogStartOffset != -1 {
				t.Fatalf("fetch below the start: %+v", fp)
			}
			if fp := rc.fetchOne(11, "ret", 0, start, 0, 1, 1<<20, 1<<20); fp.ErrorCode != 0 || batchOffsets(t, fp.RecordBatches)[0] != start {
				t.Fatalf("fetch at the start: %+v", fp)
			}
			closeBroker(t, b)

			// After a restart the producer state comes from the
			// remaining batches: a retry of the last one is recognised.
			b = startBroker(t, Config{Storage: openDisk(t, dir, c.opts)})
			rc = dialRaw(t, b.Addr())
			last := buildBatch(t, 5, c.ts(199), func(bd *kbatch.Builder) { bd.SetProducer(7, 0, 995) })
			if p := rc.produce("ret", 0, last); p.ErrorCode != 0 || p.BaseOffset != 995 {
				t.Fatalf("retry after restart: %+v", p)
			}
			if s2, _, _ := b.Cluster().Offsets("ret", 0); s2 != start {
				t.Fatalf("start offset %d after restart, want %d", s2, start)
			}
		})
	}
}

// The storage's own goroutine applies retention, and stops on Close.
func TestDiskRetentionLoop(t *testing.T) {
	s := openDisk(t, t.TempDir(), DiskOptions{SegmentBytes: 1024, RetentionBytes: 2048, RetentionCheckInterval: time.Millisecond})
	b := startBroker(t, Config{Storage: s})
	createTopic(t, b, "loop", 1)
	rc := dialRaw(t, b.Addr())
	for i := range 50 {
		if p := rc.produce("loop", 0, buildBatch(t, 5, int64(i), nil)); p.ErrorCode != 0 {
			t.Fatal(p)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if start, _, _ := b.Cluster().Offsets("loop", 0); start > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention never ran")
		}
		time.Sleep(time.Millisecond)
	}
	closeBroker(t, b)
}
