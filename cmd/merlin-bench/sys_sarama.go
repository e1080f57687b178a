package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/internal/secflags"
)

// saramaClient is sarama's AsyncProducer (or its SyncProducer when opened
// for sync sends). Tuned: acks=1 (WaitForLocal), idempotence off, no
// compression, Flush.Frequency = linger (0 when immediate), protocol
// version 3.0 as merlin's own sarama connections. Defaults:
// sarama.NewConfig() with RequiredAcks WaitForAll (its default is
// WaitForLocal). Either way Return.Successes is on, to count outcomes.
// sarama has no bound on what it buffers in all, so --buffer-bound leaves
// it alone.
type saramaClient struct {
	async   sarama.AsyncProducer
	sync    sarama.SyncProducer
	drained sync.WaitGroup
}

var errWrongMode = errors.New("sarama: this call needs the other producer (async or sync)")

func saramaConfig(o openOptions) *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = "merlin-bench"
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	if o.setup.defaults() {
		sc.Producer.RequiredAcks = sarama.WaitForAll
	} else {
		sc.Version = sarama.V3_0_0_0
		sc.Producer.RequiredAcks = sarama.WaitForLocal
		sc.Producer.Idempotent = false
		sc.Producer.Compression = sarama.CompressionNone
		if !o.immediate {
			sc.Producer.Flush.Frequency = o.setup.linger
		}
	}
	secflags.Sarama(sc, o.sec.tls, o.sec.sasl)
	return sc
}

// saramaAcks names a RequiredAcks value.
func saramaAcks(a sarama.RequiredAcks) string {
	switch a {
	case sarama.WaitForAll:
		return "WaitForAll"
	case sarama.WaitForLocal:
		return "WaitForLocal"
	case sarama.NoResponse:
		return "NoResponse"
	}
	return fmt.Sprint(int16(a))
}

func openSarama(_ context.Context, o openOptions) (client, error) {
	sc := saramaConfig(o)
	if o.sync {
		sp, err := sarama.NewSyncProducer(o.brokers, sc)
		if err != nil {
			return nil, err
		}
		return &saramaClient{sync: sp}, nil
	}
	ap, err := sarama.NewAsyncProducer(o.brokers, sc)
	if err != nil {
		return nil, err
	}
	c := &saramaClient{async: ap}
	done := o.done
	c.drained.Add(2)
	go func() {
		defer c.drained.Done()
		for range ap.Successes() {
			done(nil)
		}
	}()
	go func() {
		defer c.drained.Done()
		for e := range ap.Errors() {
			done(e.Err)
		}
	}()
	return c, nil
}

func (c *saramaClient) produceList(ctx context.Context, topic string, vals [][]byte) error {
	for _, v := range vals {
		if err := c.produceOne(ctx, topic, v); err != nil {
			return err
		}
	}
	return nil
}

func (c *saramaClient) produceOne(ctx context.Context, topic string, val []byte) error {
	if c.async == nil {
		return errWrongMode
	}
	select {
	case c.async.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(val)}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *saramaClient) produceSync(_ context.Context, topic string, val []byte) error {
	if c.sync == nil {
		return errWrongMode
	}
	_, _, err := c.sync.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(val)})
	return err
}

// close stops the producer, which first sends what it holds; sarama takes
// no context.
func (c *saramaClient) close(context.Context) error {
	if c.sync != nil {
		return c.sync.Close()
	}
	c.async.AsyncClose()
	c.drained.Wait()
	return nil
}
