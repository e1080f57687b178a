package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/merlinkafka/merlin/internal/firstack"
	"github.com/merlinkafka/merlin/internal/saramasasl"
	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/merlinkafka/merlin/producer"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	saslUser     = "alice"
	saslPassword = "alice-secret"
)

var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// secureBroker is a merlin-broker with TLS (a certificate of ca for
// 127.0.0.1 and localhost) and, unless noSASL, SASL with every mechanism
// for alice.
type secureBroker struct {
	*brokerProc
	ca     *testcert.CA
	caFile string
	// clientCert and clientKey are PEM files of a client certificate of
	// ca, for mutual TLS.
	clientCert, clientKey string
}

// What startSecureBroker turns on.
const (
	withTLS = 1 << iota
	withSASL
	withClientCerts // mutual TLS: --tls-client-ca
)

// startSecureBroker starts it with what (withTLS, withSASL,
// withClientCerts) and extra flags.
func startSecureBroker(t *testing.T, what int, extra ...string) *secureBroker {
	t.Helper()
	dir := t.TempDir()
	ca := testcert.NewCA(t, "merlin interop CA")
	caFile, cert, key := ca.Files(t, dir, "broker", "127.0.0.1", "localhost")
	_, clientCert, clientKey := ca.Files(t, dir, "client")
	var args []string
	if what&withTLS != 0 {
		args = append(args, "--tls-cert", cert, "--tls-key", key)
	}
	if what&withClientCerts != 0 {
		args = append(args, "--tls-client-ca", caFile)
	}
	if what&withSASL != 0 {
		users := filepath.Join(dir, "users")
		if err := os.WriteFile(users, []byte(saslUser+":"+saslPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--sasl", strings.Join(saslMechanisms, ","), "--users", users)
	}
	b := startBroker(t, filepath.Join(dir, "data"), append(args, extra...)...)
	return &secureBroker{brokerProc: b, ca: ca, caFile: caFile, clientCert: clientCert, clientKey: clientKey}
}

// librdkafka is the librdkafka configuration of a SASL_SSL client.
func (b *secureBroker) librdkafka(mech, password string) map[string]string {
	return map[string]string{
		"bootstrap.servers": b.addr,
		"security.protocol": "SASL_SSL",
		"sasl.mechanisms":   mech,
		"sasl.username":     saslUser,
		"sasl.password":     password,
		"ssl.ca.location":   b.caFile,
	}
}

func kcatConfig(conf map[string]string) []string {
	var args []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range conf {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == "bootstrap.servers" {
			args = append(args, "-b", conf[k])
		} else {
			args = append(args, "-X", k+"="+conf[k])
		}
	}
	return args
}

// kcatFails runs kcat -L, which must fail, and returns its stderr.
func kcatFails(t *testing.T, ctx context.Context, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-L", "-m", "5"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("kcat -L %s was served:\n%s", strings.Join(args, " "), stdout.String())
	}
	return stderr.String()
}

// kcat over SASL_SSL with each mechanism produces lines and consumes them
// back; with a wrong password it gets the broker's authentication error
// (SASL_AUTHENTICATION_FAILED's message); without TLS and SASL it is not
// served, neither by the SASL_SSL listener nor by a SASL_PLAINTEXT one.
func TestKcatSASLSSL(t *testing.T) {
	bin := kcatPath(t)
	ctx := testContext(t, 2*time.Minute)
	b := startSecureBroker(t, withTLS|withSASL)
	var in bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&in, "line-%03d\n", i)
	}
	want := strings.Split(strings.TrimSuffix(in.String(), "\n"), "\n")
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			conf := kcatConfig(b.librdkafka(mech, saslPassword))
			topic := "kcat-" + mech
			kcat(t, ctx, bin, in.Bytes(), append(conf, "-P", "-t", topic, "-X", "acks=all")...)
			out := kcat(t, ctx, bin, nil, append(conf, "-C", "-t", topic, "-o", "beginning", "-e", "-q")...)
			if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !equalLines(t, got, want) {
				t.Fatalf("%s: consumed lines differ from those produced", topic)
			}
			stderr := kcatFails(t, ctx, bin, kcatConfig(b.librdkafka(mech, "wrong"))...)
			if !strings.Contains(stderr, "SASL authentication error: Authentication failed") {
				t.Fatalf("wrong password: kcat did not report the authentication failure:\n%s", stderr)
			}
		})
	}
	t.Run("plaintext client", func(t *testing.T) {
		kcatFails(t, ctx, bin, "-b", b.addr)
		re := "TLS handshake failed"
		if !b.waitStderr(ctx, regexp.MustCompile(re)) {
			t.Fatalf("broker did not log %q:\n%s", re, b.stderr())
		}
		saslOnly := startSecureBroker(t, withSASL)
		kcatFails(t, ctx, bin, "-b", saslOnly.addr)
		re = `closing connection: not authenticated.*request before SASL authentication`
		if !saslOnly.waitStderr(ctx, regexp.MustCompile(re)) {
			t.Fatalf("SASL_PLAINTEXT broker did not log %q:\n%s", re, saslOnly.stderr())
		}
	})
}

// confluentSASL runs testdata/confluent_sasl.py and returns its JSON
// summary.
func confluentSASL(t *testing.T, py string, conf map[string]string, topic string, n int, mode string) map[string]any {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	js, _ := json.Marshal(conf)
	cmd := exec.CommandContext(ctx, py, "testdata/confluent_sasl.py", string(js), topic, fmt.Sprint(n), mode)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("confluent_sasl.py %s: %v; stderr:\n%s", mode, err, stderr.String())
	}
	var sum map[string]any
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("confluent_sasl.py %s: summary %q: %v", mode, stdout.String(), err)
	}
	return sum
}

// confluent-kafka (librdkafka) over SASL_SSL with each mechanism produces
// and consumes; with a wrong password it gets librdkafka's
// _AUTHENTICATION error with the broker's message; a plaintext client of
// a SASL_PLAINTEXT listener is not served.
func TestConfluentKafkaPythonSASLSSL(t *testing.T) {
	py := python(t, "confluent_kafka", "python3-confluent-kafka")
	b := startSecureBroker(t, withTLS|withSASL)
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			topic := "confluent-" + mech
			if sum := confluentSASL(t, py, b.librdkafka(mech, saslPassword), topic, 500, "ok"); sum["produced"] != 500.0 || sum["consumed"] != 500.0 {
				t.Fatalf("summary %v", sum)
			}
			sum := confluentSASL(t, py, b.librdkafka(mech, "wrong"), topic, 0, "refused")
			codes, _ := json.Marshal(sum["codes"])
			errs, _ := json.Marshal(sum["errors"])
			if !strings.Contains(string(codes), "_AUTHENTICATION") || !strings.Contains(string(errs), "Authentication failed") {
				t.Fatalf("wrong password: codes %s, errors %s", codes, errs)
			}
		})
	}
	t.Run("plaintext client", func(t *testing.T) {
		saslOnly := startSecureBroker(t, withSASL)
		sum := confluentSASL(t, py, map[string]string{"bootstrap.servers": saslOnly.addr}, "x", 0, "refused")
		if errs, _ := json.Marshal(sum["errors"]); len(sum["errors"].([]any)) == 0 {
			t.Fatalf("no error reported: %s", errs)
		}
		re := `closing connection: not authenticated`
		if !saslOnly.waitStderr(testContext(t, 10*time.Second), regexp.MustCompile(re)) {
			t.Fatalf("broker did not log %q:\n%s", re, saslOnly.stderr())
		}
	})
}

func kgoSASL(mech, password string) sasl.Mechanism {
	switch mech {
	case "PLAIN":
		return plain.Auth{User: saslUser, Pass: password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: saslUser, Pass: password}.AsSha256Mechanism()
	}
	return scram.Auth{User: saslUser, Pass: password}.AsSha512Mechanism()
}

// kgoProduce produces n records of testValue to topic.
func kgoProduce(t *testing.T, ctx context.Context, addr, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	cl := kgoClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}, opts...)...)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Key: testKey(i), Value: testValue(i), Headers: kgoHeaders(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
}

// saramaConfig is sarama's configuration for b with TLS (tc) and SASL
// (mech; none when empty).
func saramaConfig(tc *tls.Config, mech, password string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	cfg.Metadata.Retry.Max = 0
	if mech != "" {
		saramasasl.Apply(cfg, mech, saslUser, password, "")
	}
	return cfg
}

// saramaRoundTrip produces n records with sarama and reads them back.
func saramaRoundTrip(t *testing.T, addr, topic string, n int, cfg *sarama.Config) {
	t.Helper()
	sp, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer sp.Close()
	for i := range n {
		if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(testValue(i))}); err != nil {
			t.Fatalf("sarama send %d: %v", i, err)
		}
	}
	cons, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	timeout := time.After(60 * time.Second)
	for i := range n {
		select {
		case m := <-pc.Messages():
			if !bytes.Equal(m.Value, testValue(i)) {
				t.Fatalf("sarama: record %d is %q", i, m.Value)
			}
		case err := <-pc.Errors():
			t.Fatalf("sarama consume: %v", err)
		case <-timeout:
			t.Fatalf("sarama consumed %d of %d", i, n)
		}
	}
}

// franz-go (SCRAM-SHA-256) and sarama (SCRAM-SHA-512) over TLS produce and
// consume; with mutual TLS, both get in with a client certificate of the
// CA and are refused without one.
func TestGoClientsTLSSCRAM(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := startSecureBroker(t, withTLS|withSASL)
	tc := b.ca.ClientConfig()
	kgoOpts := []kgo.Opt{kgo.DialTLSConfig(tc), kgo.SASL(kgoSASL("SCRAM-SHA-256", saslPassword))}
	kgoProduce(t, ctx, b.addr, "kgo-scram", 500, kgoOpts...)
	checkRecords(t, consumeKgo(t, ctx, b.addr, "kgo-scram", 500, kgoOpts...), 500)
	saramaRoundTrip(t, b.addr, "sarama-scram", 200, saramaConfig(tc, sarama.SASLTypeSCRAMSHA512, saslPassword))

	t.Run("mutual TLS", func(t *testing.T) {
		m := startSecureBroker(t, withTLS|withSASL|withClientCerts)
		cert, err := tls.LoadX509KeyPair(m.clientCert, m.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		withCert := m.ca.ClientConfig()
		withCert.Certificates = []tls.Certificate{cert}
		opts := []kgo.Opt{kgo.DialTLSConfig(withCert), kgo.SASL(kgoSASL("SCRAM-SHA-512", saslPassword))}
		kgoProduce(t, ctx, m.addr, "mtls", 50, opts...)
		checkRecords(t, consumeKgo(t, ctx, m.addr, "mtls", 50, opts...), 50)
		saramaRoundTrip(t, m.addr, "mtls-sarama", 20, saramaConfig(withCert, sarama.SASLTypeSCRAMSHA512, saslPassword))

		noCert := m.ca.ClientConfig()
		cl := kgoClient(t, m.addr, kgo.DialTLSConfig(noCert), kgo.SASL(kgoSASL("SCRAM-SHA-512", saslPassword)), kgo.RequestRetries(0))
		pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := cl.Ping(pingCtx); err == nil {
			t.Fatal("kgo without a client certificate was served")
		}
		if c, err := sarama.NewClient([]string{m.addr}, saramaConfig(noCert, sarama.SASLTypeSCRAMSHA512, saslPassword)); err == nil {
			c.Close()
			t.Fatal("sarama without a client certificate was served")
		}
		re := `TLS handshake failed.*certificate`
		if !m.waitStderr(pingCtx, regexp.MustCompile(re)) {
			t.Fatalf("broker did not log %q:\n%s", re, m.stderr())
		}
	})
}

// merlin's producer over TLS with SCRAM-SHA-512 and PLAIN: messages
// acknowledged and read back; a wrong password is ErrAuthentication at
// once, not after the delivery timeout (a minute). Reports the time from
// New to the first acknowledgement, TLS+SCRAM-SHA-512 against plaintext.
func TestProducerTLSSASL(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	b := startSecureBroker(t, withTLS|withSASL)
	quiet := slog.New(slog.DiscardHandler)
	newProducer := func(cfg producer.Config) *producer.Producer {
		cfg.Logger = quiet
		p, err := producer.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close(context.Background()) })
		return p
	}
	secure := func(mech producer.SASLMechanism, password string) producer.Config {
		return producer.Config{Brokers: []string{b.addr}, TLS: b.ca.ClientConfig(), DeliveryTimeout: time.Minute,
			SASL: &producer.SASL{Mechanism: mech, User: saslUser, Password: producer.Secret(password)}}
	}
	want := 0
	for _, mech := range []producer.SASLMechanism{producer.SASLScramSHA512, producer.SASLPlain} {
		t.Run(string(mech), func(t *testing.T) {
			p := newProducer(secure(mech, saslPassword))
			for i := range 50 {
				if _, err := p.ProduceSync(ctx, "producer-secure", producer.Message{Key: testKey(want + i), Value: testValue(want + i)}); err != nil {
					t.Fatalf("ProduceSync: %v", err)
				}
			}
			want += 50
			kgoOpts := []kgo.Opt{kgo.DialTLSConfig(b.ca.ClientConfig()), kgo.SASL(kgoSASL("SCRAM-SHA-512", saslPassword))}
			for i, r := range consumeKgo(t, ctx, b.addr, "producer-secure", want, kgoOpts...) {
				if !bytes.Equal(r.value, testValue(i)) {
					t.Fatalf("record %d: %q, want %q", i, r.value, testValue(i))
				}
			}

			bad := newProducer(secure(mech, "wrong"))
			callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if _, err := bad.ProduceSync(callCtx, "producer-secure", producer.Message{Value: []byte("refused")}); !errors.Is(err, producer.ErrAuthentication) {
				t.Fatalf("ProduceSync with a wrong password: %v, want ErrAuthentication", err)
			}
		})
	}

	// What the handshakes cost: New to the first acknowledgement against
	// this broker and a plaintext one.
	plainBroker := startBroker(t, t.TempDir())
	sec := secure(producer.SASLScramSHA512, saslPassword)
	sec.Logger = quiet
	med, err := firstack.Medians(ctx, "first", 5, producer.Config{Brokers: []string{plainBroker.addr}, Logger: quiet}, sec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New to first acknowledgement, median of 5: plaintext %v, TLS+SCRAM-SHA-512 %v",
		med[0].Round(10*time.Microsecond), med[1].Round(10*time.Microsecond))
}
