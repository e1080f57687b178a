package broker

// SaslHandshake (key 17), v0-v1, and SaslAuthenticate (key 36), v0-v2, as
// Kafka's SaslServerAuthenticator answers them:
//
//   - SaslHandshake for a mechanism that is not enabled:
//     UNSUPPORTED_SASL_MECHANISM with the enabled mechanisms, then the
//     connection is closed;
//   - credentials refused: SASL_AUTHENTICATION_FAILED with a message,
//     after Config.AuthFailureDelay, then the connection is closed;
//   - a SASL request out of order (SaslAuthenticate before SaslHandshake,
//     a second SaslHandshake during a conversation): ILLEGAL_SASL_STATE,
//     then the connection is closed;
//   - without SASL (Config.SASLMechanisms empty), both are answered
//     ILLEGAL_SASL_STATE and the connection stays open, as on Kafka's
//     PLAINTEXT and SSL listeners.
//
// SaslHandshake v0 makes the next frames bare SASL tokens (see
// handleRawToken); v1 makes them SaslAuthenticate requests.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
)

func (c *conn) handleSaslHandshake(req *kmsg.SASLHandshakeRequest) kmsg.Response {
	sec, s := c.b.sec, c.sasl
	if s == nil {
		return sec.saslHandshakeResponse(req, kerr.IllegalSaslState.Code)
	}
	refuse := func(code int16, why string) kmsg.Response {
		c.b.sec.authLog.Log("remote", c.remoteAddr(), "mechanism", req.Mechanism, "reason", why)
		s.closeErr = fmt.Errorf("%w: %s", errAuth, why)
		return sec.saslHandshakeResponse(req, code)
	}
	switch s.state {
	case stHandshake:
	case stAuthenticated:
		// KIP-368 re-authentication: SaslAuthenticate must follow, with
		// the same mechanism and user.
		if req.Version < 1 {
			return refuse(kerr.IllegalSaslState.Code, "SaslHandshake v0 on an authenticated connection")
		}
		if req.Mechanism != s.mech {
			return refuse(kerr.IllegalSaslState.Code, fmt.Sprintf("re-authentication may not change the SASL mechanism from %s", s.mech))
		}
		s.reauth = true
	default:
		return refuse(kerr.IllegalSaslState.Code, "SaslHandshake during a SASL authentication")
	}
	if !slices.Contains(sec.mechs, req.Mechanism) {
		return refuse(kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("unsupported SASL mechanism %q", req.Mechanism))
	}
	mech := strings.Clone(req.Mechanism) // it aliases the frame
	s.mech, s.step, s.attempted = mech, sec.newSASLStep(mech), false
	s.state = stAuthenticate
	if req.Version == 0 {
		s.state = stRaw
	}
	return sec.saslHandshakeResponse(req, 0)
}

func (c *conn) handleSaslAuthenticate(req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	s := c.sasl
	fail := func(code int16, msg string) *kmsg.SASLAuthenticateResponse {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp
	}
	switch {
	case s == nil:
		return fail(kerr.IllegalSaslState.Code, "SASL is not enabled on this listener"), nil
	case s.state != stAuthenticate:
		c.b.sec.authLog.Log("remote", c.remoteAddr(), "reason", "SaslAuthenticate without SaslHandshake v1 before it")
		s.closeErr = fmt.Errorf("%w: SaslAuthenticate out of order", errAuth)
		return fail(kerr.IllegalSaslState.Code, "Unexpected SaslAuthenticate request: no SaslHandshake v1 before it"), nil
	}
	answer, err := c.saslStep(req.SASLAuthBytes, req.Version)
	if af := (*authFailure)(nil); errors.As(err, &af) {
		return fail(kerr.SaslAuthenticationFailed.Code, af.msg), nil
	}
	if err != nil {
		return nil, err
	}
	resp.SASLAuthBytes = answer
	if s.state == stAuthenticated && !s.expiry.IsZero() {
		resp.SessionLifetimeMillis = c.b.sec.lifetime.Milliseconds()
	}
	return resp, nil
}

// scramStep is the server side of SCRAM (RFC 5802, 7677), by xdg-go/scram,
// with the credentials of a CredentialStore.
type scramStep struct {
	mech string
	conv *scram.ServerConversation
	ctx  context.Context // of the token being handled, for the lookup
	// storeErr is the store's failure (not an unknown user): the broker's
	// fault, not the client's.
	storeErr error
	// For librdkafkaFinal: the client's first message, the server's
	// answer, and the credentials looked up.
	first, serverFirst string
	creds              SCRAMCredentials
}

func newSCRAMStep(creds CredentialStore, mech string) *scramStep {
	s := &scramStep{mech: mech}
	hash := scram.SHA256
	if mech == SASLScramSHA512 {
		hash = scram.SHA512
	}
	lookup := func(user string) (scram.StoredCredentials, error) {
		sc, err := creds.SCRAM(s.ctx, mech, user)
		if err != nil {
			if !errors.Is(err, ErrUnknownUser) {
				s.storeErr = err
			}
			return scram.StoredCredentials{}, err
		}
		s.creds = sc
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(sc.Salt), Iters: sc.Iterations},
			StoredKey:  sc.StoredKey,
			ServerKey:  sc.ServerKey,
		}, nil
	}
	srv, err := hash.NewServer(lookup)
	if err != nil {
		// NewServer fails on no input: unreachable.
		panic(err)
	}
	s.conv = srv.NewConversation()
	return s
}

func (s *scramStep) step(ctx context.Context, token []byte) ([]byte, bool, string, error) {
	s.ctx = ctx
	msg := string(token)
	switch {
	case s.first == "":
		s.first = msg
	case s.serverFirst != "":
		if answer, ok := s.librdkafkaFinal(msg); ok {
			return answer, true, s.conv.Username(), nil
		}
	}
	answer, err := s.conv.Step(msg)
	if err == nil && s.serverFirst == "" {
		s.serverFirst = answer
	}
	user := s.conv.Username()
	if s.storeErr != nil {
		return nil, false, user, s.storeErr
	}
	if err != nil || s.conv.Done() && !s.conv.Valid() {
		// As Kafka, tell the client nothing of why (the user may not
		// exist); the log says.
		return nil, false, user, &authFailure{msg: "Authentication failed during authentication due to invalid credentials with SASL mechanism " + s.mech, cause: err}
	}
	return []byte(answer), s.conv.Done(), user, nil
}

// librdkafkaFinal checks a client-final-message whose nonce is the client's
// nonce followed by the whole server nonce, which librdkafka sends (2.0.2,
// Debian bookworm's, does; kcat and confluent-kafka use it): RFC 5802 wants the server nonce alone, and xdg-go/scram refuses
// anything else, but Kafka only checks that the nonce ends with the server
// nonce (ScramSaslServer), so these clients work with Kafka. For such a
// message, and only then, the proof is checked here as RFC 5802 section 3
// computes it, with the stored credentials; ok is false for any other
// message (left to xdg-go/scram) and for a wrong proof.
func (s *scramStep) librdkafkaFinal(msg string) (answer []byte, ok bool) {
	fields := strings.Split(msg, ",")
	cut := strings.LastIndex(msg, ",p=")
	sfields := strings.Split(s.serverFirst, ",")
	if len(fields) < 3 || cut < 0 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") || !strings.HasPrefix(sfields[0], "r=") {
		return nil, false
	}
	nonce, want := fields[1][2:], sfields[0][2:]
	if nonce == want || !strings.HasSuffix(nonce, want) {
		return nil, false
	}
	// The channel binding is the base64 of the GS2 header, without
	// channel binding data (xdg-go/scram accepted the header).
	gs2 := s.first[:strings.Index(s.first, ",")+1]
	gs2 += s.first[len(gs2) : len(gs2)+strings.Index(s.first[len(gs2):], ",")+1]
	if fields[0][2:] != base64.StdEncoding.EncodeToString([]byte(gs2)) {
		return nil, false
	}
	proof, err := base64.StdEncoding.DecodeString(msg[cut+3:])
	hash := sha256.New
	if s.mech == SASLScramSHA512 {
		hash = sha512.New
	}
	if err != nil || len(proof) != hash().Size() || len(s.creds.StoredKey) != hash().Size() {
		return nil, false
	}
	authMessage := []byte(s.first[len(gs2):] + "," + s.serverFirst + "," + msg[:cut])
	mac := func(key []byte) []byte {
		m := hmac.New(hash, key)
		m.Write(authMessage)
		return m.Sum(nil)
	}
	clientKey := mac(s.creds.StoredKey) // ClientSignature, then ClientKey
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	h := hash()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), s.creds.StoredKey) {
		return nil, false
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(s.creds.ServerKey))), true
}
