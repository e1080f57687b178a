package producer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/syncbuf"
	"github.com/merlinkafka/merlin/internal/testcert"
)

const (
	testUser     = "alice"
	testPassword = "pa55-w0rd-that-must-not-leak"
)

// secureKfake starts a one-broker kfake with topic "t" and opts (TLS,
// SASL users).
func secureKfake(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "t")}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// shortCtx is shorter than the delivery timeout and than the retries a
// broker that is down would get: an error within it is the refusal itself.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func produceOne(ctx context.Context, p *Producer) error {
	_, err := p.ProduceSync(ctx, "t", Message{Key: []byte("k"), Value: []byte("v")})
	return err
}

func TestProduceTLSAndSASL(t *testing.T) {
	ca := testcert.NewCA(t, "test CA")
	for _, tc := range []struct {
		name string
		mech SASLMechanism // "": no SASL
		tls  bool
	}{
		{"tls", "", true},
		{"plain", SASLPlain, false},
		{"scram-sha-256", SASLScramSHA256, false},
		{"scram-sha-512", SASLScramSHA512, false},
		{"tls+scram-sha-512", SASLScramSHA512, true},
		{"tls+plain", SASLPlain, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []kfake.Opt
			cfg := Config{DeliveryTimeout: time.Minute}
			if tc.tls {
				opts = append(opts, kfake.TLS(ca.ServerConfig(t)))
				cfg.TLS = ca.ClientConfig()
			}
			if tc.mech != "" {
				opts = append(opts, kfake.EnableSASL(), kfake.Superuser(string(tc.mech), testUser, testPassword))
				cfg.SASL = &SASL{Mechanism: tc.mech, User: testUser, Password: testPassword}
			}
			c := secureKfake(t, opts...)
			cfg.Brokers = c.ListenAddrs()
			var logs syncbuf.Buffer
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			p := newProducer(t, cfg)
			warned := strings.Contains(logs.String(), "clear text")
			if want := tc.mech == SASLPlain && !tc.tls; warned != want {
				t.Fatalf("warned of a clear-text password: %t, want %t (logs %q)", warned, want, logs.String())
			}
			ctx := shortCtx(t)
			if err := p.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			res, err := p.ProduceSync(ctx, "t", Message{Key: []byte("k"), Value: []byte("v1")}, Message{Key: []byte("k"), Value: []byte("v2")})
			if err != nil {
				t.Fatalf("ProduceSync: %v", err)
			}
			if res[0].Offset < 0 || res[1].Offset != res[0].Offset+1 {
				t.Fatalf("offsets %d, %d: want consecutive acknowledged offsets", res[0].Offset, res[1].Offset)
			}
		})
	}
}

// assertAuthErr checks err is a refused authentication by addr, not the
// network, and does not show the password.
func assertAuthErr(t *testing.T, err error, addr string) {
	t.Helper()
	if !errors.Is(err, ErrAuthentication) {
		t.Fatalf("err = %v, want ErrAuthentication", err)
	}
	for _, not := range []error{ErrNoBrokers, ErrBrokerUnavailable, ErrDeliveryTimeout, context.DeadlineExceeded} {
		if errors.Is(err, not) {
			t.Fatalf("err = %v is also %v: an authentication failure must not look like a broker that is down", err, not)
		}
	}
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Broker != addr {
		t.Fatalf("err = %v: want an AuthError naming broker %s", err, addr)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestSASLWrongPassword(t *testing.T) {
	for _, mech := range []SASLMechanism{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(string(mech), func(t *testing.T) {
			c := secureKfake(t, kfake.EnableSASL(), kfake.Superuser(string(mech), testUser, "the-right-one"))
			addr := c.ListenAddrs()[0]
			var events eventLog
			p := newProducer(t, Config{Brokers: []string{addr}, Handlers: []callbacks.Handler{events.handler()},
				SASL: &SASL{Mechanism: mech, User: testUser, Password: testPassword}})
			ctx := shortCtx(t)
			assertAuthErr(t, p.Ping(ctx), addr)
			assertAuthErr(t, produceOne(ctx, p), addr)
			if err := p.ProduceAsync(ctx, "t", Message{Value: []byte("v")}); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("ProduceAsync: %v, want ErrAuthentication", err)
			}
			events.assertNoSecret(t, testPassword)
		})
	}
}

func TestSASLUnknownUser(t *testing.T) {
	c := secureKfake(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "bob", "x"))
	addr := c.ListenAddrs()[0]
	p := newProducer(t, Config{Brokers: []string{addr},
		SASL: &SASL{Mechanism: SASLScramSHA256, User: testUser, Password: testPassword}})
	assertAuthErr(t, p.Ping(shortCtx(t)), addr)
}

// A mechanism the broker does not enable is refused in the handshake,
// with Kafka's UNSUPPORTED_SASL_MECHANISM (kfake has no OAUTHBEARER).
func TestSASLMechanismNotEnabled(t *testing.T) {
	c := secureKfake(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", testUser, testPassword))
	addr := c.ListenAddrs()[0]
	provided := atomic.Int32{}
	p := newProducer(t, Config{Brokers: []string{addr}, SASL: &SASL{Mechanism: SASLOAuthBearer,
		TokenProvider: func(context.Context) (Token, error) { provided.Add(1); return Token{Value: "tok"}, nil }}})
	err := p.Ping(shortCtx(t))
	assertAuthErr(t, err, addr)
	if !errors.Is(err, sarama.ErrUnsupportedSASLMechanism) {
		t.Fatalf("err = %v, want it to wrap sarama.ErrUnsupportedSASLMechanism", err)
	}
}

func TestNewEagerTopicsRefused(t *testing.T) {
	c := secureKfake(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", testUser, "other"))
	addr := c.ListenAddrs()[0]
	p, err := New(Config{Brokers: []string{addr}, EagerTopics: []string{"t"}, Logger: quietLogger(),
		SASL: &SASL{Mechanism: SASLScramSHA512, User: testUser, Password: testPassword}})
	if p != nil {
		t.Fatal("New returned a producer with an error-producing configuration")
	}
	assertAuthErr(t, err, addr)

	ca := testcert.NewCA(t, "broker CA")
	tc := secureKfake(t, kfake.TLS(ca.ServerConfig(t)))
	_, err = New(Config{Brokers: tc.ListenAddrs(), EagerTopics: []string{"t"}, Logger: quietLogger(),
		TLS: testcert.NewCA(t, "another CA").ClientConfig()})
	if !errors.Is(err, ErrTLS) {
		t.Fatalf("New with an untrusted broker certificate: %v, want ErrTLS", err)
	}
}

// assertTLSErr checks err is a TLSError naming addr whose cause errors.As
// finds in target.
func assertTLSErr(t *testing.T, err error, addr string, target any) {
	t.Helper()
	var te *TLSError
	if !errors.Is(err, ErrTLS) || !errors.As(err, &te) || te.Broker != addr {
		t.Fatalf("err = %v, want a TLSError naming broker %s", err, addr)
	}
	if errors.Is(err, ErrNoBrokers) || errors.Is(err, ErrBrokerUnavailable) {
		t.Fatalf("err = %v: a TLS failure must not look like a broker that is down", err)
	}
	if !errors.As(err, target) {
		t.Fatalf("err = %v, want errors.As to find a %T", err, target)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %q does not name the broker", err)
	}
}

func TestTLSUnknownAuthority(t *testing.T) {
	ca := testcert.NewCA(t, "broker CA")
	c := secureKfake(t, kfake.TLS(ca.ServerConfig(t)))
	addr := c.ListenAddrs()[0]
	p := newProducer(t, Config{Brokers: []string{addr}, TLS: testcert.NewCA(t, "not the broker's CA").ClientConfig()})
	ctx := shortCtx(t)
	var ua x509.UnknownAuthorityError
	assertTLSErr(t, p.Ping(ctx), addr, &ua)
	err := produceOne(ctx, p)
	assertTLSErr(t, err, addr, &ua)
	if !strings.Contains(err.Error(), "RootCAs") {
		t.Fatalf("err = %q does not say what to set", err)
	}
}

func TestTLSNameMismatch(t *testing.T) {
	ca := testcert.NewCA(t, "broker CA")
	c := secureKfake(t, kfake.TLS(ca.ServerConfig(t, "kafka.example")))
	addr := c.ListenAddrs()[0]
	p := newProducer(t, Config{Brokers: []string{addr}, TLS: ca.ClientConfig()})
	var hn x509.HostnameError
	assertTLSErr(t, p.Ping(shortCtx(t)), addr, &hn)

	// With the name the certificate is for, the same broker is fine.
	tc := ca.ClientConfig()
	tc.ServerName = "kafka.example"
	p = newProducer(t, Config{Brokers: []string{addr}, TLS: tc})
	if err := p.Ping(shortCtx(t)); err != nil {
		t.Fatalf("Ping with ServerName: %v", err)
	}
}

// The circuit breaker opens on failures, but a refused authentication on
// a leader's connection still reaches callers as ErrAuthentication, at
// once, and is not redialled on every call.
func TestAuthRefusedOnLeaderConnection(t *testing.T) {
	srv := newFakeOAuth()
	c := secureKfake(t)
	srv.install(c)
	srv.refuseAfter.Store(1) // the metadata connection is let in, no other
	addr := c.ListenAddrs()[0]
	p := newProducer(t, Config{Brokers: []string{addr}, BreakerFailures: 1, DeliveryTimeout: time.Minute,
		SASL: &SASL{Mechanism: SASLOAuthBearer, TokenProvider: func(context.Context) (Token, error) {
			return Token{Value: "good", Expiry: time.Now().Add(time.Hour)}, nil
		}}})
	ctx := shortCtx(t)
	for i := range 3 {
		err := produceOne(ctx, p)
		assertAuthErr(t, err, addr)
		if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
			t.Fatalf("call %d: err = %v, want it to wrap sarama.ErrSASLAuthenticationFailed", i, err)
		}
	}
	if n := srv.auths.Load(); n != 2 {
		t.Fatalf("%d authentications, want 2 (metadata, then one refused leader dial held off for the breaker timeout)", n)
	}
}

// Credentials revoked while producing: the next produce fails with
// ErrAuthentication, and the cluster is not then polled in the background
// as a broker that is down would be (the next attempt is a caller's, or
// the periodic refresh's).
func TestAuthRevokedWhileProducing(t *testing.T) {
	srv := newFakeOAuth()
	c := secureKfake(t)
	srv.install(c)
	addr := c.ListenAddrs()[0]
	var mu sync.Mutex
	var conns []net.Conn
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
		return conn, err
	}
	p := newProducer(t, Config{Brokers: []string{addr}, Dialer: dialer, RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond,
		SASL: &SASL{Mechanism: SASLOAuthBearer, TokenProvider: func(context.Context) (Token, error) { return Token{Value: "good"}, nil }}})
	ctx := shortCtx(t)
	if err := produceOne(ctx, p); err != nil {
		t.Fatal(err)
	}
	srv.refuseAfter.Store(srv.auths.Load()) // revoked
	mu.Lock()
	for _, conn := range conns {
		conn.Close() // every connection must authenticate anew
	}
	mu.Unlock()
	assertAuthErr(t, produceOne(ctx, p), addr)
	n := srv.auths.Load()
	time.Sleep(500 * time.Millisecond) // ten retries' worth at RetryBackoffMax
	if m := srv.auths.Load(); m > n+1 {
		t.Fatalf("%d authentications in the background after the refusal", m-n)
	}
}

func TestPingDoesNotCreateTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := newProducer(t, Config{Brokers: c.ListenAddrs()})
	ctx := shortCtx(t)
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := topicCount(t, ctx, c); n != 0 {
		t.Fatalf("%d topics after Ping, want none", n)
	}
	// The cluster does create topics on request: the check above can fail.
	if _, err := p.Metadata(ctx, "made-by-metadata"); err != nil {
		t.Fatal(err)
	}
	if n := topicCount(t, ctx, c); n != 1 {
		t.Fatalf("%d topics after Metadata of a new one, want 1", n)
	}
}

func topicCount(t *testing.T, ctx context.Context, c *kfake.Cluster) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest() // no topics: all of them
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Topics)
}

func TestPingNoBrokers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newProducer(t, Config{Brokers: []string{addr}})
	err = p.Ping(shortCtx(t))
	if !errors.Is(err, ErrNoBrokers) || errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTLS) {
		t.Fatalf("Ping of a closed port: %v, want ErrNoBrokers only", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %q does not name the broker", err)
	}
}

func TestDialerUsed(t *testing.T) {
	ca := testcert.NewCA(t, "CA")
	c := secureKfake(t, kfake.TLS(ca.ServerConfig(t)), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", testUser, testPassword))
	var mu sync.Mutex
	var dialed []string
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("dial without a deadline")
		}
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), Dialer: dialer, TLS: ca.ClientConfig(),
		SASL: &SASL{Mechanism: SASLScramSHA256, User: testUser, Password: testPassword}})
	if err := produceOne(shortCtx(t), p); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(dialed)
	mu.Unlock()
	if n < 2 { // the metadata connection and the leader's
		t.Fatalf("the dialer was used %d times (%v), want every connection through it", n, dialed)
	}

	errDial := errors.New("proxy says no")
	p = newProducer(t, Config{Brokers: c.ListenAddrs(), TLS: ca.ClientConfig(),
		Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, errDial }})
	if err := p.Ping(shortCtx(t)); !errors.Is(err, ErrNoBrokers) || !errors.Is(err, errDial) {
		t.Fatalf("Ping through a failing dialer: %v, want ErrNoBrokers wrapping the dialer's error", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	ca := testcert.NewCA(t, "CA")
	tc := ca.ClientConfig()
	tc.Certificates = append(tc.Certificates, ca.Issue(t, "client"))
	tok := Token{Value: "tok-that-must-not-leak", Expiry: time.Now().Add(time.Hour)}
	sasl := SASL{Mechanism: SASLScramSHA512, User: testUser, Password: testPassword}
	cfg := Config{Brokers: []string{"b:9092"}, TLS: tc, SASL: &sasl}
	secrets := []string{testPassword, string(tok.Value)}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		for _, v := range []any{cfg, &cfg, sasl, &sasl, sasl.Password, tok, &tok, tok.Value, []Secret{sasl.Password},
			map[string]Secret{"p": sasl.Password}, struct{ S *SASL }{&sasl}} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
	}
	outputs = append(outputs, fmt.Sprint(cfg, sasl, tok), fmt.Sprintln(&cfg, &sasl, &tok))
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("config", "cfg", cfg, "ptr", &cfg, "sasl", sasl, "sasl_ptr", &sasl, "password", sasl.Password, "token", tok)
		log.Info("any", slog.Any("sasl", sasl), slog.Any("token", tok), slog.Any("secret", sasl.Password))
		outputs = append(outputs, buf.String())
	}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
				t.Fatalf("a secret shows in %q", out)
			}
		}
	}
	// What is shown is still useful.
	if s := fmt.Sprintf("%+v", sasl); !strings.Contains(s, testUser) || !strings.Contains(s, "SCRAM-SHA-512") || !strings.Contains(s, redacted) {
		t.Fatalf("%%+v of SASL = %q: want its mechanism, user and a redacted password", s)
	}
	if s := fmt.Sprintf("%v", Secret("")); s != "" {
		t.Fatalf("an empty secret prints as %q, want nothing", s)
	}
	// The key of the client certificate is not there either.
	if strings.Contains(fmt.Sprintf("%+v", cfg), fmt.Sprint(tc.Certificates[0].PrivateKey)) {
		t.Fatal("Config printed with plus-v shows the client certificate key")
	}
}

func TestValidateSecurity(t *testing.T) {
	ca := testcert.NewCA(t, "CA")
	noKey := ca.Issue(t, "client")
	noKey.PrivateKey = nil
	provider := func(context.Context) (Token, error) { return Token{}, nil }
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"unknown mechanism", Config{SASL: &SASL{Mechanism: "GSSAPI", User: "u", Password: "p"}}, "SASL.Mechanism"},
		{"empty mechanism", Config{SASL: &SASL{User: "u", Password: "p"}}, "SASL.Mechanism"},
		{"plain without user", Config{SASL: &SASL{Mechanism: SASLPlain, Password: "p"}}, "SASL.User"},
		{"scram without password", Config{SASL: &SASL{Mechanism: SASLScramSHA256, User: "u"}}, "SASL.Password"},
		{"scram with a token provider", Config{SASL: &SASL{Mechanism: SASLScramSHA512, User: "u", Password: "p", TokenProvider: provider}}, "SASL.TokenProvider"},
		{"oauthbearer without provider", Config{SASL: &SASL{Mechanism: SASLOAuthBearer}}, "SASL.TokenProvider"},
		{"oauthbearer with a password", Config{SASL: &SASL{Mechanism: SASLOAuthBearer, TokenProvider: provider, Password: "p"}}, "SASL.User"},
		{"client certificate without key", Config{TLS: func() *tls.Config { c := ca.ClientConfig(); c.Certificates = append(c.Certificates, noKey); return c }()}, "TLS.Certificates[0]"},
		{"max version below min", Config{TLS: func() *tls.Config { c := ca.ClientConfig(); c.MaxVersion = 0x0301; return c }()}, "TLS.MaxVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Brokers = []string{"b:9092"}
			err := tc.cfg.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tc.field)
			}
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
	ok := Config{Brokers: []string{"b:9092"}, TLS: ca.ClientConfig(), SASL: &SASL{Mechanism: SASLOAuthBearer, TokenProvider: provider}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid TLS+OAUTHBEARER config: %v", err)
	}
	if m, err := ParseSASLMechanism("scram-sha-256"); err != nil || m != SASLScramSHA256 {
		t.Fatalf("ParseSASLMechanism = %q, %v", m, err)
	}
	if _, err := ParseSASLMechanism("KERBEROS"); err == nil {
		t.Fatal("ParseSASLMechanism took an unknown mechanism")
	}
}

// eventLog collects events to check they carry no secret.
type eventLog struct {
	mu     sync.Mutex
	events []callbacks.Event
}

func (l *eventLog) handler() callbacks.Handler {
	return callbacks.HandlerFunc(func(e callbacks.Event) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, e)
	})
}

func (l *eventLog) assertNoSecret(t *testing.T, secret string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if strings.Contains(fmt.Sprintf("%+v", e), secret) || e.Err != nil && strings.Contains(e.Err.Error(), secret) {
			t.Fatalf("event %+v shows a secret", e)
		}
	}
}

// fakeOAuth plays a broker's OAUTHBEARER side on a kfake cluster (which
// has no OAUTHBEARER of its own) by answering the SASL requests itself:
// tokens in good are accepted, with a session lifetime when lifetime is
// set (KIP-368); from refuseAfter authentications on (when set), all are
// refused.
type fakeOAuth struct {
	mu          sync.Mutex
	good        map[string]bool
	seen        []string // tokens presented, in order
	lifetime    time.Duration
	auths       atomic.Int32
	refuseAfter atomic.Int32
}

func newFakeOAuth(good ...string) *fakeOAuth {
	f := &fakeOAuth{good: map[string]bool{"good": true}}
	for _, g := range good {
		f.good[g] = true
	}
	return f
}

func (f *fakeOAuth) install(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		if r.Mechanism != "OAUTHBEARER" {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		resp.SupportedMechanisms = []string{"OAUTHBEARER"}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		n := f.auths.Add(1)
		// "n,,\x01auth=Bearer <token>\x01[key=value\x01]\x01"
		msg := string(r.SASLAuthBytes)
		tok := ""
		if _, after, ok := strings.Cut(msg, "auth=Bearer "); ok {
			tok, _, _ = strings.Cut(after, "\x01")
		}
		f.mu.Lock()
		f.seen = append(f.seen, tok)
		good := f.good[tok]
		f.mu.Unlock()
		if !good || f.refuseAfter.Load() > 0 && n > f.refuseAfter.Load() {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			m := "Authentication failed: invalid token"
			resp.ErrorMessage = &m
			return resp, nil, true
		}
		resp.SessionLifetimeMillis = f.lifetime.Milliseconds()
		return resp, nil, true
	})
}

func (f *fakeOAuth) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func TestOAuthBearer(t *testing.T) {
	srv := newFakeOAuth("t1", "t2", "t3", "t4", "t5", "t6")
	srv.lifetime = time.Second // re-authenticate within the second
	c := secureKfake(t)
	srv.install(c)
	var calls atomic.Int32
	provider := func(ctx context.Context) (Token, error) {
		if _, ok := ctx.Deadline(); !ok {
			return Token{}, errors.New("no deadline")
		}
		n := calls.Add(1)
		// Each token lives a second: by the next authentication, 80%
		// of it has passed, and a new one is due.
		return Token{Value: Secret(fmt.Sprintf("t%d", n)), Expiry: time.Now().Add(time.Second)}, nil
	}
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), SASL: &SASL{Mechanism: SASLOAuthBearer, TokenProvider: provider}})
	ctx := shortCtx(t)
	if err := produceOne(ctx, p); err != nil {
		t.Fatal(err)
	}
	first := srv.auths.Load()
	// The sessions last a second: the next requests on the same
	// connections re-authenticate, with fresh tokens.
	time.Sleep(1200 * time.Millisecond)
	if err := produceOne(ctx, p); err != nil {
		t.Fatalf("produce after the session lifetime: %v", err)
	}
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping after the session lifetime: %v", err)
	}
	seen := srv.tokens()
	if srv.auths.Load() <= first {
		t.Fatalf("no re-authentication after the session lifetime (tokens %v)", seen)
	}
	last := seen[len(seen)-1]
	if last == "t1" || !srv.good[last] {
		t.Fatalf("tokens presented %v: the last should be a refreshed one", seen)
	}
	if p.OpenConnections() != 1 {
		t.Fatalf("%d producing connections, want the first one, re-authenticated", p.OpenConnections())
	}
}

// KIP-368 with kfake's own SCRAM: the broker gives sessions a lifetime
// (connections.max.reauth.ms) and sarama re-authenticates the open
// connections before it ends, instead of the broker closing them.
func TestSCRAMReauthentication(t *testing.T) {
	c := secureKfake(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", testUser, testPassword),
		kfake.BrokerConfigs(map[string]string{"connections.max.reauth.ms": "1000"}))
	var auths atomic.Int32
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		auths.Add(1)
		return nil, nil, false // kfake answers
	})
	var dials atomic.Int32
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	p := newProducer(t, Config{Brokers: c.ListenAddrs(), Dialer: dialer,
		SASL: &SASL{Mechanism: SASLScramSHA256, User: testUser, Password: testPassword}})
	ctx := shortCtx(t)
	if err := produceOne(ctx, p); err != nil {
		t.Fatal(err)
	}
	before, dialed := auths.Load(), dials.Load()
	time.Sleep(1200 * time.Millisecond)
	if err := produceOne(ctx, p); err != nil {
		t.Fatalf("produce after the session lifetime: %v", err)
	}
	if auths.Load() <= before {
		t.Fatal("the connection was not re-authenticated after its session lifetime")
	}
	if dials.Load() != dialed {
		t.Fatalf("%d new connections: the open one should have been re-authenticated", dials.Load()-dialed)
	}
}

func TestOAuthBearerRefused(t *testing.T) {
	srv := newFakeOAuth()
	c := secureKfake(t)
	srv.install(c)
	addr := c.ListenAddrs()[0]
	p := newProducer(t, Config{Brokers: []string{addr}, SASL: &SASL{Mechanism: SASLOAuthBearer,
		TokenProvider: func(context.Context) (Token, error) { return Token{Value: "forged"}, nil }}})
	err := p.Ping(shortCtx(t))
	assertAuthErr(t, err, addr)
	if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) || !strings.Contains(err.Error(), "invalid token") {
		t.Fatalf("err = %v, want the broker's SASL_AUTHENTICATION_FAILED and its message", err)
	}

	errIdP := errors.New("identity provider unreachable")
	p = newProducer(t, Config{Brokers: []string{addr}, SASL: &SASL{Mechanism: SASLOAuthBearer,
		TokenProvider: func(context.Context) (Token, error) { return Token{}, errIdP }}})
	err = p.Ping(shortCtx(t))
	assertAuthErr(t, err, addr)
	if !errors.Is(err, errIdP) {
		t.Fatalf("err = %v, want it to wrap the token provider's error", err)
	}
}

func TestTokenSourceRefresh(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var calls int
	var next func() (Token, error)
	s := &tokenSource{ctx: context.Background(), timeout: time.Second, log: quietLogger(), now: func() time.Time { return now },
		fn: func(ctx context.Context) (Token, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Fatal("the provider got a context without a deadline")
			}
			calls++
			return next()
		}}
	get := func() string {
		t.Helper()
		tok, err := s.Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		return tok.Token
	}
	next = func() (Token, error) { return Token{Value: "a", Expiry: now.Add(100 * time.Second)}, nil }
	if get() != "a" || calls != 1 {
		t.Fatal("first token not fetched")
	}
	now = now.Add(79 * time.Second)
	if get() != "a" || calls != 1 {
		t.Fatalf("fetched again at 79%% of the lifetime (%d calls)", calls)
	}
	now = now.Add(2 * time.Second) // 81%: due
	next = func() (Token, error) { return Token{Value: "b", Expiry: now.Add(100 * time.Second)}, nil }
	if get() != "b" || calls != 2 {
		t.Fatal("not refreshed after 80% of the lifetime")
	}
	// A failed refresh keeps the token while it is valid...
	now = now.Add(90 * time.Second)
	next = func() (Token, error) { return Token{}, errors.New("idp down") }
	if get() != "b" || calls != 3 {
		t.Fatal("a failed refresh did not fall back to the valid token")
	}
	// ...and not once it has expired.
	now = now.Add(20 * time.Second)
	if _, err := s.Token(); err == nil || !errors.Is(err, errSASLClient) {
		t.Fatalf("Token with only an expired one left: %v, want the provider's error", err)
	}
	for _, bad := range []Token{{}, {Value: "old", Expiry: now.Add(-time.Second)}} {
		next = func() (Token, error) { return bad, nil }
		if _, err := s.Token(); err == nil {
			t.Fatalf("Token took %v", bad)
		}
	}
	// A token without expiry is kept.
	next = func() (Token, error) { return Token{Value: "forever"}, nil }
	n := calls
	get()
	now = now.Add(1000 * time.Hour)
	if get() != "forever" || calls != n+1 {
		t.Fatal("a token without expiry was fetched again")
	}
}

func TestTrackedConnAPIKey(t *testing.T) {
	c := &trackedConn{}
	frame := func(key int16, body int) []byte {
		size := 2 + body
		b := []byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size), byte(key >> 8), byte(key)}
		return append(b, make([]byte, body)...)
	}
	// Whole requests, then one split in every way.
	c.observe(frame(18, 10))
	if c.inSASL() {
		t.Fatal("ApiVersions counted as SASL")
	}
	c.observe(append(frame(17, 5), frame(3, 7)...))
	if c.inSASL() {
		t.Fatal("the last of two requests in one write not seen")
	}
	f := frame(36, 9)
	for _, b := range f {
		c.observe([]byte{b})
	}
	if !c.inSASL() {
		t.Fatal("a SaslAuthenticate written byte by byte not seen")
	}
}
