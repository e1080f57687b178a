package callbacks

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/merlinkafka/merlin/internal/errs"
)

// ErrConfig matches, under errors.Is, the error NewStatsdWith returns for
// invalid options: a *ConfigError naming the field. It is of one kind with
// producer.ErrConfig and broker.ErrConfig.
var ErrConfig = errs.Config("callbacks: invalid config")

// ConfigError is the error returned for invalid options, as every merlin
// package returns for an invalid configuration: Field names the field,
// Reason says what is wrong.
type ConfigError = errs.ConfigError

// Statsd defaults.
const (
	// DefaultMaxPacket keeps a datagram within one Ethernet frame (1500
	// bytes less IPv6 and UDP headers, with room to spare), so lines are
	// never lost to IP fragmentation.
	DefaultMaxPacket = 1432
	// DefaultFlushInterval is how long a line may wait for others to share
	// its packet.
	DefaultFlushInterval = 100 * time.Millisecond
	// statsdWriteTimeout bounds one UDP write.
	statsdWriteTimeout = 100 * time.Millisecond
)

// StatsdOptions configures a Statsd sink made by NewStatsdWith.
type StatsdOptions struct {
	// Addr is the statsd server's UDP address, host:port. Required.
	Addr string
	// Prefix starts every metric name, as in "merlin" or "svc.kafka".
	// Empty means none.
	Prefix string
	// MaxPacket is the largest datagram, in bytes. Lines are packed into
	// a packet, newline-separated, up to this size; a single longer line is
	// sent alone. Zero or less means DefaultMaxPacket.
	MaxPacket int
	// FlushInterval is the longest a line waits in a partly filled packet.
	// Zero means DefaultFlushInterval; a negative value sends the lines of
	// each event at once, in their own packet.
	FlushInterval time.Duration
}

// Validate reports the first invalid field, as a *ConfigError naming it.
// Zero fields are valid: they take their defaults.
func (o StatsdOptions) Validate() error {
	if o.Addr == "" {
		return errs.NewConfig("callbacks", "Addr", "the statsd address is empty")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return errs.NewConfig("callbacks", "Addr", "%q is not host:port", o.Addr)
	}
	return nil
}

func (o StatsdOptions) withDefaults() StatsdOptions {
	if o.MaxPacket <= 0 {
		o.MaxPacket = DefaultMaxPacket
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	return o
}

// Statsd is a Handler that sends events to a statsd server over UDP, in the
// statsd line protocol. It is safe for concurrent use and implements
// io.Closer. Handle never returns an error and never waits on the network
// for long (UDP, and writes time out): failed writes are counted (Errors).
type Statsd struct {
	conn     *net.UDPConn
	prefix   string
	max      int
	interval time.Duration

	mu     sync.Mutex // guards the fields below and conn writes
	buf    []byte     // lines waiting for a packet
	line   []byte     // scratch for one line
	timer  *time.Timer
	armed  bool
	closed bool

	packets atomic.Uint64
	errs    atomic.Uint64
}

// NewStatsd returns a statsd sink sending to addr (host:port, UDP) with
// metric names starting with prefix. It packs lines into packets of up to
// DefaultMaxPacket bytes, sent at the latest DefaultFlushInterval after
// their first line; use NewStatsdWith to change either. Close it after the
// Bus that feeds it, so it sends what the Bus drained.
//
// Metric names have the form
//
//	<prefix>.<topic>.<event>.broker<id>.<partition>
//
// where the topic segment is left out when the event has no topic, the
// broker segment when Broker < 0 and the partition segment when
// Partition < 0. In the topic every byte other than ASCII letters, digits,
// '-' and '_' becomes '_' ("clicks.v2" gives "clicks_v2"), so a topic is
// always one segment; the prefix keeps its dots.
//
// Each kind sends these metrics (<event>:value|type):
//
//	Flush                     flush:Count|c, and flush_bytes:Bytes|c when Bytes > 0
//	FlushedReplied            flushed_replied:Count|c, flushed_replied_rtt:<Duration in ms>|ms
//	WorkerUp                  worker_up:1|c, up:1|g
//	WorkerDown                worker_down:1|c, up:0|g
//	TimeToConnect             time_to_connect:<ms>|ms
//	TimeDown                  time_down:<ms>|ms
//	MainBrokerUnreachable     mainbroker_unreachable:1|c
//	DowntimeSaved             downtime_saved:Count|c
//	DowntimeReplayed          downtime_replayed:Count|c
//	MaxDowntimeBufferReached  max_downtime_buffer_reached:Count|c
//	StateChange               state_<To>:1|c (state_change:1|c when To is empty)
//	Error                     error:1|c
//	MessagesFailed            messages_failed:Count|c
//
// Counters of messages carry Count; counters of occurrences carry 1; the
// gauge "up" is the partition worker's level (1 up, 0 down); timings are in
// milliseconds with microsecond precision ("12.5"). Events of unknown kinds
// are ignored.
func NewStatsd(addr, prefix string) (*Statsd, error) {
	return NewStatsdWith(StatsdOptions{Addr: addr, Prefix: prefix})
}

// NewStatsdWith is NewStatsd with all options. Invalid options are a
// *ConfigError (errors.Is ErrConfig).
func NewStatsdWith(opts StatsdOptions) (*Statsd, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	raddr, err := net.ResolveUDPAddr("udp", opts.Addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, err
	}
	s := &Statsd{
		conn:     conn,
		prefix:   cleanPrefix(opts.Prefix),
		max:      opts.MaxPacket,
		interval: opts.FlushInterval,
	}
	s.buf = make([]byte, 0, s.max)
	if s.interval > 0 {
		s.timer = time.AfterFunc(time.Hour, s.tick)
		s.timer.Stop()
	}
	return s, nil
}

// cleanPrefix drops the characters the line protocol reserves and the dots
// at either end.
func cleanPrefix(p string) string {
	p = strings.Map(func(r rune) rune {
		switch r {
		case ':', '|', '@', '\n', '\r', ' ', '\t':
			return '_'
		}
		return r
	}, p)
	return strings.Trim(p, ".")
}

// Handle sends e's metrics, or queues them for the next packet.
func (s *Statsd) Handle(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.errs.Add(1)
		return
	}
	switch e.Kind {
	case Flush:
		s.add(&e, "flush", "", int64(e.Count), "c")
		if e.Bytes > 0 {
			s.add(&e, "flush_bytes", "", int64(e.Bytes), "c")
		}
	case FlushedReplied:
		s.add(&e, "flushed_replied", "", int64(e.Count), "c")
		s.addMillis(&e, "flushed_replied_rtt", e.Duration)
	case WorkerUp:
		s.add(&e, "worker_up", "", 1, "c")
		s.add(&e, "up", "", 1, "g")
	case WorkerDown:
		s.add(&e, "worker_down", "", 1, "c")
		s.add(&e, "up", "", 0, "g")
	case TimeToConnect, TimeDown:
		s.addMillis(&e, e.Kind.String(), e.Duration)
	case MainBrokerUnreachable, Error:
		s.add(&e, e.Kind.String(), "", 1, "c")
	case DowntimeSaved, DowntimeReplayed, MaxDowntimeBufferReached, MessagesFailed:
		s.add(&e, e.Kind.String(), "", int64(e.Count), "c")
	case StateChange:
		if e.To == "" {
			s.add(&e, "state_change", "", 1, "c")
		} else {
			s.add(&e, "state_", e.To, 1, "c")
		}
	default:
		return
	}
	switch {
	case s.interval < 0:
		s.flushLocked()
	case !s.armed && len(s.buf) > 0:
		s.armed = true
		s.timer.Reset(s.interval)
	}
}

// add queues the line <name><suffix>:<v>|<typ>, where suffix is sanitised.
func (s *Statsd) add(e *Event, name, suffix string, v int64, typ string) {
	l := s.name(e, name, suffix)
	l = strconv.AppendInt(l, v, 10)
	s.push(append(append(l, '|'), typ...))
}

func (s *Statsd) addMillis(e *Event, name string, d time.Duration) {
	l := s.name(e, name, "")
	l = strconv.AppendFloat(l, float64(max(d, 0).Microseconds())/1000, 'f', -1, 64)
	s.push(append(l, "|ms"...))
}

// name writes "<prefix>.<topic>.<event>.broker<id>.<partition>:" to the
// scratch line and returns it.
func (s *Statsd) name(e *Event, event, suffix string) []byte {
	l := append(s.line[:0], s.prefix...)
	if e.Topic != "" {
		if len(l) > 0 {
			l = append(l, '.')
		}
		l = appendSanitized(l, e.Topic)
	}
	if len(l) > 0 {
		l = append(l, '.')
	}
	l = append(l, event...)
	l = appendSanitized(l, suffix)
	if e.Broker >= 0 {
		l = append(l, ".broker"...)
		l = strconv.AppendInt(l, int64(e.Broker), 10)
	}
	if e.Partition >= 0 {
		l = append(l, '.')
		l = strconv.AppendInt(l, int64(e.Partition), 10)
	}
	return append(l, ':')
}

// appendSanitized appends str with every byte other than ASCII letters,
// digits, '-' and '_' replaced by '_'.
func appendSanitized(b []byte, str string) []byte {
	for i := 0; i < len(str); i++ {
		c := str[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// push adds a finished line to the packet, sending the packet first if the
// line does not fit.
func (s *Statsd) push(line []byte) {
	s.line = line[:0] // keep the grown scratch
	if len(s.buf) > 0 && len(s.buf)+1+len(line) > s.max {
		s.flushLocked()
	}
	if len(s.buf) > 0 {
		s.buf = append(s.buf, '\n')
	}
	s.buf = append(s.buf, line...)
}

func (s *Statsd) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	if !s.closed {
		s.flushLocked()
	}
}

func (s *Statsd) flushLocked() {
	if len(s.buf) == 0 {
		return
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(statsdWriteTimeout)); err != nil {
		s.errs.Add(1)
	} else if _, err := s.conn.Write(s.buf); err != nil {
		s.errs.Add(1)
	} else {
		s.packets.Add(1)
	}
	s.buf = s.buf[:0]
}

// Flush sends the lines waiting for a packet now.
func (s *Statsd) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.flushLocked()
	}
}

// Packets returns the number of datagrams sent.
func (s *Statsd) Packets() uint64 { return s.packets.Load() }

// Errors returns the number of failed writes (each loses one packet) plus
// the number of events handled after Close.
func (s *Statsd) Errors() uint64 { return s.errs.Load() }

// Close sends what is waiting and closes the socket. Later events are
// counted in Errors. Close is idempotent.
func (s *Statsd) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.flushLocked()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	return s.conn.Close()
}
