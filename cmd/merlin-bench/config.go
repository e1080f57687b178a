package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/merlinkafka/merlin/producer"
)

// The --config choices.
const (
	// configTuned aligns the systems: acks=1, idempotence off, no
	// compression, the same linger.
	configTuned = "tuned"
	// configDefaults runs each client out of the box, with its own
	// defaults for everything but acks, which is all for every one.
	configDefaults = "defaults"
)

// setup is how every system is configured in an invocation: --config,
// --linger and --buffer-bound.
type setup struct {
	config string
	// linger is the tuned config's batch linger: merlin's TTL, kgo's
	// ProducerLinger, sarama's Flush.Frequency, java's linger.ms. The
	// defaults config leaves every client's own.
	linger time.Duration
	// bound is --buffer-bound: at most this many records buffered and
	// not yet acknowledged, in every system that has such a limit; 0
	// leaves each system's own.
	bound int
}

func (s setup) defaults() bool { return s.config == configDefaults }

// parseConfig reads --config.
func parseConfig(s string) (string, error) {
	switch c := strings.ToLower(strings.TrimSpace(s)); c {
	case configTuned, configDefaults:
		return c, nil
	}
	return "", fmt.Errorf("unknown config %q (want %s or %s)", s, configTuned, configDefaults)
}

// merlinOverhead is what one message costs against merlin's
// MaxBufferedBytes besides its value, rounded up: its record's encoding
// (length, attributes, deltas, key and header counts: under 64 bytes) and
// the producer's bookkeeping for it (136 bytes on 64-bit platforms, the
// "about 140 bytes" of Config.MaxBufferedMessages' doc).
const merlinOverhead = 64 + 136

// merlinBufferBytes is merlin's MaxBufferedBytes for --buffer-bound n and
// values of size bytes: room for n such messages, so that the message
// bound is the one that holds, and never below the default.
func merlinBufferBytes(n, size int) int {
	return max(producer.DefaultMaxBufferedBytes, n*(size+merlinOverhead))
}

// kgo's defaults (franz-go v1.22.3, pkg/kgo/config.go defaultCfg), which
// the defaults config keeps and the descriptions quote.
const (
	kgoDefaultLinger             = 10 * time.Millisecond
	kgoDefaultMaxBufferedRecords = 50_000
	kgoDefaultBatchMaxBytes      = 1_000_012
)

// Java's defaults the descriptions quote (ProducerConfig, Kafka 4.x;
// linger.ms was 0 before 4.0).
const (
	javaDefaultBatchSize    = 16_384
	javaDefaultBufferMemory = 32 << 20
)

// javaDefaultLinger is linger.ms's default in Kafka version v: 5 ms from
// 4.0 (KIP-1030), 0 before.
func javaDefaultLinger(v string) int {
	if v != "" && v[0] >= '0' && v[0] <= '3' && (len(v) == 1 || v[1] == '.') {
		return 0
	}
	return 5
}

// javaBufferMemory is buffer.memory for --buffer-bound n and values of
// size bytes: n values' bytes, but at least one batch (the producer
// cannot allocate a batch larger than its whole buffer).
func javaBufferMemory(n, size, batchSize int) int { return max(n*size, batchSize) }

// configLines are the header's lines about the configuration: which ran,
// and each system's effective settings. sizes are the message sizes of the
// rows that ran (the buffer bounds in bytes depend on them); java is the
// Java tool when the java system ran.
func (s setup) configLines(names []string, sizes []int, java *javaTool) []string {
	var out []string
	if s.defaults() {
		out = append(out, "config: defaults (each client out of the box, its own batching, linger, idempotence and compression; acks=all for every one; --linger unused)")
	} else {
		out = append(out, fmt.Sprintf("config: tuned: every system acks=1 (leader), idempotence off, no compression, linger %v (merlin TTL, kgo ProducerLinger, sarama Flush.Frequency, java linger.ms; none for sync and unbatched rows)", s.linger))
	}
	for _, name := range names {
		if d := s.describe(name, sizes, java); d != "" {
			out = append(out, name+": "+d)
		}
	}
	if s.bound > 0 {
		out = append(out, s.boundLine(names, sizes, java))
	}
	return out
}

// describe is one system's effective settings. java's is the tool's line
// (javaLine).
func (s setup) describe(name string, sizes []int, java *javaTool) string {
	bufMsgs, bufBytes := fmt.Sprint(producer.DefaultMaxBufferedMessages), mib(producer.DefaultMaxBufferedBytes)
	if s.bound > 0 {
		bufMsgs = fmt.Sprint(s.bound)
		bufBytes = perSize(sizes, func(size int) string { return mib(merlinBufferBytes(s.bound, size)) })
	}
	merlinBuf := fmt.Sprintf("MaxBufferedMessages %s, MaxBufferedBytes %s", bufMsgs, bufBytes)
	kgoBuf := fmt.Sprintf("MaxBufferedRecords %d", kgoDefaultMaxBufferedRecords)
	if s.bound > 0 {
		kgoBuf = fmt.Sprintf("MaxBufferedRecords %d", s.bound)
	}
	switch name {
	case "merlin":
		if s.defaults() {
			return fmt.Sprintf("producer.Config{Brokers, ClientID} (the bench's logger discards; outcomes through each message's OnDelivery): acks=all, idempotence on (the broker permitting), no compression, TTL %v, MaxMessages %d, MaxBytes %s, MaxInFlight %d a worker, %s",
				producer.DefaultTTL, producer.DefaultMaxMessages, mib(producer.DefaultMaxBytes), producer.DefaultMaxInFlight, merlinBuf)
		}
		return fmt.Sprintf("acks=1, idempotence off, no compression, TTL %v, MaxMessages %d, MaxBytes %s, %s",
			s.linger, producer.DefaultMaxMessages, mib(producer.DefaultMaxBytes), merlinBuf)
	case "kgo":
		if s.defaults() {
			return fmt.Sprintf("kgo's defaults: acks=all, idempotent writes on, compression preference [snappy, none] (a batch goes out snappy unless that does not shrink it), ProducerLinger %v (ProduceSync cuts it short), batches up to %d bytes, %s, MaxBufferedBytes unlimited, 1 produce request in flight a broker",
				kgoDefaultLinger, kgoDefaultBatchMaxBytes, kgoBuf)
		}
		return fmt.Sprintf("acks=1, DisableIdempotentWrite, NoCompression, ProducerLinger %v (0 for sync and unbatched rows), batches up to %d bytes, %s",
			s.linger, kgoDefaultBatchMaxBytes, kgoBuf)
	case "sarama":
		sc := saramaConfig(openOptions{setup: s})
		flush := fmt.Sprintf("no Flush.Frequency, Bytes or Messages (sends what it holds as soon as it can, Net.MaxOpenRequests %d)", sc.Net.MaxOpenRequests)
		if !s.defaults() {
			flush = fmt.Sprintf("Flush.Frequency %v (none for sync and unbatched rows)", s.linger)
		}
		return fmt.Sprintf("sarama.NewConfig()%s: RequiredAcks %s, Idempotent %v, compression %s, %s, MaxMessageBytes %d, ChannelBufferSize %d, protocol %s; Return.Successes on to count outcomes",
			map[bool]string{true: " with WaitForAll", false: " aligned"}[s.defaults()],
			saramaAcks(sc.Producer.RequiredAcks), sc.Producer.Idempotent, sc.Producer.Compression, flush,
			sc.Producer.MaxMessageBytes, sc.ChannelBufferSize, sc.Version)
	}
	return ""
}

// boundLine says how --buffer-bound was applied to each system.
func (s setup) boundLine(names []string, sizes []int, java *javaTool) string {
	parts := []string{}
	for _, name := range names {
		switch name {
		case "merlin":
			parts = append(parts, fmt.Sprintf("merlin MaxBufferedMessages %d and MaxBufferedBytes max(64 MiB default, N x (size+%d)) = %s, so that the message count binds",
				s.bound, merlinOverhead, perSize(sizes, func(size int) string { return mib(merlinBufferBytes(s.bound, size)) })))
		case "kgo":
			parts = append(parts, fmt.Sprintf("kgo MaxBufferedRecords %d (MaxBufferedBytes unlimited, its default)", s.bound))
		case "sarama":
			parts = append(parts, "sarama no equivalent (ChannelBufferSize bounds each channel of its pipeline, not what it holds in all; left at its default)")
		case javaSystem:
			batch := producer.DefaultMaxBytes
			if s.defaults() {
				batch = javaDefaultBatchSize
			}
			parts = append(parts, fmt.Sprintf("java buffer.memory = max(N x size, batch.size) = %s bytes (a byte bound on its batches, not a record count)",
				perSize(sizes, func(size int) string { return fmt.Sprint(javaBufferMemory(s.bound, size, batch)) })))
		}
	}
	return fmt.Sprintf("buffer bound: %d messages buffered and unacknowledged: %s", s.bound, strings.Join(parts, "; "))
}

// perSize formats f for each message size: "X" when they all give the
// same, else "X (100 B rows), Y (1024 B rows)".
func perSize(sizes []int, f func(int) string) string {
	parts := make([]string, len(sizes))
	same := true
	for i, size := range sizes {
		parts[i] = f(size)
		same = same && parts[i] == parts[0]
	}
	if len(parts) == 0 {
		return f(0)
	}
	if same {
		return parts[0]
	}
	for i, size := range sizes {
		parts[i] = fmt.Sprintf("%s (%d B rows)", parts[i], size)
	}
	return strings.Join(parts, ", ")
}

// mib writes a byte count in MiB when it is a whole number of them.
func mib(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}
