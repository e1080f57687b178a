// Package firstack measures what a producer's connection setup costs (TCP,
// TLS, SASL, metadata, a producer id): the time from producer.New to the
// first acknowledged message. The TLS and SASL tests report it against
// merlin-broker and against Apache Kafka.
package firstack

import (
	"context"
	"slices"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

// Time is how long a producer made from cfg takes from New to the
// acknowledgement of one message to topic. The producer is closed after.
func Time(ctx context.Context, cfg producer.Config, topic string) (time.Duration, error) {
	start := time.Now()
	p, err := producer.New(cfg)
	if err != nil {
		return 0, err
	}
	defer p.Close(ctx)
	if _, err := p.ProduceSync(ctx, topic, producer.Message{Value: []byte("first")}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Medians runs Time n times for each of cfgs, interleaved (one of each,
// then again) so that a noisy moment hits every configuration alike, and
// returns the median of each, in the order of cfgs.
func Medians(ctx context.Context, topic string, n int, cfgs ...producer.Config) ([]time.Duration, error) {
	runs := make([][]time.Duration, len(cfgs))
	for range n {
		for i, cfg := range cfgs {
			d, err := Time(ctx, cfg, topic)
			if err != nil {
				return nil, err
			}
			runs[i] = append(runs[i], d)
		}
	}
	out := make([]time.Duration, len(cfgs))
	for i, r := range runs {
		slices.Sort(r)
		out[i] = r[len(r)/2]
	}
	return out, nil
}
