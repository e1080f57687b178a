package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/internal/saramasasl"
)

// SASLMechanism names a SASL mechanism, as Kafka spells it.
type SASLMechanism string

// The SASL mechanisms merlin speaks.
const (
	SASLPlain       SASLMechanism = "PLAIN"
	SASLScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLScramSHA512 SASLMechanism = "SCRAM-SHA-512"
	SASLOAuthBearer SASLMechanism = "OAUTHBEARER"
)

var saslMechanisms = []SASLMechanism{SASLPlain, SASLScramSHA256, SASLScramSHA512, SASLOAuthBearer}

// ParseSASLMechanism reads a mechanism name, in any case.
func ParseSASLMechanism(s string) (SASLMechanism, error) {
	for _, m := range saslMechanisms {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("producer: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)", s)
}

// Secret is a string that never shows in output: fmt (every verb), slog and
// text or JSON encoding print it as "[REDACTED]" (or "" when empty, so that
// a missing secret is visible). Convert it back with string(s) where the
// value itself is needed.
type Secret string

const redacted = "[REDACTED]"

func (s Secret) show() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[REDACTED]".
func (s Secret) String() string { return s.show() }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("producer.Secret(%q)", s.show()) }

// Format keeps every fmt verb (%s, %v, %q, %x, ...) from printing the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", s.show())
		return
	}
	_, _ = io.WriteString(f, s.show())
}

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.show()) }

// MarshalText keeps encoders (encoding/json among them) from writing the
// value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.show()), nil }

// Token is an OAUTHBEARER access token.
type Token struct {
	// Value is the token (a JWT for most identity providers).
	Value Secret
	// Expiry is when the token stops being valid; zero: it does not expire
	// (it is then fetched once and kept).
	Expiry time.Time
	// Extensions are SASL extensions sent with the token (KIP-342), such
	// as Confluent Cloud's logicalCluster and identityPoolId.
	Extensions map[string]string
}

// String describes the token without its value.
func (t Token) String() string {
	exp := "never"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("Token{Value:%s Expiry:%s Extensions:%v}", t.Value.show(), exp, t.Extensions)
}

// GoString keeps %#v from printing the value.
func (t Token) GoString() string { return "producer." + t.String() }

// Format keeps every fmt verb from printing the value.
func (t Token) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String(), t.GoString()) }

// LogValue keeps slog from printing the value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("value", t.Value.show()), slog.Time("expiry", t.Expiry))
}

// TokenProvider fetches an OAUTHBEARER token. merlin calls it when it
// authenticates a connection and has no token, or only one of which 80% of
// the lifetime has passed: a token is thus replaced before it expires, and a
// connection never authenticates with one about to expire. Calls are one at
// a time; ctx ends after the producer's dial timeout or at Close. If a
// refresh fails while the previous token is still valid, that one is used
// (and the failure logged); otherwise the connection fails with an error
// wrapping ErrAuthentication and the provider's error.
type TokenProvider func(ctx context.Context) (Token, error)

// SASL configures SASL authentication. Its fmt and slog forms never show
// Password.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.
	Mechanism SASLMechanism
	// User and Password are the credentials of PLAIN and SCRAM.
	User     string
	Password Secret
	// AuthzID is an optional authorization identity (act as this user),
	// for PLAIN and SCRAM.
	AuthzID string
	// TokenProvider fetches OAUTHBEARER tokens; required with OAUTHBEARER.
	TokenProvider TokenProvider
}

// String describes the settings without the password.
func (s SASL) String() string {
	return fmt.Sprintf("SASL{Mechanism:%s User:%s Password:%s AuthzID:%s TokenProvider:%t}",
		s.Mechanism, s.User, s.Password.show(), s.AuthzID, s.TokenProvider != nil)
}

// GoString keeps %#v from printing the password.
func (s SASL) GoString() string { return "producer." + s.String() }

// Format keeps every fmt verb from printing the password.
func (s SASL) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String(), s.GoString()) }

// LogValue keeps slog from printing the password.
func (s SASL) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", string(s.Mechanism)), slog.String("user", s.User),
		slog.String("password", s.Password.show()))
}

func formatRedacted(f fmt.State, verb rune, s, gs string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, gs)
		return
	}
	_, _ = io.WriteString(f, s)
}

func (s *SASL) validate() error {
	if s == nil {
		return nil
	}
	switch s.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.User == "" {
			return configErr("SASL.User", "%s needs a user", s.Mechanism)
		}
		if s.Password == "" {
			return configErr("SASL.Password", "%s needs a password", s.Mechanism)
		}
		if s.TokenProvider != nil {
			return configErr("SASL.TokenProvider", "only OAUTHBEARER uses a token provider, not %s", s.Mechanism)
		}
	case SASLOAuthBearer:
		if s.TokenProvider == nil {
			return configErr("SASL.TokenProvider", "OAUTHBEARER needs a token provider")
		}
		if s.User != "" || s.Password != "" {
			return configErr("SASL.User", "OAUTHBEARER takes a token provider, not a user and password")
		}
	case "":
		return configErr("SASL.Mechanism", "empty (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; a nil SASL means none)")
	default:
		return configErr("SASL.Mechanism", "unknown mechanism %q (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)", s.Mechanism)
	}
	return nil
}

// ErrAuthentication is wrapped (through an AuthError) by every error of a
// broker refusing SASL authentication: wrong user or password, a mechanism
// the broker does not enable, a token it rejects, or a token provider that
// failed. merlin does not retry these as it retries a broker that is down:
// produce calls and messages fail with it.
var ErrAuthentication = errors.New("producer: authentication failed")

// ErrTLS is wrapped (through a TLSError) by every error of a TLS handshake
// that failed for other reasons than the network: an untrusted or expired
// certificate, a name mismatch, a peer that does not speak TLS, a client
// certificate the broker refused.
var ErrTLS = errors.New("producer: TLS handshake failed")

// AuthError is a broker's refusal of SASL authentication. It wraps
// ErrAuthentication and the underlying error (a sarama.KError such as
// sarama.ErrSASLAuthenticationFailed, or the token provider's error).
type AuthError struct {
	Broker    string // host:port
	Mechanism SASLMechanism
	User      string // empty with OAUTHBEARER
	Err       error
}

func (e *AuthError) Error() string {
	who := ""
	if e.User != "" {
		who = fmt.Sprintf(" as %q", e.User)
	}
	return fmt.Sprintf("producer: broker %s refused SASL %s authentication%s: %v", e.Broker, e.Mechanism, who, e.Err)
}

// Unwrap returns ErrAuthentication and the underlying error.
func (e *AuthError) Unwrap() []error { return []error{ErrAuthentication, e.Err} }

// TLSError is a failed TLS handshake with a broker. It wraps ErrTLS and the
// crypto/tls or crypto/x509 error, so that errors.As finds an
// x509.UnknownAuthorityError or x509.HostnameError.
type TLSError struct {
	Broker string // host:port
	Err    error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("producer: TLS handshake with broker %s failed: %v%s", e.Broker, e.Err, tlsHint(e.Err))
}

// Unwrap returns ErrTLS and the underlying error.
func (e *TLSError) Unwrap() []error { return []error{ErrTLS, e.Err} }

func tlsHint(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return " (the broker's certificate is not signed by a CA in Config.TLS.RootCAs: set it, or --tls-ca, to the CA that signed it)"
	case errors.As(err, &hn):
		return " (the certificate is not for the name dialed: set Config.TLS.ServerName, or --tls-server-name, to a name it is for)"
	case errors.As(err, &rh):
		return " (the broker's listener does not speak TLS)"
	}
	return ""
}

// securityErr reports whether err is an authentication or TLS failure:
// not the broker being down, and not worth retrying as if it were.
func securityErr(err error) bool {
	return errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTLS)
}

// saslKError reports whether err is a Kafka error code of SASL.
func saslKError(err error) bool {
	return errors.Is(err, sarama.ErrSASLAuthenticationFailed) || errors.Is(err, sarama.ErrUnsupportedSASLMechanism) ||
		errors.Is(err, sarama.ErrIllegalSASLState)
}

// errSASLClient marks the failures of merlin's own side of a SASL exchange
// (a SCRAM step, the token provider).
var errSASLClient = errors.New("sasl")

type saslClientError struct{ err error }

func (e *saslClientError) Error() string   { return e.err.Error() }
func (e *saslClientError) Unwrap() []error { return []error{errSASLClient, e.err} }

// applySecurity sets sarama's SASL settings from cfg. TLS and dialing are
// merlin's own (see connDialer), so that their errors can be told apart.
func (p *Producer) applySecurity(sc *sarama.Config) {
	s := p.cfg.SASL
	if s == nil {
		return
	}
	saramasasl.Apply(sc, string(s.Mechanism), s.User, string(s.Password), s.AuthzID)
	switch s.Mechanism {
	case SASLScramSHA256, SASLScramSHA512:
		gen := sc.Net.SASL.SCRAMClientGeneratorFunc
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return scramClient{gen()} }
	case SASLOAuthBearer:
		sc.Net.SASL.TokenProvider = &tokenSource{
			fn: s.TokenProvider, ctx: p.ctx, timeout: sc.Net.DialTimeout, log: p.log, now: time.Now,
		}
	}
}

// scramClient marks the failures of merlin's side of a SCRAM exchange
// (the server's proof not matching, among them) as authentication ones.
type scramClient struct{ sarama.SCRAMClient }

func (c scramClient) Begin(user, password, authzID string) error {
	if err := c.SCRAMClient.Begin(user, password, authzID); err != nil {
		return &saslClientError{err}
	}
	return nil
}

func (c scramClient) Step(challenge string) (string, error) {
	resp, err := c.SCRAMClient.Step(challenge)
	if err != nil {
		return "", &saslClientError{err}
	}
	return resp, nil
}

// tokenSource is sarama's AccessTokenProvider on a TokenProvider: it keeps
// the token until 80% of its lifetime has passed.
type tokenSource struct {
	fn      TokenProvider
	ctx     context.Context
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	tok     Token
	fetched time.Time // zero: no token yet
}

// refreshShare is how much of a token's lifetime passes before merlin
// fetches the next one.
const refreshShare = 0.8

func (s *tokenSource) Token() (*sarama.AccessToken, error) {
	t, err := s.get()
	if err != nil {
		return nil, &saslClientError{fmt.Errorf("token provider: %w", err)}
	}
	return &sarama.AccessToken{Token: string(t.Value), Extensions: t.Extensions}, nil
}

func (s *tokenSource) get() (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.fetched.IsZero() && s.fresh(now) {
		return s.tok, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	t, err := s.fn(ctx)
	cancel()
	switch {
	case err != nil:
	case t.Value == "":
		err = errors.New("empty token")
	case !t.Expiry.IsZero() && !t.Expiry.After(now):
		err = fmt.Errorf("token expired at %s", t.Expiry.UTC().Format(time.RFC3339))
	}
	if err != nil {
		if !s.fetched.IsZero() && (s.tok.Expiry.IsZero() || now.Before(s.tok.Expiry)) {
			s.log.Warn("OAUTHBEARER token refresh failed; using the current token until it expires",
				"expiry", s.tok.Expiry, "err", err)
			return s.tok, nil
		}
		return Token{}, err
	}
	s.tok, s.fetched = t, now
	return t, nil
}

func (s *tokenSource) fresh(now time.Time) bool {
	if s.tok.Expiry.IsZero() {
		return true
	}
	life := s.tok.Expiry.Sub(s.fetched)
	return now.Before(s.fetched.Add(time.Duration(float64(life) * refreshShare)))
}

// connDialer dials one broker connection for sarama (as its proxy dialer):
// through Config.Dialer if set, within the dial timeout and the producer's
// life, then the TLS handshake, whose failures become TLSErrors. It keeps
// the connection so that a failed Open can be told apart: refused during
// SASL, or the network.
type connDialer struct {
	p    *Producer
	ctx  context.Context
	conn *trackedConn
}

func (d *connDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.p.sconf.Net.DialTimeout)
	defer cancel()
	dial := d.p.cfg.Dialer
	if dial == nil {
		nd := &net.Dialer{KeepAlive: d.p.sconf.Net.KeepAlive}
		dial = nd.DialContext
	}
	c, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc := d.p.cfg.TLS; tc != nil {
		tlsConn := tls.Client(c, tlsFor(addr, tc))
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			if networkErr(err) {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, fmt.Errorf("the broker hung up during the TLS handshake (does its listener speak TLS?): %w", err)
				}
				return nil, err
			}
			return nil, &TLSError{Broker: addr, Err: err}
		}
		c = tlsConn
	}
	d.conn = &trackedConn{Conn: c}
	return d.conn, nil
}

// tlsFor returns tc with ServerName set to addr's host when unset, as
// every Kafka client does.
func tlsFor(addr string, tc *tls.Config) *tls.Config {
	if tc.ServerName != "" || tc.InsecureSkipVerify {
		return tc
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return tc
	}
	c := tc.Clone()
	c.ServerName = host
	return c
}

// networkErr reports whether a handshake failed on the network (a reset,
// a timeout, the peer hanging up) rather than on TLS itself.
func networkErr(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		// A TLS alert from the broker (a client certificate refused)
		// comes as a "remote error": TLS's, not the network's.
		return op.Op != "remote error"
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Kafka API keys of the SASL exchange.
const (
	keySASLHandshake    = 17
	keySASLAuthenticate = 36
)

// trackedConn notes the API key of the last request written, so that a
// connection that fails during the SASL exchange is known to have been
// refused (Kafka closes the connection after a failed authentication; some
// brokers without answering first).
type trackedConn struct {
	net.Conn
	mu      sync.Mutex
	hdr     [6]byte // size and API key of the request starting
	hn      int
	left    int // bytes of the current request still to come
	lastKey int16
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.observe(b)
	return c.Conn.Write(b)
}

func (c *trackedConn) observe(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		if c.left > 0 {
			n := min(c.left, len(b))
			c.left -= n
			b = b[n:]
			continue
		}
		n := copy(c.hdr[c.hn:], b)
		c.hn += n
		b = b[n:]
		if c.hn < len(c.hdr) {
			return
		}
		size := int(uint32(c.hdr[0])<<24 | uint32(c.hdr[1])<<16 | uint32(c.hdr[2])<<8 | uint32(c.hdr[3]))
		c.lastKey = int16(uint16(c.hdr[4])<<8 | uint16(c.hdr[5]))
		c.left = max(0, size-2)
		c.hn = 0
	}
}

func (c *trackedConn) inSASL() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastKey == keySASLHandshake || c.lastKey == keySASLAuthenticate
}

// openBroker opens and authenticates a connection to addr, returning a
// connected broker or an error naming addr: an AuthError, a TLSError, or
// the network's. It ends early when ctx does (the dial is abandoned, and
// closed once sarama is done with it).
func (p *Producer) openBroker(ctx context.Context, addr string) (*sarama.Broker, error) {
	type result struct {
		b   *sarama.Broker
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := p.openBrokerWait(ctx, addr)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.b != nil {
				_ = r.b.Close()
			}
		}()
		return nil, fmt.Errorf("%s: %w", addr, ctx.Err())
	}
}

func (p *Producer) openBrokerWait(ctx context.Context, addr string) (*sarama.Broker, error) {
	conf := *p.sconf // each connection its own dialer
	d := &connDialer{p: p, ctx: ctx}
	conf.Net.Proxy.Enable = true
	conf.Net.Proxy.Dialer = d
	b := sarama.NewBroker(addr)
	if err := b.Open(&conf); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	ok, err := b.Connected() // blocks until Open is done
	if ok && err == nil {
		return b, nil
	}
	_ = b.Close()
	if err == nil {
		err = errors.New("not connected")
	}
	return nil, p.classify(addr, err, d.conn != nil && d.conn.inSASL())
}

// classify turns an error of a connection to addr into an AuthError when
// it is a refused authentication: a SASL error code, a failure of merlin's
// side of the exchange, or the connection failing during it (inSASL).
// TLSErrors already are what they are; other errors get addr.
func (p *Producer) classify(addr string, err error, inSASL bool) error {
	var te *TLSError
	if errors.As(err, &te) || errors.Is(err, ErrAuthentication) {
		return err
	}
	if s := p.cfg.SASL; s != nil && (inSASL || saslKError(err) || errors.Is(err, errSASLClient)) {
		if inSASL && !saslKError(err) && !errors.Is(err, errSASLClient) {
			err = fmt.Errorf("the broker closed the connection during authentication (wrong user or password, unknown user, or mechanism not enabled): %w", err)
		}
		user := s.User
		if s.Mechanism == SASLOAuthBearer {
			user = ""
		}
		return &AuthError{Broker: addr, Mechanism: s.Mechanism, User: user, Err: err}
	}
	return fmt.Errorf("%s: %w", addr, err)
}
