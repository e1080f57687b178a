package main

import (
	"log/slog"

	"github.com/merlinkafka/merlin/broker"
)

// openStorage returns the embedded broker's storage.
func openStorage(dir string, log *slog.Logger) (broker.Storage, error) {
	return broker.NewMemoryStorage(), nil
}

func storageName(dir string) string { return "in memory" }
