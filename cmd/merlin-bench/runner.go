package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"
)

// env is what every run shares.
type env struct {
	brokers    brokerSource
	partitions int32
	setup      setup
	warmup     int           // messages sent and acknowledged before timing
	timeout    time.Duration // of one run
	cpuprofile string        // file name pattern; "" for none
	profile    map[string]bool
	stderr     io.Writer
	sec        security
	java       *javaTool // nil unless the java system runs
}

// runResult is one run of one case for one system.
type runResult struct {
	messages  int
	bytes     int64 // value bytes
	elapsed   time.Duration
	cpu       time.Duration // bench process, over the timed window
	brokerCPU time.Duration // broker process, over the timed window
	hasBroker bool
	peakRSS   int64
	hasRSS    bool
	peakHeap  int64
	noHeap    bool            // not sampled (java: another process)
	lat       []time.Duration // sorted; empty when the case has none
	perf      *perfSummary    // java: the tool's own summary
}

func (r runResult) rate() float64 { return float64(r.messages) / r.elapsed.Seconds() }

// valuePool returns n distinct values of size bytes, the same for every
// system and run.
func valuePool(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, n*size)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	pool := make([][]byte, n)
	for i := range pool {
		pool[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	return pool
}

const poolSize = 1024

// runOnce runs one case for one system against a fresh cluster (when the
// source starts one) and a fresh topic, and checks that every message was
// acknowledged exactly once and is in the topic.
func runOnce(ctx context.Context, e *env, c benchCase, system string, run int) (res runResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cl, err := e.brokers.start(ctx)
	if err != nil {
		return res, fmt.Errorf("broker: %w", err)
	}
	defer func() {
		if serr := cl.stop(); serr != nil && err == nil {
			err = fmt.Errorf("broker: %w", serr)
		}
	}()
	adm, err := newAdmin(cl.addrs, e.sec)
	if err != nil {
		return res, err
	}
	defer adm.close()
	topic := fmt.Sprintf("bench-%s-%s-r%d-%d", c.id, system, run, time.Now().UnixNano())
	if err := adm.createTopic(ctx, topic, e.partitions); err != nil {
		return res, err
	}
	if cl.shared {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if derr := adm.deleteTopic(dctx, topic); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	if system == javaSystem {
		return runJava(ctx, e, c, cl, adm, topic)
	}

	tr := newTracker()
	cli, err := systems[system](ctx, openOptions{
		brokers: cl.addrs, setup: e.setup, size: c.size, immediate: c.immediate,
		sync: c.kind == kindSync, done: tr.done, sec: e.sec,
	})
	if err != nil {
		return res, fmt.Errorf("open %s: %w", system, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = cli.close(ctx)
		}
	}()

	var cons *consumer
	if c.kind == kindFlood {
		if cons, err = startConsumer(ctx, cl.addrs, topic, e.sec); err != nil {
			return res, err
		}
		defer cons.close()
	}
	w := &window{e: e, c: c, system: system, run: run, cl: cl}
	pool := valuePool(poolSize, c.size)
	if err := warmUp(ctx, c, cli, tr, topic, pool, e.warmup, cons); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	total := int64(e.warmup + c.messages)

	switch c.kind {
	case kindList:
		res, err = w.measure(func() error { return sendLists(ctx, cli, topic, pool, c, tr, total) })
	case kindOne:
		res, err = w.measure(func() error { return sendOnes(ctx, cli, topic, pool, c.messages, tr, total) })
	case kindSync:
		var lat []time.Duration
		res, err = w.measure(func() (err error) {
			lat, err = sendSync(ctx, cli, topic, pool, c, tr)
			return err
		})
		res.lat = lat
	case kindFlood:
		res, err = w.measure(func() error { return flood(ctx, cli, topic, pool, c.messages, cons, total) })
		if err == nil {
			// The window ends when the consumer has the last message.
			res.elapsed = cons.lastAt.Sub(w.start)
			res.lat = cons.lat
		}
	}
	if err != nil {
		return res, err
	}
	if c.kind == kindFlood {
		// The producer's acknowledgements may trail the consumer.
		if err := waitFor(ctx, tr.expect(total)); err != nil {
			return res, fmt.Errorf("waiting for acknowledgements: %w", err)
		}
	}
	closed = true
	if err := cli.close(ctx); err != nil {
		return res, fmt.Errorf("close %s: %w", system, err)
	}
	if err := checkCounts(ctx, tr, adm, topic, total, cons); err != nil {
		return res, err
	}
	res.messages = c.messages
	res.bytes = int64(c.messages) * int64(c.size)
	slices.Sort(res.lat)
	return res, nil
}

// window measures the timed part of a run.
type window struct {
	e      *env
	c      benchCase
	system string
	run    int
	cl     *cluster
	start  time.Time
}

func (w *window) measure(body func() error) (runResult, error) {
	var res runResult
	rssOK := resetPeakRSS()
	stopProfile, err := w.startProfile()
	if err != nil {
		return res, err
	}
	heap := startHeapSampler(10 * time.Millisecond)
	b0, hasBroker := w.cl.cpu()
	cpu0 := selfCPU()
	w.start = time.Now()
	err = body()
	res.elapsed = time.Since(w.start)
	res.cpu = selfCPU() - cpu0
	if b1, ok := w.cl.cpu(); ok && hasBroker {
		res.brokerCPU, res.hasBroker = b1-b0, true
	}
	res.peakHeap = heap.stop()
	stopProfile()
	if rss, ok := peakRSS(); ok && rssOK {
		res.peakRSS, res.hasRSS = rss, true
	}
	return res, err
}

// startProfile starts a CPU profile of the window when asked for this
// system, into a file named after the case, system and run.
func (w *window) startProfile() (stop func(), err error) {
	if w.e.cpuprofile == "" || !w.e.profile[w.system] {
		return func() {}, nil
	}
	name := profileName(w.e.cpuprofile, w.c.id, w.system, w.run)
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(w.e.stderr, "merlin-bench: %s: %v\n", name, err)
		}
	}, nil
}

// profileName turns cpu.pprof into cpu-w5-peers-merlin-r1.pprof.
func profileName(pattern, id, system string, run int) string {
	ext := filepath.Ext(pattern)
	return fmt.Sprintf("%s-%s-%s-r%d%s", strings.TrimSuffix(pattern, ext), id, system, run, ext)
}

func waitFor(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// warmUp sends n messages (timestamp 0 for the flood's consumer) and waits
// for them, so that connections, metadata and buffers are ready before
// timing.
func warmUp(ctx context.Context, c benchCase, cli client, tr *tracker, topic string, pool [][]byte, n int, cons *consumer) error {
	if n == 0 {
		return nil
	}
	if c.kind == kindSync {
		for i := range n {
			err := cli.produceSync(ctx, topic, pool[i%len(pool)])
			tr.done(err)
			if err != nil {
				return err
			}
		}
		return nil
	}
	reached := tr.expect(int64(n))
	for i := range n {
		v := pool[i%len(pool)]
		if c.kind == kindFlood {
			v = stamped(v, 0)
		}
		if err := cli.produceOne(ctx, topic, v); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, reached); err != nil {
		return err
	}
	if _, failed, first := tr.counts(); failed > 0 {
		return first
	}
	if cons != nil {
		return waitFor(ctx, cons.reached(int64(n)))
	}
	return nil
}

func sendLists(ctx context.Context, cli client, topic string, pool [][]byte, c benchCase, tr *tracker, total int64) error {
	reached := tr.expect(total)
	vals := make([][]byte, c.list)
	for sent := 0; sent < c.messages; sent += c.list {
		n := min(c.list, c.messages-sent)
		for i := range n {
			vals[i] = pool[(sent+i)%len(pool)]
		}
		if err := cli.produceList(ctx, topic, vals[:n]); err != nil {
			return err
		}
	}
	return waitFor(ctx, reached)
}

func sendOnes(ctx context.Context, cli client, topic string, pool [][]byte, n int, tr *tracker, total int64) error {
	reached := tr.expect(total)
	for i := range n {
		if err := cli.produceOne(ctx, topic, pool[i%len(pool)]); err != nil {
			return err
		}
	}
	return waitFor(ctx, reached)
}

// sendSync runs c.producers goroutines that share c.messages sync sends,
// and returns every send's latency.
func sendSync(ctx context.Context, cli client, topic string, pool [][]byte, c benchCase, tr *tracker) ([]time.Duration, error) {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, c.producers)
	errs := make([]error, c.producers)
	for g := range c.producers {
		n := c.messages / c.producers
		if g < c.messages%c.producers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n)
			for i := range n {
				t0 := time.Now()
				err := cli.produceSync(ctx, topic, pool[(g+i*c.producers)%len(pool)])
				lat = append(lat, time.Since(t0))
				tr.done(err)
				if err != nil {
					errs[g] = err
					break
				}
			}
			lats[g] = lat
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(lats...), nil
}

// flood produces n stamped messages, one a call, and waits until the
// consumer has read them all.
func flood(ctx context.Context, cli client, topic string, pool [][]byte, n int, cons *consumer, total int64) error {
	reached := cons.reached(total)
	for i := range n {
		if err := cli.produceOne(ctx, topic, stamped(pool[i%len(pool)], cons.now())); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, reached); err != nil {
		return fmt.Errorf("consumer: %w (has %d of %d)", err, cons.got.Load(), total)
	}
	cons.finish()
	return cons.err()
}

// stamped copies v with the send time (nanoseconds on the consumer's
// monotonic clock, 0 for warm-up messages) in its first 8 bytes.
func stamped(v []byte, ts int64) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	binary.BigEndian.PutUint64(out, uint64(ts))
	return out
}

// checkCounts makes sure every message was acknowledged exactly once,
// none failed, and the topic (and the consumer, if any) holds them all.
func checkCounts(ctx context.Context, tr *tracker, adm *admin, topic string, total int64, cons *consumer) error {
	completed, failed, first := tr.counts()
	if failed > 0 {
		return fmt.Errorf("%d of %d messages failed: %w", failed, total, first)
	}
	if completed != total {
		return fmt.Errorf("%d outcomes reported for %d messages", completed, total)
	}
	n, err := adm.records(ctx, topic)
	if err != nil {
		return fmt.Errorf("counting records: %w", err)
	}
	if n != total {
		return fmt.Errorf("topic holds %d records, %d were acknowledged", n, total)
	}
	if cons != nil {
		if got := cons.got.Load(); got != total {
			return fmt.Errorf("consumer read %d records of %d", got, total)
		}
	}
	return nil
}
