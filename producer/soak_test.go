package producer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/mockbroker"
)

// TestSoak runs producers against a 3-broker mockbroker cluster for
// MERLIN_SOAK (a duration, e.g. MERLIN_SOAK=10m) while brokers are
// stopped, restarted, paused and their leaders moved at random, then checks
// that every acknowledged message is stored exactly once and in order per
// key. Skipped unless MERLIN_SOAK is set.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("MERLIN_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set MERLIN_SOAK to a duration (e.g. 10m) to run the soak")
	}
	c := newMock(t, mockbroker.Brokers(3), mockbroker.Topic("soak", 12))
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), DeliveryTimeout: -1, RequestTimeout: time.Second}))
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Minute)
	defer cancel()

	var produced, acked, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	const producers = 4
	for g := 0; g < producers; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := g*100 + i%50
				m := Message{Key: []byte(strconv.Itoa(k)), Value: []byte(fmt.Sprintf("%d:%d", k, i)),
					OnDelivery: func(r Result) {
						if r.Err != nil {
							failed.Add(1)
							return
						}
						acked.Add(1)
					}}
				if err := p.ProduceAsyncBatched(ctx, "soak", m); err != nil {
					t.Error(err)
					return
				}
				produced.Add(1)
				if i%200 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}(g)
	}
	end := time.Now().Add(d)
	faults := 0
	for time.Now().Before(end) {
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		id := c.BrokerIDs()[rand.IntN(3)]
		switch rand.IntN(4) {
		case 0:
			_ = c.Stop(id)
			time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
			_ = c.Start(id)
		case 1:
			_ = c.Pause(id)
			time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
			_ = c.Resume(id)
		case 2:
			part := int32(rand.IntN(12))
			_ = c.MoveLeader("soak", part, c.BrokerIDs()[rand.IntN(3)])
		case 3:
			_ = c.DropConnections(id)
		}
		faults++
	}
	close(stop)
	for g := 0; g < producers; g++ {
		<-done
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 || acked.Load() != produced.Load() {
		t.Fatalf("produced %d, acknowledged %d, failed %d", produced.Load(), acked.Load(), failed.Load())
	}
	seen := map[string]bool{}
	for part, vs := range arrived(c, "soak") {
		last := map[string]int{}
		for _, v := range vs {
			if seen[v] {
				t.Fatalf("%s stored twice", v)
			}
			seen[v] = true
			k, is, _ := strings.Cut(v, ":")
			i, _ := strconv.Atoi(is)
			if prev, ok := last[k]; ok && i < prev {
				t.Fatalf("partition %d key %s: %d after %d", part, k, i, prev)
			}
			last[k] = i
		}
	}
	if int64(len(seen)) != produced.Load() {
		t.Fatalf("%d stored of %d produced", len(seen), produced.Load())
	}
	t.Logf("%d messages through %d faults in %v: none lost, none duplicated, order kept", produced.Load(), faults, d)
}
