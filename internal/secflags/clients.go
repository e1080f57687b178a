package secflags

import (
	"crypto/tls"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/merlinkafka/merlin/internal/saramasasl"
	"github.com/merlinkafka/merlin/producer"
)

// The commands' other clients (merlin-demo's sarama checker, merlin-bench's
// kgo admin, consumer and compared systems) connect to the cluster the
// producer does, with the same settings: these map the producer's TLS and
// SASL onto them. OAUTHBEARER is not mapped: the flags never give it.

// Sarama sets sc's TLS and SASL to tc and s (nil: off).
func Sarama(sc *sarama.Config, tc *tls.Config, s *producer.SASL) {
	if tc != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if s == nil {
		return
	}
	saramasasl.Apply(sc, string(s.Mechanism), s.User, string(s.Password), s.AuthzID)
}

// Kgo returns the kgo options for tc and s (nil: off).
func Kgo(tc *tls.Config, s *producer.SASL) []kgo.Opt {
	var opts []kgo.Opt
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s == nil {
		return opts
	}
	var m sasl.Mechanism
	switch s.Mechanism {
	case producer.SASLPlain:
		m = plain.Auth{User: s.User, Pass: string(s.Password), Zid: s.AuthzID}.AsMechanism()
	case producer.SASLScramSHA256:
		m = scram.Auth{User: s.User, Pass: string(s.Password), Zid: s.AuthzID}.AsSha256Mechanism()
	case producer.SASLScramSHA512:
		m = scram.Auth{User: s.User, Pass: string(s.Password), Zid: s.AuthzID}.AsSha512Mechanism()
	default:
		return opts
	}
	return append(opts, kgo.SASL(m))
}
