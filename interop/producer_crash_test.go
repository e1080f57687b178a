package interop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

// merlin's own producer (acks=all, idempotence on, its defaults) against
// the on-disk broker in a child process with --fsync always, killed with
// SIGKILL during production and restarted: every acknowledged message is
// there exactly once, offsets contiguous, nothing that was never sent.
// With MERLIN_SOAK set to a duration, it keeps killing for that long.
func TestProducerSurvivesKill9(t *testing.T) {
	const partitions = 3
	total, kills := 30000, 2
	soak, _ := time.ParseDuration(os.Getenv("MERLIN_SOAK"))
	if soak > 0 {
		// crashValue numbers messages with six digits.
		total, kills = 999_999, int(soak/(3*time.Second))+1
	}
	ctx := testContext(t, 4*time.Minute+2*soak)
	b := startBroker(t, t.TempDir(), "--fsync", "always", "--segment-bytes", "256KiB")
	createTopic(t, ctx, b.addr, "pcrash", partitions)
	p, err := producer.New(producer.Config{
		Brokers:         []string{b.addr},
		DeliveryTimeout: -1, // ride out every restart
		RetryBackoffMax: 100 * time.Millisecond,
		BreakerTimeout:  100 * time.Millisecond,
		RequestTimeout:  5 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())

	var (
		mu       sync.Mutex
		acks     = make(map[int]crashAck)
		failures = make(map[int]error)
		acked    atomic.Int64
		sent     atomic.Int64
	)
	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := producer.Message{Key: fmt.Appendf(nil, "k%d", i%11), Value: crashValue(i), OnDelivery: func(r producer.Result) {
				mu.Lock()
				defer mu.Unlock()
				if r.Err != nil {
					failures[i] = r.Err
					return
				}
				acks[i] = crashAck{r.Partition, r.Offset}
				acked.Add(1)
			}}
			if err := p.ProduceAsyncBatched(ctx, "pcrash", m); err != nil {
				t.Error(err)
				return
			}
			sent.Add(1)
			if i%500 == 0 {
				time.Sleep(time.Millisecond) // a steady stream, not one burst
			}
		}
	}()
	for k := 0; k < kills; k++ {
		// Kill once another slice of the stream has been acknowledged.
		target := min(acked.Load()+int64(total/(kills+2)), int64(total-1000))
		for acked.Load() < target {
			select {
			case <-ctx.Done():
				t.Fatalf("%d acknowledged, waiting for %d", acked.Load(), target)
			case <-time.After(5 * time.Millisecond):
			}
		}
		b.kill()
		t.Logf("killed the broker after %d acknowledgements", acked.Load())
		time.Sleep(50 * time.Millisecond)
		b.restart()
	}
	close(stop)
	<-produced
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	n := int(sent.Load())
	if len(acks)+len(failures) != n {
		t.Fatalf("%d acknowledged and %d failed of %d sent", len(acks), len(failures), n)
	}
	for i, err := range failures {
		t.Fatalf("message %d failed: %v", i, err)
	}
	stored := readAll(t, ctx, b.addr, "pcrash", partitions)
	if got := checkCrashStored(t, stored, acks, n); got != len(acks) {
		t.Fatalf("%d stored, %d acknowledged", got, len(acks))
	}
	t.Logf("%d messages acknowledged and stored exactly once across %d kills", len(acks), kills)
}
