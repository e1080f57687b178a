package broker

import (
	"context"
	"net"
	"testing"
)

func TestServe(t *testing.T) {
	// Serve on a started broker serves until ctx ends, then closes it.
	b, err := New(Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	roundTrip(t, b.Addr(), "serve", 10)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", b.Addr()); err == nil {
		t.Fatal("still listening after Serve returned")
	}

	// Serve starts a broker that was not started, and returns the
	// listen error.
	b2, err := New(Config{Listen: b.Addr(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := b2.Serve(ctx); err != nil || b2.Addr() != b.Addr() {
		t.Fatalf("Serve: %v, address %q", err, b2.Addr())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b3, err := New(Config{Listen: ln.Addr().String(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if err := b3.Serve(context.Background()); err == nil {
		t.Fatal("Serve on a port in use returned nil")
	}
}
