package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/merlinkafka/merlin/internal/kafkatest"
)

// findJavaFor checks what the Java side of the invocation needs: the jars
// of Kafka for --broker kafka, and java and the jars for the java system.
// When the java system was not asked for by name (explicit is false) and
// Java or the jars are missing, it is left out of names with a message;
// otherwise a missing piece is an error.
func findJavaFor(ctx context.Context, names []string, explicit, needKafka bool, stderr io.Writer) ([]string, *javaTool, error) {
	version := kafkatest.Version()
	if needKafka {
		if _, _, err := kafkatest.Classpath(version); err != nil {
			return nil, nil, fmt.Errorf("--broker kafka: %w", err)
		}
	}
	if !slices.Contains(names, javaSystem) {
		return names, nil, nil
	}
	j, err := findJava(ctx, version)
	switch {
	case err == nil:
		return names, j, nil
	case explicit || !errors.Is(err, kafkatest.ErrMissing):
		return nil, nil, fmt.Errorf("system java: %w", err)
	}
	fmt.Fprintf(stderr, "merlin-bench: leaving out system java (name it in --systems to make this an error): %v\n", err)
	return slices.DeleteFunc(names, func(s string) bool { return s == javaSystem }), nil, nil
}

// openSource returns the broker source of one --broker choice.
func openSource(ctx context.Context, a args, choice string, addrs []string, stderr io.Writer) (brokerSource, error) {
	switch {
	case choice == brokerKafka:
		return &kafkaBroker{version: kafkatest.Version(), heapMB: a.KafkaHeapMB, partitions: a.Partitions, stderr: stderr}, nil
	case len(addrs) > 0:
		return externalBrokers{addrs: addrs}, nil
	case a.InProcess:
		return inProcessBroker{partitions: a.Partitions}, nil
	}
	return newProcessBroker(ctx, a.BrokerBin, a.Partitions, stderr)
}

// benchBrokers runs every case on each broker choice in turn, one source
// at a time (so that Kafka's JVM is not running beside the bundled
// broker's runs), and puts the results in rep, grouped by case: a case's
// rows on the first broker, then on the next.
func benchBrokers(ctx context.Context, e *env, rep *report, choices []string, open func(choice string) (brokerSource, error), cases []benchCase, names []string) error {
	per := make([][]caseResult, 0, len(choices))
	for _, choice := range choices {
		src, err := open(choice)
		if err != nil {
			return err
		}
		rep.brokers = append(rep.brokers, brokerDesc{name: choice, desc: src.describe()})
		if len(choices) > 1 {
			fmt.Fprintf(e.stderr, "merlin-bench: broker %s: %s\n", choice, src.describe())
		}
		ce := *e
		ce.brokers = src
		res := bench(ctx, &ce, cases, names, rep.runs, e.stderr)
		src.cleanup()
		if len(choices) > 1 {
			for i := range res {
				res[i].broker = choice
			}
		}
		per = append(per, res)
	}
	for i := range cases {
		for _, res := range per {
			rep.cases = append(rep.cases, res[i])
		}
	}
	return nil
}
