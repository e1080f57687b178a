// Command merlin-http is an HTTP ingest gateway in front of merlin's
// producer. Services that cannot link a Kafka client POST events to it and it
// produces them to Kafka.
//
//	merlin-http --brokers localhost:9092
//	curl -d 'hello' 'http://127.0.0.1:8000/sync/clicks?key=user-42'
//	{"topic":"clicks","results":[{"partition":1,"offset":0}]}
//
// # Routes
//
// The produce routes are kafboy's, one per produce mode of the producer
// (see package producer). A trailing slash is accepted, as kafboy's
// /sync/:topic/ had one.
//
//	POST /sync/{topic}         ProduceSync: waits for the broker's acknowledgement
//	                           200 {"topic":"t","results":[{"partition":0,"offset":41},...]}
//	POST /async/{topic}        ProduceAsync: sent at once, not waited for
//	                           200 {"ok":1}
//	POST /batch/sync/{topic}   ProduceSyncBatched: added to the partitions' batches
//	                           200 {"topic":"t","buffered":[{"partition":0,"len":12},...]}
//	POST /batch/async/{topic}  ProduceAsyncBatched: added to the batches
//	                           200 {"ok":1}
//	GET  /healthz              200 {"ok":1,"buffered_messages":..,"delivered":..,"failed":..,...}
//	                           503 while shutting down
//	GET  /metadata/{topic}     brokers, and per partition its leader, whether it is up,
//	                           its worker's state and how many messages it holds
//
// Unlike kafboy, which answered {"ok":1} before producing, the async routes
// answer once the producer has ACCEPTED the messages: they are buffered
// (counted against the producer's buffer limits) and will be delivered or
// reported failed. Failures after that point can no longer reach the
// client: they are logged (at most one line a second, with a count) and
// counted in /healthz. Use /sync when the client must know.
//
// Results are in request order. With --acks none the broker does not
// answer and offsets are -1.
//
// # Body format
//
// One rule: with Content-Type application/json and a body that is a JSON
// array, the body is a list of messages; any other body is the value of
// one message, byte for byte.
//
// A raw body (any other content type, or none) is one message. Its key
// comes from the query parameter ?key= or the header X-Merlin-Key. A JSON
// object or string sent as application/json is such a raw body too (it must
// be valid JSON), so kafboy clients that post one JSON event per request
// keep working.
//
// A JSON array produces all its messages in one produce call, all or none
// accepted. Each element is an object:
//
//	{
//	  "key": "user-42",                  // string; absent, null or "" is no key
//	  "value": {"any": "JSON"},          // see below
//	  "value_base64": "AAEC",            // instead of value, for binary values
//	  "headers": {"trace": "abc"},       // string (or null) values, kept in order, duplicates kept
//	  "timestamp": 1700000000000         // Unix milliseconds; default: when accepted
//	}
//
// The value of a message is:
//   - a JSON string: its contents, unescaped ("value": "hi" produces hi);
//   - any other JSON (object, array, number, true, false): the JSON text
//     byte for byte as it appears in the request;
//   - absent or null: a null value (a Kafka tombstone);
//   - value_base64: the decoded bytes (standard base64, padded).
//
// Unknown fields are rejected, so that a typo does not silently produce
// a message without its key. ?key= and X-Merlin-Key are rejected with a
// JSON array: its messages carry their own keys. An empty body and an
// empty array are rejected: there is nothing to produce (send
// [{"value": ""}] for one empty value).
//
// # Status codes
//
// Every error body is JSON: {"error": "..."}.
//
//	400  bad body, bad JSON, unknown field, empty or invalid topic name
//	404  no such route
//	405  wrong method (with Allow)
//	413  body larger than --max-body
//	422  message larger than the producer's batch limit (1 MiB), unknown topic
//	     (the cluster does not auto-create it)
//	502  a broker refused the messages with a non-retriable error; /sync adds
//	     the per-message results
//	503  producer buffer full, no broker reachable, gateway shutting down, or a
//	     retriable broker error: with Retry-After, try again
//	504  --timeout passed first. On /sync the messages may have been accepted
//	     and may still be delivered: retrying may duplicate them. On the
//	     other routes (which only wait for topic metadata) nothing was
//	     accepted. Also on /sync when the producer gave up on a message
//	     (its delivery timeout, 2 minutes, passed).
//	499  the client went away before the answer
//
// The producer rejects at once when its buffer is full (policy Reject):
// a gateway should shed load with 503 rather than hold connections open.
//
// # TLS and SASL
//
// --tls (and --tls-ca, --tls-cert/--tls-key, --tls-server-name) connect to
// the brokers over TLS; --sasl-mechanism PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512 with --sasl-user authenticates, with the password from the
// MERLIN_SASL_PASSWORD environment variable or --sasl-password-file (never
// a flag: flags show in ps). With either set the gateway pings the cluster
// at start and exits 1 if it refuses the credentials or the certificate:
//
//	MERLIN_SASL_PASSWORD=... merlin-http --brokers b-1.example:9096 \
//	    --tls --sasl-mechanism SCRAM-SHA-512 --sasl-user ingest
//
// # Shutdown
//
// On SIGINT or SIGTERM the gateway stops accepting connections and lets
// requests under way finish (up to --shutdown-timeout), then closes the
// producer, which sends everything it accepted and waits for the answers
// (again up to --shutdown-timeout). It logs how many messages were
// delivered during shutdown and how many were not; those were reported
// failed, and the exit status is 1. A second signal kills the process.
//
// The listen address is printed on stdout on start
// ("merlin-http listening on http://127.0.0.1:8000"); logs go to stderr
// through log/slog. Exit status: 0 after a clean shutdown with every
// accepted message delivered, 1 on a runtime failure (port taken, server
// error, undelivered messages, refused credentials or certificate), 2 for
// bad flags.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/secflags"
	"github.com/merlinkafka/merlin/producer"
)

func main() { cli.Main(run) }

type args struct {
	Listen          string        `arg:"--listen" default:"127.0.0.1:8000" placeholder:"HOST:PORT" help:"address to serve HTTP on (host:port; port 0 picks a free one)"`
	Brokers         []string      `arg:"--brokers,separate" placeholder:"HOST:PORT" help:"bootstrap brokers of the Kafka cluster (required); repeat the flag or separate with commas"`
	MaxBody         cli.ByteSize  `arg:"--max-body" default:"10MiB" placeholder:"SIZE" help:"largest request body accepted (413 above it); bytes or with a unit: KB, MB (powers of 1000), KiB, MiB (powers of 1024)"`
	Timeout         time.Duration `arg:"--timeout" placeholder:"DURATION" default:"30s" help:"how long /sync waits for the broker's acknowledgement (504 after it; the messages may still be delivered), and how long other routes wait for a topic's metadata"`
	Linger          time.Duration `arg:"--linger" placeholder:"DURATION" default:"10ms" help:"batch TTL (ekaf's buffer_ttl) of the /batch routes: a batch that does not fill is sent this long after its first message; 0 sends at once"`
	Acks            string        `arg:"--acks" default:"all" placeholder:"all|leader|none" help:"acknowledgement the producer asks for: all (every in-sync replica; idempotent), leader, or none (offsets unknown, reported as -1)"`
	Compression     string        `arg:"--compression" default:"none" placeholder:"CODEC" help:"batch compression: none, gzip, snappy, lz4 or zstd"`
	ClientID        string        `arg:"--client-id" default:"merlin-http" placeholder:"ID" help:"client id sent to the brokers"`
	ShutdownTimeout time.Duration `arg:"--shutdown-timeout" placeholder:"DURATION" default:"30s" help:"on SIGINT/SIGTERM, how long requests under way may take to finish, and then how long the producer may take to deliver what it accepted"`
	LogLevel        string        `arg:"--log-level" default:"info" placeholder:"LEVEL" help:"debug (one line per request), info, warn or error"`
	secflags.Flags

	// Resolved by validate.
	acks        producer.Acks
	compression producer.Compression
	level       slog.Level
	tls         *tls.Config
	sasl        *producer.SASL
}

func (args) Description() string {
	return "merlin-http: an HTTP gateway that produces what it is POSTed to Kafka (kafboy's routes).\n" +
		"Routes: POST /sync/{topic}, /async/{topic}, /batch/sync/{topic}, /batch/async/{topic};\n" +
		"GET /healthz, /metadata/{topic}. A raw body is one message (key from ?key= or X-Merlin-Key);\n" +
		"an application/json array is many: [{\"key\":\"k\",\"value\":<JSON or string>,\"headers\":{\"h\":\"v\"}}].\n" +
		"See `go doc github.com/merlinkafka/merlin/cmd/merlin-http` for the details."
}

func (a *args) validate() error {
	if len(a.Brokers) == 0 {
		return errors.New("--brokers is required: the bootstrap brokers (host:port) of the Kafka cluster")
	}
	a.Brokers = cli.List(a.Brokers...)
	if len(a.Brokers) == 0 {
		return errors.New("--brokers: at least one bootstrap broker (host:port) is needed")
	}
	acks, err := producer.ParseAcks(a.Acks)
	if err != nil {
		return fmt.Errorf("--acks: %q is not all, leader or none", a.Acks)
	}
	a.acks = acks
	c, err := producer.ParseCompression(a.Compression)
	if err != nil {
		return fmt.Errorf("--compression: %q is not none, gzip, snappy, lz4 or zstd", a.Compression)
	}
	a.compression = c
	if a.tls, a.sasl, err = a.Flags.Producer(os.LookupEnv); err != nil {
		return err
	}
	if err := a.level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %q is not debug, info, warn or error", a.LogLevel)
	}
	switch {
	case a.Listen == "":
		return errors.New("--listen must not be empty")
	case a.MaxBody < 1:
		return errors.New("--max-body must be at least 1 byte")
	case a.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, not %v", a.Timeout)
	case a.Linger < 0:
		return fmt.Errorf("--linger must not be negative, not %v", a.Linger)
	case a.ShutdownTimeout <= 0:
		return fmt.Errorf("--shutdown-timeout must be positive, not %v", a.ShutdownTimeout)
	case a.ClientID == "":
		return errors.New("--client-id must not be empty")
	}
	if err := a.producerConfig(nil, nil).Validate(); err != nil {
		return err
	}
	return nil
}

// producerConfig is the producer's configuration for these flags.
func (a *args) producerConfig(log *slog.Logger, onDelivery func(producer.Message, producer.Result)) producer.Config {
	ttl := a.Linger
	if ttl == 0 {
		// The producer reads a zero TTL as "the default"; the smallest
		// positive one sends a batch as soon as its worker sees it.
		ttl = time.Nanosecond
	}
	return producer.Config{
		Brokers:     a.Brokers,
		ClientID:    a.ClientID,
		TTL:         ttl,
		Acks:        a.acks,
		Compression: a.compression,
		// A gateway sheds load (503 and Retry-After) rather than holding
		// HTTP connections open while the buffer is full.
		BufferFull: producer.Reject,
		OnDelivery: onDelivery,
		Logger:     log,
		TLS:        a.tls,
		SASL:       a.sasl,
	}
}

// checkSecurity pings the cluster when TLS or SASL is set, so that refused
// credentials or an untrusted certificate stop the gateway at start
// rather than failing every request. A cluster that is only unreachable
// does not: the producer retries, and /healthz says so.
func (a *args) checkSecurity(ctx context.Context, p *producer.Producer, log *slog.Logger) error {
	if a.tls == nil && a.sasl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	err := p.Ping(ctx)
	if errors.Is(err, producer.ErrAuthentication) || errors.Is(err, producer.ErrTLS) {
		return err
	}
	if err != nil {
		log.Warn("cluster not reachable yet", "err", err)
	}
	return nil
}

// parseArgs parses and validates argv. ok false means the program should
// exit with code.
func parseArgs(argv []string, stdout, stderr io.Writer) (a args, code int, ok bool) {
	p, code, done := cli.Parse("merlin-http", &a, argv, stdout, stderr)
	if done {
		return a, code, false
	}
	if err := a.validate(); err != nil {
		return a, p.Usagef("%v", err), false
	}
	return a, cli.ExitOK, true
}

// run is the whole program, testable: it returns the exit code. It serves
// until ctx ends, then shuts down gracefully.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	a, code, ok := parseArgs(argv, stdout, stderr)
	if !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: a.level}))

	ln, err := net.Listen("tcp", a.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "merlin-http: cannot listen on %s: %v\n", a.Listen, err)
		return 1
	}
	stats := newDeliveryStats(log)
	p, err := producer.New(a.producerConfig(log, stats.onDelivery))
	if err != nil {
		ln.Close()
		fmt.Fprintln(stderr, "merlin-http:", err)
		return 2
	}
	if err := a.checkSecurity(ctx, p, log); err != nil {
		ln.Close()
		closeCtx, cancel := context.WithTimeout(context.Background(), a.ShutdownTimeout)
		defer cancel()
		_ = p.Close(closeCtx)
		fmt.Fprintln(stderr, "merlin-http:", err)
		return 1
	}
	g := newGateway(p, stats, int64(a.MaxBody), a.Timeout, log)
	srv := &http.Server{
		Handler:           g.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "merlin-http listening on http://%s\n", ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "brokers", strings.Join(a.Brokers, ","),
		"acks", a.acks.String(), "compression", a.compression.String(), "linger", a.Linger,
		"timeout", a.Timeout, "max_body", int64(a.MaxBody), "tls", a.tls != nil, "sasl", a.SASLMechanism)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	exit := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-served:
		log.Error("HTTP server failed", "err", err)
		exit = 1
	}
	if g.shutdown(srv, a.ShutdownTimeout) != nil {
		exit = 1
	}
	return exit
}

// shutdown stops the HTTP server, letting requests under way finish, then
// closes the producer. It returns an error if messages went undelivered.
func (g *gateway) shutdown(srv *http.Server, bound time.Duration) error {
	g.closing.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	err := srv.Shutdown(ctx)
	cancel()
	if err != nil {
		g.log.Warn("requests still under way when the shutdown timeout passed; closing their connections", "err", err)
		srv.Close()
	}

	pending, _ := g.p.BufferedMessages()
	delivered0, failed0 := g.stats.delivered.Load(), g.stats.failed.Load()
	g.log.Info("closing the producer", "pending_messages", pending, "timeout", bound)
	ctx, cancel = context.WithTimeout(context.Background(), bound)
	defer cancel()
	closeErr := g.p.Close(ctx)
	delivered := g.stats.delivered.Load() - delivered0
	undelivered := g.stats.failed.Load() - failed0
	g.stats.flushLog()
	attrs := []any{"pending_messages", pending, "delivered", delivered, "undelivered", undelivered,
		"delivered_total", g.stats.delivered.Load(), "failed_total", g.stats.failed.Load()}
	if closeErr != nil || undelivered > 0 {
		if closeErr != nil {
			attrs = append(attrs, "err", closeErr)
		}
		g.log.Error("shut down with undelivered messages: they were reported failed", attrs...)
		return fmt.Errorf("%d messages undelivered", undelivered)
	}
	g.log.Info("shut down: every accepted message was delivered", attrs...)
	return nil
}
