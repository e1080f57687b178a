package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/merlinkafka/merlin/producer"
)

// merlinClient is merlin's producer: acks=1, idempotence off, TTL = linger.
// Outcomes are counted through Config.OnDelivery.
type merlinClient struct {
	p         *producer.Producer
	immediate bool
}

func openMerlin(_ context.Context, o openOptions) (client, error) {
	var onDelivery func(producer.Message, producer.Result)
	if !o.sync {
		done := o.done
		onDelivery = func(_ producer.Message, r producer.Result) { done(r.Err) }
	}
	p, err := producer.New(producer.Config{
		Brokers:            o.brokers,
		ClientID:           "merlin-bench",
		Acks:               producer.AcksLeader,
		DisableIdempotence: true,
		Compression:        producer.CompressionNone,
		TTL:                o.linger,
		OnDelivery:         onDelivery,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLS:                o.sec.tls,
		SASL:               o.sec.sasl,
	})
	if err != nil {
		return nil, err
	}
	return &merlinClient{p: p, immediate: o.immediate}, nil
}

func (c *merlinClient) produceList(ctx context.Context, topic string, vals [][]byte) error {
	msgs := make([]producer.Message, len(vals))
	for i, v := range vals {
		msgs[i].Value = v
	}
	if c.immediate {
		return c.p.ProduceAsync(ctx, topic, msgs...)
	}
	return c.p.ProduceAsyncBatched(ctx, topic, msgs...)
}

func (c *merlinClient) produceOne(ctx context.Context, topic string, val []byte) error {
	if c.immediate {
		return c.p.ProduceAsync(ctx, topic, producer.Message{Value: val})
	}
	return c.p.ProduceAsyncBatched(ctx, topic, producer.Message{Value: val})
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
