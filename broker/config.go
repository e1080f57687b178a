package broker

import (
	"cmp"
	"crypto/tls"
	"github.com/merlinkafka/merlin/internal/errs"
	"log/slog"
	"net"
	"time"
)

// Defaults applied to zero Config and ClusterConfig fields.
const (
	// DefaultListen is the address a Broker listens on when Config.Listen is
	// empty: loopback, on a port the kernel picks.
	DefaultListen = "127.0.0.1:0"
	// DefaultMaxRequestSize is the largest request frame accepted, 100 MiB.
	DefaultMaxRequestSize = 100 << 20
	// DefaultPartitions is the partition count of auto-created topics, and
	// of CreateTopics requests asking for the default (-1), as Kafka's
	// num.partitions.
	DefaultPartitions = 1
	// DefaultIdleTimeout closes a connection that sends nothing for this
	// long, as Kafka's connections.max.idle.ms.
	DefaultIdleTimeout = 10 * time.Minute
	// MaxPartitions bounds the partition count of one topic: the largest
	// ClusterConfig.MaxPartitionsPerTopic.
	MaxPartitions = 10000
	// DefaultMaxPartitionsTotal is the default of
	// ClusterConfig.MaxPartitionsTotal: partitions of all topics together.
	DefaultMaxPartitionsTotal = 10000
	// DefaultMaxMessageBytes is the default of ClusterConfig.MaxMessageBytes:
	// Kafka's message.max.bytes, the largest record batch a produce may
	// carry for one partition.
	DefaultMaxMessageBytes = 1048588
	// DefaultRequestReadTimeout bounds the time a request frame takes to
	// arrive once its first byte has.
	DefaultRequestReadTimeout = 30 * time.Second
	// DefaultMaxFetchWait caps the time a fetch waits for data, whatever
	// MaxWaitMillis it asks for.
	DefaultMaxFetchWait = 30 * time.Second
	// DefaultQueuedMaxRequestBytes bounds the bytes of requests being read
	// and handled, all connections together, 256 MiB.
	DefaultQueuedMaxRequestBytes = 256 << 20
	// DefaultAuthFailureDelay delays the answer to a failed SASL
	// authentication, as Kafka's connection.failed.authentication.delay.ms.
	DefaultAuthFailureDelay = 100 * time.Millisecond
)

// ErrConfig matches, under errors.Is, every error that Config.Validate,
// ClusterConfig.Validate, DiskOptions.Validate and the constructors taking
// them (New, NewCluster, NewDiskStorage) return for an invalid
// configuration: each is a *ConfigError. It is of one kind with
// producer.ErrConfig and mockbroker.ErrConfig, which it matches.
var ErrConfig = errs.Config("broker: invalid config")

// ConfigError is the error returned for an invalid configuration, as in
// every merlin package: Field names the field ("MaxPartitionsPerTopic",
// "SegmentBytes"), Reason says what is wrong. It matches ErrConfig under
// errors.Is; use errors.As to read Field.
type ConfigError = errs.ConfigError

func configError(field, format string, args ...any) error {
	return errs.NewConfig("broker", field, format, args...)
}

// notNegative is the *ConfigError for field when v is below zero, else nil.
// %v prints counts as %d would and durations as "-1s". Validate methods
// list several with cmp.Or, which returns the first error that is not nil,
// so that the first invalid field is the one reported.
func notNegative[T ~int | ~int32 | ~int64](field string, v T) error {
	if v < 0 {
		return configError(field, "must not be negative, got %v", v)
	}
	return nil
}

// Config configures one Broker. The zero Config is valid: a single broker
// with node id 0 on 127.0.0.1 (kernel-chosen port), in-memory storage and
// topic auto-creation.
type Config struct {
	// Listen is the TCP address to listen on. Default DefaultListen
	// ("127.0.0.1:0").
	Listen string
	// NodeID is this broker's Kafka node id, at least 0. Default 0.
	NodeID int32
	// AdvertisedHost is the host clients are told to connect to in Metadata
	// answers. Default: the listener's IP, or the machine's host name when
	// listening on an unspecified address (0.0.0.0 or ::).
	AdvertisedHost string
	// AdvertisedPort is the port clients are told to connect to. Default:
	// the listener's port.
	AdvertisedPort int32
	// MaxRequestSize bounds the size of one request frame; a client sending
	// a larger one is disconnected. Default DefaultMaxRequestSize (100 MiB).
	MaxRequestSize int32
	// IdleTimeout closes connections that send nothing for this long
	// (Kafka's connections.max.idle.ms). Default DefaultIdleTimeout (10
	// minutes); negative disables it. A fetch waiting for data is not idle.
	// It also bounds the writing of answers: a client that stops reading
	// them is disconnected once a write has waited this long.
	IdleTimeout time.Duration
	// RequestReadTimeout closes a connection whose request frame, once its
	// first byte arrived, is not complete within this time (slow or stuck
	// clients holding a partial request). Default
	// DefaultRequestReadTimeout (30 seconds); negative disables it.
	RequestReadTimeout time.Duration
	// QueuedMaxRequestBytes bounds the bytes of request buffers held by
	// all connections together, as Kafka's queued.max.request.bytes: a
	// connection reading a request that needs more room than is left
	// waits (until RequestReadTimeout) instead of allocating. Buffers grow
	// as the request's bytes arrive (doubling, so at most twice what
	// arrived), so a client announcing a large frame and sending little
	// holds little. The budget is exceeded only by one request at a time:
	// one larger than the whole budget, read when it is alone, or, when
	// every reader holding part of the budget waits for more, the one
	// holding the most, so that concurrent large requests never deadlock.
	// Default DefaultQueuedMaxRequestBytes (256 MiB); negative: no bound.
	QueuedMaxRequestBytes int64
	// MaxFetchWait caps how long a fetch waits for data (its MaxWaitMillis)
	// before answering with what there is. A waiting fetch also ends when
	// its connection closes. Default DefaultMaxFetchWait (30 seconds);
	// negative: no cap.
	MaxFetchWait time.Duration
	// MaxConnections bounds the open client connections; new ones beyond
	// it are closed as soon as accepted (Kafka's max.connections). Default
	// 0: no bound.
	MaxConnections int
	// MaxConnectionsPerIP bounds the open connections from one client IP
	// address; new ones beyond it are closed as soon as accepted (Kafka's
	// max.connections.per.ip). Default 0: no bound.
	MaxConnectionsPerIP int
	// Logger receives connection and protocol errors. Default slog.Default().
	Logger *slog.Logger

	// TLS, when set, makes the listener TLS-only (Kafka's SSL and
	// SASL_SSL listeners). It needs a certificate; set ClientAuth to
	// tls.RequireAndVerifyClientCert, with ClientCAs, for mutual TLS. The
	// handshake must be done within RequestReadTimeout.
	TLS *tls.Config
	// SASLMechanisms, when not empty, requires SASL authentication with one
	// of them (SASLPlain, SASLScramSHA256, SASLScramSHA512) before any
	// request but ApiVersions, SaslHandshake and SaslAuthenticate: anything
	// else closes the connection (Kafka's SASL_PLAINTEXT and SASL_SSL
	// listeners). Credentials must then be set.
	SASLMechanisms []string
	// Credentials checks the SASL users' credentials (see
	// NewMemoryCredentials and OpenCredentialsFile).
	Credentials CredentialStore
	// SessionLifetime, when positive, bounds an authenticated session
	// (Kafka's connections.max.reauth.ms, KIP-368): SaslAuthenticate v1+
	// tells clients, which re-authenticate before it ends, and a
	// connection sending another request after it ended is closed.
	// Clients of SaslAuthenticate v0 or raw tokens cannot re-authenticate
	// and are not bound. Default 0: no bound.
	SessionLifetime time.Duration
	// AuthFailureDelay delays the answer to a failed SASL authentication,
	// and the close that follows (Kafka's
	// connection.failed.authentication.delay.ms); after a failure, the
	// next attempts from the same IP address are checked no more than one
	// per AuthFailureDelay. Default DefaultAuthFailureDelay (100ms);
	// negative: none.
	AuthFailureDelay time.Duration

	// Faults, when set, lets tests pause and slow this broker (see
	// NodeFaults; package mockbroker sets one per node). Leave it nil in
	// production.
	Faults *NodeFaults

	// Cluster is the state this broker serves: topics, partition logs,
	// leaders, producer ids. Several brokers with distinct NodeIDs can share
	// one Cluster (that is what package mockbroker does). When nil, the
	// broker creates its own from Storage, DisableAutoCreateTopics,
	// DefaultPartitions and the partition limits below, and closes it on
	// Close. When set, those fields must be left zero: the cluster's own
	// ClusterConfig holds them.
	Cluster *Cluster

	// Storage holds the partition logs of a broker-owned cluster. Default
	// NewMemoryStorage(). The cluster closes it.
	Storage Storage
	// DisableAutoCreateTopics turns off the creation of unknown topics named
	// in Metadata requests (Kafka's auto.create.topics.enable, which is on
	// by default).
	DisableAutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics.
	// Default DefaultPartitions (1).
	DefaultPartitions int32
	// MaxPartitionsPerTopic and MaxPartitionsTotal bound the partitions of
	// a broker-owned cluster (see ClusterConfig).
	MaxPartitionsPerTopic int32
	MaxPartitionsTotal    int
	// MaxMessageBytes is ClusterConfig.MaxMessageBytes for a broker-owned
	// cluster.
	MaxMessageBytes int32
}

// Validate reports the first invalid field as a *ConfigError naming it.
// Zero fields are valid: they take their defaults. It does not modify c.
func (c Config) Validate() error {
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return configError("Listen", "%q is not host:port: %v", c.Listen, err)
		}
	}
	if c.NodeID < 0 {
		return configError("NodeID", "must be at least 0, got %d", c.NodeID)
	}
	if c.AdvertisedPort < 0 || c.AdvertisedPort > 65535 {
		return configError("AdvertisedPort", "must be in [0, 65535], got %d", c.AdvertisedPort)
	}
	if err := cmp.Or(
		notNegative("MaxRequestSize", c.MaxRequestSize),
		notNegative("MaxConnections", c.MaxConnections),
		notNegative("MaxConnectionsPerIP", c.MaxConnectionsPerIP),
	); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if c.Cluster != nil {
		switch {
		case c.Storage != nil:
			return configError("Storage", "must be nil when Cluster is set (the cluster owns its storage)")
		case c.DisableAutoCreateTopics:
			return configError("DisableAutoCreateTopics", "must be false when Cluster is set (set it in the ClusterConfig)")
		case c.DefaultPartitions != 0:
			return configError("DefaultPartitions", "must be 0 when Cluster is set (set it in the ClusterConfig)")
		case c.MaxPartitionsPerTopic != 0:
			return configError("MaxPartitionsPerTopic", "must be 0 when Cluster is set (set it in the ClusterConfig)")
		case c.MaxPartitionsTotal != 0:
			return configError("MaxPartitionsTotal", "must be 0 when Cluster is set (set it in the ClusterConfig)")
		case c.MaxMessageBytes != 0:
			return configError("MaxMessageBytes", "must be 0 when Cluster is set (set it in the ClusterConfig)")
		}
		return nil
	}
	return c.clusterConfig().Validate()
}

func (c Config) clusterConfig() ClusterConfig {
	return ClusterConfig{
		Storage:                 c.Storage,
		DisableAutoCreateTopics: c.DisableAutoCreateTopics,
		DefaultPartitions:       c.DefaultPartitions,
		MaxPartitionsPerTopic:   c.MaxPartitionsPerTopic,
		MaxPartitionsTotal:      c.MaxPartitionsTotal,
		MaxMessageBytes:         c.MaxMessageBytes,
		Logger:                  c.Logger,
	}
}

// withDefaults returns a copy with every zero field at its default
// (cmp.Or: the field when set, else the default).
func (c Config) withDefaults() Config {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.MaxRequestSize = cmp.Or(c.MaxRequestSize, DefaultMaxRequestSize)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.RequestReadTimeout = cmp.Or(c.RequestReadTimeout, DefaultRequestReadTimeout)
	c.QueuedMaxRequestBytes = cmp.Or(c.QueuedMaxRequestBytes, DefaultQueuedMaxRequestBytes)
	c.MaxFetchWait = cmp.Or(c.MaxFetchWait, DefaultMaxFetchWait)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.AuthFailureDelay = cmp.Or(c.AuthFailureDelay, DefaultAuthFailureDelay)
	return c
}

// ClusterConfig configures a Cluster: the state shared by the brokers that
// serve it. The zero ClusterConfig is valid.
type ClusterConfig struct {
	// ClusterID is the id Metadata answers report. Default "merlin".
	ClusterID string
	// Storage holds the partition logs and the topic list. Default
	// NewMemoryStorage(). Cluster.Close closes it.
	Storage Storage
	// DisableAutoCreateTopics turns off the creation of unknown topics named
	// in Metadata requests.
	DisableAutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics requests that ask for the default. Default
	// DefaultPartitions (1).
	DefaultPartitions int32
	// MaxPartitionsPerTopic bounds the partition count of one topic:
	// CreateTopics asking for more is answered INVALID_PARTITIONS, as Kafka
	// answers partition counts it refuses. Default and at most
	// MaxPartitions (10 000).
	MaxPartitionsPerTopic int32
	// MaxPartitionsTotal bounds the partitions of all topics together.
	// A CreateTopics that would go beyond it is answered POLICY_VIOLATION
	// (what Kafka answers when its topic creation policy refuses a topic),
	// and so is a Metadata request whose topic auto-creation it stops.
	// Default DefaultMaxPartitionsTotal (10 000); negative: no bound.
	MaxPartitionsTotal int
	// MaxMessageBytes is the largest record batch a produce request may
	// carry for one partition; a larger one is answered MESSAGE_TOO_LARGE,
	// as Kafka does. Default DefaultMaxMessageBytes (1 048 588, Kafka's
	// message.max.bytes); negative: no bound (MaxRequestSize still applies).
	MaxMessageBytes int32
	// Logger receives storage errors. Default slog.Default().
	Logger *slog.Logger
	// OnProduce, when set, is called once for every partition of every
	// produce request, after the batch is stored or refused, from the
	// connection's goroutine. It must be fast and safe for concurrent use.
	OnProduce func(ProduceEvent)
	// Faults, when set, lets tests inject errors into the answers of
	// every broker of the cluster (see Faults; package mockbroker sets
	// one). Leave it nil in production.
	Faults *Faults
}

// Validate reports the first invalid field as a *ConfigError naming it.
// Zero fields are valid: they take their defaults.
func (c ClusterConfig) Validate() error {
	if c.DefaultPartitions < 0 || c.DefaultPartitions > MaxPartitions {
		return configError("DefaultPartitions", "must be in [1, %d] (or 0 for the default), got %d", MaxPartitions, c.DefaultPartitions)
	}
	if c.MaxPartitionsPerTopic < 0 || c.MaxPartitionsPerTopic > MaxPartitions {
		return configError("MaxPartitionsPerTopic", "must be in [1, %d] (or 0 for the default), got %d", MaxPartitions, c.MaxPartitionsPerTopic)
	}
	if perTopic := cmp.Or(c.MaxPartitionsPerTopic, MaxPartitions); c.DefaultPartitions > perTopic {
		return configError("DefaultPartitions", "%d is over MaxPartitionsPerTopic (%d)", c.DefaultPartitions, perTopic)
	}
	return nil
}

// withDefaults returns a copy with every zero field at its default.
func (c ClusterConfig) withDefaults() ClusterConfig {
	c.ClusterID = cmp.Or(c.ClusterID, "merlin")
	if c.Storage == nil {
		// Not cmp.Or, which would build a memory storage even when one is set.
		c.Storage = NewMemoryStorage()
	}
	c.DefaultPartitions = cmp.Or(c.DefaultPartitions, DefaultPartitions)
	c.MaxPartitionsPerTopic = cmp.Or(c.MaxPartitionsPerTopic, MaxPartitions)
	c.MaxPartitionsTotal = cmp.Or(c.MaxPartitionsTotal, DefaultMaxPartitionsTotal)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, DefaultMaxMessageBytes)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}
