package main

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/cli"
)

// verifyArgs are the flags of "merlin-broker verify".
type verifyArgs struct {
	Dir string `arg:"--dir" default:"./merlin-data" help:"data directory to check" placeholder:"DIR"`
}

func (verifyArgs) Description() string {
	return "merlin-broker verify checks every batch (length, CRC-32C, offsets) of every\n" +
		"segment of every partition in --dir and reports the damaged ranges. It only\n" +
		"reads, and may run beside a broker serving the directory.\n"
}

func (verifyArgs) Epilogue() string {
	return `For each damaged range it prints the partition, the segment file and byte
range, the offsets damaged and "resume at" the first offset after them: a fetch
from inside the range is answered CORRUPT_MESSAGE, and consumers get past it by
seeking to that offset (kcat -o OFFSET; kgo's ConsumePartitions with
NewOffset().At(OFFSET); sarama's OffsetManager/ResetOffset). An incomplete last
batch of a partition's newest segment is a write in progress or a crash's torn
tail, cut off at the next start: it is reported as a note, not as damage.

Exit status: 0 when no damage was found, 1 when some was (or the directory
cannot be read), 2 for bad flags.`
}

// runVerify is "merlin-broker verify": it prints what VerifyDisk finds and
// returns the exit code.
func runVerify(argv []string, stdout, stderr io.Writer) int {
	var a verifyArgs
	_, code, done := cli.Parse("merlin-broker verify", &a, argv, stdout, stderr)
	if done {
		return code
	}
	reps, err := broker.VerifyDisk(a.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "merlin-broker verify: %v\n", err)
		return cli.ExitError
	}
	damaged, batches, segments := 0, 0, 0
	for _, r := range reps {
		batches += r.Batches
		segments += r.Segments
		for _, d := range r.Damage {
			damaged++
			next := "the end of the log"
			if d.NextOffset >= 0 {
				next = strconv.FormatInt(d.NextOffset, 10)
			}
			fmt.Fprintf(stdout, "DAMAGED %s/%d: offsets from %d, resume at %s; %s bytes [%d, %d): %v\n",
				r.Topic, r.Partition, d.FirstOffset, next, d.Segment, d.Pos, d.End, d.Err)
		}
		if t := r.Tail; t != nil {
			fmt.Fprintf(stdout, "note %s/%d: incomplete tail from offset %d, %s bytes [%d, %d) (a write in progress, or cut at the next start)\n",
				r.Topic, r.Partition, t.FirstOffset, t.Segment, t.Pos, t.End)
		}
	}
	fmt.Fprintf(stdout, "%d partitions, %d segments, %d batches checked; %d damaged ranges\n", len(reps), segments, batches, damaged)
	if damaged > 0 {
		return cli.ExitError
	}
	return cli.ExitOK
}

// verifyOnStart checks the data directory before the broker opens it
// (--verify-on-start) and logs what is damaged; the broker then serves
// anyway, answering fetches of the damaged ranges CORRUPT_MESSAGE. A new
// directory has nothing to check.
func verifyOnStart(dir string, logger *slog.Logger) {
	reps, err := broker.VerifyDisk(dir)
	if err != nil {
		logger.Info("verify on start: nothing checked", "dir", dir, "reason", err)
		return
	}
	damaged := 0
	for _, r := range reps {
		for _, d := range r.Damage {
			damaged++
			logger.Warn("verify on start: damaged range", "topic", r.Topic, "partition", r.Partition,
				"first_offset", d.FirstOffset, "resume_at", d.NextOffset, "segment", d.Segment, "pos", d.Pos, "end", d.End, "err", d.Err)
		}
	}
	logger.Info("verify on start: done", "partitions", len(reps), "damaged_ranges", damaged)
}

// connLimit is the --max-connections value: a count, or "auto".
type connLimit int

// connLimitAuto is --max-connections auto.
const connLimitAuto connLimit = -1

func (c *connLimit) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	if text == "auto" {
		*c = connLimitAuto
		return nil
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a connection count or auto", text)
	}
	*c = connLimit(n)
	return nil
}
