// Package devbroker gives merlin's examples and tools a Kafka to talk to:
// the brokers named by the user, or, when none are, a bundled broker with
// in-memory storage started inside the process.
package devbroker

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/merlinkafka/merlin/broker"
)

// Env is the environment variable consulted when no brokers are given.
const Env = "MERLIN_BROKERS"

// Start returns bootstrap addresses and a function that releases them.
// brokers is a comma-separated list; when it is empty, $MERLIN_BROKERS is
// used; when that is empty too, an in-memory bundled broker is started on a
// free loopback port, with topics auto-created with partitions partitions.
func Start(brokers string, partitions int32) (addrs []string, stop func(), err error) {
	if brokers == "" {
		brokers = os.Getenv(Env)
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			addrs = append(addrs, b)
		}
	}
	if len(addrs) > 0 {
		return addrs, func() {}, nil
	}
	b, err := broker.New(broker.Config{
		DefaultPartitions: partitions,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := b.Start(); err != nil {
		return nil, nil, err
	}
	return []string{b.Addr()}, func() { b.Close() }, nil
}
