// Command merlin-broker runs merlin's Kafka-protocol broker: a single node
// that Kafka clients (kcat, librdkafka, franz-go, sarama, kafka-python, ...)
// produce to and consume from, for local development and tests.
//
// Usage:
//
//	merlin-broker [--listen HOST:PORT] [--memory] [--partitions N] [--log-level LEVEL]
//
// It prints "merlin-broker listening on HOST:PORT" once it accepts
// connections, and stops cleanly on SIGINT or SIGTERM. Exit status: 0 after
// a clean stop, 1 when the broker cannot start (for example, the port is in
// use), 2 for bad flags.
//
// Storage is in memory for now (--memory); data does not survive a restart.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alexflint/go-arg"
	"github.com/merlinkafka/merlin/broker"
)

type args struct {
	Listen         string `arg:"--listen" default:"127.0.0.1:9092" help:"address to listen on (port 0: any free port)"`
	Memory         bool   `arg:"--memory" help:"keep data in memory, lost on exit (the only storage so far, also the default)"`
	Partitions     int32  `arg:"--partitions" default:"1" help:"partitions of auto-created topics"`
	NoAutoCreate   bool   `arg:"--no-auto-create" help:"do not create unknown topics on Metadata requests"`
	NodeID         int32  `arg:"--node-id" default:"0" help:"Kafka node id of this broker"`
	AdvertisedHost string `arg:"--advertised-host" help:"host given to clients in Metadata (default: the listen address)" placeholder:"HOST"`
	AdvertisedPort int32  `arg:"--advertised-port" help:"port given to clients in Metadata (default: the listen port)" placeholder:"PORT"`
	LogLevel       string `arg:"--log-level" default:"info" help:"debug, info, warn or error"`
}

func (args) Description() string {
	return "merlin-broker serves the Kafka protocol (Produce, Fetch, Metadata, ListOffsets,\nCreateTopics, InitProducerId, ApiVersions) from one process.\n"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// configFlags maps broker.Config fields to the flags that set them.
var configFlags = map[string]string{
	"Listen":            "--listen",
	"NodeID":            "--node-id",
	"AdvertisedHost":    "--advertised-host",
	"AdvertisedPort":    "--advertised-port",
	"DefaultPartitions": "--partitions",
}

// run is the whole program: it parses args, serves until ctx is done, and
// returns the exit code.
func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	var a args
	p, err := arg.NewParser(arg.Config{Program: "merlin-broker", IgnoreEnv: true, Out: stderr}, &a)
	if err != nil {
		fmt.Fprintf(stderr, "merlin-broker: %v\n", err)
		return exitError
	}
	if err := p.Parse(argv); err != nil {
		switch {
		case errors.Is(err, arg.ErrHelp):
			p.WriteHelp(stdout)
			return exitOK
		default:
			p.WriteUsage(stderr)
			fmt.Fprintf(stderr, "merlin-broker: %v\n", err)
			return exitUsage
		}
	}
	usage := func(format string, args ...any) int {
		p.WriteUsage(stderr)
		fmt.Fprintf(stderr, "merlin-broker: "+format+"\n", args...)
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.LogLevel)); err != nil {
		return usage("--log-level: %q is not debug, info, warn or error", a.LogLevel)
	}
	if a.Partitions < 1 || a.Partitions > broker.MaxPartitions {
		return usage("--partitions: %d is not in [1, %d]", a.Partitions, broker.MaxPartitions)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := broker.Config{
		Listen:                  a.Listen,
		NodeID:                  a.NodeID,
		AdvertisedHost:          a.AdvertisedHost,
		AdvertisedPort:          a.AdvertisedPort,
		Logger:                  logger,
		Storage:                 broker.NewMemoryStorage(),
		DisableAutoCreateTopics: a.NoAutoCreate,
		DefaultPartitions:       a.Partitions,
	}
	if err := cfg.Validate(); err != nil {
		// Name the flag rather than the Config field.
		msg := strings.TrimPrefix(err.Error(), broker.ErrInvalidConfig.Error()+": ")
		if field, rest, ok := strings.Cut(msg, ": "); ok && configFlags[field] != "" {
			msg = configFlags[field] + ": " + rest
		}
		return usage("%s", msg)
	}
	b, err := broker.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "merlin-broker: %v\n", err)
		return exitError
	}
	if err := b.Start(); err != nil {
		_ = b.Close()
		fmt.Fprintf(stderr, "merlin-broker: cannot listen on %s: %v\n", a.Listen, err)
		return exitError
	}
	fmt.Fprintf(stdout, "merlin-broker listening on %s\n", b.Addr())
	<-ctx.Done()
	logger.Info("stopping", "reason", context.Cause(ctx))
	if err := b.Close(); err != nil {
		fmt.Fprintf(stderr, "merlin-broker: closing: %v\n", err)
		return exitError
	}
	return exitOK
}
