package kfaketest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/merlinkafka/merlin/internal/testcert"
)

// Secure is a one-broker kfake cluster behind TLS that takes SASL user
// with password by mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), for
// commands' tests. CAFile is the PEM file of the CA that signed its
// certificate (for 127.0.0.1 and localhost).
type Secure struct {
	*kfake.Cluster
	CA     *testcert.CA
	CAFile string

	mechanism, user, password string
}

// NewSecure starts a Secure cluster with topics of two partitions; it
// closes with the test.
func NewSecure(t testing.TB, mechanism, user, password string, topics ...string) *Secure {
	t.Helper()
	ca := testcert.NewCA(t, "kfaketest CA")
	caFile, _, _ := ca.Files(t, t.TempDir(), "unused")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...), kfake.TLS(ca.ServerConfig(t)),
		kfake.EnableSASL(), kfake.Superuser(mechanism, user, password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &Secure{Cluster: c, CA: ca, CAFile: caFile, mechanism: mechanism, user: user, password: password}
}

// Flags returns the flags of package secflags, and --brokers, that connect
// a command to the cluster, and puts the password in the environment
// variable passwordEnv (secflags.PasswordEnv, which this package cannot
// import: secflags imports the producer, whose tests import this package)
// for the rest of the test.
func (s *Secure) Flags(t testing.TB, passwordEnv string) []string {
	t.Setenv(passwordEnv, s.password)
	return []string{"--brokers", s.ListenAddrs()[0], "--tls-ca", s.CAFile,
		"--sasl-mechanism", s.mechanism, "--sasl-user", s.user}
}
