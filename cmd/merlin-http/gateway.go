package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

// mode is one of the producer's four produce modes.
type mode int

const (
	modeSync mode = iota
	modeAsync
	modeBatchSync
	modeBatchAsync
)

var modes = []struct {
	prefix string
	mode   mode
}{
	{"/sync/", modeSync},
	{"/async/", modeAsync},
	{"/batch/sync/", modeBatchSync},
	{"/batch/async/", modeBatchAsync},
}

func (m mode) String() string {
	return [...]string{"sync", "async", "batch/sync", "batch/async"}[m]
}

// gateway serves the HTTP API over one producer.
type gateway struct {
	p       *producer.Producer
	stats   *deliveryStats
	maxBody int64
	timeout time.Duration
	log     *slog.Logger
	closing atomic.Bool

	// The last readiness check (a Ping of the cluster), reused for a
	// second so that probes do not turn into a metadata request each.
	pingMu  sync.Mutex
	pingAt  time.Time
	pingErr error
}

// pingEvery is how long a readiness check's outcome is reused.
const pingEvery = time.Second

// ready pings the cluster, at most once a second.
func (g *gateway) ready(ctx context.Context) error {
	g.pingMu.Lock()
	defer g.pingMu.Unlock()
	if !g.pingAt.IsZero() && time.Since(g.pingAt) < pingEvery {
		return g.pingErr
	}
	ctx, cancel := context.WithTimeout(ctx, min(g.timeout, 5*time.Second))
	defer cancel()
	g.pingErr, g.pingAt = g.p.Ping(ctx), time.Now()
	return g.pingErr
}

func newGateway(p *producer.Producer, stats *deliveryStats, maxBody int64, timeout time.Duration, log *slog.Logger) *gateway {
	return &gateway{p: p, stats: stats, maxBody: maxBody, timeout: timeout, log: log}
}

// handler routes requests. Every route also has a method-less twin that
// answers 405 in JSON (the ServeMux's own 405 is plain text), and "/"
// answers 404 in JSON.
func (g *gateway) handler() http.Handler {
	mux := http.NewServeMux()
	for _, m := range modes {
		h := g.produceHandler(m.mode)
		for _, pat := range []string{m.prefix + "{topic}", m.prefix + "{topic}/{$}"} {
			mux.Handle("POST "+pat, h)
			mux.Handle(pat, methodNotAllowed("POST"))
		}
		mux.HandleFunc(m.prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				methodNotAllowed("POST").ServeHTTP(w, r)
				return
			}
			writeError(w, http.StatusBadRequest, "empty topic name: POST "+m.prefix+"{topic}")
		})
	}
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.Handle("/healthz", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /livez", g.livez)
	mux.Handle("/livez", methodNotAllowed("GET, HEAD"))
	for _, pat := range []string{"/metadata/{topic}", "/metadata/{topic}/{$}"} {
		mux.HandleFunc("GET "+pat, g.metadata)
		mux.Handle(pat, methodNotAllowed("GET, HEAD"))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route for "+r.URL.Path+
			": POST /sync/{topic}, /async/{topic}, /batch/sync/{topic}, /batch/async/{topic}; GET /healthz, /livez, /metadata/{topic}")
	})
	return mux
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", r.Method, r.URL.Path, allow))
	})
}

// Response bodies.
type (
	errorBody struct {
		Error   string       `json:"error"`
		Topic   string       `json:"topic,omitempty"`
		Results []resultJSON `json:"results,omitempty"`
	}
	syncBody struct {
		Topic   string       `json:"topic"`
		Results []resultJSON `json:"results"`
	}
	resultJSON struct {
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Error     string `json:"error,omitempty"`
	}
	batchSyncBody struct {
		Topic    string         `json:"topic"`
		Buffered []bufferedJSON `json:"buffered"`
	}
	bufferedJSON struct {
		Partition int32 `json:"partition"`
		Len       int   `json:"len"`
	}
	healthBody struct {
		OK               int   `json:"ok"`
		BufferedMessages int   `json:"buffered_messages"`
		BufferedBytes    int   `json:"buffered_bytes"`
		OpenConnections  int   `json:"open_connections"`
		Delivered        int64 `json:"delivered"`
		Failed           int64 `json:"failed"`
	}
	metadataBody struct {
		Topic      string          `json:"topic"`
		Brokers    []brokerJSON    `json:"brokers"`
		Partitions []partitionJSON `json:"partitions"`
	}
	brokerJSON struct {
		ID   int32  `json:"id"`
		Addr string `json:"addr"`
	}
	partitionJSON struct {
		Partition int32  `json:"partition"`
		Leader    int32  `json:"leader"`
		Up        bool   `json:"up"`
		State     string `json:"state"`
		Buffered  int    `json:"buffered"`
	}
)

var okBody = []byte("{\"ok\":1}\n")

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeOK(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(okBody)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okBody)
}

// httpError is a request error with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func (g *gateway) produceHandler(m mode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		topic := r.PathValue("topic")
		if err := checkTopic(topic); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		msgs, err := g.readMessages(w, r)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				writeError(w, he.status, he.msg)
			} else {
				writeError(w, http.StatusBadRequest, err.Error())
			}
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
		defer cancel()
		switch m {
		case modeSync:
			res, err := g.p.ProduceSync(ctx, topic, msgs...)
			if err != nil {
				g.fail(w, r, m, topic, len(msgs), err, res)
				return
			}
			body := syncBody{Topic: topic, Results: make([]resultJSON, len(res))}
			for i, x := range res {
				body.Results[i] = resultJSON{Partition: x.Partition, Offset: x.Offset}
			}
			writeJSON(w, http.StatusOK, body)
		case modeBatchSync:
			buf, err := g.p.ProduceSyncBatched(ctx, topic, msgs...)
			if err != nil {
				g.fail(w, r, m, topic, len(msgs), err, nil)
				return
			}
			body := batchSyncBody{Topic: topic, Buffered: make([]bufferedJSON, len(buf))}
			for i, b := range buf {
				body.Buffered[i] = bufferedJSON{Partition: b.Partition, Len: b.Len}
			}
			writeJSON(w, http.StatusOK, body)
		case modeAsync, modeBatchAsync:
			if m == modeAsync {
				err = g.p.ProduceAsync(ctx, topic, msgs...)
			} else {
				err = g.p.ProduceAsyncBatched(ctx, topic, msgs...)
			}
			if err != nil {
				g.fail(w, r, m, topic, len(msgs), err, nil)
				return
			}
			writeOK(w)
		}
		g.log.Debug("produced", "mode", m.String(), "topic", topic, "messages", len(msgs), "remote", r.RemoteAddr)
	}
}

// fail answers a produce error. res, from ProduceSync, holds per-message
// results when the messages were sent and some failed.
func (g *gateway) fail(w http.ResponseWriter, r *http.Request, m mode, topic string, n int, err error, res []producer.Result) {
	status, retryAfter := statusOf(err)
	msg := err.Error()
	switch {
	case status == http.StatusGatewayTimeout && errors.Is(err, context.DeadlineExceeded):
		if m == modeSync {
			msg = fmt.Sprintf("timed out after %v waiting for the broker's acknowledgement: the messages may have been accepted and may still be delivered (retrying may duplicate them)", g.timeout)
		} else {
			msg = fmt.Sprintf("timed out after %v waiting for the topic's metadata: the messages were not accepted", g.timeout)
		}
	case status == statusClientClosed && m == modeSync:
		msg = "request canceled: the messages may have been accepted and may still be delivered"
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	body := errorBody{Error: msg}
	if len(res) > 0 {
		body.Topic = topic
		body.Results = make([]resultJSON, len(res))
		for i, x := range res {
			body.Results[i] = resultJSON{Partition: x.Partition, Offset: x.Offset}
			if x.Err != nil {
				body.Results[i].Error = x.Err.Error()
			}
		}
	}
	level := slog.LevelWarn
	if status < 500 || status == statusClientClosed {
		level = slog.LevelInfo
	}
	g.log.Log(r.Context(), level, "produce failed", "mode", m.String(), "topic", topic, "messages", n,
		"status", status, "err", err, "remote", r.RemoteAddr)
	writeJSON(w, status, body)
}

// statusClientClosed is nginx's convention for a client that went away.
const statusClientClosed = 499

// statusOf maps a producer error to an HTTP status, and the Retry-After
// seconds to send (0: none).
func statusOf(err error) (status, retryAfter int) {
	var be *producer.BrokerError
	switch {
	case errors.Is(err, producer.ErrClosed):
		return http.StatusServiceUnavailable, 1
	case errors.Is(err, producer.ErrBufferFull):
		return http.StatusServiceUnavailable, 1
	case errors.Is(err, producer.ErrNoBrokers):
		return http.StatusServiceUnavailable, 1
	case errors.Is(err, producer.ErrMessageTooLarge), errors.Is(err, producer.ErrUnknownTopic):
		return http.StatusUnprocessableEntity, 0
	case errors.As(err, &be):
		if be.Retriable() {
			return http.StatusServiceUnavailable, 1
		}
		return http.StatusBadGateway, 0
	case errors.Is(err, producer.ErrDeliveryTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, 0
	case errors.Is(err, context.Canceled):
		return statusClientClosed, 0
	}
	return http.StatusInternalServerError, 0
}

// checkTopic applies Kafka's rules for topic names, so that a typo in a
// URL gets a 400 rather than an odd topic created on the cluster.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("empty topic name")
	case len(topic) > 249:
		return fmt.Errorf("topic name is %d characters long, Kafka allows 249", len(topic))
	case topic == "." || topic == "..":
		return fmt.Errorf("topic name %q is not allowed", topic)
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q: Kafka allows only ASCII letters, digits, '.', '_' and '-'", topic)
		}
	}
	return nil
}

// readMessages reads the body as the package doc says.
func (g *gateway) readMessages(w http.ResponseWriter, r *http.Request) ([]producer.Message, error) {
	body, err := g.readBody(w, r)
	if err != nil {
		return nil, err
	}
	isJSON := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, badRequest("bad Content-Type %q: %v", ct, err)
		}
		isJSON = mt == "application/json"
	}
	key := r.URL.Query().Get("key")
	if key == "" {
		key = r.Header.Get("X-Merlin-Key")
	}
	if isJSON {
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if len(trimmed) > 0 && trimmed[0] == '[' {
			if key != "" {
				return nil, badRequest("?key= and X-Merlin-Key apply to a raw body; the messages of a JSON array carry their own \"key\"")
			}
			return parseJSONMessages(body)
		}
	}
	if len(body) == 0 {
		return nil, badRequest("empty body: nothing to produce (to produce an empty value, POST [{\"value\": \"\"}] as application/json)")
	}
	if isJSON && !json.Valid(body) {
		return nil, badRequest("body is not valid JSON, though Content-Type says application/json")
	}
	m := producer.Message{Value: body}
	if key != "" {
		m.Key = []byte(key)
	}
	return []producer.Message{m}, nil
}

// readBody reads the whole body, at most g.maxBody bytes.
func (g *gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &httpError{status: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("body larger than the %d bytes --max-body allows", g.maxBody)}
	if r.ContentLength > g.maxBody {
		return nil, tooLarge
	}
	body := http.MaxBytesReader(w, r.Body, g.maxBody)
	var buf []byte
	var err error
	if r.ContentLength >= 0 {
		// The server stops the body at Content-Length: one exact allocation.
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, buf)
	} else {
		buf, err = io.ReadAll(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return buf, nil
}

// jsonMessage is one element of a JSON array body.
type jsonMessage struct {
	Key         *string         `json:"key"`
	Value       json.RawMessage `json:"value"`
	ValueBase64 *string         `json:"value_base64"`
	Headers     jsonHeaders     `json:"headers"`
	Timestamp   *int64          `json:"timestamp"`
}

// jsonHeaders is a JSON object of string (or null) values, read in order
// and with duplicates kept, as Kafka headers are a list.
type jsonHeaders []producer.Header

func (h *jsonHeaders) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*h = nil
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("\"headers\" must be an object of string values")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string) // object keys are always strings
		tok, err = dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case string:
			*h = append(*h, producer.Header{Key: name, Value: []byte(v)})
		case nil:
			*h = append(*h, producer.Header{Key: name})
		default:
			return fmt.Errorf("header %q: the value must be a string or null", name)
		}
	}
	return nil
}

// parseJSONMessages reads a JSON array of messages.
func parseJSONMessages(body []byte) ([]producer.Message, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in []jsonMessage
	if err := dec.Decode(&in); err != nil {
		return nil, badRequest("bad JSON array of messages: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("bad JSON array of messages: data after the array")
	}
	if len(in) == 0 {
		return nil, badRequest("empty JSON array: nothing to produce")
	}
	out := make([]producer.Message, len(in))
	for i := range in {
		jm := &in[i]
		m := &out[i]
		if jm.Key != nil && *jm.Key != "" {
			m.Key = []byte(*jm.Key)
		}
		hasValue := jm.Value != nil && string(jm.Value) != "null"
		switch {
		case hasValue && jm.ValueBase64 != nil:
			return nil, badRequest("message %d: both \"value\" and \"value_base64\"", i)
		case jm.ValueBase64 != nil:
			v, err := base64.StdEncoding.DecodeString(*jm.ValueBase64)
			if err != nil {
				return nil, badRequest("message %d: \"value_base64\": %v", i, err)
			}
			m.Value = v
		case hasValue && jm.Value[0] == '"':
			var s string
			if err := json.Unmarshal(jm.Value, &s); err != nil {
				return nil, badRequest("message %d: \"value\": %v", i, err)
			}
			m.Value = []byte(s)
		case hasValue:
			m.Value = jm.Value
		}
		if len(jm.Headers) > 0 {
			m.Headers = jm.Headers
		}
		if jm.Timestamp != nil {
			m.Timestamp = time.UnixMilli(*jm.Timestamp)
		}
	}
	return out, nil
}

// healthz is the readiness check: 200 while a broker answers (with TLS and
// SASL as configured), 503 while none does or the gateway shuts down.
func (g *gateway) healthz(w http.ResponseWriter, r *http.Request) {
	if g.closing.Load() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if err := g.ready(r.Context()); err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	msgs, bytes := g.p.BufferedMessages()
	writeJSON(w, http.StatusOK, healthBody{
		OK:               1,
		BufferedMessages: msgs,
		BufferedBytes:    bytes,
		OpenConnections:  g.p.OpenConnections(),
		Delivered:        g.stats.delivered.Load(),
		Failed:           g.stats.failed.Load(),
	})
}

// livez is the liveness check: 200 while the process serves HTTP, whatever
// the brokers do (restarting the gateway would not bring them back).
func (g *gateway) livez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int{"ok": 1})
}

func (g *gateway) metadata(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if err := checkTopic(topic); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	md, err := g.p.Metadata(ctx, topic)
	if err != nil {
		status, retryAfter := statusOf(err)
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		writeError(w, status, err.Error())
		return
	}
	body := metadataBody{Topic: md.Topic, Brokers: []brokerJSON{}, Partitions: []partitionJSON{}}
	for _, b := range md.Brokers {
		body.Brokers = append(body.Brokers, brokerJSON{ID: b.ID, Addr: b.Addr})
	}
	for _, p := range md.Partitions {
		body.Partitions = append(body.Partitions, partitionJSON{
			Partition: p.ID, Leader: p.Leader, Up: p.Up, State: p.State.String(), Buffered: p.Buffered,
		})
	}
	writeJSON(w, http.StatusOK, body)
}

// deliveryStats counts outcomes reported by the producer (Config.OnDelivery)
// and logs failures, at most one line a second.
type deliveryStats struct {
	delivered atomic.Int64
	failed    atomic.Int64
	log       *slog.Logger

	mu        sync.Mutex
	lastLog   time.Time
	unlogged  int
	lastErr   error
	lastTopic string
}

func newDeliveryStats(log *slog.Logger) *deliveryStats { return &deliveryStats{log: log} }

// onDelivery runs on the producer's worker goroutines: it must be fast.
func (s *deliveryStats) onDelivery(_ producer.Message, r producer.Result) {
	if r.Err == nil {
		s.delivered.Add(1)
		return
	}
	s.failed.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlogged++
	s.lastErr, s.lastTopic = r.Err, r.Topic
	if now := time.Now(); now.Sub(s.lastLog) >= time.Second {
		s.lastLog = now
		s.logLocked()
	}
}

func (s *deliveryStats) logLocked() {
	if s.unlogged == 0 {
		return
	}
	s.log.Warn("messages failed after they were accepted", "count", s.unlogged,
		"last_topic", s.lastTopic, "last_err", s.lastErr)
	s.unlogged = 0
}

// flushLog logs failures not yet logged.
func (s *deliveryStats) flushLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logLocked()
}
