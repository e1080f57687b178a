package main

// --metrics and --console: HTTP servers beside the broker, on loopback,
// stopping with it.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/broker/brokerprom"
	"github.com/merlinkafka/merlin/broker/console"
	"github.com/merlinkafka/merlin/internal/httpserve"
)

// observerFlagError checks --metrics and --console, returning the usage
// error or "".
func observerFlagError(a *args) string {
	for _, f := range []struct{ flag, addr string }{{"--metrics", a.Metrics}, {"--console", a.Console}} {
		if f.addr == "" {
			continue
		}
		if err := httpserve.CheckLoopback(f.addr); err != nil {
			return f.flag + ": " + err.Error()
		}
	}
	if _, port, _ := net.SplitHostPort(a.Metrics); a.Metrics != "" && a.Metrics == a.Console && port != "0" {
		return "--metrics and --console: the same address; give each its own port"
	}
	return ""
}

// observers are the running --metrics and --console servers.
type observers []*httpserve.Server

// startObservers starts the servers asked for, which stop when b closes.
func startObservers(a *args, b *broker.Broker, log *slog.Logger) (observers, error) {
	var obs observers
	if a.Metrics != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", brokerprom.Handler(b))
		s, err := httpserve.Start("metrics", a.Metrics, mux, b.Done(), log)
		if err != nil {
			return nil, err
		}
		obs = append(obs, s)
	}
	if a.Console != "" {
		s, err := httpserve.Start("console", a.Console, console.Handler(b, console.Options{Logger: log}), b.Done(), log)
		if err != nil {
			return nil, errors.Join(err, obs.close())
		}
		obs = append(obs, s)
	}
	return obs, nil
}

// print writes the servers' addresses, after the broker's.
func (obs observers) print(a *args, w io.Writer) {
	i := 0
	if a.Metrics != "" {
		fmt.Fprintf(w, "merlin-broker metrics on http://%s/metrics\n", obs[i].Addr())
		i++
	}
	if a.Console != "" {
		fmt.Fprintf(w, "merlin-broker console on http://%s/\n", obs[i].Addr())
	}
}

// close waits for the servers to stop (closing the broker stops them).
func (obs observers) close() error {
	var errs []error
	for _, s := range obs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
