package broker

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
)

var allMechs = []string{SASLPlain, SASLScramSHA256, SASLScramSHA512}

// secureBroker starts a broker with TLS (when ca is set) and SASL for
// alice (password "alice-secret"), with cfg's other fields.
func secureBroker(t *testing.T, ca *testcert.CA, cfg Config) *Broker {
	t.Helper()
	creds, err := NewMemoryCredentials(map[string]string{"alice": "alice-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if ca != nil {
		cfg.TLS = ca.ServerConfig(t)
	}
	if cfg.SASLMechanisms == nil {
		cfg.SASLMechanisms = allMechs
	}
	cfg.Credentials = creds
	return startBroker(t, cfg)
}

func kgoMechanism(mech, user, password string) sasl.Mechanism {
	switch mech {
	case SASLPlain:
		return plain.Auth{User: user, Pass: password}.AsMechanism()
	case SASLScramSHA256:
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	}
	return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
}

// secureRoundTrip produces n records to topic and consumes them back, both
// clients with opts.
func secureRoundTrip(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx := testContext(t)
	prod := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}, opts...)...)
	for i := range n {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons := newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("v%d", got); string(r.Value) != want {
				t.Fatalf("record %d: %q, want %q", got, r.Value, want)
			}
			got++
		})
	}
}

// Every mechanism, over TLS, produces and consumes with kgo.
func TestSASLKgo(t *testing.T) {
	ca := testcert.NewCA(t, "sasl-test")
	b := secureBroker(t, ca, Config{})
	for _, mech := range allMechs {
		t.Run(mech, func(t *testing.T) {
			secureRoundTrip(t, b.Addr(), "t-"+mech, 20,
				kgo.DialTLSConfig(ca.ClientConfig()), kgo.SASL(kgoMechanism(mech, "alice", "alice-secret")))
		})
	}
}

// A wrong password and an unknown user get SASL_AUTHENTICATION_FAILED,
// with every mechanism, and the connection is closed.
func TestSASLWrongCredentials(t *testing.T) {
	b := secureBroker(t, nil, Config{AuthFailureDelay: -1})
	for _, mech := range allMechs {
		for _, who := range [][2]string{{"alice", "wrong"}, {"bob", "alice-secret"}} {
			t.Run(mech+"/"+who[0], func(t *testing.T) {
				cl := newClient(t, b.Addr(), kgo.SASL(kgoMechanism(mech, who[0], who[1])), kgo.RequestRetries(0))
				err := cl.Ping(testContext(t))
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("ping with wrong credentials: %v, want SASL_AUTHENTICATION_FAILED", err)
				}
			})
		}
	}
}

// saslRaw returns a raw client on b's (plaintext) listener.
func saslRaw(t *testing.T, b *Broker) *rawClient { return dialRaw(t, b.Addr()) }

func handshakeReq(v int16, mech string) *kmsg.SASLHandshakeRequest {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = v, mech
	return req
}

func authReq(v int16, token []byte) *kmsg.SASLAuthenticateRequest {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = v, token
	return req
}

// Before authenticating, ApiVersions is answered and anything else closes
// the connection.
func TestSASLUnauthenticatedRequestCloses(t *testing.T) {
	b := secureBroker(t, nil, Config{})
	rc := saslRaw(t, b)
	av := rc.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 || !slices.ContainsFunc(av.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == int16(APISaslAuthenticate) }) {
		t.Fatalf("ApiVersions before authentication: code %d, keys %v", av.ErrorCode, av.ApiKeys)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	rc.send(md)
	rc.expectClosed()
}

// The errors of SaslHandshake and SaslAuthenticate, as Kafka's.
func TestSASLHandshakeErrors(t *testing.T) {
	b := secureBroker(t, nil, Config{SASLMechanisms: []string{SASLScramSHA512, SASLPlain}})
	t.Run("unsupported mechanism", func(t *testing.T) {
		rc := saslRaw(t, b)
		resp := rc.do(handshakeReq(1, "GSSAPI")).(*kmsg.SASLHandshakeResponse)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || !slices.Equal(resp.SupportedMechanisms, []string{SASLScramSHA512, SASLPlain}) {
			t.Fatalf("got code %d, mechanisms %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
		rc.expectClosed()
	})
	t.Run("authenticate before handshake", func(t *testing.T) {
		rc := saslRaw(t, b)
		resp := rc.do(authReq(1, []byte("\x00alice\x00alice-secret"))).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got code %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		rc.expectClosed()
	})
	t.Run("second handshake", func(t *testing.T) {
		rc := saslRaw(t, b)
		if resp := rc.do(handshakeReq(1, SASLPlain)).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
			t.Fatalf("handshake: code %d", resp.ErrorCode)
		}
		if resp := rc.do(handshakeReq(1, SASLPlain)).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: code %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		rc.expectClosed()
	})
	t.Run("wrong password message", func(t *testing.T) {
		rc := saslRaw(t, b)
		rc.do(handshakeReq(1, SASLPlain))
		resp := rc.do(authReq(2, []byte("\x00alice\x00nope"))).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != "Authentication failed: Invalid username or password" {
			t.Fatalf("got code %d, message %v", resp.ErrorCode, resp.ErrorMessage)
		}
		rc.expectClosed()
	})
	t.Run("without SASL", func(t *testing.T) {
		plainBroker := startBroker(t, Config{})
		rc := dialRaw(t, plainBroker.Addr())
		if resp := rc.do(handshakeReq(1, SASLPlain)).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake without SASL: code %d", resp.ErrorCode)
		}
		if resp := rc.do(authReq(1, nil)).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("authenticate without SASL: code %d", resp.ErrorCode)
		}
		rc.do(kmsg.NewPtrApiVersionsRequest()) // still open
	})
}

// rawToken writes a bare SASL token and reads the bare answer.
func (rc *rawClient) rawToken(token []byte) ([]byte, error) {
	rc.t.Helper()
	if _, err := rc.conn.Write(binary.BigEndian.AppendUint32(nil, uint32(len(token)))); err != nil {
		return nil, err
	}
	if _, err := rc.conn.Write(token); err != nil {
		return nil, err
	}
	_ = rc.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		return nil, err
	}
	answer := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(rc.r, answer)
	return answer, err
}

// SaslHandshake v0 followed by bare tokens (clients before KIP-152),
// with PLAIN and SCRAM; a bad PLAIN password closes the connection.
func TestSASLRawTokens(t *testing.T) {
	b := secureBroker(t, nil, Config{AuthFailureDelay: -1})
	t.Run("PLAIN", func(t *testing.T) {
		rc := saslRaw(t, b)
		rc.do(handshakeReq(0, SASLPlain))
		if ans, err := rc.rawToken([]byte("\x00alice\x00alice-secret")); err != nil || len(ans) != 0 {
			t.Fatalf("PLAIN token: %q, %v", ans, err)
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 9
		rc.do(md)
	})
	t.Run("PLAIN wrong password", func(t *testing.T) {
		rc := saslRaw(t, b)
		rc.do(handshakeReq(0, SASLPlain))
		if _, err := rc.rawToken([]byte("\x00alice\x00x")); err == nil {
			t.Fatal("bad password answered")
		}
	})
	t.Run("SCRAM-SHA-256", func(t *testing.T) {
		rc := saslRaw(t, b)
		rc.do(handshakeReq(0, SASLScramSHA256))
		cl, err := xscram.SHA256.NewClient("alice", "alice-secret", "")
		if err != nil {
			t.Fatal(err)
		}
		conv := cl.NewConversation()
		var answer string
		for !conv.Done() {
			msg, err := conv.Step(answer)
			if err != nil {
				t.Fatalf("client step: %v", err)
			}
			if conv.Done() {
				break
			}
			a, err := rc.rawToken([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			answer = string(a)
		}
		if !conv.Valid() {
			t.Fatal("server signature not valid")
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 9
		rc.do(md)
	})
}

// scramAuthenticate authenticates rc with SaslAuthenticate v1 and returns
// the last answer.
func scramAuthenticate(t *testing.T, rc *rawClient, user, password string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	rc.do(handshakeReq(1, SASLScramSHA512))
	cl, err := xscram.SHA512.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	resp := rc.do(authReq(1, []byte(first))).(*kmsg.SASLAuthenticateResponse)
	final, err := conv.Step(string(resp.SASLAuthBytes))
	if err != nil {
		t.Fatalf("client final: %v", err)
	}
	resp = rc.do(authReq(1, []byte(final))).(*kmsg.SASLAuthenticateResponse)
	if _, err := conv.Step(string(resp.SASLAuthBytes)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("server final: code %d, %v", resp.ErrorCode, err)
	}
	return resp
}

// With SessionLifetime, SaslAuthenticate v1 tells it; a client that does
// not re-authenticate is closed at its first request after it, one that
// does goes on; kgo re-authenticates by itself.
func TestSASLSessionLifetime(t *testing.T) {
	const lifetime = 300 * time.Millisecond
	b := secureBroker(t, nil, Config{SessionLifetime: lifetime})
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9

	rc := saslRaw(t, b)
	if resp := scramAuthenticate(t, rc, "alice", "alice-secret"); resp.SessionLifetimeMillis != lifetime.Milliseconds() {
		t.Fatalf("SessionLifetimeMillis %d, want %d", resp.SessionLifetimeMillis, lifetime.Milliseconds())
	}
	rc.do(md)
	time.Sleep(lifetime + 50*time.Millisecond)
	rc.send(md)
	rc.expectClosed()

	rc = saslRaw(t, b)
	scramAuthenticate(t, rc, "alice", "alice-secret")
	time.Sleep(lifetime + 50*time.Millisecond)
	scramAuthenticate(t, rc, "alice", "alice-secret") // re-authentication
	rc.do(md)

	// A re-authentication as another user fails.
	creds, err := NewMemoryCredentials(map[string]string{"alice": "a", "bob": "b"})
	if err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, Config{SASLMechanisms: allMechs, Credentials: creds, SessionLifetime: time.Minute, AuthFailureDelay: -1})
	rc = dialRaw(t, b2.Addr())
	rc.do(handshakeReq(1, SASLPlain))
	rc.do(authReq(1, []byte("\x00alice\x00a")))
	rc.do(handshakeReq(1, SASLPlain))
	if resp := rc.do(authReq(1, []byte("\x00bob\x00b"))).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as bob: code %d", resp.ErrorCode)
	}
	rc.expectClosed()

	// kgo re-authenticates before the session ends, and keeps producing.
	ca := testcert.NewCA(t, "reauth")
	b3 := secureBroker(t, ca, Config{SessionLifetime: time.Second})
	cl := newClient(t, b3.Addr(), kgo.DialTLSConfig(ca.ClientConfig()),
		kgo.SASL(kgoMechanism(SASLScramSHA256, "alice", "alice-secret")), kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
	ctx := testContext(t)
	deadline := time.Now().Add(2500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d across re-authentications: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Mutual TLS: a client with a certificate of the CA gets in, one without
// is refused.
func TestMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "mtls")
	srv := ca.ServerConfig(t)
	srv.ClientCAs, srv.ClientAuth = ca.Pool, tls.RequireAndVerifyClientCert
	b := startBroker(t, Config{TLS: srv})

	withCert := ca.ClientConfig()
	withCert.Certificates = []tls.Certificate{ca.Issue(t, "client")}
	secureRoundTrip(t, b.Addr(), "mtls", 5, kgo.DialTLSConfig(withCert))

	cl := newClient(t, b.Addr(), kgo.DialTLSConfig(ca.ClientConfig()), kgo.RequestRetries(0))
	ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err == nil {
		t.Fatal("client without a certificate was served")
	}
	other := testcert.NewCA(t, "other")
	foreign := ca.ClientConfig()
	foreign.Certificates = []tls.Certificate{other.Issue(t, "intruder")}
	cl = newClient(t, b.Addr(), kgo.DialTLSConfig(foreign), kgo.RequestRetries(0))
	if err := cl.Ping(ctx); err == nil {
		t.Fatal("client with a certificate of another CA was served")
	}
}

// A client trying wrong passwords on many connections at once is held to
// about one check per AuthFailureDelay from its address: in a window of
// length w, with c connections at a time, at most c + w/delay + 1 answers.
// Without the throttle it gets hundreds.
func TestSASLFailureThrottle(t *testing.T) {
	const (
		delay   = 50 * time.Millisecond
		window  = time.Second
		workers = 8
	)
	b := secureBroker(t, nil, Config{AuthFailureDelay: delay})
	var answered atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				rc := saslRaw(t, b)
				rc.do(handshakeReq(1, SASLPlain))
				corr := rc.send(authReq(1, fmt.Appendf(nil, "\x00alice\x00guess-%d-%d", w, i)))
				stop := context.AfterFunc(ctx, func() { _ = rc.conn.Close() })
				resp, err := rc.read(kmsg.NewPtrSASLAuthenticateRequest(), corr)
				stop()
				if err != nil {
					return // the window closed the connection
				}
				if resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != kerr.SaslAuthenticationFailed.Code {
					t.Errorf("guess answered with code %d", resp.(*kmsg.SASLAuthenticateResponse).ErrorCode)
				}
				answered.Add(1)
				_ = rc.conn.Close()
			}
		})
	}
	wg.Wait()
	n := answered.Load()
	if limit := int64(workers) + int64(window/delay) + 1; n > limit {
		t.Fatalf("%d wrong passwords answered in %v, over %d (delay %v, %d connections at a time)", n, window, limit, delay, workers)
	}
	if n == 0 {
		t.Fatal("no guess answered at all")
	}
	t.Logf("%d guesses answered in %v", n, window)
}

func TestConfigValidateSecurity(t *testing.T) {
	creds, _ := NewMemoryCredentials(map[string]string{"a": "b"})
	for _, cfg := range []Config{
		{TLS: &tls.Config{}},
		{SASLMechanisms: []string{"GSSAPI"}, Credentials: creds},
		{SASLMechanisms: []string{SASLPlain, SASLPlain}, Credentials: creds},
		{SASLMechanisms: []string{SASLPlain}},
		{Credentials: creds},
		{SessionLifetime: time.Second},
		{SASLMechanisms: []string{SASLPlain}, Credentials: creds, SessionLifetime: -1},
	} {
		if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// librdkafkaFinalMessage is the client-final-message librdkafka 2.0.2
// sends: its nonce is the client nonce followed by the whole server nonce.
func librdkafkaFinalMessage(t *testing.T, password, clientNonce, serverFirst string) string {
	t.Helper()
	var nonce, salt string
	var iters int
	for f := range strings.SplitSeq(serverFirst, ",") {
		switch {
		case strings.HasPrefix(f, "r="):
			nonce = f[2:]
		case strings.HasPrefix(f, "s="):
			b, _ := base64.StdEncoding.DecodeString(f[2:])
			salt = string(b)
		case strings.HasPrefix(f, "i="):
			iters, _ = strconv.Atoi(f[2:])
		}
	}
	cl, err := xscram.SHA256.NewClientUnprepped("alice", password, "")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cl.GetStoredCredentialsWithError(xscram.KeyFactors{Salt: salt, Iters: iters})
	if err != nil {
		t.Fatal(err)
	}
	pbkdf, err := pbkdf2.Key(sha256.New, password, []byte(salt), iters, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, pbkdf)
	m.Write([]byte("Client Key"))
	clientKey := m.Sum(nil)
	withoutProof := "c=biws,r=" + clientNonce + nonce
	m = hmac.New(sha256.New, creds.StoredKey)
	m.Write([]byte("n=alice,r=" + clientNonce + "," + serverFirst + "," + withoutProof))
	proof := m.Sum(nil)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

// The client-final-message of librdkafka 2.0.2, whose nonce repeats the
// client's, is accepted as Kafka accepts it, with the right password only;
// a nonce that does not end with the server's is refused.
func TestSASLSCRAMLibrdkafkaNonce(t *testing.T) {
	b := secureBroker(t, nil, Config{AuthFailureDelay: -1})
	for _, c := range []struct {
		password string
		mangle   func(string) string
		ok       bool
	}{
		{"alice-secret", nil, true},
		{"wrong", nil, false},
		{"alice-secret", func(s string) string { return strings.Replace(s, "r=cnonce", "r=cnoncX", 1) }, false},
	} {
		rc := saslRaw(t, b)
		rc.do(handshakeReq(1, SASLScramSHA256))
		first := rc.do(authReq(1, []byte("n,,n=alice,r=cnonce"))).(*kmsg.SASLAuthenticateResponse)
		final := librdkafkaFinalMessage(t, c.password, "cnonce", string(first.SASLAuthBytes))
		if c.mangle != nil {
			final = c.mangle(final)
		}
		resp := rc.do(authReq(1, []byte(final))).(*kmsg.SASLAuthenticateResponse)
		if got := resp.ErrorCode == 0 && strings.HasPrefix(string(resp.SASLAuthBytes), "v="); got != c.ok {
			t.Fatalf("password %q, mangled %v: code %d, answer %q", c.password, c.mangle != nil, resp.ErrorCode, resp.SASLAuthBytes)
		}
		if c.ok {
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 9
			rc.do(md)
		}
	}
}
