package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/merlinkafka/merlin/internal/errs"
)

// Errors returned by Broker methods.
var (
	// ErrClosed is returned by Start after Close, and matched, under
	// errors.Is, by every error a Cluster or a Storage returns once
	// closed. It is of one kind with producer.ErrClosed,
	// mockbroker.ErrClosed and seglog.ErrClosed, which it matches.
	ErrClosed = errs.Closed("broker: closed")
	// ErrStarted is returned by Start on a broker already started.
	ErrStarted = errors.New("broker: already started")
)

// Broker is one Kafka-protocol TCP server: one node of a Cluster.
//
// A Broker serves each connection from its own goroutine, answering requests
// in order. It is started once and closed once; to restart a node, create a
// new Broker with the same NodeID, Cluster and Listen address.
type Broker struct {
	cfg         Config
	cluster     *Cluster
	ownsCluster bool
	log         *slog.Logger
	node        int32

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*conn]struct{}
	perIP   map[string]int // open connections by remote IP
	started bool
	closed  bool
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup

	faults *NodeFaults // Config.Faults; nil in production

	budget *byteBudget // Config.QueuedMaxRequestBytes
	logs   brokerLogs
	stats  *brokerStats // see Stats
	sec    *security    // TLS and SASL

	// maxFetchWait caps Fetch's MaxWaitMillis (Config.MaxFetchWait);
	// negative: no cap. The fuzz targets set it to 0 so that nothing
	// blocks.
	maxFetchWait time.Duration
}

// New validates cfg and returns a broker that is not listening yet.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Broker{
		cfg:          cfg,
		cluster:      cfg.Cluster,
		log:          cfg.Logger.With("node", cfg.NodeID),
		node:         cfg.NodeID,
		conns:        make(map[*conn]struct{}),
		perIP:        make(map[string]int),
		done:         make(chan struct{}),
		budget:       newByteBudget(cfg.QueuedMaxRequestBytes),
		maxFetchWait: cfg.MaxFetchWait,
		faults:       cfg.Faults,
		stats:        newBrokerStats(),
	}
	b.logs = newBrokerLogs(b.log)
	b.sec = newSecurity(cfg, b.log)
	if b.cluster == nil {
		c, err := NewCluster(cfg.clusterConfig())
		if err != nil {
			return nil, err
		}
		b.cluster, b.ownsCluster = c, true
	}
	if err := b.cluster.attachNode(b.node); err != nil {
		if b.ownsCluster {
			_ = b.cluster.Close()
		}
		return nil, err
	}
	return b, nil
}

// NodeID returns the broker's node id.
func (b *Broker) NodeID() int32 { return b.node }

// Cluster returns the state the broker serves.
func (b *Broker) Cluster() *Cluster { return b.cluster }

// Start listens on Config.Listen and serves connections in the background
// until Close. Errors from listening (such as the address being in use) are
// returned as they are.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.started:
		return ErrStarted
	}
	ln, err := net.Listen("tcp", b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen: %w", err)
	}
	b.ln, b.started = ln, true
	host, port := b.advertised(ln.Addr())
	b.cluster.nodeListening(b.node, host, port)
	b.wg.Add(1)
	go b.accept(ln)
	b.log.Info("broker listening", "addr", ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))))
	return nil
}

// Serve starts the broker (unless Start was called already), serves until ctx
// is done or Close is called, and then closes the broker. It returns nil
// after a clean stop and the listen error otherwise.
func (b *Broker) Serve(ctx context.Context) error {
	if err := b.Start(); err != nil && !errors.Is(err, ErrStarted) {
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.done:
	}
	return b.Close()
}

func (b *Broker) advertised(addr net.Addr) (string, int32) {
	host, port := b.cfg.AdvertisedHost, b.cfg.AdvertisedPort
	tcp, _ := addr.(*net.TCPAddr)
	if port == 0 && tcp != nil {
		port = int32(tcp.Port)
	}
	if host == "" && tcp != nil {
		if tcp.IP.IsUnspecified() {
			if h, err := os.Hostname(); err == nil && h != "" {
				host = h
			} else {
				host = "localhost"
			}
		} else {
			host = tcp.IP.String()
		}
	}
	return host, port
}

// Addr returns the address the broker listens on, or "" before Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// Close stops listening, closes every connection, waits for their
// goroutines, and closes the cluster if the broker created it. The node stays
// in the cluster (see Cluster). Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	var err error
	if b.ln != nil {
		if cerr := b.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	conns := b.connsLocked()
	b.mu.Unlock()
	closeConns(conns)
	b.wg.Wait()
	b.logs.close()
	b.sec.close()
	b.cluster.detachNode(b.node)
	if b.ownsCluster {
		if cerr := b.cluster.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (b *Broker) accept(ln net.Listener) {
	defer b.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.logs.accept.Log("err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-b.done:
				return
			}
		}
		delay = 0
		if b.cfg.TLS != nil {
			// The handshake is done by the connection's goroutine.
			nc = tls.Server(nc, b.cfg.TLS)
		}
		c := newConn(b, nc)
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			_ = nc.Close()
			return
		}
		if why := b.refuseLocked(c); why != "" {
			b.mu.Unlock()
			_ = nc.Close()
			b.logs.refused.Log("remote", c.remoteAddr(), "reason", why)
			continue
		}
		b.conns[c] = struct{}{}
		b.stats.accepted.Add(1)
		if c.ip != "" {
			b.perIP[c.ip]++
		}
		b.wg.Add(1)
		b.mu.Unlock()
		go c.serve()
	}
}

// refuseLocked says why a new connection is over MaxConnections or
// MaxConnectionsPerIP, or returns "".
func (b *Broker) refuseLocked(c *conn) string {
	if n := b.cfg.MaxConnections; n > 0 && len(b.conns) >= n {
		b.stats.refusedMax.Add(1)
		return fmt.Sprintf("%d connections are open (MaxConnections)", len(b.conns))
	}
	if n := b.cfg.MaxConnectionsPerIP; n > 0 && c.ip != "" && b.perIP[c.ip] >= n {
		b.stats.refusedIP.Add(1)
		return fmt.Sprintf("%d connections from %s are open (MaxConnectionsPerIP)", b.perIP[c.ip], c.ip)
	}
	return ""
}

func (b *Broker) forget(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.conns[c]; !ok {
		return // DropConnections forgot it already
	}
	delete(b.conns, c)
	b.forgetIPLocked(c)
}

func (b *Broker) forgetIPLocked(c *conn) {
	if c.ip == "" {
		return
	}
	if b.perIP[c.ip]--; b.perIP[c.ip] <= 0 {
		delete(b.perIP, c.ip)
	}
}

// brokerLogs are the broker's rate-limited messages: those a flood of bad
// or excess clients would otherwise repeat once per client.
type brokerLogs struct {
	closing     *rateLog // bad input, slow request
	idle        *rateLog
	closedOther *rateLog
	refused     *rateLog // MaxConnections, MaxConnectionsPerIP
	accept      *rateLog
	partitions  *rateLog // topic creation over the partition limits
	storage     *rateLog // errors reading a partition
	corrupt     *rateLog // damaged data met by a fetch
}

func newBrokerLogs(log *slog.Logger) brokerLogs {
	return brokerLogs{
		closing:     newRateLog(log, slog.LevelWarn, "closing connection"),
		idle:        newRateLog(log, slog.LevelInfo, "closing idle connection"),
		closedOther: newRateLog(log, slog.LevelInfo, "connection closed"),
		refused:     newRateLog(log, slog.LevelWarn, "refusing connection"),
		accept:      newRateLog(log, slog.LevelWarn, "accept failed"),
		partitions:  newRateLog(log, slog.LevelWarn, "refusing topic creation"),
		storage:     newRateLog(log, slog.LevelError, "reading a partition"),
		corrupt:     newRateLog(log, slog.LevelError, "corrupt data in a partition; answering CORRUPT_MESSAGE"),
	}
}

func (l brokerLogs) close() {
	for _, r := range []*rateLog{l.closing, l.idle, l.closedOther, l.refused, l.accept, l.partitions, l.storage, l.corrupt} {
		r.close()
	}
}

// DropConnections closes every open connection; the broker keeps listening.
func (b *Broker) DropConnections() {
	b.mu.Lock()
	conns := b.connsLocked()
	for _, c := range conns {
		delete(b.conns, c)
		b.forgetIPLocked(c)
	}
	b.mu.Unlock()
	closeConns(conns)
}

func (b *Broker) connsLocked() []*conn {
	conns := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	return conns
}

// closeConns closes connections with no lock held: closing a TLS
// connection writes its close_notify alert, which can wait up to 5 seconds
// for a client that does not read.
func closeConns(conns []*conn) {
	for _, c := range conns {
		c.close()
	}
}

// OpenConnections returns how many client connections are open.
func (b *Broker) OpenConnections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}
