package httpserve

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9100", "127.1.2.3:0", "[::1]:9100", "localhost:9100"} {
		if err := CheckLoopback(addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{":9100", "0.0.0.0:9100", "[::]:9100", "192.168.1.1:9100", "example.com:80"} {
		if err := CheckLoopback(addr); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: %v, want ErrNotLoopback", addr, err)
		}
	}
	if err := CheckLoopback("127.0.0.1"); err == nil || errors.Is(err, ErrNotLoopback) {
		t.Errorf("no port: %v, want a host:port error", err)
	}
}

// TestStopAndClose checks that a server serves, stops when its stop
// channel closes (as with a broker's Done), and that Close after it
// returns at once.
func TestStopAndClose(t *testing.T) {
	stop := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	s, err := Start("test", "127.0.0.1:0", h, stop, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	close(stop)
	<-s.done
	if _, err := http.Get("http://" + s.Addr() + "/"); err == nil {
		t.Error("still serving after stop")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if _, err := Start("test", "0.0.0.0:0", h, nil, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Start on 0.0.0.0: %v, want ErrNotLoopback", err)
	}
}
