package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/cli"
)

// securityFlags are the listener's TLS and SASL flags, embedded in args.
type securityFlags struct {
	TLSCert          string   `arg:"--tls-cert" placeholder:"FILE" help:"PEM certificate (chain) of the broker: the listener speaks TLS only (with --tls-key)"`
	TLSKey           string   `arg:"--tls-key" placeholder:"FILE" help:"PEM private key of --tls-cert"`
	TLSClientCA      string   `arg:"--tls-client-ca" placeholder:"FILE" help:"PEM CA certificates: require client certificates signed by them (mutual TLS)"`
	SASL             string   `arg:"--sasl" placeholder:"MECHS" help:"require SASL authentication with these mechanisms, comma-separated: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (with --users)"`
	Users            string   `arg:"--users" placeholder:"FILE" help:"SASL users, one name:password a line (# comments); read at start, passwords then kept only as salted SCRAM hashes"`
	SessionLifetime  duration `arg:"--session-lifetime" default:"0" help:"SASL sessions last this long, then clients must re-authenticate (KIP-368, Kafka's connections.max.reauth.ms; 0: forever)" placeholder:"DURATION"`
	AuthFailureDelay duration `arg:"--auth-failure-delay" default:"100ms" help:"answer a failed SASL authentication after this delay; later attempts from the same IP are checked one per delay (Kafka's connection.failed.authentication.delay.ms)" placeholder:"DURATION"`
}

// apply sets cfg's TLS and SASL fields from the flags. An error names the
// flag at fault.
func (f securityFlags) apply(cfg *broker.Config) error {
	cert, err := cli.KeyPair(f.TLSCert, f.TLSKey)
	if err != nil {
		return err
	}
	if cert != nil {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	if f.TLSClientCA != "" {
		if cfg.TLS == nil {
			return errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		pool, err := cli.CertPool("--tls-client-ca", f.TLSClientCA)
		if err != nil {
			return err
		}
		cfg.TLS.ClientCAs, cfg.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	cfg.AuthFailureDelay = disabled(time.Duration(f.AuthFailureDelay))
	cfg.SessionLifetime = time.Duration(f.SessionLifetime)
	switch {
	case f.SASL == "" && f.Users != "":
		return errors.New("--users needs --sasl")
	case f.SASL == "" && f.SessionLifetime != 0:
		return errors.New("--session-lifetime needs --sasl")
	case f.SASL == "":
		return nil
	case f.Users == "":
		return errors.New("--sasl needs --users")
	}
	for m := range strings.SplitSeq(f.SASL, ",") {
		cfg.SASLMechanisms = append(cfg.SASLMechanisms, strings.ToUpper(strings.TrimSpace(m)))
	}
	creds, err := broker.OpenCredentialsFile(f.Users)
	if err != nil {
		return fmt.Errorf("--users: %w", err)
	}
	cfg.Credentials = creds
	return nil
}

// logSecurity logs what the listener requires of clients.
func logSecurity(logger *slog.Logger, cfg broker.Config) {
	users := 0
	if f, ok := cfg.Credentials.(*broker.FileCredentials); ok {
		users = f.Users()
	}
	mtls := cfg.TLS != nil && cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	logger.Info("security", "tls", cfg.TLS != nil, "client_certificates", mtls,
		"sasl", strings.Join(cfg.SASLMechanisms, ","), "users", users,
		"session_lifetime", cfg.SessionLifetime, "auth_failure_delay", max(cfg.AuthFailureDelay, 0))
	if cfg.TLS == nil && slices.Contains(cfg.SASLMechanisms, broker.SASLPlain) {
		logger.Warn("PLAIN without TLS: clients send their passwords in clear; add --tls-cert and --tls-key")
	}
}
