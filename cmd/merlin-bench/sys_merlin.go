package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/merlinkafka/merlin/producer"
)

// merlinClient is merlin's producer. Tuned: acks=1, idempotence off, no
// compression, TTL = linger. Defaults: producer.Config{Brokers, ClientID}
// and nothing else a user would set. Either way outcomes are counted
// through each message's OnDelivery (one func shared by all, as kgo's
// promise), the logs discarded, and --buffer-bound sets
// MaxBufferedMessages (and MaxBufferedBytes when N messages need more than
// its default).
type merlinClient struct {
	p          *producer.Producer
	immediate  bool
	onDelivery func(producer.Result) // nil for sync rows
}

func openMerlin(_ context.Context, o openOptions) (client, error) {
	p, err := producer.New(merlinConfig(o))
	if err != nil {
		return nil, err
	}
	c := &merlinClient{p: p, immediate: o.immediate}
	if !o.sync {
		done := o.done
		c.onDelivery = func(r producer.Result) { done(r.Err) }
	}
	return c, nil
}

// merlinConfig is the producer's Config for o.
func merlinConfig(o openOptions) producer.Config {
	cfg := producer.Config{
		Brokers:  o.brokers,
		ClientID: "merlin-bench",
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLS:      o.sec.tls,
		SASL:     o.sec.sasl,
	}
	if !o.setup.defaults() {
		cfg.Acks = producer.AcksLeader
		cfg.DisableIdempotence = true
		cfg.Compression = producer.CompressionNone
		cfg.TTL = o.setup.linger
	}
	if n := o.setup.bound; n > 0 {
		cfg.MaxBufferedMessages = n
		cfg.MaxBufferedBytes = merlinBufferBytes(n, o.size)
	}
	return cfg
}

func (c *merlinClient) produceList(ctx context.Context, topic string, vals [][]byte) error {
	msgs := make([]producer.Message, len(vals))
	for i, v := range vals {
		msgs[i] = producer.Message{Value: v, OnDelivery: c.onDelivery}
	}
	if c.immediate {
		return c.p.ProduceAsync(ctx, topic, msgs...)
	}
	return c.p.ProduceAsyncBatched(ctx, topic, msgs...)
}

func (c *merlinClient) produceOne(ctx context.Context, topic string, val []byte) error {
	m := producer.Message{Value: val, OnDelivery: c.onDelivery}
	if c.immediate {
		return c.p.ProduceAsync(ctx, topic, m)
	}
	return c.p.ProduceAsyncBatched(ctx, topic, m)
}

func (c *merlinClient) produceSync(ctx context.Context, topic string, val []byte) error {
	_, err := c.p.ProduceSync(ctx, topic, producer.Message{Value: val})
	return err
}

func (c *merlinClient) close(ctx context.Context) error {
	if err := c.p.Flush(ctx); err != nil {
		_ = c.p.Close(ctx)
		return err
	}
	return c.p.Close(ctx)
}
