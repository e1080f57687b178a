package producer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/mockbroker"
)

// With a spill directory, an outage's backlog goes to disk and frees its
// memory, and comes back in order when the leader does.
func TestSpillDuringDowntime(t *testing.T) {
	c := newMock(t, mockbroker.Topic("sp", 1))
	dir := t.TempDir()
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), SpillDir: dir, DeliveryTimeout: -1, TTL: time.Millisecond}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "sp"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var want []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%05d", i)
		want = append(want, v)
		if err := p.ProduceAsyncBatched(ctx, "sp", Message{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// Everything ends up spilled: memory holds no message bytes.
	for {
		msgs, bytes := p.BufferedMessages()
		refs, _ := buffer.Find(dir)
		if msgs == n && bytes == 0 && len(refs) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not spilled: %d messages, %d bytes in memory, %d spills", msgs, bytes, len(refs))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := arrived(c, "sp")[0]; !slices.Equal(got, want) {
		t.Fatalf("%d arrived, in order: %v", len(got), slices.Equal(got[:min(len(got), n)], want[:min(len(got), n)]))
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if refs, _ := buffer.Find(dir); len(refs) != 0 {
		t.Fatalf("spills left after everything was delivered: %v", refs)
	}
}

// A producer closes while its broker is down: what it spilled is reported
// as left in the spill, and the next producer on the same directory sends
// it without being asked, reporting each message through OnDelivery.
func TestSpillSurvivesProducerRestart(t *testing.T) {
	c := newMock(t, mockbroker.Brokers(2), mockbroker.Topic("restart", 2))
	dir := t.TempDir()
	ctx := testCtx(t)
	var mu sync.Mutex
	left := 0
	first := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), SpillDir: dir, DeliveryTimeout: -1, TTL: time.Millisecond,
		OnDelivery: func(m Message, r Result) {
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(r.Err, ErrLeftInSpill) && errors.Is(r.Err, ErrClosed) {
				left++
			}
		}}))
	if _, err := first.Metadata(ctx, "restart"); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.BrokerIDs() {
		if err := c.Stop(id); err != nil {
			t.Fatal(err)
		}
	}
	const n = 500
	for i := 0; i < n; i++ {
		m := Message{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("%d:%04d", i%7, i))}
		if err := first.ProduceAsyncBatched(ctx, "restart", m); err != nil {
			t.Fatal(err)
		}
	}
	for {
		if _, bytes := first.BufferedMessages(); bytes == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never spilled")
		case <-time.After(10 * time.Millisecond):
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := first.Close(short); !errors.Is(err, ErrClosed) {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	if left != n {
		t.Fatalf("%d of %d messages reported as left in the spill", left, n)
	}
	mu.Unlock()
	if c.RecordCount("restart") != 0 {
		t.Fatal("records arrived while every broker was down")
	}

	for _, id := range c.BrokerIDs() {
		if err := c.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	var delivered, failed int
	second := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), SpillDir: dir,
		OnDelivery: func(m Message, r Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				failed++
				return
			}
			delivered++
		}}))
	if err := c.WaitForRecords(ctx, "restart", n); err != nil {
		t.Fatal(err)
	}
	if err := second.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if delivered != n || failed != 0 {
		t.Fatalf("second producer delivered %d, failed %d, of %d", delivered, failed, n)
	}
	// Each key's messages arrived once and in order.
	seen := map[string]bool{}
	for part, vs := range arrived(c, "restart") {
		last := map[string]string{}
		for _, v := range vs {
			if seen[v] {
				t.Fatalf("%s twice", v)
			}
			seen[v] = true
			k := v[:1]
			if last[k] > v {
				t.Fatalf("partition %d: %s after %s", part, v, last[k])
			}
			last[k] = v
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages arrived", len(seen))
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		if refs, _ := buffer.Find(dir); len(refs) != 0 {
			t.Fatalf("spills left: %v", refs)
		}
	}
}

// A spill damaged on disk while the leader is down: its messages are
// reported failed, and nothing of it is sent.
func TestSpillDamagedOnDiskIsReported(t *testing.T) {
	c := newMock(t, mockbroker.Topic("dmg", 1))
	dir := t.TempDir()
	var mu sync.Mutex
	var failed []error
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), SpillDir: dir, DeliveryTimeout: -1, TTL: time.Millisecond,
		OnDelivery: func(m Message, r Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				failed = append(failed, r.Err)
			}
		}}))
	ctx := testCtx(t)
	if _, err := p.Metadata(ctx, "dmg"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(1); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceAsyncBatched(ctx, "dmg", msg("", "one"), msg("", "two"), msg("", "three")); err != nil {
		t.Fatal(err)
	}
	var logFile string
	for logFile == "" {
		matches, _ := filepath.Glob(filepath.Join(buffer.Dir(dir, "dmg", 0, 0), "*.log"))
		if _, bytes := p.BufferedMessages(); len(matches) == 1 && bytes == 0 {
			logFile = matches[0]
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never spilled")
		case <-time.After(5 * time.Millisecond):
		}
	}
	data, err := os.ReadFile(logFile)
	if err != nil || len(data) < 70 {
		t.Fatalf("spill segment: %d bytes, %v", len(data), err)
	}
	data[len(data)-2] ^= 0xff // inside the records: the CRC no longer matches
	if err := os.WriteFile(logFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 3 || c.RecordCount("dmg") != 0 {
		t.Fatalf("%d reported failed (%v), %d stored", len(failed), failed, c.RecordCount("dmg"))
	}
}
