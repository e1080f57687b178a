package main

import (
	"errors"
	"log/slog"
)

func startMock(n int, topic string, partitions int32, log *slog.Logger) (cluster, error) {
	return nil, errors.New("mock cluster: not yet")
}
