package broker

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/merlinkafka/merlin/seglog"
)

// PartitionVerify is what VerifyDisk found in one partition's log.
type PartitionVerify struct {
	Topic     string
	Partition int32
	seglog.VerifyReport
}

// VerifyDisk checks every batch (length, CRC-32C, offsets) of every segment
// of every partition in the data directory dir, as made by NewDiskStorage,
// and returns one report per partition, in topic and partition order. It
// only reads, takes no lock and may run beside a broker serving dir (the
// newest segment's last batch may then be a write in progress, reported as
// a Tail and not as damage).
//
// A damaged range's NextOffset is where the partition's consumers can
// resume: a fetch from inside the range is answered CORRUPT_MESSAGE, as
// Kafka answers corrupt records, and consumers get past it by seeking to
// NextOffset.
func VerifyDisk(dir string) ([]PartitionVerify, error) {
	if err := checkFormatFile(dir); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(filepath.Join(dir, diskTopicsDir))
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	var out []PartitionVerify
	for _, de := range des {
		tp, ok := parsePartitionDir(de.Name())
		if !ok || !de.IsDir() {
			continue
		}
		rep, err := seglog.Verify(filepath.Join(dir, diskTopicsDir, de.Name()))
		if err != nil {
			return out, fmt.Errorf("broker: verifying %s/%d: %w", tp.topic, tp.partition, err)
		}
		out = append(out, PartitionVerify{Topic: tp.topic, Partition: tp.partition, VerifyReport: rep})
	}
	slices.SortFunc(out, func(a, b PartitionVerify) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}
