package producer

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/buffer"
	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/errs"
	"github.com/merlinkafka/merlin/picker"
	"github.com/merlinkafka/merlin/seglog"
)

// Acks is how many replicas must have a batch before the broker answers.
//
// Its zero value, AcksDefault, means "not set", as every zero field of a
// Config does: AcksAll in Config, the producer-wide Acks in TopicConfig.
// The constants' values are therefore not Kafka's acks numbers (-1, 0, 1),
// which only the request encoder sees; convert with ParseAcks and String,
// never with a numeric cast.
type Acks int8

const (
	// AcksDefault leaves the level unset: AcksAll in Config, the Config's
	// Acks in TopicConfig.
	AcksDefault Acks = iota
	// AcksAll waits for every in-sync replica (Kafka's acks=-1). The default:
	// the only setting under which an acknowledged message survives the loss
	// of its leader, and the one idempotence requires.
	AcksAll
	// AcksLeader waits for the leader's write only (acks=1).
	AcksLeader
	// AcksNone does not wait for any answer (acks=0): a message counts as
	// delivered once written to the socket. Offsets are unknown (-1).
	AcksNone
)

func (a Acks) String() string {
	switch a {
	case AcksDefault:
		return "default"
	case AcksAll:
		return "all"
	case AcksLeader:
		return "leader"
	case AcksNone:
		return "none"
	}
	return fmt.Sprintf("acks(%d)", int8(a))
}

// kafka is a's acks field on the wire: -1, 1 or 0. AcksDefault, resolved
// before any request is made, counts as AcksAll.
func (a Acks) kafka() int16 {
	switch a {
	case AcksLeader:
		return 1
	case AcksNone:
		return 0
	}
	return -1
}

// ParseAcks reads "all", "leader" or "none" (any case), or Kafka's own
// numbers for them: "-1", "1", "0".
func ParseAcks(s string) (Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "all", "-1":
		return AcksAll, nil
	case "leader", "1":
		return AcksLeader, nil
	case "none", "0":
		return AcksNone, nil
	}
	return AcksDefault, fmt.Errorf("producer: unknown acks %q (want all, leader or none, or -1, 1 or 0)", s)
}

// Compression is the codec a batch is compressed with.
//
// Its zero value, CompressionDefault, means "not set", as every zero
// field of a Config does: CompressionNone in Config, the producer-wide
// Compression in TopicConfig. The constants' values are not Kafka's codec
// numbers; convert with ParseCompression and String.
type Compression int8

const (
	// CompressionDefault leaves the codec unset: CompressionNone in
	// Config, the Config's Compression in TopicConfig.
	CompressionDefault Compression = iota
	CompressionNone
	CompressionGzip
	CompressionSnappy
	CompressionLZ4
	CompressionZstd
)

func (c Compression) String() string {
	switch c {
	case CompressionDefault:
		return "default"
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

// ParseCompression reads "none", "gzip", "snappy", "lz4" or "zstd".
func ParseCompression(s string) (Compression, error) {
	for c := CompressionNone; c <= CompressionZstd; c++ {
		if strings.EqualFold(s, c.String()) {
			return c, nil
		}
	}
	return CompressionDefault, fmt.Errorf("producer: unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// BufferFullPolicy says what a produce call does when the producer's buffer
// (Config.MaxBufferedMessages / MaxBufferedBytes) is full: for example while
// every broker is down and the downtime buffers have filled. It is
// buffer.FullPolicy, the policy of the buffer.Budget that keeps those
// bounds.
type BufferFullPolicy = buffer.FullPolicy

const (
	// Block waits until there is room or the call's context is done, in which
	// case the call returns the context's error and the messages were not
	// accepted. The default: backpressure, and nothing accepted is lost.
	Block = buffer.Block
	// Reject returns ErrBufferFull at once; the messages were not accepted.
	Reject = buffer.Reject
	// DropOldest makes room by failing the oldest messages not yet sent,
	// from whichever partitions hold some (the buffer is the producer's,
	// so the room may come from any partition: in an outage, from those
	// whose leader is down), each reported through its delivery callback
	// with ErrBufferFull and counted in a max_downtime_buffer_reached
	// event. Batches already sent are never dropped (the broker may have
	// them); when nothing unsent is left, the call waits as under Block.
	// Never silent.
	DropOldest = buffer.DropOldest
)

// MassageFunc rewrites a batch of messages just before it is encoded. It
// receives the messages of one batch for one
// partition, in order, and returns what is sent instead. Delivery results
// still go to the original messages: each original message is acknowledged
// or failed with the outcome of the batch that carried it, and reports that
// batch's first offset (the hook may merge or split records, so an original
// has no offset of its own). See JSONArray for a ready-made one.
type MassageFunc func(topic string, partition int32, msgs []Message) ([]Message, error)

// TopicConfig overrides the producer's settings for one topic. Zero fields
// (AcksDefault and CompressionDefault included) inherit the producer-wide
// value.
type TopicConfig struct {
	// MaxMessages, MaxBytes and TTL override the batch limits.
	MaxMessages int
	MaxBytes    int
	TTL         time.Duration
	// Strategy overrides the partition strategy.
	Strategy picker.Strategy
	// WorkersPerPartition overrides the number of workers per partition.
	WorkersPerPartition int
	// Compression overrides the codec (CompressionNone turns compression
	// off for the topic).
	Compression Compression
	// Acks overrides the acknowledgement level.
	Acks Acks
	// Massage rewrites each batch before it is encoded.
	Massage MassageFunc
}

// Config configures a Producer. The zero value of every field but Brokers
// means "the default", which each field documents.
type Config struct {
	// Brokers are the bootstrap brokers, "host:port". At least one. merlin
	// asks any of them for metadata and then talks to partition leaders.
	Brokers []string
	// ClientID is sent with every request. Default "merlin".
	ClientID string

	// TLS, if set, encrypts every connection with it; nil: plaintext.
	// ServerName defaults to each broker's host. RootCAs nil trusts the
	// system's roots; Certificates is the client certificate for mutual
	// TLS. A handshake that fails on TLS itself (an untrusted
	// certificate, a name mismatch, a broker without TLS) is a TLSError
	// (errors.Is ErrTLS) naming the broker, never retried as if the
	// broker were down.
	TLS *tls.Config
	// SASL, if set, authenticates every connection with it (after TLS,
	// when both are set); nil: no authentication. A refusal is an
	// AuthError (errors.Is ErrAuthentication), never retried as if the
	// broker were down. Its fmt and slog forms never show the password.
	SASL *SASL
	// Dialer, if set, opens the TCP connections to brokers instead of a
	// net.Dialer: for proxies (SOCKS, an HTTP CONNECT tunnel) or custom
	// name resolution. ctx carries the dial timeout and ends at Close.
	// TLS and SASL run over the connection it returns.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	// MaxMessages flushes a partition's batch when it holds this many
	// messages. Default 10 000: high enough that MaxBytes (1 MiB) is what
	// usually seals a batch of small messages, as in franz-go, which does not
	// count messages.
	MaxMessages int
	// MaxBytes flushes a batch when its records reach this many bytes, before
	// compression. Default 1 MiB, as franz-go and the Java client's default
	// max.request.size, and far below a broker's default limit.
	MaxBytes int
	// TTL is the longest a message waits in a batch that does not fill: a
	// batch is sent TTL after its first message arrived, whatever came since.
	// Default 10 ms, franz-go's linger since v1.19: long enough to fill
	// batches under load, short enough not to be felt.
	// ProduceSync and ProduceAsync do not wait for it.
	TTL time.Duration

	// Acks is the acknowledgement level. Default (AcksDefault) AcksAll.
	Acks Acks
	// Compression is the batch codec. Default (CompressionDefault)
	// CompressionNone.
	Compression Compression
	// RequestTimeout bounds how long the broker may wait for replicas and how
	// long merlin waits for an answer before it treats the connection as
	// dead. Default 30 s.
	RequestTimeout time.Duration
	// DeliveryTimeout bounds the whole life of a message from acceptance to
	// acknowledgement, retries included; when it passes the message is
	// reported failed with ErrDeliveryTimeout. Default 2 minutes, Kafka's
	// delivery.timeout.ms. Negative: no limit (wait for the broker however
	// long it is down, within the buffer limits).
	DeliveryTimeout time.Duration
	// RetryBackoff is the first wait before a retry; it doubles with jitter
	// up to RetryBackoffMax. Defaults 100 ms and 1 s, as Kafka's KIP-580
	// (an unset RetryBackoff never exceeds a RetryBackoffMax that is set).
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration

	// BreakerFailures is how many consecutive failures (dial errors, dead
	// connections, timeouts) open a broker's circuit breaker: while open,
	// merlin does not dial or send to that broker at all, its partitions
	// count as down, and unkeyed traffic moves to partitions whose leaders
	// are up. Default 3.
	BreakerFailures int
	// BreakerTimeout is how long a breaker stays open before one probe is
	// let through (half-open); a probe that succeeds closes it. Default 2 s.
	BreakerTimeout time.Duration

	// WorkersPerPartition is how many workers (each with its own batch and
	// in-flight requests) serve one partition. Default 1, which keeps order
	// per partition. More workers trade order for concurrency.
	WorkersPerPartition int
	// MaxInFlight is how many batches one worker may have sent and not yet
	// had answered. Default 5, the most with which Kafka's idempotence keeps
	// order.
	MaxInFlight int
	// DisableIdempotence turns off idempotent producing. Idempotence (a
	// producer id and per-partition sequence numbers, so that a batch resent
	// after a lost answer is written once) is on by default when Acks is
	// AcksAll and the broker supports it; with other Acks it is off.
	DisableIdempotence bool

	// Strategy picks partitions. Default picker.Keyed(): keyed messages by
	// murmur2 as every other Kafka client, unkeyed ones sticky.
	Strategy picker.Strategy

	// MaxBufferedMessages and MaxBufferedBytes bound what the producer holds
	// that no broker has acknowledged yet: batches being filled, in flight,
	// and waiting for a leader that is down. Defaults 1 000 000 messages and
	// 64 MiB (the Java client's buffer.memory is 32 MB, without counting its
	// bookkeeping). A message counts for its encoded size plus the producer's own
	// bookkeeping for it (about 140 bytes), so that the byte bound holds for
	// real memory; batches waiting for a leader that is down are packed to
	// their encoded size (see Producer.BufferedMessages).
	MaxBufferedMessages int
	MaxBufferedBytes    int
	// BufferFull says what a produce call does when either bound is reached.
	// Default Block.
	BufferFull BufferFullPolicy

	// MetadataRefresh is how often metadata of the topics in use is
	// refreshed in the background; errors that call for it refresh at once.
	// Default 1 minute.
	MetadataRefresh time.Duration
	// SpillDir, if set, makes the downtime buffer spill to disk: batches
	// waiting for a leader that is down are written there (one seglog per
	// partition worker) and read back when it returns, so they no longer
	// count against MaxBufferedBytes (they still count against
	// MaxBufferedMessages), and they outlive the process: a producer
	// started on the same directory sends what an earlier one left there,
	// reporting each message through Config.OnDelivery. Only one producer
	// may use a directory at a time. Default: no spill.
	SpillDir string
	// SpillFlush is the spill's fsync policy (see package seglog for what
	// each promises). Default seglog's, an fsync every second.
	SpillFlush seglog.FlushPolicy

	// Topics are the per-topic overrides.
	Topics map[string]TopicConfig
	// EagerTopics are fetched and started by New instead of on first use.
	// With TLS or SASL set, New waits for their first metadata (at most
	// the dial timeout, min(10s, RequestTimeout)) and returns the AuthError
	// or TLSError of a cluster that refuses the connection; a cluster that
	// is down does not fail New.
	EagerTopics []string

	// Handlers receive instrumentation events (see package callbacks). A slow
	// handler never slows the producer: events queue per handler.
	Handlers []callbacks.Handler
	// Hooks see every message from its produce call to its outcome, for
	// tracing (see package otelmerlin) and the like: each implements
	// ProduceHook, DeliveryHook or both (see Hook). Default none, at no
	// cost.
	Hooks []Hook
	// OnDelivery, if set, is called once for every message that has no
	// callback of its own, with its outcome. It runs on a worker goroutine of
	// the message's partition, in order: keep it fast.
	OnDelivery func(Message, Result)
	// Logger receives the producer's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults, exported so that users and docs can refer to them.
const (
	DefaultClientID            = "merlin"
	DefaultMaxMessages         = 10_000
	DefaultMaxBytes            = 1 << 20
	DefaultTTL                 = 10 * time.Millisecond
	DefaultRequestTimeout      = 30 * time.Second
	DefaultDeliveryTimeout     = 2 * time.Minute
	DefaultRetryBackoff        = 100 * time.Millisecond
	DefaultRetryBackoffMax     = time.Second
	DefaultWorkersPerPartition = 1
	DefaultMaxInFlight         = 5
	DefaultMaxBufferedMessages = 1_000_000
	DefaultMaxBufferedBytes    = 64 << 20
	DefaultMetadataRefresh     = time.Minute
	DefaultBreakerFailures     = 3
	DefaultBreakerTimeout      = 2 * time.Second
)

// ErrConfig matches, under errors.Is, every error Validate and New return
// for an invalid configuration: each is a *ConfigError. It also matches
// broker.ErrConfig and mockbroker.ErrConfig: every merlin package's
// configuration errors are of one kind.
var ErrConfig = errs.Config("producer: invalid config")

// ConfigError is the error Validate and New return for an invalid
// configuration, as every merlin package does: Field names the field as
// it is written in the Config ("Topics[clicks].Acks", "SASL.User"),
// Reason says what is wrong, and Err, when set, is the error it wraps
// (ErrHook for a bad Hook). It matches ErrConfig under errors.Is; use
// errors.As to read Field.
type ConfigError = errs.ConfigError

func configErr(field, format string, args ...any) error {
	return errs.NewConfig("producer", field, format, args...)
}

// configWrap is the *ConfigError for field that wraps err.
func configWrap(field string, err error) error { return errs.WrapConfig("producer", field, err) }

// withDefaults returns a copy with every unset field at its default
// (cmp.Or: the field when set, else the default).
func (c Config) withDefaults() Config {
	c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
	c.MaxMessages = cmp.Or(c.MaxMessages, DefaultMaxMessages)
	c.MaxBytes = cmp.Or(c.MaxBytes, DefaultMaxBytes)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.Acks = cmp.Or(c.Acks, AcksAll)
	c.Compression = cmp.Or(c.Compression, CompressionNone)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.DeliveryTimeout = cmp.Or(c.DeliveryTimeout, DefaultDeliveryTimeout)
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
		if c.RetryBackoffMax > 0 {
			// Only the ceiling was set: start no higher than it.
			c.RetryBackoff = min(c.RetryBackoff, c.RetryBackoffMax)
		}
	}
	c.RetryBackoffMax = cmp.Or(c.RetryBackoffMax, DefaultRetryBackoffMax)
	c.WorkersPerPartition = cmp.Or(c.WorkersPerPartition, DefaultWorkersPerPartition)
	c.BreakerFailures = cmp.Or(c.BreakerFailures, DefaultBreakerFailures)
	c.BreakerTimeout = cmp.Or(c.BreakerTimeout, DefaultBreakerTimeout)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, DefaultMaxInFlight)
	if c.Strategy == nil {
		c.Strategy = picker.Keyed()
	}
	c.MaxBufferedMessages = cmp.Or(c.MaxBufferedMessages, DefaultMaxBufferedMessages)
	c.MaxBufferedBytes = cmp.Or(c.MaxBufferedBytes, DefaultMaxBufferedBytes)
	c.MetadataRefresh = cmp.Or(c.MetadataRefresh, DefaultMetadataRefresh)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Validate reports the first problem with the configuration as a
// *ConfigError naming the field. Unset fields are valid: they take their
// defaults. It does not modify c.
func (c Config) Validate() error {
	c = c.withDefaults()
	if len(c.Brokers) == 0 {
		return configErr("Brokers", "at least one bootstrap broker is needed")
	}
	for i, b := range c.Brokers {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			return configErr(fmt.Sprintf("Brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if err := c.SASL.validate(); err != nil {
		return err
	}
	if err := validateTLS(c.TLS); err != nil {
		return err
	}
	if err := c.validateBatch("", c.MaxMessages, c.MaxBytes, c.TTL); err != nil {
		return err
	}
	if err := validateAcks("Acks", c.Acks); err != nil {
		return err
	}
	if err := validateCompression("Compression", c.Compression); err != nil {
		return err
	}
	if c.RequestTimeout < time.Millisecond {
		return configErr("RequestTimeout", "%v is too short (at least 1ms)", c.RequestTimeout)
	}
	if c.RetryBackoff < 0 || c.RetryBackoffMax < c.RetryBackoff {
		return configErr("RetryBackoffMax", "%v must be at least RetryBackoff %v", c.RetryBackoffMax, c.RetryBackoff)
	}
	if c.BreakerFailures < 1 {
		return configErr("BreakerFailures", "%d must be positive", c.BreakerFailures)
	}
	if c.BreakerTimeout < time.Millisecond {
		return configErr("BreakerTimeout", "%v is too short (at least 1ms)", c.BreakerTimeout)
	}
	if c.WorkersPerPartition < 1 || c.WorkersPerPartition > 64 {
		return configErr("WorkersPerPartition", "%d is outside 1..64", c.WorkersPerPartition)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 5 && c.idempotent() {
		return configErr("MaxInFlight", "%d is outside 1..5 (idempotence keeps order for at most 5)", c.MaxInFlight)
	}
	if c.MaxBufferedMessages < 1 {
		return configErr("MaxBufferedMessages", "%d must be positive", c.MaxBufferedMessages)
	}
	if c.MaxBufferedBytes < c.MaxBytes {
		return configErr("MaxBufferedBytes", "%d is below MaxBytes %d: not even one batch would fit", c.MaxBufferedBytes, c.MaxBytes)
	}
	if c.BufferFull < Block || c.BufferFull > DropOldest {
		return configErr("BufferFull", "unknown policy %d", c.BufferFull)
	}
	if c.MetadataRefresh < 100*time.Millisecond {
		return configErr("MetadataRefresh", "%v is too short (at least 100ms)", c.MetadataRefresh)
	}
	if err := validateHooks(c.Hooks); err != nil {
		return err
	}
	for name, t := range c.Topics {
		field := "Topics[" + name + "]"
		if name == "" {
			return configErr(field, "empty topic name")
		}
		tc := c.topic(name)
		if err := c.validateBatch(field+".", tc.maxMessages, tc.maxBytes, tc.ttl); err != nil {
			return err
		}
		if t.WorkersPerPartition < 0 || t.WorkersPerPartition > 64 {
			return configErr(field+".WorkersPerPartition", "%d is outside 1..64", t.WorkersPerPartition)
		}
		if err := validateAcks(field+".Acks", t.Acks); err != nil {
			return err
		}
		if err := validateCompression(field+".Compression", t.Compression); err != nil {
			return err
		}
		if tc.maxBytes > c.MaxBufferedBytes {
			return configErr(field+".MaxBytes", "%d is above MaxBufferedBytes %d", tc.maxBytes, c.MaxBufferedBytes)
		}
	}
	return nil
}

func validateTLS(tc *tls.Config) error {
	if tc == nil {
		return nil
	}
	if tc.MaxVersion != 0 && tc.MaxVersion < tc.MinVersion {
		return configErr("TLS.MaxVersion", "%s is below TLS.MinVersion %s", tls.VersionName(tc.MaxVersion), tls.VersionName(tc.MinVersion))
	}
	for i, cert := range tc.Certificates {
		if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
			return configErr(fmt.Sprintf("TLS.Certificates[%d]", i), "a client certificate needs its certificate and private key")
		}
	}
	return nil
}

// LogValue describes the configuration for slog with its connection
// settings and never a secret: TLS and SASL only say how they are set.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Any("brokers", c.Brokers), slog.String("client_id", c.ClientID), slog.Bool("tls", c.TLS != nil)}
	if c.TLS != nil {
		attrs = append(attrs, slog.String("tls_server_name", c.TLS.ServerName), slog.Bool("tls_client_cert", len(c.TLS.Certificates) > 0 || c.TLS.GetClientCertificate != nil))
	}
	if c.SASL != nil {
		attrs = append(attrs, slog.Any("sasl", *c.SASL))
	}
	attrs = append(attrs, slog.Bool("custom_dialer", c.Dialer != nil), slog.String("acks", c.Acks.String()),
		slog.String("compression", c.Compression.String()))
	return slog.GroupValue(attrs...)
}

func (c Config) validateBatch(prefix string, maxMessages, maxBytes int, ttl time.Duration) error {
	if maxMessages < 1 {
		return configErr(prefix+"MaxMessages", "%d must be positive", maxMessages)
	}
	if maxBytes < 1 || maxBytes > 64<<20 {
		return configErr(prefix+"MaxBytes", "%d is outside 1..64MiB", maxBytes)
	}
	if ttl < 0 {
		return configErr(prefix+"TTL", "%v is negative", ttl)
	}
	return nil
}

func validateAcks(field string, a Acks) error {
	if a < AcksDefault || a > AcksNone {
		return configErr(field, "%d is not AcksDefault, AcksAll, AcksLeader or AcksNone", a)
	}
	return nil
}

func validateCompression(field string, c Compression) error {
	if c < CompressionDefault || c > CompressionZstd {
		return configErr(field, "unknown codec %d", c)
	}
	return nil
}

func (c Config) idempotent() bool { return !c.DisableIdempotence && c.Acks == AcksAll }

// topicSettings is the resolved configuration of one topic.
type topicSettings struct {
	maxMessages int
	maxBytes    int
	ttl         time.Duration
	strategy    picker.Strategy
	workers     int
	compression Compression
	acks        Acks
	massage     MassageFunc
}

// topic resolves the settings of topic name: its TopicConfig's fields where
// set, the Config's elsewhere (a topic without a TopicConfig takes them all
// from the Config, as its zero TopicConfig would).
func (c Config) topic(name string) topicSettings {
	t := c.Topics[name]
	return topicSettings{
		maxMessages: cmp.Or(t.MaxMessages, c.MaxMessages),
		maxBytes:    cmp.Or(t.MaxBytes, c.MaxBytes),
		ttl:         cmp.Or(t.TTL, c.TTL),
		strategy:    cmp.Or(t.Strategy, c.Strategy),
		workers:     cmp.Or(t.WorkersPerPartition, c.WorkersPerPartition),
		compression: cmp.Or(t.Compression, c.Compression),
		acks:        cmp.Or(t.Acks, c.Acks),
		massage:     t.Massage,
	}
}
