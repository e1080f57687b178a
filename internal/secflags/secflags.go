// Package secflags is the TLS and SASL flags of merlin's commands, and
// their conversion to the producer's Config.TLS and Config.SASL: embed
// Flags in a command's go-arg struct and call Producer.
//
// A password is never a flag value (flags show in ps and shell history):
// it comes from the environment variable MERLIN_SASL_PASSWORD or from the
// file --sasl-password-file names.
package secflags

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/producer"
)

// PasswordEnv is the environment variable the SASL password is read from
// when --sasl-password-file is not given.
const PasswordEnv = "MERLIN_SASL_PASSWORD"

// Flags are the connection security flags, for embedding in a go-arg
// struct.
type Flags struct {
	TLS              bool   `arg:"--tls" help:"connect to the brokers over TLS (implied by the other --tls-* flags)"`
	TLSCA            string `arg:"--tls-ca" placeholder:"FILE" help:"PEM file of the CA certificates that signed the brokers' certificates (default: the system's roots)"`
	TLSCert          string `arg:"--tls-cert" placeholder:"FILE" help:"PEM client certificate for mutual TLS (with --tls-key)"`
	TLSKey           string `arg:"--tls-key" placeholder:"FILE" help:"PEM private key of --tls-cert"`
	TLSServerName    string `arg:"--tls-server-name" placeholder:"NAME" help:"name the brokers' certificates must be for (default: each broker's host)"`
	SASLMechanism    string `arg:"--sasl-mechanism" placeholder:"MECH" help:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with --sasl-user; the password from $MERLIN_SASL_PASSWORD or --sasl-password-file)"`
	SASLUser         string `arg:"--sasl-user" placeholder:"USER" help:"SASL user"`
	SASLPasswordFile string `arg:"--sasl-password-file" placeholder:"FILE" help:"file holding the SASL password (its last line break is dropped); default: $MERLIN_SASL_PASSWORD"`
}

// Producer returns the producer's TLS and SASL settings for the flags (nil
// for what is off). lookupEnv is os.LookupEnv but for tests. An error
// names the flag at fault.
func (f Flags) Producer(lookupEnv func(string) (string, bool)) (*tls.Config, *producer.SASL, error) {
	tc, err := f.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	sasl, err := f.sasl(lookupEnv)
	if err != nil {
		return nil, nil, err
	}
	return tc, sasl, nil
}

// Apply sets cfg.TLS and cfg.SASL from the flags.
func (f Flags) Apply(cfg *producer.Config, lookupEnv func(string) (string, bool)) error {
	tc, sasl, err := f.Producer(lookupEnv)
	if err != nil {
		return err
	}
	cfg.TLS, cfg.SASL = tc, sasl
	return nil
}

func (f Flags) tlsConfig() (*tls.Config, error) {
	if !f.TLS && f.TLSCA == "" && f.TLSCert == "" && f.TLSKey == "" && f.TLSServerName == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.TLSServerName}
	if f.TLSCA != "" {
		pool, err := cli.CertPool("--tls-ca", f.TLSCA)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	cert, err := cli.KeyPair(f.TLSCert, f.TLSKey)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return tc, nil
}

func (f Flags) sasl(lookupEnv func(string) (string, bool)) (*producer.SASL, error) {
	if f.SASLMechanism == "" {
		if f.SASLUser != "" || f.SASLPasswordFile != "" {
			return nil, errors.New("--sasl-user and --sasl-password-file need --sasl-mechanism")
		}
		return nil, nil
	}
	mech, err := producer.ParseSASLMechanism(f.SASLMechanism)
	if err != nil {
		return nil, fmt.Errorf("--sasl-mechanism: %w", err)
	}
	if mech == producer.SASLOAuthBearer {
		return nil, errors.New("--sasl-mechanism: OAUTHBEARER needs a token provider, which only code can give (producer.SASL.TokenProvider)")
	}
	if f.SASLUser == "" {
		return nil, fmt.Errorf("--sasl-user: %s needs a user", mech)
	}
	var password string
	if f.SASLPasswordFile != "" {
		b, err := os.ReadFile(f.SASLPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--sasl-password-file: %w", err)
		}
		password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	} else {
		password, _ = lookupEnv(PasswordEnv)
	}
	if password == "" {
		return nil, fmt.Errorf("--sasl-mechanism %s: no password: set %s or --sasl-password-file", mech, PasswordEnv)
	}
	return &producer.SASL{Mechanism: mech, User: f.SASLUser, Password: producer.Secret(password)}, nil
}
