package producer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

// A managed cluster with SCRAM over TLS (Amazon MSK's port 9096, for one):
// the CA file is only needed when the brokers' certificates are not
// signed by a CA the system trusts. Ping checks the credentials and the
// certificate before any message is produced.
func Example_scramOverTLS() {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if pem, err := os.ReadFile("/etc/kafka/ca.pem"); err == nil {
		tc.RootCAs = x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(pem)
	}
	p, err := producer.New(producer.Config{
		Brokers: []string{"b-1.example.kafka.eu-west-1.amazonaws.com:9096"},
		TLS:     tc,
		SASL: &producer.SASL{
			Mechanism: producer.SASLScramSHA512,
			User:      "ingest",
			Password:  producer.Secret(os.Getenv("MERLIN_SASL_PASSWORD")),
		},
	})
	if err != nil {
		log.Fatal(err) // an invalid configuration: the error names the field
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer p.Close(ctx)
	switch err := p.Ping(ctx); {
	case errors.Is(err, producer.ErrAuthentication):
		log.Fatalf("wrong user or password: %v", err)
	case errors.Is(err, producer.ErrTLS):
		var hostErr x509.HostnameError
		if errors.As(err, &hostErr) {
			log.Fatalf("set TLS.ServerName: %v", err)
		}
		log.Fatal(err)
	case err != nil:
		log.Fatalf("cluster unreachable: %v", err) // wraps ErrNoBrokers
	}
	if _, err := p.ProduceSync(ctx, "events", producer.Message{Value: []byte("hello")}); err != nil {
		log.Fatal(err)
	}
}

// OAUTHBEARER takes tokens from a provider, which merlin calls again once
// 80% of a token's lifetime has passed.
func ExampleTokenProvider() {
	provider := func(ctx context.Context) (producer.Token, error) {
		// Ask the identity provider here (an OAuth client-credentials
		// grant), within ctx.
		return producer.Token{Value: "eyJhbGciOi...", Expiry: time.Now().Add(time.Hour)}, nil
	}
	_ = producer.Config{
		Brokers: []string{"pkc-12345.eu-west-1.aws.confluent.cloud:9092"},
		TLS:     &tls.Config{MinVersion: tls.VersionTLS12},
		SASL:    &producer.SASL{Mechanism: producer.SASLOAuthBearer, TokenProvider: provider},
	}
}

// Secrets print redacted, whichever way they are printed.
func ExampleSecret() {
	sasl := producer.SASL{Mechanism: producer.SASLPlain, User: "API-KEY", Password: "api-secret"}
	fmt.Println(sasl)
	fmt.Printf("%#v\n", sasl.Password)
	fmt.Println(producer.Config{Brokers: []string{"b:9092"}, SASL: &sasl}.SASL)
	// Output:
	// SASL{Mechanism:PLAIN User:API-KEY Password:[REDACTED] AuthzID: TokenProvider:false}
	// producer.Secret("[REDACTED]")
	// SASL{Mechanism:PLAIN User:API-KEY Password:[REDACTED] AuthzID: TokenProvider:false}
}
