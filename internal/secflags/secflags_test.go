package secflags

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/testcert"
	"github.com/merlinkafka/merlin/producer"
)

type testArgs struct {
	Brokers []string `arg:"--brokers,separate"`
	Flags
}

func parse(t *testing.T, argv ...string) Flags {
	t.Helper()
	var a testArgs
	var stderr strings.Builder
	if _, code, done := cli.Parse("test", &a, argv, io.Discard, &stderr); done {
		t.Fatalf("parse %v: exit %d: %s", argv, code, stderr.String())
	}
	return a.Flags
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// The flags, parsed as a command parses them, make a producer that
// connects to a TLS + SCRAM cluster.
func TestFlagsConnect(t *testing.T) {
	ca := testcert.NewCA(t, "CA")
	dir := t.TempDir()
	caFile, certFile, keyFile := ca.Files(t, dir, "client")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.TLS(ca.ServerConfig(t, "broker.test")),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "svc", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := parse(t, "--tls-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-server-name", "broker.test",
		"--sasl-mechanism", "scram-sha-512", "--sasl-user", "svc", "--sasl-password-file", pwFile)
	cfg := producer.Config{Brokers: c.ListenAddrs(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := f.Apply(&cfg, env(map[string]string{PasswordEnv: "not this one"})); err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.ServerName != "broker.test" || len(cfg.TLS.Certificates) != 1 || cfg.TLS.RootCAs == nil {
		t.Fatalf("TLS = %+v", cfg.TLS)
	}
	if cfg.SASL.Mechanism != producer.SASLScramSHA512 || cfg.SASL.User != "svc" || string(cfg.SASL.Password) != "s3cret" {
		t.Fatalf("SASL = %+v (the file's password, without its line break, wins over the environment)", *cfg.SASL)
	}
	p, err := producer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// The commands' other clients connect with the same settings.
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	Sarama(sc, cfg.TLS, cfg.SASL)
	sarc, err := sarama.NewClient(c.ListenAddrs(), sc)
	if err != nil {
		t.Fatalf("sarama: %v", err)
	}
	defer sarc.Close()
	if topics, err := sarc.Topics(); err != nil || len(topics) != 1 {
		t.Fatalf("sarama: topics %v, %v", topics, err)
	}
	kc, err := kgo.NewClient(append(Kgo(cfg.TLS, cfg.SASL), kgo.SeedBrokers(c.ListenAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if err := kc.Ping(ctx); err != nil {
		t.Fatalf("kgo: %v", err)
	}
	// Without them, neither gets in: the checks above can fail.
	plainc, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer plainc.Close()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if err := plainc.Ping(pctx); err == nil {
		t.Fatal("a client without TLS and SASL got in")
	}
}

func TestFlags(t *testing.T) {
	ca := testcert.NewCA(t, "CA")
	dir := t.TempDir()
	caFile, certFile, _ := ca.Files(t, dir, "client")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPassword := env(map[string]string{PasswordEnv: "from-env"})
	for _, tc := range []struct {
		name    string
		argv    []string
		env     func(string) (string, bool)
		wantErr string // "" for none
		check   func(t *testing.T, f Flags)
	}{
		{name: "nothing", argv: nil, check: func(t *testing.T, f Flags) {
			tc, sasl, _ := f.Producer(withPassword)
			if tc != nil || sasl != nil {
				t.Fatal("TLS or SASL set without flags")
			}
		}},
		{name: "--tls alone", argv: []string{"--tls"}, check: func(t *testing.T, f Flags) {
			tc, _, _ := f.Producer(withPassword)
			if tc == nil || tc.RootCAs != nil {
				t.Fatal("--tls should trust the system's roots")
			}
		}},
		{name: "server name implies TLS", argv: []string{"--tls-server-name", "k"}, check: func(t *testing.T, f Flags) {
			if tc, _, _ := f.Producer(withPassword); tc == nil || tc.ServerName != "k" {
				t.Fatal("--tls-server-name did not turn TLS on")
			}
		}},
		{name: "password from the environment", argv: []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u"}, env: withPassword,
			check: func(t *testing.T, f Flags) {
				if _, s, _ := f.Producer(withPassword); string(s.Password) != "from-env" {
					t.Fatal("password not taken from the environment")
				}
			}},
		{name: "no password", argv: []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u"}, env: env(nil), wantErr: PasswordEnv},
		{name: "no user", argv: []string{"--sasl-mechanism", "SCRAM-SHA-256"}, wantErr: "--sasl-user"},
		{name: "user without mechanism", argv: []string{"--sasl-user", "u"}, wantErr: "--sasl-mechanism"},
		{name: "unknown mechanism", argv: []string{"--sasl-mechanism", "GSSAPI", "--sasl-user", "u"}, wantErr: "--sasl-mechanism"},
		{name: "oauthbearer", argv: []string{"--sasl-mechanism", "OAUTHBEARER"}, wantErr: "token provider"},
		{name: "missing password file", argv: []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u", "--sasl-password-file", filepath.Join(dir, "nope")}, wantErr: "--sasl-password-file"},
		{name: "cert without key", argv: []string{"--tls-cert", certFile}, wantErr: "--tls-key"},
		{name: "key without cert", argv: []string{"--tls-key", certFile}, wantErr: "--tls-cert"},
		{name: "CA not PEM", argv: []string{"--tls-ca", notPEM}, wantErr: "--tls-ca"},
		{name: "CA missing", argv: []string{"--tls-ca", filepath.Join(dir, "nope")}, wantErr: "--tls-ca"},
		{name: "good CA", argv: []string{"--tls-ca", caFile}, check: func(t *testing.T, f Flags) {
			if tc, _, _ := f.Producer(withPassword); tc == nil || tc.RootCAs == nil {
				t.Fatal("--tls-ca not loaded")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parse(t, tc.argv...)
			e := tc.env
			if e == nil {
				e = withPassword
			}
			_, _, err := f.Producer(e)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Producer: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Producer: %v, want an error naming %s", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "from-env") {
				t.Fatalf("the error shows the password: %v", err)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// A password is not a flag: there is no --sasl-password.
func TestNoPasswordFlag(t *testing.T) {
	var a testArgs
	var stderr strings.Builder
	if _, code, done := cli.Parse("test", &a, []string{"--sasl-password", "x"}, io.Discard, &stderr); !done || code != cli.ExitUsage {
		t.Fatalf("--sasl-password was accepted (exit %d)", code)
	}
}
