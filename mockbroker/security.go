package mockbroker

import (
	"crypto/tls"
	"fmt"
	"maps"
	"slices"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/errs"
)

// SASL mechanisms, for the SASL option.
const (
	SASLPlain       = broker.SASLPlain
	SASLScramSHA256 = broker.SASLScramSHA256
	SASLScramSHA512 = broker.SASLScramSHA512
)

// security is the brokers' TLS and SASL settings.
type security struct {
	tls   *tls.Config
	mechs []string
	users map[string]string // until NewCluster derives the credentials
	creds broker.CredentialStore
}

// TLS makes every broker listen with TLS only, with cfg (which needs a
// certificate; set ClientAuth and ClientCAs for mutual TLS). Clients then
// need the CA of cfg's certificate, such as internal/testcert's.
func TLS(cfg *tls.Config) Option { return func(c *config) { c.security.tls = cfg } }

// SASL requires clients to authenticate with one of mechanisms
// (SASLPlain, SASLScramSHA256, SASLScramSHA512) as one of users (name to
// password) before any request but ApiVersions and SASL's own, as a Kafka
// SASL listener does: a wrong password is answered
// SASL_AUTHENTICATION_FAILED, and another request before authentication
// closes the connection. Failed attempts are answered at once (the
// brokers' AuthFailureDelay is off), so that tests of failures are quick.
func SASL(mechanisms []string, users map[string]string) Option {
	return func(c *config) {
		c.security.mechs = slices.Clone(mechanisms)
		c.security.users = maps.Clone(users)
	}
}

// validate checks the SASL option: its users need names.
func (s *security) validate() error {
	if len(s.mechs) == 0 {
		return nil
	}
	if len(s.users) == 0 {
		return errs.NewConfig("mockbroker", "SASL", "mechanisms %v need at least one user", s.mechs)
	}
	if _, ok := s.users[""]; ok {
		return errs.NewConfig("mockbroker", "SASL", "empty user name")
	}
	return nil
}

// prepare derives the SASL credentials, once for every broker.
func (s *security) prepare() error {
	if len(s.mechs) == 0 {
		return nil
	}
	creds, err := broker.NewMemoryCredentials(s.users)
	if err != nil {
		return fmt.Errorf("mockbroker: SASL: %w", err)
	}
	s.creds, s.users = creds, nil
	return nil
}

// apply sets cfg's TLS and SASL fields.
func (s *security) apply(cfg *broker.Config) {
	cfg.TLS = s.tls
	if len(s.mechs) > 0 {
		cfg.SASLMechanisms, cfg.Credentials, cfg.AuthFailureDelay = s.mechs, s.creds, -1
	}
}
