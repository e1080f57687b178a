package main

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoClient is franz-go's client. Tuned: acks=1, idempotence off, no
// compression (kgo prefers snappy by default), ProducerLinger = linger (0
// when immediate). Defaults: kgo's own for everything but acks (its default
// is all too). --buffer-bound sets MaxBufferedRecords. Other settings stay
// at kgo's defaults.
type kgoClient struct {
	cl      *kgo.Client
	promise func(*kgo.Record, error)
}

func openKgo(_ context.Context, o openOptions) (client, error) {
	cl, err := kgo.NewClient(kgoOpts(o)...)
	if err != nil {
		return nil, err
	}
	done := o.done
	return &kgoClient{cl: cl, promise: func(_ *kgo.Record, err error) { done(err) }}, nil
}

// kgoOpts are the client's options for o.
func kgoOpts(o openOptions) []kgo.Opt {
	opts := append(o.sec.kgo(),
		kgo.SeedBrokers(o.brokers...),
		kgo.ClientID("merlin-bench"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if !o.setup.defaults() {
		linger := o.setup.linger
		if o.immediate {
			linger = 0
		}
		opts = append(opts,
			kgo.RequiredAcks(kgo.LeaderAck()),
			kgo.DisableIdempotentWrite(),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerLinger(linger),
		)
	}
	if n := o.setup.bound; n > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(n))
	}
	return opts
}

func (c *kgoClient) produceList(ctx context.Context, topic string, vals [][]byte) error {
	for _, v := range vals {
		c.cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, c.promise)
	}
	return nil
}

func (c *kgoClient) produceOne(ctx context.Context, topic string, val []byte) error {
	c.cl.Produce(ctx, &kgo.Record{Topic: topic, Value: val}, c.promise)
	return nil
}

func (c *kgoClient) produceSync(ctx context.Context, topic string, val []byte) error {
	return c.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: val}).FirstErr()
}

func (c *kgoClient) close(ctx context.Context) error {
	err := c.cl.Flush(ctx)
	c.cl.Close()
	return err
}
