// Package console serves a small read-only web console of a broker: its
// topics and partitions (offsets, size, segments), the newest messages of
// a partition, the connected clients, the idempotent producers, and a live
// chart of produce and fetch rates. The page is plain HTML, CSS and
// JavaScript embedded in the binary; it loads nothing from elsewhere
// (its Content-Security-Policy allows only its own origin).
//
// # JSON API
//
// Every endpoint answers GET with JSON (Cache-Control: no-store):
//
//	/api/overview   the broker, counts, and which sections exist (Features)
//	/api/topics     topics with their partitions (Topic, Partition)
//	/api/topics/{topic}/partitions/{partition}/messages?limit=N
//	                the newest N messages (default 20, at most 200), newest
//	                first (Messages)
//	/api/clients    open connections (Client)
//	/api/producers  idempotent producer state (Producers)
//	/api/rates      cumulative counters to derive rates from (Rates)
//	/api/groups     consumer groups (Groups)
//
// # Consumer groups
//
// /api/groups lists the broker's consumer groups (Cluster.Groups): each
// group's state, members with their assigned partitions, and committed
// offsets with their lag, which the page shows. Options.Groups replaces
// the list (a program with groups of its own, or none); fields may be added
// to Group, and the page shows those it knows.
package console

import (
	"context"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/kbatch"
)

//go:embed assets
var assets embed.FS

// Limits of the messages endpoint.
const (
	DefaultMessages = 20
	MaxMessages     = 200
	// maxShown bounds the bytes of a key, value or header value sent to
	// the page; Bytes.Size gives the whole size.
	maxShown = 1024
	// maxRead bounds the bytes of batches read to find the newest messages.
	maxRead = 8 << 20
)

// Options configures a console.
type Options struct {
	// Groups lists the consumer groups, for /api/groups. nil: the
	// broker's own (ClusterGroups).
	Groups func(context.Context) ([]Group, error)
	// Logger receives errors serving the API. Default slog.Default().
	Logger *slog.Logger
}

// Handler returns the console of b: the page at / and the JSON API under
// /api/.
func Handler(b *broker.Broker, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Groups == nil {
		opts.Groups = ClusterGroups(b.Cluster())
	}
	s := &server{b: b, opts: opts}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/overview", s.api(s.overview))
	mux.HandleFunc("GET /api/topics", s.api(s.topics))
	mux.HandleFunc("GET /api/topics/{topic}/partitions/{partition}/messages", s.api(s.messages))
	mux.HandleFunc("GET /api/clients", s.api(s.clients))
	mux.HandleFunc("GET /api/producers", s.api(s.producers))
	mux.HandleFunc("GET /api/rates", s.api(s.rates))
	mux.HandleFunc("GET /api/groups", s.api(s.groups))
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

type server struct {
	b    *broker.Broker
	opts Options
}

// httpError is an error answered with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// api adapts an endpoint returning a value to encode as JSON.
func (s *server) api(f func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		v, err := f(r)
		if err != nil {
			status := http.StatusInternalServerError
			if he, ok := errors.AsType[*httpError](err); ok {
				status = he.status
			} else {
				s.opts.Logger.Error("console: serving the API", "path", r.URL.Path, "err", err)
			}
			w.WriteHeader(status)
			v = struct {
				Error string `json:"error"`
			}{err.Error()}
		}
		if err := json.NewEncoder(w).Encode(v); err != nil && r.Context().Err() == nil {
			s.opts.Logger.Debug("console: writing an answer", "path", r.URL.Path, "err", err)
		}
	}
}

// Overview is /api/overview.
type Overview struct {
	NodeID      int32     `json:"node_id"`
	Addr        string    `json:"addr"`
	Time        time.Time `json:"time"`
	Topics      int       `json:"topics"`
	Partitions  int       `json:"partitions"`
	Connections int       `json:"connections"`
	Features    Features  `json:"features"`
}

// Features says which optional sections the console has.
type Features struct {
	// Groups is true when Options.Groups is set.
	Groups bool `json:"groups"`
}

func (s *server) overview(*http.Request) (any, error) {
	topics := s.b.Cluster().Topics()
	parts := 0
	for _, t := range topics {
		parts += int(t.Partitions)
	}
	return Overview{
		NodeID:      s.b.NodeID(),
		Addr:        s.b.Addr(),
		Time:        time.Now().UTC(),
		Topics:      len(topics),
		Partitions:  parts,
		Connections: s.b.OpenConnections(),
		Features:    Features{Groups: s.opts.Groups != nil},
	}, nil
}

// Topic is one topic of /api/topics.
type Topic struct {
	Name       string      `json:"name"`
	Partitions []Partition `json:"partitions"`
	// SizeBytes and Messages add up the partitions' sizes (those that
	// tell) and their offset ranges.
	SizeBytes int64 `json:"size_bytes"`
	Messages  int64 `json:"messages"`
}

// Partition is one partition of a Topic.
type Partition struct {
	Partition   int32 `json:"partition"`
	Leader      int32 `json:"leader"`
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	// SizeBytes is -1 when the storage does not tell; Segments is -1 for
	// memory storage.
	SizeBytes int64 `json:"size_bytes"`
	Segments  int   `json:"segments"`
	Producers int   `json:"producers"`
}

func (s *server) topics(*http.Request) (any, error) {
	out := []Topic{}
	for _, p := range s.b.Cluster().PartitionStats() {
		if len(out) == 0 || out[len(out)-1].Name != p.Topic {
			out = append(out, Topic{Name: p.Topic})
		}
		t := &out[len(out)-1]
		t.Partitions = append(t.Partitions, Partition{
			Partition: p.Partition, Leader: p.Leader,
			StartOffset: p.StartOffset, EndOffset: p.EndOffset,
			SizeBytes: p.SizeBytes, Segments: p.Segments, Producers: p.Producers,
		})
		t.SizeBytes += max(p.SizeBytes, 0)
		t.Messages += p.EndOffset - p.StartOffset
	}
	return struct {
		Topics []Topic `json:"topics"`
	}{out}, nil
}

// Messages is /api/topics/{topic}/partitions/{partition}/messages.
type Messages struct {
	Topic       string    `json:"topic"`
	Partition   int32     `json:"partition"`
	StartOffset int64     `json:"start_offset"`
	EndOffset   int64     `json:"end_offset"`
	Messages    []Message `json:"messages"` // newest first
}

// Message is one record.
type Message struct {
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	Key       Bytes     `json:"key"`
	Value     Bytes     `json:"value"`
	Headers   []Header  `json:"headers"`
}

// Header is a record header.
type Header struct {
	Key   string `json:"key"`
	Value Bytes  `json:"value"`
}

// Bytes is a key, value or header value as the page shows it.
type Bytes struct {
	// Encoding is "text" (Data is the UTF-8 text), "hex" (Data is
	// hexadecimal) or "null" (no bytes at all).
	Encoding string `json:"encoding"`
	Data     string `json:"data"`
	// Size is the length in bytes; Truncated says that Data shows only
	// the first 1024 of them.
	Size      int  `json:"size"`
	Truncated bool `json:"truncated,omitempty"`
}

func showBytes(b []byte) Bytes {
	if b == nil {
		return Bytes{Encoding: "null"}
	}
	out := Bytes{Size: len(b)}
	if len(b) > maxShown {
		b, out.Truncated = b[:maxShown], true
	}
	if isText(b, out.Truncated) {
		for out.Truncated && len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1] // cut inside a character: drop its start
		}
		out.Encoding, out.Data = "text", string(b)
	} else {
		out.Encoding, out.Data = "hex", hex.EncodeToString(b)
	}
	return out
}

// isText reports whether b is printable UTF-8 (tabs and line breaks
// allowed). A truncated b may end inside a character.
func isText(b []byte, truncated bool) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return truncated && len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		if !unicode.IsPrint(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
		b = b[n:]
	}
	return true
}

func (s *server) messages(r *http.Request) (any, error) {
	topic := r.PathValue("topic")
	p, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil || p < 0 {
		return nil, &httpError{http.StatusBadRequest, "partition: not a partition number"}
	}
	limit := DefaultMessages
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &httpError{http.StatusBadRequest, "limit: not a positive number"}
		}
		limit = min(n, MaxMessages)
	}
	cl := s.b.Cluster()
	start, end, err := cl.Offsets(topic, int32(p))
	if errors.Is(err, broker.ErrUnknownTopicOrPartition) {
		return nil, &httpError{http.StatusNotFound, err.Error()}
	}
	if err != nil {
		return nil, err
	}
	out := Messages{Topic: topic, Partition: int32(p), StartOffset: start, EndOffset: end, Messages: []Message{}}
	from := max(start, end-int64(limit))
	var buf []byte
	for off := from; off < end && len(buf) < maxRead; {
		n := len(buf)
		buf, err = cl.ReadBatches(topic, int32(p), off, maxRead-len(buf), buf)
		if errors.Is(err, broker.ErrOffsetOutOfRange) {
			break // retention moved the start meanwhile: show what was read
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == n {
			break
		}
		last, err := lastOffset(buf[n:])
		if err != nil {
			return nil, err
		}
		off = last + 1
	}
	for rest := buf; len(rest) > 0; {
		batch, tail, h, err := kbatch.Next(rest)
		if err != nil {
			return nil, err
		}
		rest = tail
		if h.IsControl() {
			continue
		}
		recs, err := kbatch.Records(batch)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if rec.Offset < from {
				continue
			}
			m := Message{
				Offset:    rec.Offset,
				Timestamp: time.UnixMilli(rec.Timestamp).UTC(),
				Key:       showBytes(rec.Key),
				Value:     showBytes(rec.Value),
				Headers:   make([]Header, 0, len(rec.Headers)),
			}
			for _, hd := range rec.Headers {
				m.Headers = append(m.Headers, Header{Key: hd.Key, Value: showBytes(hd.Value)})
			}
			out.Messages = append(out.Messages, m)
		}
	}
	if len(out.Messages) > limit {
		out.Messages = out.Messages[len(out.Messages)-limit:]
	}
	for i, j := 0, len(out.Messages)-1; i < j; i, j = i+1, j-1 {
		out.Messages[i], out.Messages[j] = out.Messages[j], out.Messages[i]
	}
	return out, nil
}

// lastOffset returns the last offset of the last batch of b.
func lastOffset(b []byte) (int64, error) {
	var last int64
	for len(b) > 0 {
		_, rest, h, err := kbatch.Next(b)
		if err != nil {
			return 0, err
		}
		last, b = h.LastOffset(), rest
	}
	return last, nil
}

// Client is one connection of /api/clients.
type Client struct {
	Remote    string    `json:"remote"`
	ClientID  string    `json:"client_id"`
	Connected time.Time `json:"connected"`
	Requests  uint64    `json:"requests"`
	BytesIn   uint64    `json:"bytes_in"`
	BytesOut  uint64    `json:"bytes_out"`
}

func (s *server) clients(*http.Request) (any, error) {
	out := []Client{}
	for _, c := range s.b.Clients() {
		out = append(out, Client{
			Remote: c.Remote, ClientID: c.ClientID, Connected: c.Connected.UTC(),
			Requests: c.Requests, BytesIn: c.BytesIn, BytesOut: c.BytesOut,
		})
	}
	return struct {
		Clients []Client `json:"clients"`
	}{out}, nil
}

// Producers is /api/producers.
type Producers struct {
	// Allocated counts the producer ids handed out since the broker
	// started.
	Allocated int64      `json:"allocated"`
	Producers []Producer `json:"producers"`
}

// Producer is the state of one producer id on one partition.
type Producer struct {
	ProducerID    int64  `json:"producer_id"`
	ProducerEpoch int16  `json:"producer_epoch"`
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	LastSequence  int32  `json:"last_sequence"`
	LastOffset    int64  `json:"last_offset"`
}

func (s *server) producers(*http.Request) (any, error) {
	out := Producers{Allocated: s.b.Cluster().ProducerIDsAllocated(), Producers: []Producer{}}
	for _, p := range s.b.Cluster().Producers() {
		out.Producers = append(out.Producers, Producer{
			ProducerID: p.ProducerID, ProducerEpoch: p.ProducerEpoch,
			Topic: p.Topic, Partition: p.Partition,
			LastSequence: p.LastSequence, LastOffset: p.LastOffset,
		})
	}
	return out, nil
}

// Rates is /api/rates: counters since the broker started, which the page
// polls and turns into rates (the difference between two answers over the
// time between them).
type Rates struct {
	// TimeMillis is when the counters were read, in Unix milliseconds.
	TimeMillis      int64  `json:"time_ms"`
	ProduceRequests uint64 `json:"produce_requests"`
	FetchRequests   uint64 `json:"fetch_requests"`
	// Records is the sum of the partitions' log end offsets: the records
	// stored since the topics were created.
	Records  int64  `json:"records"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

func (s *server) rates(*http.Request) (any, error) {
	st := s.b.Stats()
	out := Rates{TimeMillis: time.Now().UnixMilli(), BytesIn: st.BytesIn, BytesOut: st.BytesOut}
	for _, r := range st.Requests {
		switch r.Key {
		case broker.APIProduce:
			out.ProduceRequests += r.Requests
		case broker.APIFetch:
			out.FetchRequests += r.Requests
		}
	}
	for _, p := range s.b.Cluster().PartitionStats() {
		out.Records += p.EndOffset
	}
	return out, nil
}

// Groups is /api/groups.
type Groups struct {
	// Supported is false while Options.Groups is nil.
	Supported bool    `json:"supported"`
	Groups    []Group `json:"groups"`
}

// Group is one consumer group, as Options.Groups lists it.
type Group struct {
	ID           string        `json:"id"`
	State        string        `json:"state"` // Empty, Stable, PreparingRebalance, ...
	ProtocolType string        `json:"protocol_type,omitempty"`
	Protocol     string        `json:"protocol,omitempty"` // the assignor
	Members      []GroupMember `json:"members"`
	Offsets      []GroupOffset `json:"offsets"`
}

// GroupMember is one member of a Group.
type GroupMember struct {
	MemberID string `json:"member_id"`
	ClientID string `json:"client_id"`
	Host     string `json:"host"`
	// Assigned lists the partitions assigned to the member.
	Assigned []TopicPartitions `json:"assigned"`
}

// TopicPartitions names partitions of one topic.
type TopicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// GroupOffset is a group's committed offset on one partition.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	// Lag is the partition's end offset less Committed.
	Lag int64 `json:"lag"`
}

// ClusterGroups lists the consumer groups of c as the console shows them.
func ClusterGroups(c *broker.Cluster) func(context.Context) ([]Group, error) {
	return func(context.Context) ([]Group, error) {
		var out []Group
		for _, g := range c.Groups() {
			cg := Group{ID: g.ID, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol,
				Members: []GroupMember{}, Offsets: []GroupOffset{}}
			for _, m := range g.Members {
				gm := GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.Host, Assigned: []TopicPartitions{}}
				for _, topic := range slices.Sorted(maps.Keys(m.Assigned)) {
					gm.Assigned = append(gm.Assigned, TopicPartitions{Topic: topic, Partitions: m.Assigned[topic]})
				}
				cg.Members = append(cg.Members, gm)
			}
			for _, o := range g.Offsets {
				cg.Offsets = append(cg.Offsets, GroupOffset{Topic: o.Topic, Partition: o.Partition, Committed: o.Committed, Lag: o.Lag})
			}
			out = append(out, cg)
		}
		return out, nil
	}
}

func (s *server) groups(r *http.Request) (any, error) {
	out := Groups{Groups: []Group{}}
	if s.opts.Groups == nil {
		return out, nil
	}
	gs, err := s.opts.Groups(r.Context())
	if err != nil {
		return nil, err
	}
	out.Supported = true
	if gs != nil {
		out.Groups = gs
	}
	return out, nil
}
