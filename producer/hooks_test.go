package producer

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/merlinkafka/merlin/mockbroker"
)

type ctxKey struct{}
type callKey struct{}

// recordingHook adds a header naming the message and a context value, and
// records each delivery and the context values it came with.
type recordingHook struct {
	mu        sync.Mutex
	produced  int
	delivered map[string][]Result // by the header's value
	fromCtx   map[string]string   // the context values OnDelivered saw
}

func newRecordingHook() *recordingHook {
	return &recordingHook{delivered: map[string][]Result{}, fromCtx: map[string]string{}}
}

func (h *recordingHook) OnProduce(ctx context.Context, topic string, m *Message) context.Context {
	h.mu.Lock()
	h.produced++
	h.mu.Unlock()
	name := string(m.Value)
	m.Headers = append(m.Headers, Header{Key: "hooked", Value: []byte(name)})
	return context.WithValue(ctx, ctxKey{}, "ctx:"+name)
}

func (h *recordingHook) OnDelivered(ctx context.Context, m Message, r Result) {
	var name string
	for _, hd := range m.Headers {
		if hd.Key == "hooked" {
			name = string(hd.Value)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delivered[name] = append(h.delivered[name], r)
	own, _ := ctx.Value(ctxKey{}).(string)
	call, _ := ctx.Value(callKey{}).(string)
	h.fromCtx[name] = own + call
}

func (h *recordingHook) results(name string) []Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delivered[name]
}

// A hook's header is stored with the record, the caller's message is left
// as it was, and every message the hook saw is delivered to it once: the
// acknowledged with their offsets, those a call refused with its error.
func TestHooksSeeEachMessageOnce(t *testing.T) {
	c := newMock(t, mockbroker.Topic("h", 1))
	h := newRecordingHook()
	p := newProducer(t, Config{Brokers: c.Addrs(), MaxBytes: 1000, Hooks: []Hook{h}})
	ctx := context.WithValue(testCtx(t), callKey{}, "+call")

	shared := make([]Header, 1, 4) // room to append into: the hook must not
	shared[0] = Header{Key: "app", Value: []byte("x")}
	msgs := []Message{{Value: []byte("one"), Headers: shared}, {Value: []byte("two"), Headers: shared}}
	res, err := p.ProduceSync(ctx, "h", msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs[0].Headers) != 1 || len(shared[:2][1].Key) != 0 {
		t.Fatalf("the caller's message changed: %+v", msgs[0])
	}
	big := Message{Value: make([]byte, 2000)}
	if err := p.ProduceAsync(ctx, "h", big); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("a message over MaxBytes: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	recs := c.Records("h", 0)
	if len(recs) != 2 {
		t.Fatalf("%d records stored", len(recs))
	}
	for i, name := range []string{"one", "two"} {
		hs := recs[i].Headers
		if len(hs) != 2 || hs[0].Key != "app" || hs[1].Key != "hooked" || string(hs[1].Value) != name {
			t.Errorf("record %d headers %+v", i, hs)
		}
		got := h.results(name)
		if len(got) != 1 || got[0].Err != nil || got[0].Offset != res[i].Offset || got[0].Partition != 0 {
			t.Errorf("%s delivered %+v, want once at offset %d", name, got, res[i].Offset)
		}
		if h.fromCtx[name] != "ctx:"+name+"+call" {
			t.Errorf("%s: OnDelivered saw context values %q, want the hook's and the call's", name, h.fromCtx[name])
		}
	}
	refused := h.results(string(big.Value))
	if len(refused) != 1 || !errors.Is(refused[0].Err, ErrMessageTooLarge) || refused[0].Partition != -1 {
		t.Errorf("refused message delivered %+v, want once with ErrMessageTooLarge, partition -1", refused)
	}
	if h.produced != 3 {
		t.Errorf("OnProduce called %d times, want 3", h.produced)
	}
}

// A message's hook context survives the downtime buffer, where the message
// is packed to bytes: OnDelivered still gets it.
func TestHooksContextSurvivesDowntime(t *testing.T) {
	c := newMock(t, mockbroker.Topic("h", 1))
	h := newRecordingHook()
	p := newProducer(t, fastRetry(Config{Brokers: c.Addrs(), Hooks: []Hook{h}}))
	ctx := testCtx(t)
	takeDown(t, c, p, "h")
	if err := p.ProduceAsync(ctx, "h", msg("", "saved")); err != nil {
		t.Fatal(err)
	}
	for p.Stats().Downtime.SavedMessages == 0 {
		if ctx.Err() != nil {
			t.Fatal("nothing saved to the downtime buffer")
		}
		waitABit()
	}
	if err := c.Start(1); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "saved"} {
		if got := h.results(name); len(got) != 1 || got[0].Err != nil {
			t.Errorf("%s delivered %+v", name, got)
		}
		if h.fromCtx[name] != "ctx:"+name {
			t.Errorf("%s: OnDelivered saw context values %q", name, h.fromCtx[name])
		}
	}
}

type produceOnly struct{}

func (produceOnly) OnProduce(ctx context.Context, _ string, _ *Message) context.Context { return ctx }

func TestHooksValidate(t *testing.T) {
	cfg := Config{Brokers: []string{"127.0.0.1:9092"}}
	cfg.Hooks = []Hook{produceOnly{}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a ProduceHook alone: %v", err)
	}
	for _, bad := range []Hook{nil, "not a hook"} {
		cfg.Hooks = []Hook{produceOnly{}, bad}
		err := cfg.Validate()
		if !errors.Is(err, ErrConfig) || !errors.Is(err, ErrHook) {
			t.Errorf("hook %#v: %v, want ErrConfig and ErrHook", bad, err)
		}
	}
}
