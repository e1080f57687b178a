package broker

// TLS and SASL: the connection side (handshakes, the authentication state
// machine, what an unauthenticated connection may send, session lifetime,
// throttling of failed authentications). The requests themselves are
// answered in api_sasl.go.
//
// The states follow Kafka's SaslServerAuthenticator:
//
//	handshake      not authenticated: ApiVersions and SaslHandshake only;
//	               any other request closes the connection
//	authenticate   after SaslHandshake v1: SaslAuthenticate only
//	raw            after SaslHandshake v0: the next frames are bare SASL
//	               tokens, without request headers (clients before KIP-152)
//	authenticated  every request; SaslHandshake v1 begins a
//	               re-authentication (KIP-368)

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka API keys of SASL.
const (
	APISaslHandshake    APIKey = 17
	APISaslAuthenticate APIKey = 36
)

// maxUnauthenticatedFrame bounds the request frames of a connection that
// has not authenticated, as Kafka's sasl.server.max.receive.size (512 KiB):
// an anonymous client cannot make the broker hold more.
const maxUnauthenticatedFrame = 512 << 10

// errAuth is wrapped by the reasons a connection is closed for failing, or
// skipping, authentication (TLS or SASL); they are logged where they
// happen.
var errAuth = errors.New("authentication failed")

// security is a broker's TLS and SASL settings and state.
type security struct {
	tls       *tls.Config
	mechs     []string // enabled SASL mechanisms; none: SASL is off
	creds     CredentialStore
	lifetime  time.Duration // Config.SessionLifetime; 0: unlimited
	throttle  *authThrottle
	authLog   *rateLog // failed authentications
	tlsLog    *rateLog // failed TLS handshakes
	deniedLog *rateLog // requests before authentication, expired sessions
}

func newSecurity(cfg Config, log *slog.Logger) *security {
	return &security{
		tls:       cfg.TLS,
		mechs:     cfg.SASLMechanisms,
		creds:     cfg.Credentials,
		lifetime:  max(cfg.SessionLifetime, 0),
		throttle:  newAuthThrottle(max(cfg.AuthFailureDelay, 0)),
		authLog:   newRateLog(log, slog.LevelWarn, "authentication failed"),
		tlsLog:    newRateLog(log, slog.LevelWarn, "TLS handshake failed"),
		deniedLog: newRateLog(log, slog.LevelWarn, "closing connection: not authenticated"),
	}
}

func (s *security) close() {
	s.authLog.close()
	s.tlsLog.close()
	s.deniedLog.close()
}

func (s *security) saslEnabled() bool { return len(s.mechs) > 0 }

// saslState is where a connection is in its SASL authentication.
type saslState uint8

const (
	stHandshake saslState = iota
	stAuthenticate
	stRaw
	stAuthenticated
)

// saslConn is a connection's SASL state, nil when SASL is off.
type saslConn struct {
	state     saslState
	mech      string    // of the handshake being answered or done
	step      saslStep  // the conversation in progress
	user      string    // authenticated user, kept for re-authentication
	reauth    bool      // the conversation re-authenticates user
	expiry    time.Time // end of the session (KIP-368); zero: none
	attempted bool      // the conversation passed the throttle
	closeErr  error     // set by a handler: close once its answer is out
}

// saslStep runs one SASL conversation: each client token gives the
// server's answer; done once the client is authenticated as user.
type saslStep interface {
	step(ctx context.Context, token []byte) (answer []byte, done bool, user string, err error)
}

// tlsHandshake runs the TLS handshake of a new connection, bounded by
// RequestReadTimeout (or IdleTimeout when that is off), so that a client
// that connects and sends nothing holds no goroutine for long.
func (c *conn) tlsHandshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok || c.tlsDone {
		return nil
	}
	c.tlsDone = true
	d := c.b.cfg.RequestReadTimeout
	if d <= 0 {
		d = c.b.cfg.IdleTimeout
	}
	ctx := c.ctx
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		c.b.sec.tlsLog.Log("remote", c.remoteAddr(), "err", err)
		return fmt.Errorf("%w: TLS handshake: %v", errAuth, err)
	}
	return nil
}

// frameLimits are the sizes a request frame may have: raw SASL tokens
// have no header, and a connection that has not authenticated is held to
// maxUnauthenticatedFrame.
func (c *conn) frameLimits() (lo, hi int32) {
	lo, hi = minFrame, c.b.cfg.MaxRequestSize
	if c.sasl == nil {
		return lo, hi
	}
	if c.sasl.state == stRaw {
		lo = 0
	}
	if c.sasl.user == "" {
		hi = min(hi, maxUnauthenticatedFrame)
	}
	return lo, hi
}

// authorize says whether a request of type key may be decoded and
// answered now: without SASL always; before authentication only
// ApiVersions and the SASL requests (whose handlers check the order);
// after a session expired only a SaslHandshake re-authenticating. An error
// closes the connection before the request is decoded, as Kafka does.
func (c *conn) authorize(key APIKey) error {
	s := c.sasl
	if s == nil || key == APISaslHandshake || key == APISaslAuthenticate {
		return nil
	}
	switch {
	case s.state == stAuthenticated && !s.expiry.IsZero() && time.Now().After(s.expiry):
		c.b.sec.deniedLog.Log("remote", c.remoteAddr(), "user", s.user, "request", key, "reason", "session expired without re-authentication")
		return fmt.Errorf("%w: %s request after the session of %q expired", errAuth, key, s.user)
	case s.state == stAuthenticated, s.state == stHandshake && key == APIApiVersions:
		return nil
	}
	c.b.sec.deniedLog.Log("remote", c.remoteAddr(), "request", key, "reason", "request before SASL authentication")
	return fmt.Errorf("%w: unexpected %s request during SASL authentication", errAuth, key)
}

// afterAnswer closes the connection, once its answer is written, when the
// handler said so (a failed authentication, a request out of order).
func (c *conn) afterAnswer() error {
	if c.sasl == nil || c.sasl.closeErr == nil {
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	return c.sasl.closeErr
}

// handleRawToken answers a bare SASL token (after SaslHandshake v0) with a
// bare token, length-prefixed. A failure closes the connection without an
// answer, the only way to tell these clients.
func (c *conn) handleRawToken(token []byte) error {
	answer, err := c.saslStep(token, 0)
	if err != nil {
		return err
	}
	if c.out == nil {
		c.out = getBuf(minPooled)
	}
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(len(answer)))
	c.out = append(c.out, answer...)
	return nil
}

// authFailure is a failed authentication: what the client is told, and
// why (for the log), when the message does not say.
type authFailure struct {
	msg   string
	cause error
}

func (f *authFailure) Error() string {
	if f.cause != nil {
		return f.msg + ": " + f.cause.Error()
	}
	return f.msg
}

// saslStep feeds a client token to the conversation of the handshake,
// throttling first when the client's address failed recently. It returns
// the server's answer; an *authFailure when the credentials are refused
// (after AuthFailureDelay, and the connection is then to be closed). Once
// the conversation is done the connection is authenticated, with the
// session lifetime of version (the SaslAuthenticate version; 0 for raw
// tokens).
func (c *conn) saslStep(token []byte, version int16) ([]byte, error) {
	s, sec := c.sasl, c.b.sec
	if !s.attempted {
		s.attempted = true
		if d := sec.throttle.admit(c.ip, time.Now()); d > 0 {
			if err := c.wait(d); err != nil {
				return nil, err
			}
		}
	}
	answer, done, user, err := s.step.step(c.ctx, token)
	if err == nil && done && s.reauth && user != s.user {
		err = &authFailure{msg: fmt.Sprintf("Cannot change principals during re-authentication from %s to %s", s.user, user)}
	}
	if err != nil {
		var af *authFailure
		if !errors.As(err, &af) {
			if c.ctx.Err() != nil {
				return nil, c.ctx.Err()
			}
			// The store failed (not the client): say so, but as a
			// failure, and log why.
			af = &authFailure{msg: "Authentication failed: the broker could not check the credentials"}
		}
		sec.authLog.Log("remote", c.remoteAddr(), "mechanism", s.mech, "user", user, "reason", err)
		sec.throttle.failed(c.ip, time.Now())
		if d := sec.throttle.delay; d > 0 {
			// Kafka's connection.failed.authentication.delay.ms: the
			// answer, and the close, wait.
			if werr := c.wait(d); werr != nil {
				return nil, werr
			}
		}
		s.closeErr = fmt.Errorf("%w: %s", errAuth, af.msg)
		if s.state == stRaw {
			return nil, s.closeErr
		}
		return nil, af
	}
	if done {
		c.b.log.Debug("authenticated", "remote", c.remoteAddr(), "mechanism", s.mech, "user", user, "reauthentication", s.reauth)
		s.state, s.user, s.step, s.reauth, s.attempted = stAuthenticated, user, nil, false, false
		s.expiry = time.Time{}
		if sec.lifetime > 0 && version >= 1 {
			// Only clients that know of SessionLifetimeMillis
			// (SaslAuthenticate v1+) can re-authenticate in time.
			s.expiry = time.Now().Add(sec.lifetime)
		}
	}
	return answer, nil
}

// newSASLStep starts a conversation for mech.
func (sec *security) newSASLStep(mech string) saslStep {
	if mech == SASLPlain {
		return &plainStep{creds: sec.creds}
	}
	return newSCRAMStep(sec.creds, mech)
}

// plainStep is the server side of PLAIN (RFC 4616): one token,
// authzid NUL user NUL password.
type plainStep struct{ creds CredentialStore }

func (p *plainStep) step(ctx context.Context, token []byte) ([]byte, bool, string, error) {
	parts := strings.SplitN(string(token), "\x00", 3)
	if len(parts) != 3 || parts[1] == "" {
		return nil, false, "", &authFailure{msg: "Authentication failed: PLAIN token is not authzid NUL user NUL password"}
	}
	authz, user, password := parts[0], parts[1], parts[2]
	if authz != "" && authz != user {
		return nil, false, user, &authFailure{msg: "Authentication failed: Client requested an authorization id that is different from username"}
	}
	if err := p.creds.VerifyPlain(ctx, user, password); err != nil {
		if errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrBadPassword) {
			return nil, false, user, &authFailure{msg: "Authentication failed: Invalid username or password"}
		}
		return nil, false, user, err
	}
	return []byte{}, true, user, nil
}

// authThrottle slows down password guessing from one address: after a
// failed authentication from an IP, the next attempts from it are checked
// one per delay at most, however many connections they come on, and every
// failure is answered after delay. A client then learns at most about one
// password a delay per address, plus the attempts it had in flight when
// its first failure came.
type authThrottle struct {
	delay time.Duration

	mu   sync.Mutex
	next map[string]time.Time // per IP: earliest check of the next attempt
}

// maxThrottled bounds the addresses the throttle remembers; beyond it,
// those whose penalty is over are forgotten.
const maxThrottled = 10000

func newAuthThrottle(delay time.Duration) *authThrottle {
	return &authThrottle{delay: delay, next: make(map[string]time.Time)}
}

// admit returns how long an attempt from ip must wait before its
// credentials are checked, and reserves its slot.
func (t *authThrottle) admit(ip string, now time.Time) time.Duration {
	if t.delay <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	next, ok := t.next[ip]
	if !ok {
		return 0
	}
	if !next.After(now) {
		// The penalty is over; the next failure starts a new one.
		delete(t.next, ip)
		return 0
	}
	t.next[ip] = next.Add(t.delay)
	return next.Sub(now)
}

// failed records a failed authentication from ip.
func (t *authThrottle) failed(ip string, now time.Time) {
	if t.delay <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.next) >= maxThrottled {
		for k, v := range t.next {
			if !v.After(now) {
				delete(t.next, k)
			}
		}
	}
	if next := now.Add(t.delay); next.After(t.next[ip]) {
		t.next[ip] = next
	}
}

// saslHandshakeResponse is the answer to SaslHandshake with code.
func (sec *security) saslHandshakeResponse(req *kmsg.SASLHandshakeRequest, code int16) *kmsg.SASLHandshakeResponse {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = code
	resp.SupportedMechanisms = slices.Clone(sec.mechs)
	return resp
}

// validateSecurity checks the TLS and SASL fields of a Config.
func (c Config) validateSecurity() error {
	if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil {
		return configError("TLS", "has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	}
	seen := make(map[string]bool, len(c.SASLMechanisms))
	for _, m := range c.SASLMechanisms {
		switch m {
		case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		default:
			return configError("SASLMechanisms", "%q is not %s, %s or %s", m, SASLPlain, SASLScramSHA256, SASLScramSHA512)
		}
		if seen[m] {
			return configError("SASLMechanisms", "%s is given twice", m)
		}
		seen[m] = true
	}
	switch {
	case len(c.SASLMechanisms) > 0 && c.Credentials == nil:
		return configError("Credentials", "must be set with SASLMechanisms")
	case len(c.SASLMechanisms) == 0 && c.Credentials != nil:
		return configError("SASLMechanisms", "must name a mechanism when Credentials is set")
	case c.SessionLifetime != 0 && len(c.SASLMechanisms) == 0:
		return configError("SessionLifetime", "needs SASLMechanisms")
	case c.SessionLifetime < 0:
		return configError("SessionLifetime", "must not be negative, got %v", c.SessionLifetime)
	}
	return nil
}
