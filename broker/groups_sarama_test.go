package broker

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaHandler collects the values it consumes and marks each consumed.
type saramaHandler struct {
	mu     sync.Mutex
	values []string
	got    chan struct{} // one send per message
}

func (*saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		h.mu.Lock()
		h.values = append(h.values, string(msg.Value))
		h.mu.Unlock()
		// Marked offsets are committed when the session ends (and by
		// the auto-commit interval): a Commit per message would queue
		// behind the consumer's long-polling fetch on the same
		// connection, as with Kafka.
		s.MarkMessage(msg, "")
		h.got <- struct{}{}
	}
	return nil
}

// consumeSarama runs a sarama ConsumerGroup until it has consumed n
// messages, then closes it (committing) and returns what it consumed.
func consumeSarama(t *testing.T, addr, group, topic string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &saramaHandler{got: make(chan struct{}, n+100)}
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range n {
		select {
		case <-h.got:
		case err := <-done:
			t.Fatalf("sarama consumer group stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("sarama consumed %d of %d", len(h.values), n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cg.Close(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.values
}

// A sarama ConsumerGroup consumes a topic and commits; a second run of the
// same group starts from the commits and gets only the new messages.
func TestGroupSarama(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, Config{})
	createTopic(t, b, "sarama-group", 2)
	prod := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceNumbered(t, ctx, prod, "sarama-group", 0, 40, 2)
	first := consumeSarama(t, b.Addr(), "sg", "sarama-group", 40)
	produceNumbered(t, ctx, prod, "sarama-group", 40, 50, 2)
	second := consumeSarama(t, b.Addr(), "sg", "sarama-group", 10)
	seen := map[string]bool{}
	for _, v := range append(first, second...) {
		if seen[v] {
			t.Fatalf("%s consumed twice (first run %v, second %v)", v, first, second)
		}
		seen[v] = true
	}
	for _, v := range second {
		if i, _ := strconv.Atoi(v); i < 40 {
			t.Fatalf("second run consumed %s, committed by the first", v)
		}
	}
	if len(seen) != 50 {
		t.Fatalf("consumed %d distinct messages, want 50", len(seen))
	}
}
