// Package scramclient is sarama's SCRAM client (sarama.SCRAMClient) on
// github.com/xdg-go/scram, for the producer and the commands' sarama
// clients alike.
package scramclient

import (
	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

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
