package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/secflags"
	"github.com/merlinkafka/merlin/producer"
)

type args struct {
	Brokers    []string      `arg:"--brokers" help:"bootstrap brokers of a real cluster to use instead of the embedded one (host:port, repeat the flag or separate with commas); no outage is staged then"`
	Topic      string        `arg:"--topic" default:"merlin-demo" help:"topic to produce to (auto-created)"`
	Messages   int           `arg:"--messages" default:"20000" help:"messages to produce"`
	Rate       int           `arg:"--rate" default:"1250" help:"messages per second"`
	Downtime   time.Duration `arg:"--downtime" default:"4s" help:"how long the broker stays down"`
	Cluster    int           `arg:"--cluster" default:"1" help:"embedded brokers: 1 runs one bundled broker on disk, more runs a mockbroker cluster of that many in memory"`
	Partitions int32         `arg:"--partitions" default:"4" help:"partitions of the topic when it is created"`
	Keys       int           `arg:"--keys" default:"64" help:"distinct message keys (order is checked per key)"`
	Statsd     string        `arg:"--statsd" help:"also send the producer's events to this statsd server (host:port, UDP)"`
	Quiet      bool          `arg:"--quiet" help:"print only the verdict"`
	// The security of a real cluster's connections (--brokers only).
	secflags.Flags

	tls  *tls.Config // resolved by validate
	sasl *producer.SASL
}

func (a *args) validate() error {
	var brokers []string
	for _, b := range a.Brokers {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				brokers = append(brokers, s)
			}
		}
	}
	a.Brokers = brokers
	switch {
	case a.Messages < 1:
		return errors.New("--messages must be at least 1")
	case a.Rate < 1:
		return errors.New("--rate must be at least 1")
	case a.Downtime < 0:
		return errors.New("--downtime must not be negative")
	case a.Cluster < 1 || a.Cluster > 9:
		return errors.New("--cluster must be between 1 and 9")
	case a.Partitions < 1:
		return errors.New("--partitions must be at least 1")
	case a.Keys < 1:
		return errors.New("--keys must be at least 1")
	case a.Topic == "":
		return errors.New("--topic must not be empty")
	}
	var err error
	if a.tls, a.sasl, err = a.Flags.Producer(os.LookupEnv); err != nil {
		return err
	}
	if (a.tls != nil || a.sasl != nil) && len(a.Brokers) == 0 {
		return errors.New("--tls* and --sasl-* need --brokers: the embedded broker has neither")
	}
	return nil
}

// demo is one run.
type demo struct {
	args
	out, errOut io.Writer

	sent, acked, failed atomic.Int64
	printMu             sync.Mutex
	start               time.Time
}

func (d *demo) printf(format string, a ...any) {
	if d.Quiet {
		return
	}
	d.printMu.Lock()
	defer d.printMu.Unlock()
	fmt.Fprintf(d.out, format, a...)
}

func (d *demo) run(ctx context.Context) int {
	d.start = time.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var env cluster
	var err error
	if len(d.Brokers) > 0 {
		env = external(d.Brokers)
	} else {
		env, err = startEmbedded(d.Cluster, d.Topic, d.Partitions, quiet)
		if err != nil {
			fmt.Fprintln(d.errOut, "merlin-demo:", err)
			return 1
		}
	}
	defer env.Close()
	// A run judges only what it produces: it consumes from where each
	// partition ended when it began, so that runs against the same
	// cluster and topic do not count each other's messages.
	from, err := endOffsets(env.Addrs(), d.Topic, d.tls, d.sasl)
	if err != nil {
		fmt.Fprintln(d.errOut, "merlin-demo: offsets before the run:", err)
		return 1
	}
	d.printf("merlin-demo: %s at %s; topic %q; %d messages at %d/s, %d keys\n",
		env.Describe(), strings.Join(env.Addrs(), ","), d.Topic, d.Messages, d.Rate, d.Keys)

	handlers := []callbacks.Handler{callbacks.HandlerFunc(d.printEvent)}
	if d.Statsd != "" {
		sd, err := callbacks.NewStatsd(d.Statsd, "merlin")
		if err != nil {
			fmt.Fprintln(d.errOut, "merlin-demo: statsd:", err)
			return 1
		}
		defer sd.Close()
		handlers = append(handlers, sd)
	}
	p, err := producer.New(producer.Config{
		Brokers:         env.Addrs(),
		ClientID:        "merlin-demo",
		RequestTimeout:  5 * time.Second,
		DeliveryTimeout: -1, // keep every message through the outage
		RetryBackoffMax: 500 * time.Millisecond,
		BreakerTimeout:  time.Second,
		Handlers:        handlers,
		Logger:          quiet,
		TLS:             d.tls,
		SASL:            d.sasl,
	})
	if err != nil {
		fmt.Fprintln(d.errOut, "merlin-demo:", err)
		return 1
	}

	viewCtx, stopView := context.WithCancel(ctx)
	var viewDone sync.WaitGroup
	viewDone.Add(1)
	go func() { defer viewDone.Done(); d.view(viewCtx, p) }()

	outage := make(chan struct{})
	go func() {
		defer close(outage)
		d.stageOutage(ctx, env)
	}()

	produceErr := d.produce(ctx, p)
	<-outage
	closeCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	if err := p.Close(closeCtx); err != nil {
		fmt.Fprintln(d.errOut, "merlin-demo: close:", err)
	}
	cancel()
	stopView()
	viewDone.Wait()
	if produceErr != nil {
		fmt.Fprintln(d.errOut, "merlin-demo:", produceErr)
	}

	d.printf("consuming %q back ...\n", d.Topic)
	consumeCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := consumeAll(consumeCtx, env.Addrs(), d.Topic, from, d.tls, d.sasl)
	if err != nil {
		fmt.Fprintln(d.errOut, "merlin-demo: consume:", err)
		return 1
	}
	v := verdict(int(d.sent.Load()), int(d.acked.Load()), int(d.failed.Load()), got)
	fmt.Fprintln(d.out, v.String())
	if !v.ok() || produceErr != nil {
		return 1
	}
	return 0
}

// produce sends Messages keyed messages at Rate per second. Values are
// "<key>:<sequence within key>:<global sequence>".
func (d *demo) produce(ctx context.Context, p *producer.Producer) error {
	perKey := make([]int, d.Keys)
	interval := time.Second / time.Duration(d.Rate)
	tick := max(interval, time.Millisecond)
	perTick := max(1, int(tick/interval))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for i := 0; i < d.Messages; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		for j := 0; j < perTick && i < d.Messages; j++ {
			k := i % d.Keys
			m := producer.Message{
				Key:   []byte("key-" + strconv.Itoa(k)),
				Value: []byte(fmt.Sprintf("key-%d:%d:%d", k, perKey[k], i)),
				OnDelivery: func(r producer.Result) {
					if r.Err != nil {
						d.failed.Add(1)
						d.printf("FAILED %s/%d: %v\n", r.Topic, r.Partition, r.Err)
						return
					}
					d.acked.Add(1)
				},
			}
			perKey[k]++
			if err := p.ProduceAsyncBatched(ctx, d.Topic, m); err != nil {
				return fmt.Errorf("produce message %d: %w", i, err)
			}
			d.sent.Add(1)
			i++
		}
	}
	return nil
}

// stageOutage takes a broker down a third of the way through the run and
// brings it back after Downtime.
func (d *demo) stageOutage(ctx context.Context, env cluster) {
	if !env.CanStop() || d.Downtime == 0 {
		return
	}
	total := time.Duration(d.Messages) * time.Second / time.Duration(d.Rate)
	select {
	case <-time.After(total / 3):
	case <-ctx.Done():
		return
	}
	id, err := env.StopLeader(d.Topic)
	if err != nil {
		d.printf("could not stop a broker: %v\n", err)
		return
	}
	d.printf(">>> broker %d DOWN for %v\n", id, d.Downtime)
	select {
	case <-time.After(d.Downtime):
	case <-ctx.Done():
	}
	if err := env.Restart(id); err != nil {
		d.printf("could not restart broker %d: %v\n", id, err)
		return
	}
	d.printf(">>> broker %d UP again\n", id)
}

// printEvent prints an event as a statsd line, as ekaf's demo did. Flush
// events are many; the live view counts them instead.
func (d *demo) printEvent(e callbacks.Event) {
	switch e.Kind {
	case callbacks.Flush, callbacks.FlushedReplied:
		return
	}
	name := "merlin."
	if e.Topic != "" {
		name += e.Topic + "."
	}
	name += e.Kind.String()
	if e.Broker >= 0 {
		name += ".broker" + strconv.Itoa(int(e.Broker))
	}
	if e.Partition >= 0 {
		name += "." + strconv.Itoa(int(e.Partition))
	}
	line := name + ":1|c"
	switch {
	case e.Duration > 0:
		line = fmt.Sprintf("%s:%d|ms", name, e.Duration.Milliseconds())
	case e.Count > 0:
		line = fmt.Sprintf("%s:%d|c", name, e.Count)
	}
	if e.Kind == callbacks.StateChange {
		line += "  # " + e.From + " -> " + e.To
	}
	d.printf("%7.2fs  %s\n", time.Since(d.start).Seconds(), line)
}

// view prints the state and buffer depth of every partition worker twice
// a second.
func (d *demo) view(ctx context.Context, p *producer.Producer) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		md, err := p.Metadata(ctx, d.Topic)
		if err != nil {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%7.2fs  sent %6d  acked %6d  failed %d |", time.Since(d.start).Seconds(), d.sent.Load(), d.acked.Load(), d.failed.Load())
		for _, part := range md.Partitions {
			fmt.Fprintf(&b, " p%d@b%d %-9s %5d |", part.ID, part.Leader, part.State, part.Buffered)
		}
		d.printf("%s\n", b.String())
	}
}
