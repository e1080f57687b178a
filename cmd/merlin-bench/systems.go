package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/merlinkafka/merlin/internal/secflags"
	"github.com/merlinkafka/merlin/producer"
)

// A client is one system's producer, opened for one run. Every message it
// accepts must end in exactly one call of the done function it was opened
// with.
type client interface {
	// produceList hands vals to the producer in one call where the API has
	// one (merlin), or in a loop of single sends (kgo, sarama).
	produceList(ctx context.Context, topic string, vals [][]byte) error
	// produceOne hands one message to the producer.
	produceOne(ctx context.Context, topic string, val []byte) error
	// produceSync sends one message and waits for its acknowledgement.
	produceSync(ctx context.Context, topic string, val []byte) error
	// close waits for whatever is buffered and releases the producer.
	close(ctx context.Context) error
}

// openOptions are what every system is opened with.
type openOptions struct {
	brokers []string
	// setup is --config, --linger and --buffer-bound.
	setup setup
	// size is the row's message size: --buffer-bound's byte limits are
	// counted from it.
	size int
	// immediate asks for sends without batching delay: merlin's
	// ProduceAsync instead of ProduceAsyncBatched, linger 0 for the others
	// in the tuned config (the defaults config keeps their own).
	immediate bool
	// sync opens the client for produceSync only (sarama's SyncProducer).
	// Outcomes are then what produceSync returns, and done is not called.
	sync bool
	// done is called once for every message produced asynchronously, with
	// its outcome.
	done func(error)
	// sec is the connections' TLS and SASL.
	sec security
}

// security is the TLS and SASL of an existing cluster's connections (nil:
// off), from the secflags flags, for every client the bench opens.
type security struct {
	tls  *tls.Config
	sasl *producer.SASL
}

func (s security) kgo() []kgo.Opt { return secflags.Kgo(s.tls, s.sasl) }

// opener opens one system's client.
type opener func(ctx context.Context, o openOptions) (client, error)

// systems are the systems the bench knows, by name.
var systems = map[string]opener{
	"merlin": openMerlin,
	"kgo":    openKgo,
	"sarama": openSarama,
}

// systemOrder is the default order of systems in the table. java, Kafka's
// Java producer in ProducerPerformance, is no opener: runOnce runs it as a
// process of its own (sys_java.go).
var systemOrder = []string{"merlin", "kgo", "sarama", javaSystem}

// known reports whether the bench has a system of that name.
func known(name string) bool { return systems[name] != nil || name == javaSystem }

// supports reports whether system can run case c: ProducerPerformance only
// sends one message a call, asynchronously.
func supports(system string, c benchCase) bool {
	return system != javaSystem || c.kind == kindOne
}

// parseSystems reads a comma-separated list of system names.
func parseSystems(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if !known(name) {
			names := []string{javaSystem}
			for k := range systems {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("unknown system %q (want %s)", name, strings.Join(names, ", "))
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no system given")
	}
	// merlin first: the others are compared to it.
	sort.SliceStable(out, func(i, j int) bool { return out[i] == "merlin" && out[j] != "merlin" })
	return out, nil
}
