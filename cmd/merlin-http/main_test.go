package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// started is a run under way in the background.
type started struct {
	url    string
	stdout *lineWriter
	stderr *lineWriter
	cancel context.CancelFunc
	code   chan int
}

// start runs the program with argv and waits until it listens.
func start(t *testing.T, argv ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: newLineWriter("listening on "), stderr: newLineWriter(""), cancel: cancel, code: make(chan int, 1)}
	go func() { s.code <- run(ctx, argv, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		<-s.code
	})
	select {
	case line := <-s.stdout.found:
		_, url, _ := strings.Cut(line, "listening on ")
		s.url = strings.TrimSpace(url)
	case code := <-s.code:
		s.code <- code
		t.Fatalf("run exited with %d before listening; stderr:\n%s", code, s.stderr)
	case <-testCtx(t).Done():
		t.Fatal("run did not start listening")
	}
	return s
}

// stop sends the shutdown signal and returns the exit code.
func (s *started) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.code:
		s.code <- code // for the cleanup
		return code
	case <-testCtx(t).Done():
		t.Fatalf("run did not shut down; stderr:\n%s", s.stderr)
	}
	return -1
}

// waitHealth polls /healthz until ok says its body is as wanted.
func waitHealth(t *testing.T, url string, ok func(map[string]any) bool) {
	t.Helper()
	ctx := testCtx(t)
	for {
		r := do(t, http.MethodGet, url+"/healthz", "", nil).expect(t, http.StatusOK)
		if ok(r.body) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("healthz never as wanted: %s", r.raw)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Messages accepted before the shutdown are delivered by it: with a linger
// of an hour, only the shutdown sends them.
func TestRunShutdownDeliversAccepted(t *testing.T) {
	c := newKfake(t, "t")
	s := start(t, "--listen", "127.0.0.1:0", "--brokers", strings.Join(c.ListenAddrs(), ","), "--linger", "1h")
	if !strings.HasPrefix(s.url, "http://127.0.0.1:") {
		t.Fatalf("listen address %q", s.url)
	}
	post(t, s.url+"/sync/t", "", "sync").expect(t, http.StatusOK)
	// The answer may come before the delivery is counted: wait for it, so
	// that the shutdown's counts below are exact.
	waitHealth(t, s.url, func(h map[string]any) bool { return num(h["delivered"]) == 1 && num(h["buffered_messages"]) == 0 })
	for i := range 5 {
		post(t, s.url+"/batch/async/t", "", fmt.Sprint("held-", i)).expect(t, http.StatusOK)
	}
	post(t, s.url+"/batch/sync/t", "application/json", `[{"value":"held-5"},{"value":"held-6"}]`).expect(t, http.StatusOK)
	r := do(t, http.MethodGet, s.url+"/healthz", "", nil).expect(t, http.StatusOK)
	if num(r.body["buffered_messages"]) != 7 || num(r.body["delivered"]) != 1 {
		t.Fatalf("before shutdown: %s", r.raw)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, s.stderr)
	}
	logs := s.stderr.String()
	for _, want := range []string{"pending_messages=7", "delivered=7", "undelivered=0", "every accepted message was delivered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	got := byValue(consume(t, c.ListenAddrs(), "t", 8))
	for _, v := range []string{"sync", "held-0", "held-4", "held-5", "held-6"} {
		if got[v] == nil {
			t.Errorf("%s did not arrive", v)
		}
	}
	// The port is closed.
	if conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://")); err == nil {
		conn.Close()
		t.Fatal("still accepting connections after shutdown")
	}
}

// When the broker is gone at shutdown, the messages it could not deliver
// are counted and the exit status says so.
func TestRunShutdownReportsUndelivered(t *testing.T) {
	c := newKfake(t, "t")
	s := start(t, "--listen", "127.0.0.1:0", "--brokers", c.ListenAddrs()[0], "--linger", "1h", "--shutdown-timeout", "300ms")
	post(t, s.url+"/batch/async/t", "application/json", `[{"value":"a"},{"value":"b"},{"value":"c"}]`).expect(t, http.StatusOK)
	c.Close()
	if code := s.stop(t); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, s.stderr)
	}
	logs := s.stderr.String()
	for _, want := range []string{"pending_messages=3", "undelivered=3", "shut down with undelivered messages"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestRunPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--listen", ln.Addr().String(), "--brokers", "127.0.0.1:9092"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if msg := stderr.String(); !strings.Contains(msg, "cannot listen on "+ln.Addr().String()) || !strings.Contains(msg, "address already in use") {
		t.Fatalf("stderr %q", msg)
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout %q", stdout.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		want string
	}{
		{"no brokers", nil, "--brokers is required"},
		{"empty brokers", []string{"--brokers", ","}, "at least one bootstrap broker"},
		{"broker without port", []string{"--brokers", "localhost"}, "not host:port"},
		{"bad acks", []string{"--brokers", "h:1", "--acks", "most"}, "--acks"},
		{"bad compression", []string{"--brokers", "h:1", "--compression", "brotli"}, "--compression"},
		{"bad max body", []string{"--brokers", "h:1", "--max-body", "lots"}, "--max-body"},
		{"zero max body", []string{"--brokers", "h:1", "--max-body", "0"}, "--max-body"},
		{"bad timeout", []string{"--brokers", "h:1", "--timeout", "soon"}, "--timeout"},
		{"zero timeout", []string{"--brokers", "h:1", "--timeout", "0s"}, "--timeout"},
		{"negative linger", []string{"--brokers", "h:1", "--linger", "-1s"}, "--linger"},
		{"zero shutdown timeout", []string{"--brokers", "h:1", "--shutdown-timeout", "0s"}, "--shutdown-timeout"},
		{"bad log level", []string{"--brokers", "h:1", "--log-level", "loud"}, "--log-level"},
		{"unknown flag", []string{"--brokers", "h:1", "--topic", "t"}, "--topic"},
		{"positional", []string{"--brokers", "h:1", "extra"}, "extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := run(context.Background(), tc.argv, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr.String())
			}
			first, _, _ := strings.Cut(stderr.String(), "\n")
			if !strings.HasPrefix(first, "merlin-http: ") || !strings.Contains(first, tc.want) {
				t.Fatalf("stderr %q does not begin with an error mentioning %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, stderr.String())
	}
	help := stdout.String()
	for _, want := range []string{"--listen", "127.0.0.1:8000", "--brokers", "--max-body", "10MiB", "--timeout", "30s",
		"--linger", "TTL", "--acks", "leader", "none", "--compression", "zstd", "--client-id", "--shutdown-timeout",
		"--log-level", "/sync/{topic}", "/batch/async/{topic}", "X-Merlin-Key"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}

func TestParseArgs(t *testing.T) {
	a, _, ok := parseArgs([]string{"--brokers", "a:1,b:2", "--brokers", " c:3 ", "--acks", "leader", "--compression", "zstd",
		"--max-body", "512KiB", "--linger", "0", "--client-id", "gw"}, io.Discard, io.Discard)
	if !ok {
		t.Fatal("not parsed")
	}
	if !slices.Equal(a.Brokers, []string{"a:1", "b:2", "c:3"}) {
		t.Fatalf("brokers %q", a.Brokers)
	}
	cfg := a.producerConfig(nil, nil)
	if cfg.Acks.String() != "leader" || cfg.Compression.String() != "zstd" || cfg.ClientID != "gw" || a.MaxBody != 512<<10 {
		t.Fatalf("config %+v, max body %d", cfg, a.MaxBody)
	}
	if cfg.TTL <= 0 || cfg.TTL > time.Microsecond {
		t.Fatalf("--linger 0 gave TTL %v: the producer would read 0 as its 10ms default", cfg.TTL)
	}
	a, _, ok = parseArgs([]string{"--brokers", "a:1", "--acks", "none"}, io.Discard, io.Discard)
	if !ok || a.producerConfig(nil, nil).Acks.String() != "none" || a.MaxBody != 10<<20 || a.Timeout != 30*time.Second || a.Listen != "127.0.0.1:8000" {
		t.Fatalf("defaults %+v", a)
	}
}
