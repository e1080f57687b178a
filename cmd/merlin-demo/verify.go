package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/internal/secflags"
	"github.com/merlinkafka/merlin/producer"
)

// consumed is one message read back.
type consumed struct {
	partition int32
	offset    int64
	value     string
}

func checkConfig(tc *tls.Config, sasl *producer.SASL) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "merlin-demo-check"
	secflags.Sarama(cfg, tc, sasl)
	return cfg
}

// endOffsets returns the high watermark of every partition of topic: where
// a run that starts now begins. A topic that does not exist yet has none
// (it is not created here: the producer creates it, with its defaults).
func endOffsets(addrs []string, topic string, tc *tls.Config, sasl *producer.SASL) (map[int32]int64, error) {
	cfg := checkConfig(tc, sasl)
	cfg.Metadata.AllowAutoTopicCreation = false
	client, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return map[int32]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	offs := make(map[int32]int64, len(parts))
	for _, part := range parts {
		if offs[part], err = client.GetOffset(topic, part, sarama.OffsetNewest); err != nil {
			return nil, err
		}
	}
	return offs, nil
}

// consumeAll reads every partition of topic from the offset in from (the
// start for a partition not in it) to its high watermark with sarama's
// consumer, so that a run judges only the records it produced.
func consumeAll(ctx context.Context, addrs []string, topic string, from map[int32]int64, tc *tls.Config, sasl *producer.SASL) ([]consumed, error) {
	client, err := sarama.NewClient(addrs, checkConfig(tc, sasl))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, err
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var (
		mu   sync.Mutex
		out  []consumed
		errs []error
		wg   sync.WaitGroup
	)
	for _, part := range parts {
		hwm, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		start, ok := from[part]
		if !ok {
			start = sarama.OffsetOldest
		}
		if hwm == 0 || hwm <= start {
			continue
		}
		pc, err := cons.ConsumePartition(topic, part, start)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func(part int32, pc sarama.PartitionConsumer) {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					mu.Lock()
					out = append(out, consumed{partition: part, offset: m.Offset, value: string(m.Value)})
					mu.Unlock()
					if m.Offset+1 >= hwm {
						return
					}
				case err := <-pc.Errors():
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				case <-ctx.Done():
					mu.Lock()
					errs = append(errs, fmt.Errorf("partition %d: %w", part, ctx.Err()))
					mu.Unlock()
					return
				}
			}
		}(part, pc)
	}
	wg.Wait()
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, nil
}

// result is the demo's verdict.
type result struct {
	sent, acked, failed, consumed, lost, duplicated, unknown int
	reordered                                                int
}

func (r result) ok() bool {
	return r.lost == 0 && r.duplicated == 0 && r.reordered == 0 && r.failed == 0 && r.unknown == 0 && r.acked == r.sent
}

func (r result) String() string {
	order := "order kept"
	if r.reordered > 0 {
		order = fmt.Sprintf("order BROKEN (%d messages out of order)", r.reordered)
	}
	s := fmt.Sprintf("sent %d, acknowledged %d, failed %d, consumed %d, lost %d, duplicated %d, %s",
		r.sent, r.acked, r.failed, r.consumed, r.lost, r.duplicated, order)
	if r.unknown > 0 {
		s += fmt.Sprintf(", %d never sent", r.unknown)
	}
	return s
}

// verdict compares what was sent with what was consumed. Values are
// "<key>:<sequence within key>:<global sequence>"; per key, sequences must
// come back in order (a key always maps to one partition).
func verdict(sent, acked, failed int, got []consumed) result {
	r := result{sent: sent, acked: acked, failed: failed, consumed: len(got)}
	seen := make([]int, sent)
	type pk struct {
		part int32
		key  string
	}
	byKey := map[pk][]consumed{}
	for _, c := range got {
		fields := strings.Split(c.value, ":")
		if len(fields) != 3 {
			r.unknown++
			continue
		}
		g, err := strconv.Atoi(fields[2])
		if err != nil || g < 0 || g >= sent {
			r.unknown++
			continue
		}
		seen[g]++
		byKey[pk{c.partition, fields[0]}] = append(byKey[pk{c.partition, fields[0]}], c)
	}
	for _, n := range seen {
		switch {
		case n == 0:
			r.lost++
		case n > 1:
			r.duplicated += n - 1
		}
	}
	// Lost counts acknowledged messages only: a failed one was reported.
	r.lost = max(0, r.lost-failed)
	for _, list := range byKey {
		last := -1
		for _, c := range list { // in offset order per partition
			seq, _ := strconv.Atoi(strings.Split(c.value, ":")[1])
			if seq < last {
				r.reordered++
			}
			last = max(last, seq)
		}
	}
	return r
}
