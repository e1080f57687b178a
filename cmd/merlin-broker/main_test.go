package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, exitUsage, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "Usage:") {
			t.Errorf("%v: stderr %q does not mention %q with the usage", c.args, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: stdout %q", c.args, stdout.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "--listen") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout.String())
	}
}

func TestRunPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--listen", ln.Addr().String()}, &stdout, &stderr); code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	if msg := stderr.String(); !strings.Contains(msg, "cannot listen on "+ln.Addr().String()) || !strings.Contains(msg, "address already in use") {
		t.Fatalf("stderr %q", msg)
	}
}

// run serves until its context ends, and clients can use it meanwhile.
func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--listen", "127.0.0.1:0", "--memory", "--partitions", "3"}, outW, &stderr)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (stderr %q)", err, stderr.String())
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "merlin-broker listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	go io.Copy(io.Discard, outR)

	tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
	defer tcancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("cmd"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("cmd"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(tctx, &kgo.Record{Value: []byte("hi")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollRecords(tctx, 1)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hi" || recs[0].Partition > 2 {
		t.Fatalf("consumed %+v (errors %v)", recs, fs.Errors())
	}
	cl.Close()

	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit %d after cancel (stderr %q)", c, stderr.String())
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still listening after exit")
	}
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
		cmd.Env = append(os.Environ(), "MERLIN_BROKER_MAIN=1", "MERLIN_BROKER_ARGS=--listen 127.0.0.1:0 --log-level warn")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
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
