package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslFrames are request streams of SASL conversations: v1 (framed
// SaslAuthenticate) and v0 (a bare token) PLAIN authentications followed
// by a Metadata request, and a bad password.
func saslFrames() [][]byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	frame := func(req kmsg.Request, corr int32) []byte { return f.AppendRequest(nil, req, corr) }
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	token := []byte("\x00alice\x00alice-secret")
	v1 := slices.Concat(frame(kmsg.NewPtrApiVersionsRequest(), 1), frame(handshakeReq(1, SASLPlain), 2),
		frame(authReq(2, token), 3), frame(md, 4))
	v0 := slices.Concat(frame(handshakeReq(0, SASLPlain), 1), binary.BigEndian.AppendUint32(nil, uint32(len(token))), token,
		frame(md, 2))
	bad := slices.Concat(frame(handshakeReq(1, SASLScramSHA256), 1), frame(authReq(1, []byte("n,,n=alice,r=abc")), 2),
		frame(authReq(1, []byte("c=biws,r=abc,p=AAAA")), 3))
	return [][]byte{v1, v0, bad}
}

// FuzzHandleRequestSASL is FuzzHandleRequest on a broker requiring SASL:
// the authentication state machine, raw tokens and the refusal of requests
// before authentication. The loop must end with the input, a protocol
// error or an authentication failure, never a panic or a hang.
func FuzzHandleRequestSASL(f *testing.F) {
	addSeeds(f)
	for _, s := range saslFrames() {
		f.Add(s)
	}
	creds, err := NewMemoryCredentials(map[string]string{"alice": "alice-secret"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := New(Config{
			Logger:           slog.New(slog.DiscardHandler),
			MaxRequestSize:   1 << 20,
			IdleTimeout:      -1,
			SASLMechanisms:   allMechs,
			Credentials:      creds,
			AuthFailureDelay: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		b.maxFetchWait = 0
		c := newConn(b, nil)
		c.src = bytes.NewReader(data)
		c.onFlush = func([]byte) {}
		err = c.loop()
		if err == nil || !errors.Is(err, io.EOF) && !errors.Is(err, errProtocol) && !errors.Is(err, errAuth) && !errors.Is(err, errAcksZeroFailed) {
			t.Fatalf("loop ended with %v", err)
		}
	})
}

// The SASL seeds authenticate: the Metadata request after them is
// answered rather than closing the connection.
func TestSASLFuzzSeedsAuthenticate(t *testing.T) {
	creds, err := NewMemoryCredentials(map[string]string{"alice": "alice-secret"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Logger: slog.New(slog.DiscardHandler), SASLMechanisms: allMechs, Credentials: creds, AuthFailureDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, s := range saslFrames()[:2] {
		c := newConn(b, nil)
		c.src = bytes.NewReader(s)
		var out []byte
		c.onFlush = func(p []byte) { out = append(out, p...) }
		if err := c.loop(); !errors.Is(err, io.EOF) {
			t.Fatalf("stream %d ended with %v", i, err)
		}
		_ = c.flush()
		if c.sasl.state != stAuthenticated || len(out) == 0 {
			t.Fatalf("stream %d: state %d, %d bytes answered", i, c.sasl.state, len(out))
		}
	}
}
