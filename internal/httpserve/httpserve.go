// Package httpserve runs the HTTP servers that sit beside a broker (its
// metrics and its console) on loopback addresses, stopping them with it.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrNotLoopback is wrapped by the error Start returns for an address
// that is not on loopback: the servers have no authentication.
var ErrNotLoopback = errors.New("not a loopback address")

// shutdownTimeout bounds the wait for requests in progress when a server
// stops; connections still open after it are closed.
const shutdownTimeout = 5 * time.Second

// CheckLoopback returns an error wrapping ErrNotLoopback unless addr is
// host:port with host "localhost" or a loopback IP (127.0.0.0/8, ::1).
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q (use 127.0.0.1:PORT or [::1]:PORT)", ErrNotLoopback, addr)
}

// Server is one HTTP server started by Start.
type Server struct {
	srv       *http.Server
	ln        net.Listener
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed once the server has stopped
	err       error         // Shutdown's, set before done closes
}

// Start listens on addr, which must be on loopback, and serves h in the
// background until stop is closed (pass a broker's Done) or Close is
// called. name says what the server is in logs and errors.
func Start(name, addr string, h http.Handler, stop <-chan struct{}, log *slog.Logger) (*Server, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:      ln,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "server", name, "err", err)
		}
	}()
	go func() {
		defer close(s.done)
		defer func() { <-served }()
		select {
		case <-stop:
		case <-s.closing:
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.srv.Close()
		}
		s.err = err
	}()
	log.Info("http server listening", "server", name, "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting up to a few seconds for requests in
// progress, and returns once it has stopped. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	<-s.done
	return s.err
}
