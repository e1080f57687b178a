// Package saramasasl sets sarama's SASL settings, with a SCRAM client
// (sarama.SCRAMClient) on github.com/xdg-go/scram, for the producer and
// the commands' sarama clients alike.
package saramasasl

import (
	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Apply enables SASL in sc with mechanism (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512 or OAUTHBEARER, whose token provider the caller sets), the
// credentials and the optional authorization identity, over Kafka's v1
// handshake.
func Apply(sc *sarama.Config, mechanism, user, password, authzID string) {
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Version = sarama.SASLHandshakeV1
	sc.Net.SASL.Mechanism = sarama.SASLMechanism(mechanism)
	sc.Net.SASL.User = user
	sc.Net.SASL.Password = password
	sc.Net.SASL.AuthIdentity = authzID
	sc.Net.SASL.SCRAMAuthzID = authzID
	sc.Net.SASL.SCRAMClientGeneratorFunc = Generator(mechanism)
}

// Generator returns sarama's SCRAMClientGeneratorFunc for mechanism
// SCRAM-SHA-256 or SCRAM-SHA-512; nil for any other.
func Generator(mechanism string) func() sarama.SCRAMClient {
	var hash scram.HashGeneratorFcn
	switch mechanism {
	case sarama.SASLTypeSCRAMSHA256:
		hash = scram.SHA256
	case sarama.SASLTypeSCRAMSHA512:
		hash = scram.SHA512
	default:
		return nil
	}
	return func() sarama.SCRAMClient { return &client{hash: hash} }
}

type client struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *client) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *client) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *client) Done() bool { return c.conv.Done() }
