package kafka

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/firstack"
	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/merlinkafka/merlin/producer"
)

// secureCluster is one node whose CLIENT listener is SASL_SSL with PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (Kafka's unsecured-JWT
// validator, meant for development), user alice with password
// alice-secret for PLAIN and both SCRAMs (SCRAM credentials added at
// format time by Kafka's storage tool), and sessions re-authenticated
// every 3 s (KIP-368). The certificate is issued by a CA made for the test.
func secureCluster(t *testing.T) (*kafkatest.Cluster, *tls.Config) {
	t.Helper()
	kafkatest.Need(t)
	ca := testcert.NewCA(t, "merlin test CA")
	dir := t.TempDir()
	_, certFile, keyFile := ca.Files(t, dir, "broker", "127.0.0.1", "localhost")
	// Kafka's PEM key store: the key (PKCS#8) then its certificate chain.
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "keystore.pem")
	if err := os.WriteFile(store, append(key, cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	const l = "listener.name.client."
	c := kafkatest.New(t, kafkatest.Options{
		ClientProtocol: "SASL_SSL",
		Props: map[string]string{
			l + "ssl.keystore.type":                       "PEM",
			l + "ssl.keystore.location":                   store,
			l + "sasl.enabled.mechanisms":                 "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
			l + "plain.sasl.jaas.config":                  `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";`,
			l + "scram-sha-256.sasl.jaas.config":          "org.apache.kafka.common.security.scram.ScramLoginModule required;",
			l + "scram-sha-512.sasl.jaas.config":          "org.apache.kafka.common.security.scram.ScramLoginModule required;",
			l + "oauthbearer.sasl.jaas.config":            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
			l + "oauthbearer.connections.max.reauth.ms":   "3000",
			l + "scram-sha-512.connections.max.reauth.ms": "3000",
		},
		FormatArgs: []string{
			"--add-scram", "SCRAM-SHA-512=[name=alice,password=alice-secret]",
			"--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]",
		},
	})
	return c, ca.ClientConfig()
}

// TestSASLSSLAgainstKafka: merlin's producer over TLS with PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 against Apache Kafka: Ping, then
// messages acknowledged and read back; a wrong password is
// ErrAuthentication, at once rather than after the delivery timeout; a
// client without TLS is not served. Reports the time from New to the
// first acknowledgement with TLS+SCRAM-SHA-512 against plaintext.
func TestSASLSSLAgainstKafka(t *testing.T) {
	c, tlsCfg := secureCluster(t)
	ctx := testContext(t, 3*time.Minute)
	createTopic(t, ctx, c, "secure", 1, 1, nil)
	mechs := []producer.SASLMechanism{producer.SASLPlain, producer.SASLScramSHA256, producer.SASLScramSHA512}
	want := 0
	for _, mech := range mechs {
		t.Run(string(mech), func(t *testing.T) {
			p := newProducer(t, c, producer.Config{TLS: tlsCfg.Clone(), SASL: &producer.SASL{Mechanism: mech, User: "alice", Password: "alice-secret"}})
			if err := p.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			for i := range 50 {
				if _, err := p.ProduceSync(ctx, "secure", producer.Message{Value: fmt.Appendf(nil, "%s-%d", mech, i)}); err != nil {
					t.Fatalf("ProduceSync: %v", err)
				}
			}
			want += 50
			if got := len(consumeKgo(t, ctx, c, "secure")); got != want {
				t.Fatalf("%d records stored, want %d", got, want)
			}

			bad := newProducer(t, c, producer.Config{TLS: tlsCfg.Clone(), DeliveryTimeout: time.Minute,
				SASL: &producer.SASL{Mechanism: mech, User: "alice", Password: "wrong"}})
			callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := bad.Ping(callCtx); !errors.Is(err, producer.ErrAuthentication) {
				t.Fatalf("Ping with a wrong password: %v, want ErrAuthentication", err)
			}
			_, err := bad.ProduceSync(callCtx, "secure", producer.Message{Value: []byte("refused")})
			if !errors.Is(err, producer.ErrAuthentication) {
				t.Fatalf("ProduceSync with a wrong password: %v, want ErrAuthentication", err)
			}
		})
	}
	t.Run("no TLS", func(t *testing.T) {
		p := newProducer(t, c, producer.Config{SASL: &producer.SASL{Mechanism: producer.SASLScramSHA512, User: "alice", Password: "alice-secret"}})
		callCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := p.Ping(callCtx); err == nil {
			t.Fatal("Ping without TLS to a SASL_SSL listener succeeded")
		}
	})
	// What the handshake costs: New to the first acknowledgement, on the
	// TLS+SCRAM listener and on the plaintext one of the same broker.
	med, err := firstack.Medians(ctx, "secure", 5,
		producer.Config{Brokers: c.InternalBrokers(), Logger: quiet()},
		producer.Config{Brokers: c.Brokers(), Logger: quiet(), TLS: tlsCfg.Clone(),
			SASL: &producer.SASL{Mechanism: producer.SASLScramSHA512, User: "alice", Password: "alice-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New to first acknowledgement, median of 5: plaintext %v, TLS+SCRAM-SHA-512 %v", med[0].Round(10*time.Microsecond), med[1].Round(10*time.Microsecond))
}

// unsecuredJWT is a token for Kafka's unsecured OAUTHBEARER validator: an
// unsigned JWT with a subject and an expiry.
func unsecuredJWT(sub string, iat, exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none"}) + "." + enc(map[string]any{"sub": sub, "iat": iat.Unix(), "exp": exp.Unix()}) + "."
}

// TestOAuthBearerAgainstKafka: OAUTHBEARER against Kafka's unsecured-JWT
// mechanism with tokens that live 4 s, while messages flow for 10 s; the
// broker re-authenticates the connection every 3 s, so tokens expire
// during the test and are refreshed: every message is acknowledged, and
// the provider was asked for more than one token.
func TestOAuthBearerAgainstKafka(t *testing.T) {
	c, tlsCfg := secureCluster(t)
	ctx := testContext(t, 2*time.Minute)
	createTopic(t, ctx, c, "oauth", 1, 1, nil)
	var tokens atomic.Int32
	provider := func(ctx context.Context) (producer.Token, error) {
		tokens.Add(1)
		now := time.Now()
		// JWT times are whole seconds: the expiry the provider reports is
		// the one the broker reads.
		exp := time.Unix(now.Add(4*time.Second).Unix(), 0)
		return producer.Token{Value: producer.Secret(unsecuredJWT("alice", now, exp)), Expiry: exp}, nil
	}
	p := newProducer(t, c, producer.Config{TLS: tlsCfg, SASL: &producer.SASL{Mechanism: producer.SASLOAuthBearer, TokenProvider: provider}})
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	l := newLedger()
	stop := load(ctx, p, l, "oauth", 5, 500)
	time.Sleep(10 * time.Second)
	stop()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l.check(t, consumeKgo(t, ctx, c, "oauth"), false)
	sent, _, _ := l.counts()
	if n := tokens.Load(); n < 2 {
		t.Fatalf("%d tokens asked for over 10 s of 4-second tokens", n)
	}
	t.Logf("%d messages over 10 s, %d tokens", sent, tokens.Load())
}
