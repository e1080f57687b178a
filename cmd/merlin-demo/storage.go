package main

import (
	"log/slog"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/seglog"
)

// openStorage returns the embedded broker's storage: on disk in dir, as
// the standalone broker keeps it, with an fsync after every append so that
// the demo's restart loses nothing the broker acknowledged.
func openStorage(dir string, log *slog.Logger) (broker.Storage, error) {
	return broker.NewDiskStorage(dir, broker.DiskOptions{Flush: seglog.FlushAlways(), Logger: log})
}

func storageName(dir string) string { return "on disk in " + dir }
