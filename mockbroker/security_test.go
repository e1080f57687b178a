package mockbroker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/merlinkafka/merlin/mockbroker"
	"github.com/merlinkafka/merlin/producer"
)

// merlin's producer against a mock cluster of two brokers with TLS and
// SASL: with each mechanism its messages are stored; with a wrong
// password it fails with ErrAuthentication well before its delivery
// timeout.
func TestTLSAndSASLWithProducer(t *testing.T) {
	ca := testcert.NewCA(t, "mockbroker-test")
	c := newCluster(t, mockbroker.Brokers(2), mockbroker.Topic("secure", 2),
		mockbroker.TLS(ca.ServerConfig(t)),
		mockbroker.SASL([]string{mockbroker.SASLPlain, mockbroker.SASLScramSHA256, mockbroker.SASLScramSHA512},
			map[string]string{"alice": "alice-secret"}))
	ctx := testContext(t)
	newProducer := func(mech producer.SASLMechanism, password string) *producer.Producer {
		p, err := producer.New(producer.Config{
			Brokers:         c.Addrs(),
			TLS:             ca.ClientConfig(),
			SASL:            &producer.SASL{Mechanism: mech, User: "alice", Password: producer.Secret(password)},
			DeliveryTimeout: time.Minute,
			Logger:          slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close(context.Background()) })
		return p
	}
	want := 0
	for _, mech := range []producer.SASLMechanism{producer.SASLPlain, producer.SASLScramSHA256, producer.SASLScramSHA512} {
		p := newProducer(mech, "alice-secret")
		for i := range 10 {
			if _, err := p.ProduceSync(ctx, "secure", producer.Message{Key: fmt.Appendf(nil, "%d", i), Value: []byte(mech)}); err != nil {
				t.Fatalf("%s: ProduceSync: %v", mech, err)
			}
		}
		want += 10
		if got := c.RecordCount("secure"); got != want {
			t.Fatalf("%s: %d records stored, want %d", mech, got, want)
		}
	}
	bad := newProducer(producer.SASLScramSHA512, "wrong")
	callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := bad.ProduceSync(callCtx, "secure", producer.Message{Value: []byte("refused")}); !errors.Is(err, producer.ErrAuthentication) {
		t.Fatalf("ProduceSync with a wrong password: %v, want ErrAuthentication", err)
	}
	if got := c.RecordCount("secure"); got != want {
		t.Fatalf("%d records stored after the refused produce, want %d", got, want)
	}
}
