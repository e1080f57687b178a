package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/merlinkafka/merlin/internal/syncbuf"

	"github.com/merlinkafka/merlin/broker"
)

// A cluster is the broker (or brokers) one run produces to.
type cluster struct {
	addrs []string
	// cpu returns the CPU time the broker process has used so far, or
	// false when it is not a process of ours.
	cpu  func() (time.Duration, bool)
	stop func() error
	// shared: the cluster outlives the run (Apache Kafka), which then
	// deletes its topic at the end.
	shared bool
}

// A brokerSource starts a cluster for one run.
type brokerSource interface {
	start(ctx context.Context) (*cluster, error)
	// describe says what the runs produce to, for the report's header.
	describe() string
	// cleanup releases what the source holds (a built binary).
	cleanup()
}

// externalBrokers is a cluster the user runs (--brokers).
type externalBrokers struct{ addrs []string }

func (e externalBrokers) start(context.Context) (*cluster, error) {
	return &cluster{
		addrs: e.addrs,
		cpu:   func() (time.Duration, bool) { return 0, false },
		stop:  func() error { return nil },
	}, nil
}

func (e externalBrokers) describe() string {
	return "existing cluster " + strings.Join(e.addrs, ",")
}

func (externalBrokers) cleanup() {}

// inProcessBroker is the bundled broker inside the bench process, for
// tests: its CPU and memory count against every system alike.
type inProcessBroker struct{ partitions int32 }

func (s inProcessBroker) start(context.Context) (*cluster, error) {
	b, err := broker.New(broker.Config{
		DefaultPartitions: s.partitions,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		_ = b.Close()
		return nil, err
	}
	return &cluster{
		addrs: []string{b.Addr()},
		cpu:   func() (time.Duration, bool) { return 0, false },
		stop:  b.Close,
	}, nil
}

func (inProcessBroker) describe() string {
	return "bundled broker in the bench process (fresh per run, in memory)"
}

func (inProcessBroker) cleanup() {}

// processBroker runs cmd/merlin-broker as its own process, a fresh one
// per run, in memory on loopback.
type processBroker struct {
	bin        string
	tmpDir     string // removed by cleanup when we built bin
	partitions int32
	stderr     io.Writer
}

// newProcessBroker finds the merlin-broker binary: bin if given, else next
// to this program, else built with `go build` into a temporary directory.
func newProcessBroker(ctx context.Context, bin string, partitions int32, stderr io.Writer) (*processBroker, error) {
	s := &processBroker{bin: bin, partitions: partitions, stderr: stderr}
	if bin != "" {
		return s, nil
	}
	if exe, err := os.Executable(); err == nil {
		next := filepath.Join(filepath.Dir(exe), "merlin-broker")
		if fi, err := os.Stat(next); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			s.bin = next
			return s, nil
		}
	}
	dir, err := os.MkdirTemp("", "merlin-bench-")
	if err != nil {
		return nil, err
	}
	s.tmpDir = dir
	s.bin = filepath.Join(dir, "merlin-broker")
	fmt.Fprintf(stderr, "merlin-bench: building merlin-broker into %s\n", dir)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "github.com/merlinkafka/merlin/cmd/merlin-broker")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("go build merlin-broker (run from the merlin module, or pass --broker-bin): %v\n%s", err, out.String())
	}
	return s, nil
}

func (s *processBroker) describe() string {
	return fmt.Sprintf("bundled broker as its own process (%s --memory, loopback), fresh per run", filepath.Base(s.bin))
}

func (s *processBroker) cleanup() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}

const listeningPrefix = "merlin-broker listening on "

func (s *processBroker) start(ctx context.Context) (*cluster, error) {
	cmd := exec.Command(s.bin, "--memory", "--listen", "127.0.0.1:0",
		"--partitions", strconv.Itoa(int(s.partitions)), "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var errOut syncbuf.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.bin, err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), listeningPrefix); ok && !sent {
				addrCh <- strings.TrimSpace(addr)
				sent = true
			}
		}
		close(addrCh)
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() error {
		select {
		case <-exited:
			return fmt.Errorf("merlin-broker exited early: %v: %s", waitErr, strings.TrimSpace(errOut.String()))
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("merlin-broker did not stop on SIGTERM within 10s")
		}
		if waitErr != nil {
			return fmt.Errorf("merlin-broker: %v: %s", waitErr, strings.TrimSpace(errOut.String()))
		}
		return nil
	}
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	select {
	case addr, ok := <-addrCh:
		if !ok {
			<-exited
			return nil, fmt.Errorf("merlin-broker exited before listening: %v: %s", waitErr, strings.TrimSpace(errOut.String()))
		}
		pid := cmd.Process.Pid
		return &cluster{addrs: []string{addr}, cpu: func() (time.Duration, bool) { return processCPU(pid) }, stop: stop}, nil
	case <-timer.C:
		_ = stop()
		return nil, errors.New("merlin-broker did not say it was listening within 15s")
	case <-ctx.Done():
		_ = stop()
		return nil, ctx.Err()
	}
}
