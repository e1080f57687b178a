// Command merlin-demo shows merlin's producer riding out a broker outage.
//
// With no flags it starts merlin's bundled broker embedded in the process
// (on disk, in a temporary directory), produces keyed messages at a steady
// rate, takes the broker down for a few seconds and brings it back, printing
// what it is doing. On a terminal that is a screen redrawn in place: the
// partition workers (state, leader, buffered, replayed, acknowledged a
// second), a line a second counting the producer's events by the names
// statsd receives, the achieved rate against --rate, and a banner while
// the broker is down. Otherwise (or with --plain) it prints a few plain
// lines a second. Every line fits 100 columns. It ends by consuming everything back and printing one verdict:
//
//	sent 20000, acknowledged 20000, failed 0, consumed 20000, lost 0, duplicated 0, order kept
//
// and exits non-zero if anything was lost, failed, duplicated or reordered.
//
//	go run ./cmd/merlin-demo                 # one embedded broker on disk
//	go run ./cmd/merlin-demo --cluster 3     # a 3-broker mockbroker cluster
//	go run ./cmd/merlin-demo --brokers host:9092 --topic t   # a real cluster (no outage)
//
// A real cluster's connections take the security flags every merlin
// command has: --tls, --tls-ca, --tls-cert/--tls-key, --tls-server-name,
// --sasl-mechanism and --sasl-user, the password from MERLIN_SASL_PASSWORD
// or --sasl-password-file; the check that consumes everything back uses
// them too. The check reads each partition from where it ended when the
// run began, so runs against the same cluster and topic judge only their
// own messages.
package main

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/merlinkafka/merlin/internal/cli"
)

func main() { cli.Main(run) }

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	var a args
	p, code, done := cli.Parse("merlin-demo", &a, argv, stdout, stderr)
	if done {
		return code
	}
	if err := a.validate(); err != nil {
		return p.Usagef("%v", err)
	}
	d := &demo{args: a, out: stdout, errOut: stderr}
	if f, ok := stdout.(*os.File); ok && !a.Plain && term.IsTerminal(int(f.Fd())) {
		d.tty = f
	}
	return d.run(ctx)
}
