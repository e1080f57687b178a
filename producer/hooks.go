package producer

import (
	"context"
	"errors"
	"fmt"
)

// A Hook observes every message the producer is given, from the produce
// call to its outcome: tracing (package otelmerlin) and per-message
// metrics are built on hooks. A Hook implements ProduceHook, DeliveryHook
// or both; Config.Validate refuses one that implements neither. Hooks are
// called in the order of Config.Hooks.
//
// Hooks cost nothing when Config.Hooks is empty. With a ProduceHook, each
// produce call copies its messages once (the hook changes the copy, never
// the caller's messages).
type Hook any

// ProduceHook is called for each message of a produce call, on the
// calling goroutine, before the producer takes it.
type ProduceHook interface {
	// OnProduce may change m, which is the producer's own copy of the
	// message: append headers (a trace context), set m.Context to carry
	// something to OnDelivered. The copy shares the caller's slices: to
	// change a header, replace m.Headers with a new slice rather than
	// write into it (an append is safe: the copy's Headers have no spare
	// capacity). ctx is m.Context if set, else the produce call's context.
	// It must not keep m.
	//
	// A message OnProduce saw ends in exactly one OnDelivered call of
	// every DeliveryHook, whether or not the call accepted it.
	OnProduce(ctx context.Context, topic string, m *Message)
}

// DeliveryHook is told the outcome of each message, once.
type DeliveryHook interface {
	// OnDelivered is called once per message with its outcome: for an
	// accepted message, acknowledged (r.Err nil) or failed, on the worker
	// goroutine of its partition, before the message's own OnDelivery
	// callback (or Config.OnDelivery); for a message its produce call did
	// not accept, on the calling goroutine before the call returns, with
	// the call's error and r.Partition -1. Messages found in
	// Config.SpillDir at start were produced by an earlier process: they
	// are delivered without an OnProduce. Like OnDelivery, it must be
	// fast and must not call into the producer synchronously.
	OnDelivered(m Message, r Result)
}

// ErrHook is wrapped by the error Config.Validate returns for a Hook that
// is nil or implements neither ProduceHook nor DeliveryHook.
var ErrHook = errors.New("hook implements neither ProduceHook nor DeliveryHook")

func validateHooks(hooks []Hook) error {
	for i, h := range hooks {
		_, p := h.(ProduceHook)
		_, d := h.(DeliveryHook)
		if !p && !d {
			return fmt.Errorf("%w: Hooks[%d]: %T: %w", ErrConfig, i, h, ErrHook)
		}
	}
	return nil
}

// hookSet is Config.Hooks sorted by what they implement.
type hookSet struct {
	produce []ProduceHook
	deliver []DeliveryHook
}

// newHookSet returns nil without hooks, which is what the hot paths test.
func newHookSet(hooks []Hook) *hookSet {
	if len(hooks) == 0 {
		return nil
	}
	s := &hookSet{}
	for _, h := range hooks {
		if ph, ok := h.(ProduceHook); ok {
			s.produce = append(s.produce, ph)
		}
		if dh, ok := h.(DeliveryHook); ok {
			s.deliver = append(s.deliver, dh)
		}
	}
	return s
}

func (s *hookSet) delivered(m Message, r Result) {
	for _, h := range s.deliver {
		h.OnDelivered(m, r)
	}
}

// produce is the path every produce mode shares: accept, with the hooks
// around it when there are any.
func (p *Producer) produce(ctx context.Context, topic string, msgs []Message, flush bool, wt *waiter, info bool) ([]Buffered, error) {
	if p.hooks == nil || len(msgs) == 0 {
		return p.accept(ctx, topic, msgs, flush, wt, info)
	}
	return p.produceHooked(ctx, topic, msgs, flush, wt, info)
}

// produceHooked is produce with hooks. The caller's msgs never reach a
// hook, only their copy: so the caller's slice (a variadic call's, often
// on its stack) does not escape.
func (p *Producer) produceHooked(ctx context.Context, topic string, msgs []Message, flush bool, wt *waiter, info bool) ([]Buffered, error) {
	given := msgs
	if len(p.hooks.produce) > 0 {
		own := make([]Message, len(msgs))
		copy(own, msgs)
		for i := range own {
			m := &own[i]
			// An append makes the copy's headers its own; the caller's
			// array, which may have room, is never written.
			m.Headers = m.Headers[:len(m.Headers):len(m.Headers)]
			mctx := ctx
			if m.Context != nil {
				mctx = m.Context
			}
			for _, h := range p.hooks.produce {
				h.OnProduce(mctx, topic, m)
			}
		}
		given = own
	}
	out, err := p.accept(ctx, topic, given, flush, wt, info)
	if err != nil {
		accepted := 0
		if pe, ok := errors.AsType[*PartialError](err); ok {
			accepted = pe.Accepted
		}
		for i := accepted; i < len(given); i++ {
			p.hooks.delivered(given[i], Result{Topic: topic, Partition: -1, Offset: -1, Err: err})
		}
	}
	return out, err
}
