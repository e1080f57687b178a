// Command merlin-broker runs merlin's Kafka-protocol broker: a single node
// that Kafka clients (kcat, librdkafka, franz-go, sarama, kafka-python, ...)
// produce to and consume from, for local development, tests and small
// deployments.
//
// Usage:
//
//	merlin-broker [--listen HOST:PORT] [--dir DIR | --memory] [--fsync POLICY]
//	              [--segment-bytes SIZE] [--segment-records N] [--segment-age DURATION]
//	              [--retention DURATION] [--retention-bytes SIZE] [--retention-check DURATION]
//	              [--partitions N] [--max-open-files N] [--log-level LEVEL]
//	              [--max-partitions N] [--max-partitions-per-topic N]
//	              [--max-connections N|auto] [--max-connections-per-ip N]
//	              [--idle-timeout DURATION] [--request-timeout DURATION]
//	              [--max-fetch-wait DURATION] [--max-request-size SIZE]
//	              [--queued-max-request-bytes SIZE] [--verify-on-start]
//	              [--metrics HOST:PORT] [--console HOST:PORT]
//	              [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
//	              [--sasl MECHS --users FILE [--session-lifetime DURATION]]
//	              [--auth-failure-delay DURATION]
//	merlin-broker verify [--dir DIR]
//
// It prints "merlin-broker listening on HOST:PORT" once it accepts
// connections, and stops cleanly on SIGINT or SIGTERM (fsyncing every
// partition and releasing its data directory).
//
// # Storage
//
// Data lives on disk in --dir (default ./merlin-data), one segmented log per
// topic-partition (package seglog), with the topic list beside them
// (broker.DiskStorage documents the layout). Topics, partitions, records and
// offsets survive a restart. The directory is guarded by an OS advisory lock
// (flock) held while the broker runs: a second broker on it fails at once,
// and the kernel drops the lock when the process dies, so that a broker
// killed with kill -9 restarts on the same directory without anyone deleting
// anything. On restart each partition's newest segment is checked batch by
// batch (length, CRC-32C); a torn or corrupt tail left by a crash is cut off,
// and the cut logged (WARN "truncated torn or corrupt tail") with its offset
// and size.
//
// --memory keeps everything in memory instead: nothing survives the process,
// and the disk flags are ignored.
//
// Sizes (--segment-bytes, --retention-bytes) take a plain byte count or a
// suffix: K, M, G, T (or KiB, MiB, GiB, TiB) for powers of 1024, KB, MB, GB,
// TB for powers of 1000. Durations take Go's syntax (500ms, 90s, 36h) or
// whole days (7d).
//
// Segments roll at --segment-bytes (default 64MiB), --segment-records
// (default 0: no count limit) or --segment-age (default 0: 7 days, or
// --retention when that is shorter, so that a slow partition's old data can
// go). Retention (--retention age, --retention-bytes per partition; 0 keeps
// everything) deletes whole sealed segments, oldest first, every
// --retention-check (default 1m); the earliest offset moves forward, and
// consumers below it get OFFSET_OUT_OF_RANGE.
//
// # Hostile and broken clients: limits
//
// The broker bounds what any client, authenticated or not, can make it
// hold:
//
//	--max-connections N|auto   open connections; beyond it new ones are
//	                           closed at once (default auto: the descriptor
//	                           limit less --max-open-files and 100 spare, at
//	                           least half the limit, so that accept does not
//	                           run out of descriptors)
//	--max-connections-per-ip N open connections from one IP (default 0: none)
//	--idle-timeout D           closes connections silent for D (default 10m,
//	                           Kafka's connections.max.idle.ms)
//	--request-timeout D        closes connections whose request, once begun,
//	                           has not fully arrived after D (default 30s)
//	--max-fetch-wait D         a fetch waiting for data answers after at most
//	                           D, whatever MaxWaitMillis it asked (default 30s);
//	                           it also ends when its client disconnects
//	--max-request-size SIZE    largest request frame (default 100MiB)
//	--queued-max-request-bytes SIZE
//	                           request bytes being read and handled, all
//	                           connections together (default 256MiB, Kafka's
//	                           queued.max.request.bytes): readers wait beyond
//	                           it; request buffers grow as bytes arrive
//	--max-partitions N         partitions of all topics (default 10000):
//	                           CreateTopics and auto-creation beyond it are
//	                           answered POLICY_VIOLATION
//	--max-partitions-per-topic N
//	                           (default and at most 10000): CreateTopics
//	                           beyond it is answered INVALID_PARTITIONS
//
// --no-auto-create stops only the creation of unknown topics named in
// Metadata requests (Kafka's auto.create.topics.enable=false); CreateTopics
// still creates topics, within the partition limits.
//
// Refused connections, connections closed for bad input or slowness, and
// similar per-connection events are logged at most once a second each, with
// a count of the lines held back.
//
// # TLS and SASL
//
// --tls-cert and --tls-key (PEM files) make the listener TLS-only;
// --tls-client-ca (PEM CA certificates) also requires every client to
// present a certificate they signed (mutual TLS). --sasl PLAIN,SCRAM-SHA-256,
// SCRAM-SHA-512 (any of them) requires SASL authentication, against the
// users of --users FILE: one name:password a line, # for comments. The file
// is read at start; each user's SCRAM credentials are derived then (PBKDF2,
// 4096 iterations, a random salt per user and mechanism) and the passwords
// are not kept: PLAIN is checked against the SCRAM-SHA-512 salted hash.
// With both, the listener is Kafka's SASL_SSL; with --sasl alone,
// SASL_PLAINTEXT (PLAIN then sends passwords in clear).
//
// Until a client has authenticated it may send only ApiVersions,
// SaslHandshake and SaslAuthenticate, in frames of at most 512KiB; anything
// else closes the connection. Wrong credentials are answered
// SASL_AUTHENTICATION_FAILED after --auth-failure-delay (default 100ms,
// Kafka's connection.failed.authentication.delay.ms), and the connection is
// closed; after a failure, attempts from the same IP address are checked at
// most one per delay. Failures are logged (WARN "authentication failed",
// rate-limited) with the client's address. --session-lifetime (Kafka's
// connections.max.reauth.ms, default 0: unlimited) makes clients
// re-authenticate (KIP-368); a connection that does not is closed at its
// next request.
//
// # Damaged data: verify
//
// Only the newest segment of each partition is checked at start. "merlin-broker
// verify --dir DIR" checks every batch (length, CRC-32C, offsets) of every
// segment, prints each damaged range with the offset after it ("resume at"),
// and exits 1 when it finds damage; it only reads and may run beside the
// broker. --verify-on-start runs the same check before serving and logs what
// it finds. A fetch from inside a damaged range is answered CORRUPT_MESSAGE,
// as Kafka answers corrupt records; consumers get past it by seeking to the
// "resume at" offset.
//
// # Durability: --fsync
//
// A produce is acknowledged once its batch is written into the operating
// system's page cache, and --fsync says when the page cache is forced to the
// disk. The default is interval=1s.
//
// After kill -9, or any crash of the broker process while the machine stays
// up, the page cache survives: every acknowledged record is kept, whatever
// the policy. After a power cut or a kernel crash, only what was fsynced is
// certain:
//
//	always       every acknowledged record survives: the answer is sent after
//	             the fsync (one fsync per produce to a partition, so the
//	             slowest mode)
//	every=N      each partition fsyncs after every N records; at most the
//	             last N-1 records acknowledged on a partition can be lost
//	interval=T   each partition with new data fsyncs every T in the
//	             background; about the last T of acknowledged records can be
//	             lost (default: interval=1s)
//	never        the operating system writes back when it chooses (within
//	             about 30 seconds on Linux by default); what it had not
//	             written can be lost, which is bounded by the fsync merlin
//	             still runs at every segment roll and every eighth of
//	             --segment-bytes (at least 1MiB) written to a partition
//
// In every mode a segment is fsynced when it rolls and at a clean stop, and
// whatever a power cut loses is at the end of a partition's log, where the
// restart cuts it off cleanly: a loss never leaves a gap or garbage in the
// middle.
//
// # Metrics and console
//
// --metrics 127.0.0.1:PORT serves Prometheus metrics at /metrics (package
// broker/brokerprom lists them: requests, errors and latency by API,
// bytes, connections, partitions' offsets, sizes and segments, fsyncs,
// producer ids). --console 127.0.0.1:PORT serves a read-only web page of
// the broker (package broker/console): topics and partitions, the newest
// messages of a partition, connected clients, idempotent producers and a
// live chart of produce and fetch rates. Neither has authentication, so
// both take only loopback addresses (127.0.0.0/8, [::1], localhost); each
// prints its URL after the listening line, and stops with the broker.
//
// # Exit status
//
// 0 after a clean stop; 1 when the broker cannot start: the data directory
// cannot be created or written, is in use by another running broker, was
// made by an incompatible version of merlin (or is not a merlin data
// directory), or the listen address is taken; 2 for bad flags. The message
// on stderr says which.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/seglog"
)

type args struct {
	Listen         string             `arg:"--listen" default:"127.0.0.1:9092" help:"address to listen on (port 0: any free port)"`
	Dir            string             `arg:"--dir" default:"./merlin-data" help:"data directory, created if needed and locked while the broker runs" placeholder:"DIR"`
	Memory         bool               `arg:"--memory" help:"keep data in memory instead of --dir: nothing survives the process"`
	Fsync          seglog.FlushPolicy `arg:"--fsync" default:"interval=1s" help:"when acknowledged data is forced to disk: always, every=N (records), interval=DURATION or never; see below" placeholder:"POLICY"`
	SegmentBytes   cli.ByteSize       `arg:"--segment-bytes" default:"64MiB" help:"roll a partition's segment at this size" placeholder:"SIZE"`
	SegmentRecords int64              `arg:"--segment-records" default:"0" help:"roll a partition's segment at this many records (0: no count limit)" placeholder:"N"`
	SegmentAge     duration           `arg:"--segment-age" default:"0" help:"roll a partition's segment this old (0: 7 days, or --retention if shorter)" placeholder:"DURATION"`
	Retention      duration           `arg:"--retention" default:"0" help:"delete segments whose newest record is older than this (0: keep forever)" placeholder:"DURATION"`
	RetentionBytes cli.ByteSize       `arg:"--retention-bytes" default:"0" help:"per partition, delete the oldest segments while it stays this large without them (0: no limit)" placeholder:"SIZE"`
	RetentionCheck duration           `arg:"--retention-check" default:"1m" help:"how often retention runs" placeholder:"DURATION"`
	MaxOpenFiles   int                `arg:"--max-open-files" default:"1000" help:"segment files kept open, all partitions together" placeholder:"N"`
	Partitions     int32              `arg:"--partitions" default:"1" help:"partitions of auto-created topics"`
	NoAutoCreate   bool               `arg:"--no-auto-create" help:"do not create unknown topics on Metadata requests (CreateTopics still creates them)"`

	MaxPartitions         int          `arg:"--max-partitions" default:"10000" help:"partitions of all topics together; CreateTopics and auto-creation beyond it get POLICY_VIOLATION (0: no limit)" placeholder:"N"`
	MaxTopicPartitions    int32        `arg:"--max-partitions-per-topic" default:"10000" help:"partitions of one topic; CreateTopics beyond it gets INVALID_PARTITIONS (at most 10000)" placeholder:"N"`
	MaxConnections        connLimit    `arg:"--max-connections" default:"auto" help:"open client connections; new ones beyond it are closed (auto: the descriptor limit less --max-open-files and 100 spare, at least half the limit; 0: no limit)" placeholder:"N"`
	MaxConnectionsPerIP   int          `arg:"--max-connections-per-ip" default:"0" help:"open connections from one client IP address; new ones beyond it are closed (0: no limit)" placeholder:"N"`
	IdleTimeout           duration     `arg:"--idle-timeout" default:"10m" help:"close connections that send nothing for this long, as Kafka's connections.max.idle.ms (0: never)" placeholder:"DURATION"`
	RequestTimeout        duration     `arg:"--request-timeout" default:"30s" help:"close connections whose request, once begun, has not fully arrived after this long (0: no limit)" placeholder:"DURATION"`
	MaxFetchWait          duration     `arg:"--max-fetch-wait" default:"30s" help:"answer a fetch waiting for data after at most this long, whatever MaxWaitMillis it asked for (0: no cap)" placeholder:"DURATION"`
	MaxRequestSize        cli.ByteSize `arg:"--max-request-size" default:"100MiB" help:"largest request frame; a client sending a larger one is disconnected" placeholder:"SIZE"`
	QueuedMaxRequestBytes cli.ByteSize `arg:"--queued-max-request-bytes" default:"256MiB" help:"bytes of requests being read and handled, all connections together; readers wait beyond it, as Kafka's queued.max.request.bytes (0: no limit)" placeholder:"SIZE"`
	VerifyOnStart         bool         `arg:"--verify-on-start" help:"check every batch's CRC of every segment before serving, logging damaged ranges (reads all data)"`

	NodeID         int32  `arg:"--node-id" default:"0" help:"Kafka node id of this broker"`
	AdvertisedHost string `arg:"--advertised-host" help:"host given to clients in Metadata (default: the listen address)" placeholder:"HOST"`
	AdvertisedPort int32  `arg:"--advertised-port" help:"port given to clients in Metadata (default: the listen port)" placeholder:"PORT"`
	LogLevel       string `arg:"--log-level" default:"info" help:"debug, info, warn or error"`

	Metrics string `arg:"--metrics" help:"serve Prometheus metrics at http://HOST:PORT/metrics (loopback only)" placeholder:"HOST:PORT"`
	Console string `arg:"--console" help:"serve a read-only web console at http://HOST:PORT/ (loopback only)" placeholder:"HOST:PORT"`
	securityFlags
}

func (args) Description() string {
	return "merlin-broker serves the Kafka protocol (Produce, Fetch, Metadata, ListOffsets,\n" +
		"CreateTopics, InitProducerId, ApiVersions) from one process, storing data on disk\n" +
		"in --dir (or in memory with --memory).\n"
}

func (args) Epilogue() string {
	return `Sizes: a byte count, or with K, M, G, T (KiB, MiB, ...: powers of 1024) or
KB, MB, GB, TB (powers of 1000). Durations: 500ms, 90s, 36h, or whole days: 7d.

--fsync: a produce is acknowledged once written to the OS page cache. After
kill -9 (the machine stays up) every acknowledged record survives, in every
mode. After a power cut or kernel crash:
  always       every acknowledged record survives (fsync before the answer)
  every=N      at most the last N-1 records of a partition can be lost
  interval=T   about the last T of records can be lost (default interval=1s)
  never        the OS writes back when it likes; what it had not written can
               be lost (merlin still fsyncs at each segment roll and every
               eighth of --segment-bytes, at least 1MiB, of a partition)
Whatever is lost is at the end of a partition's log; the restart cuts it off
cleanly and logs the cut.

Exit status: 0 after a clean stop (SIGINT, SIGTERM); 1 when the broker cannot
start (data directory not writable, in use by another broker, made by an
incompatible version; listen address taken); 2 for bad flags.`
}

func main() { cli.Main(run) }

// disabled maps a flag's 0 ("none") to the negative value that disables the
// matching broker.Config field, whose 0 selects a default.
func disabled[T ~int | ~int32 | ~int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// configFlags maps broker.Config and broker.DiskOptions fields to the flags
// that set them.
var configFlags = map[string]string{
	"Listen":                 "--listen",
	"NodeID":                 "--node-id",
	"AdvertisedHost":         "--advertised-host",
	"AdvertisedPort":         "--advertised-port",
	"DefaultPartitions":      "--partitions",
	"MaxPartitionsPerTopic":  "--max-partitions-per-topic",
	"MaxPartitionsTotal":     "--max-partitions",
	"MaxConnections":         "--max-connections",
	"MaxConnectionsPerIP":    "--max-connections-per-ip",
	"MaxRequestSize":         "--max-request-size",
	"dir":                    "--dir",
	"SegmentBytes":           "--segment-bytes",
	"SegmentRecords":         "--segment-records",
	"SegmentAge":             "--segment-age",
	"RetentionAge":           "--retention",
	"RetentionBytes":         "--retention-bytes",
	"RetentionCheckInterval": "--retention-check",
	"MaxOpenFiles":           "--max-open-files",
	"TLS":                    "--tls-cert",
	"SASLMechanisms":         "--sasl",
	"SessionLifetime":        "--session-lifetime",
}

// flagError rewrites a *broker.ConfigError to name the flag rather than
// the field.
func flagError(err error) string {
	var ce *broker.ConfigError
	if !errors.As(err, &ce) {
		return err.Error()
	}
	name := ce.Field
	if flag := configFlags[ce.Field]; flag != "" {
		name = flag
	}
	reason := ce.Reason
	if reason == "" && ce.Err != nil {
		reason = ce.Err.Error()
	}
	return name + ": " + reason
}

// run is the whole program: it parses args, serves until ctx is done, and
// returns the exit code.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	if len(argv) > 0 && argv[0] == "verify" {
		return runVerify(argv[1:], stdout, stderr)
	}
	var a args
	p, code, done := cli.Parse("merlin-broker", &a, argv, stdout, stderr)
	if done {
		return code
	}
	usage := p.Usagef
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		return usage("--log-level: %q is not debug, info, warn or error", a.LogLevel)
	}
	if a.Partitions < 1 || a.Partitions > broker.MaxPartitions {
		return usage("--partitions: %d is not in [1, %d]", a.Partitions, broker.MaxPartitions)
	}
	if a.RetentionCheck <= 0 {
		return usage("--retention-check: must be positive, got %v", time.Duration(a.RetentionCheck))
	}
	if a.MaxOpenFiles < 1 {
		return usage("--max-open-files: must be at least 1, got %d", a.MaxOpenFiles)
	}
	if a.MaxTopicPartitions < 1 {
		return usage("--max-partitions-per-topic: must be at least 1, got %d", a.MaxTopicPartitions)
	}
	if a.MaxPartitions < 0 {
		return usage("--max-partitions: must not be negative, got %d", a.MaxPartitions)
	}
	if a.MaxRequestSize < 1 || a.MaxRequestSize > math.MaxInt32 {
		return usage("--max-request-size: must be in [1, %d], got %d", math.MaxInt32, a.MaxRequestSize)
	}
	if msg := observerFlagError(&a); msg != "" {
		return usage("%s", msg)
	}
	maxConns := int(a.MaxConnections)
	if a.MaxConnections == connLimitAuto {
		maxConns = autoMaxConnections(a.MaxOpenFiles)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := broker.Config{
		Listen:                  a.Listen,
		NodeID:                  a.NodeID,
		AdvertisedHost:          a.AdvertisedHost,
		AdvertisedPort:          a.AdvertisedPort,
		Logger:                  logger,
		DisableAutoCreateTopics: a.NoAutoCreate,
		DefaultPartitions:       a.Partitions,
		MaxPartitionsPerTopic:   a.MaxTopicPartitions,
		MaxPartitionsTotal:      disabled(a.MaxPartitions),
		MaxConnections:          maxConns,
		MaxConnectionsPerIP:     a.MaxConnectionsPerIP,
		IdleTimeout:             disabled(time.Duration(a.IdleTimeout)),
		RequestReadTimeout:      disabled(time.Duration(a.RequestTimeout)),
		MaxFetchWait:            disabled(time.Duration(a.MaxFetchWait)),
		MaxRequestSize:          int32(a.MaxRequestSize),
		QueuedMaxRequestBytes:   disabled(int64(a.QueuedMaxRequestBytes)),
	}
	if err := a.securityFlags.apply(&cfg); err != nil {
		return usage("%s", err)
	}
	if err := cfg.Validate(); err != nil {
		return usage("%s", flagError(err))
	}
	if a.Memory {
		cfg.Storage = broker.NewMemoryStorage()
	} else {
		if a.VerifyOnStart {
			verifyOnStart(a.Dir, logger)
		}
		st, err := broker.NewDiskStorage(a.Dir, broker.DiskOptions{
			SegmentBytes:           int64(a.SegmentBytes),
			SegmentRecords:         a.SegmentRecords,
			SegmentAge:             time.Duration(a.SegmentAge),
			Flush:                  a.Fsync,
			RetentionAge:           time.Duration(a.Retention),
			RetentionBytes:         int64(a.RetentionBytes),
			RetentionCheckInterval: time.Duration(a.RetentionCheck),
			MaxOpenFiles:           a.MaxOpenFiles,
			Logger:                 logger,
		})
		if errors.Is(err, broker.ErrConfig) {
			return usage("%s", flagError(err))
		}
		if err != nil {
			fmt.Fprintf(stderr, "merlin-broker: %v\n", err)
			return cli.ExitError
		}
		cfg.Storage = st
	}
	b, err := broker.New(cfg)
	if err != nil {
		_ = cfg.Storage.Close()
		fmt.Fprintf(stderr, "merlin-broker: %v\n", err)
		return cli.ExitError
	}
	if err := b.Start(); err != nil {
		_ = b.Close()
		fmt.Fprintf(stderr, "merlin-broker: cannot listen on %s: %v\n", a.Listen, err)
		return cli.ExitError
	}
	obs, err := startObservers(&a, b, logger)
	if err != nil {
		_ = b.Close()
		fmt.Fprintf(stderr, "merlin-broker: %v\n", err)
		return cli.ExitError
	}
	logger.Info("limits", "max_connections", maxConns, "max_connections_per_ip", a.MaxConnectionsPerIP,
		"idle_timeout", time.Duration(a.IdleTimeout), "request_timeout", time.Duration(a.RequestTimeout),
		"max_fetch_wait", time.Duration(a.MaxFetchWait), "queued_max_request_bytes", int64(a.QueuedMaxRequestBytes),
		"max_partitions", a.MaxPartitions, "max_partitions_per_topic", a.MaxTopicPartitions)
	logSecurity(logger, cfg)
	fmt.Fprintf(stdout, "merlin-broker listening on %s\n", b.Addr())
	obs.print(&a, stdout)
	<-ctx.Done()
	logger.Info("stopping", "reason", context.Cause(ctx))
	err = errors.Join(b.Close(), obs.close())
	if err != nil {
		fmt.Fprintf(stderr, "merlin-broker: closing: %v\n", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

// duration is a flag value: Go's duration syntax, or whole days ("7d").
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	if days, ok := strings.CutSuffix(text, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*365 {
			return fmt.Errorf("%q is not a duration such as 90s, 36h or 7d", text)
		}
		*d = duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(text)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as 90s, 36h or 7d", text)
	}
	*d = duration(v)
	return nil
}
