package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"syscall"
	"time"
)

// errProtocol is wrapped by the reasons a connection is closed for bad
// input.
var errProtocol = errors.New("protocol violation")

const (
	// minFrame is the smallest request frame: api key, version,
	// correlation id and client id length.
	minFrame = 10
	// readBufferSize is the connection's read buffer; frames that fit are
	// read with few system calls.
	readBufferSize = 64 << 10
	// writeThreshold flushes buffered answers once they reach this size,
	// even if more requests are waiting.
	writeThreshold = 256 << 10
	// keepBufferSize is the largest buffer a connection keeps between
	// requests; larger ones are dropped after use.
	keepBufferSize = 8 << 20
	// bodyChunk is how much of a large frame is allocated ahead of the
	// bytes actually arriving.
	bodyChunk = 1 << 20
)

// conn is one client connection, served by one goroutine.
type conn struct {
	b      *Broker
	nc     net.Conn // nil when driven by tests without a socket
	remote string
	ctx    context.Context // done when the connection or the broker closes
	cancel context.CancelFunc
	r      *bufio.Reader

	out     []byte // answers not yet written
	body    []byte // reused request buffer
	scratch []byte // reused fetch buffer

	// onFlush, in tests without a socket, receives what would be written.
	onFlush func([]byte)
}

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{b: b, nc: nc, ctx: ctx, cancel: cancel}
	if nc != nil {
		c.remote = nc.RemoteAddr().String()
		c.r = bufio.NewReaderSize(nc, readBufferSize)
	}
	return c
}

// close ends the connection; serve's goroutine then exits. It is safe to
// call more than once and from any goroutine.
func (c *conn) close() {
	c.cancel()
	if c.nc != nil {
		_ = c.nc.Close()
	}
}

func (c *conn) serve() {
	defer c.b.wg.Done()
	defer c.b.forget(c)
	defer c.close()
	defer func() {
		if v := recover(); v != nil {
			c.b.log.Error("connection handler panicked; closing the connection",
				"remote", c.remote, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	err := c.loop()
	switch {
	case errors.Is(err, errProtocol):
		c.b.log.Warn("closing connection", "remote", c.remote, "reason", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.b.log.Info("closing idle connection", "remote", c.remote, "idle_timeout", c.b.cfg.IdleTimeout)
	case c.ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		c.b.log.Debug("connection closed", "remote", c.remote)
	default:
		c.b.log.Info("connection closed", "remote", c.remote, "reason", err)
	}
}

// loop reads and answers frames until the connection fails.
func (c *conn) loop() error {
	var size [4]byte
	for {
		if c.r.Buffered() < len(size) {
			if err := c.beforeBlockingRead(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(c.r, size[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: connection closed inside a frame length", errProtocol)
			}
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		switch {
		case n < 0:
			return fmt.Errorf("%w: negative frame length %d", errProtocol, n)
		case n > c.b.cfg.MaxRequestSize:
			return fmt.Errorf("%w: frame of %d bytes is over MaxRequestSize (%d)", errProtocol, n, c.b.cfg.MaxRequestSize)
		case n < minFrame:
			return fmt.Errorf("%w: frame of %d bytes is too short for a request header", errProtocol, n)
		}
		if c.r.Buffered() < int(n) {
			if err := c.beforeBlockingRead(); err != nil {
				return err
			}
		}
		frame, err := c.readBody(int(n))
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: truncated frame: connection closed before the %d bytes announced arrived", errProtocol, n)
			}
			return err
		}
		if err := c.handle(frame); err != nil {
			return err
		}
		if len(c.out) >= writeThreshold {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// beforeBlockingRead writes pending answers and arms the idle timeout: the
// next read may wait for the client.
func (c *conn) beforeBlockingRead() error {
	if err := c.flush(); err != nil {
		return err
	}
	if d := c.b.cfg.IdleTimeout; d > 0 {
		return c.nc.SetReadDeadline(time.Now().Add(d))
	}
	return nil
}

// readBody reads an n-byte frame into the reused buffer. Large frames are
// allocated as their bytes arrive, so that a client announcing a huge frame
// and sending nothing costs little.
func (c *conn) readBody(n int) ([]byte, error) {
	if n <= cap(c.body) || n <= bodyChunk {
		if n > cap(c.body) {
			c.body = make([]byte, n, max(n, 2*cap(c.body), 4<<10))
		}
		b := c.body[:n]
		_, err := io.ReadFull(c.r, b)
		return b, err
	}
	b := c.body[:0]
	for len(b) < n {
		chunk := min(n-len(b), max(bodyChunk, len(b)))
		b = slices.Grow(b, chunk)
		if _, err := io.ReadFull(c.r, b[len(b):len(b)+chunk]); err != nil {
			return nil, err
		}
		b = b[:len(b)+chunk]
	}
	if cap(b) <= keepBufferSize {
		c.body = b
	}
	return b, nil
}

// flush writes the buffered answers.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	var err error
	switch {
	case c.nc != nil:
		_, err = c.nc.Write(c.out)
	case c.onFlush != nil:
		c.onFlush(c.out)
	}
	if cap(c.out) > keepBufferSize {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	return err
}

// wait blocks for d, writing pending answers first. It fails when the
// connection closes.
func (c *conn) wait(d time.Duration) error {
	if err := c.flush(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// throttle applies Pause and SetLatency before a request is handled.
func (c *conn) throttle() error {
	if ch := c.b.pause.Load(); ch != nil {
		if err := c.flush(); err != nil {
			return err
		}
		select {
		case <-*ch:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	if d := time.Duration(c.b.latency.Load()); d > 0 {
		return c.wait(d)
	}
	return nil
}
