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
// Hooks cost nothing when Config.Hooks is empty. With hooks, each produce
// call allocates a slice of its messages' contexts and, with a
// ProduceHook, a copy of its messages (the hooks change the copy, never the
// caller's messages).
type Hook any

// ProduceHook is called for each message of a produce call, on the
// calling goroutine, before the producer takes it.
type ProduceHook interface {
	// OnProduce may change m, which is the producer's own copy of the
	// message: append headers (a trace context), say. The copy shares the
	// caller's slices: to change a header, replace m.Headers with a new
	// slice rather than write into it (an append is safe: the copy's
	// Headers have no spare capacity). It must not keep m.
	//
	// ctx is the produce call's context, or what the previous hook
	// returned. OnProduce returns the context the message's OnDelivered
	// calls get (ctx itself, or a child carrying the hook's state, such as
	// a span); the producer keeps it until then.
	//
	// A message OnProduce saw ends in exactly one OnDelivered call of
	// every DeliveryHook, whether or not the call accepted it.
	OnProduce(ctx context.Context, topic string, m *Message) context.Context
}

// DeliveryHook is told the outcome of each message, once.
type DeliveryHook interface {
	// OnDelivered is called once per message with its outcome: for an
	// accepted message, acknowledged (r.Err nil) or failed, on the worker
	// goroutine of its partition, before the message's own OnDelivery
	// callback (or Config.OnDelivery); for a message its produce call did
	// not accept, on the calling goroutine before the call returns, with
	// the call's error and r.Partition -1. ctx is what the last
	// ProduceHook returned for the message, or the produce call's context
	// without ProduceHooks. Messages found in Config.SpillDir at start
	// were produced by an earlier process: they are delivered with
	// context.Background() and no OnProduce. Like OnDelivery, it must be
	// fast and must not call into the producer synchronously.
	OnDelivered(ctx context.Context, m Message, r Result)
}

// ErrHook is wrapped by the error Config.Validate returns for a Hook that
// is nil or implements neither ProduceHook nor DeliveryHook.
var ErrHook = errors.New("hook implements neither ProduceHook nor DeliveryHook")

func validateHooks(hooks []Hook) error {
	for i, h := range hooks {
		_, p := h.(ProduceHook)
		_, d := h.(DeliveryHook)
		if !p && !d {
			return configWrap(fmt.Sprintf("Hooks[%d]", i), fmt.Errorf("%T: %w", h, ErrHook))
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

func (s *hookSet) delivered(ctx context.Context, m Message, r Result) {
	for _, h := range s.deliver {
		h.OnDelivered(ctx, m, r)
	}
}

// hookCtx is the context the hooks gave r's message.
func (r *rec) hookCtx() context.Context {
	if r.w != nil && r.w.ctxs != nil {
		return r.w.ctxs[r.idx]
	}
	return context.Background()
}

// produce is the path every produce mode shares: accept, with the hooks
// around it when there are any.
func (p *Producer) produce(ctx context.Context, topic string, msgs []Message, m mode, wt *waiter) ([]Buffered, error) {
	if p.hooks == nil || len(msgs) == 0 {
		return p.accept(ctx, topic, msgs, m, wt)
	}
	return p.produceHooked(ctx, topic, msgs, m, wt)
}

// produceHooked is produce with hooks. The caller's msgs never reach a
// hook, only their copy: so the caller's slice (a variadic call's, often
// on its stack) does not escape. The hooks' contexts go in the call's
// waiter, which every message of the call points to (one for the call, not
// a field in every message).
func (p *Producer) produceHooked(ctx context.Context, topic string, msgs []Message, md mode, wt *waiter) ([]Buffered, error) {
	if wt == nil {
		wt = &waiter{}
	}
	wt.ctxs = make([]context.Context, len(msgs))
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
			for _, h := range p.hooks.produce {
				if next := h.OnProduce(mctx, topic, m); next != nil {
					mctx = next
				}
			}
			wt.ctxs[i] = mctx
		}
		given = own
	} else {
		for i := range wt.ctxs {
			wt.ctxs[i] = ctx
		}
	}
	out, err := p.accept(ctx, topic, given, md, wt)
	if err != nil {
		accepted := 0
		if pe, ok := errors.AsType[*PartialError](err); ok {
			accepted = pe.Accepted
		}
		for i := accepted; i < len(given); i++ {
			p.hooks.delivered(wt.ctxs[i], given[i], Result{Topic: topic, Partition: -1, Offset: -1, Err: err})
		}
	}
	return out, err
}
