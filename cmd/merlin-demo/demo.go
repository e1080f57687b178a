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

	"golang.org/x/term"

	"github.com/merlinkafka/merlin/callbacks"
	"github.com/merlinkafka/merlin/internal/cli"
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
	Plain      bool          `arg:"--plain" help:"print plain lines even on a terminal, instead of redrawing a screen"`
	// The security of a real cluster's connections (--brokers only).
	secflags.Flags

	tls  *tls.Config // resolved by validate
	sasl *producer.SASL
}

func (a *args) validate() error {
	a.Brokers = cli.List(a.Brokers...)
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
	// tty is stdout when it is a terminal (and --plain is not given): the
	// demo then redraws a screen in place instead of printing lines.
	tty *os.File

	sent, acked, failed atomic.Int64
	produced            atomic.Bool // all sent, or production gave up
	behind              atomic.Bool // fell behind --rate since the last look
	printMu             sync.Mutex
	start               time.Time
	title               string
	mon                 *monitor
	rateLine            string // how fast it produced, once done
	reserve             int    // rows the screen leaves free at its bottom
}

// printf prints unless --quiet, one call at a time.
func (d *demo) printf(format string, a ...any) {
	if d.Quiet {
		return
	}
	d.printMu.Lock()
	defer d.printMu.Unlock()
	fmt.Fprintf(d.out, format, a...)
}

// lines prints each line, wrapped to maxWidth.
func (d *demo) lines(lines ...string) {
	for _, l := range lines {
		for _, w := range wrap(l, maxWidth, 4) {
			d.printf("%s\n", w)
		}
	}
}

// notef records a line for the screen's notes, or prints it.
func (d *demo) notef(format string, a ...any) {
	l := d.mon.note(fmt.Sprintf(format, a...))
	if d.tty == nil {
		d.lines(l)
	}
}

func (d *demo) run(ctx context.Context) int {
	d.start = time.Now()
	d.mon = newMonitor(d.start, d.Rate, d.Messages)
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
	d.title = fmt.Sprintf("merlin-demo: %s at %s", env.Describe(), strings.Join(env.Addrs(), ","))
	if d.tty == nil {
		d.lines(d.title, fmt.Sprintf("topic %q; %d messages at %d/s, %d keys", d.Topic, d.Messages, d.Rate, d.Keys))
	}

	handlers := []callbacks.Handler{callbacks.HandlerFunc(d.mon.event)}
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
	if !d.Quiet {
		if d.tty != nil {
			d.printf("\x1b[?25l\x1b[2J") // hide the cursor, clear the screen
			defer d.printf("\x1b[?25h")
		}
		viewDone.Go(func() { d.view(viewCtx, p) })
	}

	outage := make(chan struct{})
	go func() {
		defer close(outage)
		d.stageOutage(ctx, env)
	}()

	produceErr := d.produce(ctx, func(ctx context.Context, m producer.Message) error {
		return p.ProduceAsyncBatched(ctx, d.Topic, m)
	})
	<-outage
	closeCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	if err := p.Close(closeCtx); err != nil {
		fmt.Fprintln(d.errOut, "merlin-demo: close:", err)
	}
	cancel()
	stopView()
	viewDone.Wait()
	if !d.Quiet {
		// The last events; on a terminal the screen leaves room below for
		// the lines that follow, so that they do not scroll its top away.
		d.reserve = 4
		d.show(d.mon.roll(d.sent.Load(), d.behind.Swap(false)))
		if d.tty != nil {
			d.printf("\x1b[?25h")
		}
	}
	if produceErr != nil {
		fmt.Fprintln(d.errOut, "merlin-demo:", produceErr)
	}
	d.lines(d.rateLine, fmt.Sprintf("consuming %q back ...", d.Topic))
	consumeCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := consumeAll(consumeCtx, env.Addrs(), d.Topic, from, d.tls, d.sasl)
	if err != nil {
		fmt.Fprintln(d.errOut, "merlin-demo: consume:", err)
		return 1
	}
	v := verdict(int(d.sent.Load()), int(d.acked.Load()), int(d.failed.Load()), got)
	for _, l := range wrap(v.String(), maxWidth, 4) {
		fmt.Fprintln(d.out, l)
	}
	if !v.ok() || produceErr != nil {
		return 1
	}
	return 0
}

// produce sends Messages keyed messages at Rate per second with send.
// Values are "<key>:<sequence within key>:<global sequence>". It keeps to
// a schedule of Rate a second from its start; when it finds itself more
// than a quarter of a second behind it sets d.behind, and it never sends
// more than a second's worth at once to catch up.
func (d *demo) produce(ctx context.Context, send func(context.Context, producer.Message) error) error {
	defer d.produced.Store(true)
	perKey := make([]int, d.Keys)
	rate := int64(d.Rate)
	tick := max(time.Second/time.Duration(d.Rate), time.Millisecond)
	slack := max(rate/4, 2*rate*int64(tick)/int64(time.Second), 1)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	begin := time.Now()
	defer func() { d.rateLine = rateSummary(d.sent.Load(), time.Since(begin), d.Rate) }()
	var forgiven int64 // messages the schedule moved past rather than burst
	for i := int64(0); i < int64(d.Messages); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		due := int64(time.Since(begin))*rate/int64(time.Second) - forgiven
		if lag := due - i; lag > slack {
			d.behind.Store(true)
			if lag > rate {
				forgiven += lag - rate
				due = i + rate
			}
		}
		for ; i < min(due, int64(d.Messages)); i++ {
			k := int(i % int64(d.Keys))
			m := producer.Message{
				Key:   []byte("key-" + strconv.Itoa(k)),
				Value: []byte(fmt.Sprintf("key-%d:%d:%d", k, perKey[k], i)),
				OnDelivery: func(r producer.Result) {
					if r.Err != nil {
						d.failed.Add(1)
					} else {
						d.acked.Add(1)
					}
					d.mon.delivered(r)
				},
			}
			perKey[k]++
			if err := send(ctx, m); err != nil {
				return fmt.Errorf("produce message %d: %w", i, err)
			}
			d.sent.Add(1)
		}
	}
	return nil
}

// rateSummary says how fast sent messages went out in took, against the
// requested rate.
func rateSummary(sent int64, took time.Duration, rate int) string {
	got := float64(sent) / max(took.Seconds(), 1e-3)
	s := fmt.Sprintf("produced %d messages in %.1fs: %.0f/s, --rate %d/s", sent, took.Seconds(), got, rate)
	if got < 0.9*float64(rate) {
		s += "; the producer could not keep the requested rate"
	}
	return s
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
		d.notef("could not stop a broker: %v", err)
		return
	}
	d.mon.down(id, d.Downtime)
	d.notef(">>> broker %d DOWN for %v", id, d.Downtime)
	select {
	case <-time.After(d.Downtime):
	case <-ctx.Done():
	}
	if err := env.Restart(id); err != nil {
		d.notef("could not restart broker %d: %v", id, err)
		return
	}
	took := d.mon.up()
	d.notef(">>> broker %d UP again after %.1fs", id, took.Seconds())
}

// view shows the run as it goes: on a terminal a screen redrawn twice a
// second, otherwise a few plain lines a second.
func (d *demo) view(ctx context.Context, p *producer.Producer) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	if d.tty != nil {
		d.draw()
	}
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		if md, err := p.Metadata(mctx, d.Topic); err == nil {
			d.mon.setWorkers(md.Partitions)
		}
		cancel()
		if n%2 == 0 {
			d.show(d.mon.roll(d.sent.Load(), d.behind.Swap(false)))
		} else if d.tty != nil {
			d.draw()
		}
	}
}

// show presents a second that ended with its events, last.
func (d *demo) show(last summary) {
	if d.tty != nil {
		d.draw()
		return
	}
	d.lines(d.mon.snapshot(d).plain(last)...)
}

// draw redraws the terminal's screen in place: cursor home, each line
// cleared to its end, the rest of the screen cleared.
func (d *demo) draw() {
	w, h, err := term.GetSize(int(d.tty.Fd()))
	if err != nil || w < 20 || h < 10 {
		w, h = maxWidth, 40
	}
	var b strings.Builder
	b.WriteString("\x1b[H")
	for _, l := range d.mon.snapshot(d).screen(w, h-d.reserve) {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	b.WriteString("\x1b[J")
	d.printf("%s", b.String())
}
