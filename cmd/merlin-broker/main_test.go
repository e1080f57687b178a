package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/syncbuf"

	"github.com/merlinkafka/merlin/internal/cli"

	"github.com/merlinkafka/merlin/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRunBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "unknown argument --nope"},
		{[]string{"--partitions", "x"}, "--partitions"},
		{[]string{"--partitions", "0"}, "--partitions: 0"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--listen", "no-port"}, "--listen: \"no-port\" is not host:port"},
		{[]string{"--node-id", "-3"}, "--node-id: must be at least 0"},
		{[]string{"--advertised-port", "70000"}, "--advertised-port"},
		{[]string{"--fsync", "sometimes"}, "--fsync"},
		{[]string{"--fsync", "every=0"}, "every=N needs a record count"},
		{[]string{"--fsync", "interval=-1s"}, "interval=DURATION needs a positive duration"},
		{[]string{"--segment-bytes", "lots"}, "--segment-bytes"},
		{[]string{"--segment-bytes", "-1"}, "--segment-bytes"},
		{[]string{"--segment-bytes", "3GiB"}, "--segment-bytes: must be in [0, 2147483647]"},
		{[]string{"--segment-records", "-1"}, "--segment-records: must not be negative"},
		{[]string{"--retention", "forever"}, "--retention"},
		{[]string{"--retention", "-5s"}, "--retention"},
		{[]string{"--retention-bytes", "1XB"}, "--retention-bytes"},
		{[]string{"--retention-check", "0"}, "--retention-check: must be positive"},
		{[]string{"--max-open-files", "0"}, "--max-open-files: must be at least 1"},
		{[]string{"--dir", ""}, "--dir: the data directory must be named"},
		{[]string{"--max-partitions", "-1"}, "--max-partitions: must not be negative"},
		{[]string{"--max-partitions-per-topic", "0"}, "--max-partitions-per-topic: must be at least 1"},
		{[]string{"--max-partitions-per-topic", "20000"}, "--max-partitions-per-topic: must be in [1, 10000]"},
		{[]string{"--max-partitions-per-topic", "2", "--partitions", "3"}, "--partitions: 3 is over MaxPartitionsPerTopic"},
		{[]string{"--max-connections", "many"}, "--max-connections"},
		{[]string{"--max-connections-per-ip", "-2"}, "--max-connections-per-ip: must not be negative"},
		{[]string{"--idle-timeout", "soon"}, "--idle-timeout"},
		{[]string{"--request-timeout", "-1s"}, "--request-timeout"},
		{[]string{"--max-fetch-wait", "x"}, "--max-fetch-wait"},
		{[]string{"--max-request-size", "0"}, "--max-request-size: must be in [1, 2147483647]"},
		{[]string{"--queued-max-request-bytes", "lots"}, "--queued-max-request-bytes"},
	} {
		var stdout, stderr bytes.Buffer
		// A cancelled context: should a case start a broker after all, run
		// returns at once (with the wrong code) instead of serving.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.args = append([]string{"--listen", "127.0.0.1:0"}, c.args...)
		if !slices.Contains(c.args, "--dir") {
			c.args = append(c.args, "--dir", filepath.Join(t.TempDir(), "data"))
		}
		if code := run(ctx, c.args, &stdout, &stderr); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, cli.ExitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "Usage:") {
			t.Errorf("%v: stderr %q does not mention %q with the usage", c.args, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: stdout %q", c.args, stdout.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != cli.ExitOK || !strings.Contains(stdout.String(), "--listen") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout.String())
	}
}

func TestRunPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--listen", ln.Addr().String(), "--dir", dir}, &stdout, &stderr); code != cli.ExitError {
		t.Fatalf("exit %d, want %d", code, cli.ExitError)
	}
	if msg := stderr.String(); !strings.Contains(msg, "cannot listen on "+ln.Addr().String()) || !strings.Contains(msg, "address already in use") {
		t.Fatalf("stderr %q", msg)
	}
	// The data directory was released.
	st, err := broker.NewDiskStorage(dir, broker.DiskOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("data directory still held after the failed start: %v", err)
	}
	st.Close()
}

// The data directory's problems get exit status 1 and say what is wrong.
func TestRunDataDirErrors(t *testing.T) {
	quiet := broker.DiskOptions{Logger: slog.New(slog.DiscardHandler)}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	locked := t.TempDir()
	st, err := broker.NewDiskStorage(locked, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newer := t.TempDir()
	st2, err := broker.NewDiskStorage(newer, quiet)
	if err != nil {
		t.Fatal(err)
	}
	st2.Close()
	if err := os.WriteFile(filepath.Join(newer, "merlin-format.json"), []byte(`{"format":"merlin-broker-data","version":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "thesis.tex"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir, want string
	}{
		{"not writable", filepath.Join(file, "data"), "data directory is not writable: cannot create"},
		{"locked", locked, fmt.Sprintf("data directory is in use by another broker: %s is locked by a running broker (pid %d)", locked, os.Getpid())},
		{"newer version", newer, "was made by a newer merlin (data format version 2; this broker reads version 1)"},
		{"not merlin's", foreign, "is not empty and is not a merlin data directory"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--dir", c.dir}, &stdout, &stderr); code != cli.ExitError {
			t.Errorf("%s: exit %d, want %d (stderr %q)", c.name, code, cli.ExitError, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: stderr %q does not say %q", c.name, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q", c.name, stdout.String())
		}
	}
}

func TestDurationFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond,
	} {
		var d duration
		if err := d.UnmarshalText([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("duration %q: %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"", "-1s", "1.5d", "d", "forever"} {
		var d duration
		if err := d.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("duration %q accepted as %v", in, time.Duration(d))
		}
	}
}

// serving is run in a goroutine.
type serving struct {
	addr   string
	stderr *syncbuf.Buffer
	cancel context.CancelFunc
	code   chan int
}

// serve starts run with argv and waits for its address.
func serve(t *testing.T, argv ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	s := &serving{stderr: &syncbuf.Buffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() {
		s.code <- run(ctx, argv, outW, s.stderr)
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-s.code
	})
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (stderr %q)", err, s.stderr.String())
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "merlin-broker listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	go io.Copy(io.Discard, outR)
	s.addr = addr
	return s
}

// stop cancels run and checks its exit status and that it stopped
// listening.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	c := <-s.code
	s.code <- c // for the cleanup
	if c != cli.ExitOK {
		t.Fatalf("exit %d after cancel (stderr %q)", c, s.stderr.String())
	}
	if _, err := net.Dial("tcp", s.addr); err == nil {
		t.Fatal("still listening after exit")
	}
}

// run serves until its context ends, and clients can use it meanwhile.
func TestRunServesUntilCancelled(t *testing.T) {
	s := serve(t, "--listen", "127.0.0.1:0", "--memory", "--partitions", "3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("cmd"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("cmd"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hi")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollRecords(ctx, 1)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hi" || recs[0].Partition > 2 {
		t.Fatalf("consumed %+v (errors %v)", recs, fs.Errors())
	}
	cl.Close()
	s.stop(t)
}

// On disk (the default), records and offsets survive a stop and start, and
// the flags reach the storage: the segments roll at --segment-bytes.
func TestRunOnDiskSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	argv := []string{"--listen", "127.0.0.1:0", "--dir", dir, "--segment-bytes", "4KiB", "--fsync", "always", "--partitions", "2"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(addr string, from, to int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("kept"), kgo.AllowAutoTopicCreation(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := from; i < to; i++ {
			r := &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "value-%04d-%s", i, strings.Repeat("x", 100))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if want := int64(i / 2); r.Offset != want {
				t.Fatalf("record %d at offset %d, want %d", i, r.Offset, want)
			}
		}
	}
	s := serve(t, argv...)
	produce(s.addr, 0, 200)
	s.stop(t)
	segs, _ := filepath.Glob(filepath.Join(dir, "topics", "kept-0", "*.log"))
	if len(segs) < 3 {
		t.Fatalf("%d segments of 4KiB for 100 records of 110 bytes: --segment-bytes not applied", len(segs))
	}

	s = serve(t, argv...)
	produce(s.addr, 200, 240) // offsets continue
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := 0
	next := map[int32]int64{}
	for seen < 240 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 240: %v", seen, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			if _, err := fmt.Sscanf(string(r.Value), "value-%04d-", &i); err != nil || int32(i%2) != r.Partition || int64(i/2) != r.Offset || r.Offset != next[r.Partition] {
				t.Fatalf("record %q at %d/%d (%v)", r.Value[:10], r.Partition, r.Offset, err)
			}
			next[r.Partition]++
			seen++
		})
	}
	cl.Close()
	s.stop(t)
}

// The real binary (this test binary re-executed as main) stops on SIGTERM
// and SIGINT with status 0.
func TestMainStopsOnSignal(t *testing.T) {
	if os.Getenv("MERLIN_BROKER_MAIN") == "1" {
		os.Args = append([]string{"merlin-broker"}, strings.Fields(os.Getenv("MERLIN_BROKER_ARGS"))...)
		main()
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMainStopsOnSignal$")
		cmd.Env = append(os.Environ(), "MERLIN_BROKER_MAIN=1", "MERLIN_BROKER_ARGS=--listen 127.0.0.1:0 --log-level warn --dir "+t.TempDir())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncbuf.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "merlin-broker listening on 127.0.0.1:") {
			_ = cmd.Process.Kill()
			t.Fatalf("first line %q, %v (stderr %q)", line, err, stderr.String())
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v (stderr %q)", sig, err, stderr.String())
		}
	}
}

// The limit flags reach the broker: --max-connections-per-ip refuses a
// second connection, --max-partitions-per-topic a topic too large.
func TestRunLimits(t *testing.T) {
	s := serve(t, "--listen", "127.0.0.1:0", "--memory", "--max-connections-per-ip", "1", "--max-partitions-per-topic", "4")
	c1, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// The first connection is registered once it is answered.
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "wide", 5, 1
	req.Topics = append(req.Topics, rt)
	req.Version = 4
	if _, err := c1.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	_ = c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c1, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c1, body); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	if err := resp.ReadFrom(body[4:]); err != nil || resp.Topics[0].ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("5 partitions with --max-partitions-per-topic 4: %+v, %v", resp.Topics, err)
	}
	c2, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(size[:]); err == nil {
		t.Fatalf("second connection from one IP read %d bytes, want it closed", n)
	}
	c1.Close()
	s.stop(t)
	if !strings.Contains(s.stderr.String(), "refusing connection") {
		t.Errorf("refusal not logged: %s", s.stderr.String())
	}
}

// verify reports a damaged batch of an older segment with the offset to
// resume at and exits 1; --verify-on-start logs it, and the broker serves.
func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	argv := []string{"--listen", "127.0.0.1:0", "--dir", dir, "--segment-bytes", "4KiB", "--fsync", "always"}
	s := serve(t, argv...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.DefaultProduceTopic("v"), kgo.AllowAutoTopicCreation(), kgo.MaxBufferedRecords(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%03d-%s", i, strings.Repeat("x", 100))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	s.stop(t)

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--dir", dir}, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("clean: exit %d, %s %s", code, stdout.String(), stderr.String())
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "topics", "v-0", "*.log"))
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XX"), 70); err != nil { // after the first batch's 61-byte header
		t.Fatal(err)
	}
	f.Close()
	stdout.Reset()
	if code := run(context.Background(), []string{"verify", "--dir", dir}, &stdout, &stderr); code != cli.ExitError {
		t.Fatalf("damaged: exit %d, %s %s", code, stdout.String(), stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "DAMAGED v/0: offsets from 0, resume at 1;") || !strings.Contains(out, "1 damaged ranges") {
		t.Fatalf("verify output:\n%s", out)
	}
	if code := run(context.Background(), []string{"verify", "--dir", t.TempDir()}, &stdout, &stderr); code != cli.ExitError {
		t.Fatalf("not a data directory: exit %d", code)
	}

	s = serve(t, append(argv, "--verify-on-start")...)
	s.stop(t)
	if log := s.stderr.String(); !strings.Contains(log, "verify on start: damaged range") || !strings.Contains(log, "resume_at=1") {
		t.Fatalf("--verify-on-start log:\n%s", log)
	}
}
