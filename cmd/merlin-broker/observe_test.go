package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/brokertest"
	"github.com/merlinkafka/merlin/internal/cli"
	"github.com/merlinkafka/merlin/internal/syncbuf"
	"github.com/twmb/franz-go/pkg/kgo"
)

// --metrics and --console serve while the broker does, print their URLs
// after the listening line, and stop with it.
func TestRunMetricsAndConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	outR, outW := io.Pipe()
	stderr := &syncbuf.Buffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(runCtx, []string{"--listen", "127.0.0.1:0", "--memory", "--metrics", "127.0.0.1:0", "--console", "127.0.0.1:0"}, outW, stderr)
		outW.Close()
	}()
	lines := bufio.NewReader(outR)
	var urls []string
	for _, prefix := range []string{"merlin-broker listening on ", "merlin-broker metrics on ", "merlin-broker console on "} {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("reading %q: %v (stderr %q)", prefix, err, stderr.String())
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !ok {
			t.Fatalf("line %q, want %q", line, prefix)
		}
		urls = append(urls, rest)
	}
	go io.Copy(io.Discard, outR)
	addr, metricsURL, consoleURL := urls[0], urls[1], urls[2]

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("cmd"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hi")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if m := brokertest.Get(t, ctx, metricsURL); !strings.Contains(m, `merlin_broker_log_end_offset{partition="0",topic="cmd"} 1`) {
		t.Errorf("metrics without cmd's end offset:\n%s", m)
	}
	if c := brokertest.Get(t, ctx, consoleURL+"api/topics"); !strings.Contains(c, `"name":"cmd"`) {
		t.Errorf("console topics %s", c)
	}
	if page := brokertest.Get(t, ctx, consoleURL); !strings.Contains(page, "merlin broker") {
		t.Errorf("console page %q", page)
	}

	stop()
	if c := <-code; c != cli.ExitOK {
		t.Fatalf("exit %d (stderr %q)", c, stderr.String())
	}
	for _, u := range []string{metricsURL, consoleURL} {
		host := strings.TrimPrefix(u, "http://")
		host = host[:strings.IndexByte(host, '/')]
		if nc, err := net.Dial("tcp", host); err == nil {
			nc.Close()
			t.Errorf("%s still listening after exit", u)
		}
	}
}

func TestRunObserverFlags(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--metrics", "0.0.0.0:9100"}, cli.ExitUsage, "--metrics: not a loopback address"},
		{[]string{"--console", ":8080"}, cli.ExitUsage, "--console: not a loopback address"},
		{[]string{"--console", "localhost"}, cli.ExitUsage, "--console: \"localhost\" is not host:port"},
		{[]string{"--metrics", "127.0.0.1:9100", "--console", "127.0.0.1:9100"}, cli.ExitUsage, "the same address"},
		{[]string{"--console", taken.Addr().String()}, cli.ExitError, "console: listen"},
	} {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // should a case serve after all, run returns at once
		argv := append([]string{"--listen", "127.0.0.1:0", "--memory"}, c.args...)
		if code := run(ctx, argv, &stdout, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
