package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"syscall"
	"time"
)

// errProtocol is wrapped by the reasons a connection is closed for bad
// input.
var errProtocol = errors.New("protocol violation")

// errNotReading is wrapped by the reason a connection is closed when its
// client does not read its answers.
var errNotReading = errors.New("client not reading its answers")

// ErrRequestTimeout is wrapped by the reason a connection is closed when a
// request frame, once begun, did not arrive within Config.RequestReadTimeout.
var ErrRequestTimeout = errors.New("broker: request not received in time")

const (
	// minFrame is the smallest request frame: api key, version,
	// correlation id and client id length.
	minFrame = 10
	// idleReadSize is the connection's own read buffer, used while no
	// request is being read: a small request arriving on an idle
	// connection is read and answered from it without allocating.
	idleReadSize = 256
	// writeThreshold flushes buffered answers once they reach this size,
	// even if more requests are waiting.
	writeThreshold = 256 << 10
	// watchBufferSize bounds what is read ahead from a client while one of
	// its requests waits (see watchPeer).
	watchBufferSize = 64 << 10
)

// aLongTimeAgo is a read deadline in the past: it interrupts a blocked Read.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one client connection, served by one goroutine at a time (see
// serve).
//
// Memory: between requests a connection holds no buffer but idle (the read
// buffer, answers and fetch scratch space go back to pools), so that many
// idle connections cost little. While a request is read, its buffer grows
// as its bytes arrive (doubling, never to more than twice what arrived),
// each growth reserved from the broker's request byte budget
// (Config.QueuedMaxRequestBytes), and it is released once the request is
// answered.
type conn struct {
	b      *Broker
	nc     net.Conn        // nil when driven by tests without a socket
	src    io.Reader       // nc, or the test's input
	ip     string          // remote IP, for MaxConnectionsPerIP
	ctx    context.Context // done when the connection or the broker closes
	cancel context.CancelFunc

	// Bytes read and not consumed are rbuf[rpos:rend]. rbuf is idle[:]
	// or a pooled buffer of which reserved bytes are charged to the
	// budget.
	rbuf       []byte
	rpos, rend int
	reserved   int
	idle       [idleReadSize]byte
	frameStart time.Time // when the frame being read began
	armed      bool      // the read deadline is set for the frame being read

	out     []byte // answers not yet written
	scratch []byte // fetch answer records

	// Zero-copy fetch records (see zerocopy.go): those of the answer being
	// built, and those to send within out.
	pending      []pendingRecords
	sections     []outSection
	sectionBytes int
	markerKey    uint64

	// onFlush, in tests without a socket, receives what would be written.
	onFlush func([]byte)

	info    connInfo  // for Broker.Clients
	tlsDone bool      // the TLS handshake, if any, is done
	sasl    *saslConn // SASL state; nil when SASL is off
}

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{b: b, nc: nc, src: nc, ctx: ctx, cancel: cancel}
	c.rbuf = c.idle[:]
	c.info.connected = time.Now()
	if b.sec.saslEnabled() {
		c.sasl = &saslConn{}
	}
	if nc != nil {
		if tcp, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
			c.ip = tcp.IP.String()
		}
	}
	return c
}

// remoteAddr is the client's address, for logs (formatted only when a
// line is logged), or nil without a socket.
func (c *conn) remoteAddr() net.Addr {
	if c.nc == nil {
		return nil
	}
	return c.nc.RemoteAddr()
}

// close ends the connection; serve's goroutine then exits. It is safe to
// call more than once and from any goroutine.
func (c *conn) close() {
	c.cancel()
	if c.nc != nil {
		_ = c.nc.Close()
	}
}

// serve runs the connection from one idle period to the next: it waits
// for a request, answers requests while they keep coming and, when the
// client has nothing more buffered, hands over to a new goroutine and
// exits. Handling a request grows a goroutine's stack (to 4 KiB or more),
// and the runtime does not shrink it back while the goroutine waits in a
// read: a fresh goroutine, with the smallest stack, waits instead, so that
// an idle connection costs little. The last goroutine closes the
// connection.
func (c *conn) serve() {
	more, err := c.stretch()
	if more {
		go c.serve()
		return
	}
	defer c.b.wg.Done()
	defer c.b.forget(c)
	defer c.close()
	defer c.freeBuffers()
	switch {
	case errors.Is(err, errProtocol), errors.Is(err, ErrRequestTimeout), errors.Is(err, errNotReading):
		c.b.logs.closing.Log("remote", c.remoteAddr(), "reason", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.b.logs.idle.Log("remote", c.remoteAddr(), "idle_timeout", c.b.cfg.IdleTimeout)
	case errors.Is(err, errPanic), errors.Is(err, errAuth):
		// Logged where it was recovered or refused.
	case c.ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		c.b.log.Debug("connection closed", "remote", c.remoteAddr())
	default:
		c.b.logs.closedOther.Log("remote", c.remoteAddr(), "reason", err)
	}
}

// errPanic ends a connection whose handler panicked.
var errPanic = errors.New("handler panicked")

// stretch waits for a request, then reads and answers frames until none is
// buffered and the answers are written (more: the connection goes idle) or
// the connection fails (err).
func (c *conn) stretch() (more bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.b.log.Error("connection handler panicked; closing the connection",
				"remote", c.remoteAddr(), "panic", v, "stack", string(debug.Stack()))
			more, err = false, errPanic
		}
	}()
	for {
		if err := c.step(); err != nil {
			return false, err
		}
		if c.rpos == c.rend {
			if err := c.flush(); err != nil {
				return false, err
			}
			c.releaseBuffers()
			return true, nil
		}
	}
}

// loop reads and answers frames until the connection fails, on one
// goroutine (for tests without a socket).
func (c *conn) loop() error {
	for {
		if err := c.step(); err != nil {
			return err
		}
	}
}

// step reads and answers one frame, first waiting for the client when
// nothing is buffered.
func (c *conn) step() error {
	if c.rpos == c.rend {
		if err := c.waitForRequest(); err != nil {
			return err
		}
	}
	c.frameStart, c.armed = time.Now(), false
	frame, err := c.readFrame()
	if err != nil {
		return err
	}
	c.b.stats.received(c, 4+len(frame))
	if err := c.handle(frame); err != nil {
		if errors.Is(err, errProtocol) {
			c.b.stats.rejected.Add(1)
		}
		return err
	}
	c.afterFrame()
	if len(c.out)+c.sectionBytes >= writeThreshold {
		return c.flush()
	}
	return nil
}

// waitForRequest is the idle state: it writes pending answers, gives the
// buffers back, and blocks until the client sends something, for at most
// the idle timeout.
func (c *conn) waitForRequest() error {
	if err := c.flush(); err != nil {
		return err
	}
	c.releaseBuffers()
	if err := c.tlsHandshake(); err != nil {
		return err
	}
	if c.nc != nil {
		var deadline time.Time
		if d := c.b.cfg.IdleTimeout; d > 0 {
			deadline = time.Now().Add(d)
		}
		if err := c.nc.SetReadDeadline(deadline); err != nil {
			return err
		}
	}
	for {
		n, err := c.src.Read(c.rbuf)
		c.rend = n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readFrame returns the next request frame, reading as much as needed. The
// frame aliases the read buffer: it is valid until afterFrame.
func (c *conn) readFrame() ([]byte, error) {
	if err := c.fill(4); err != nil {
		if errors.Is(err, io.EOF) && c.rend > c.rpos {
			return nil, fmt.Errorf("%w: connection closed inside a frame length", errProtocol)
		}
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(c.rbuf[c.rpos:]))
	lo, hi := c.frameLimits()
	switch {
	case n < 0:
		return nil, fmt.Errorf("%w: negative frame length %d", errProtocol, n)
	case n > hi && hi < c.b.cfg.MaxRequestSize:
		return nil, fmt.Errorf("%w: frame of %d bytes before SASL authentication is over %d", errProtocol, n, hi)
	case n > hi:
		return nil, fmt.Errorf("%w: frame of %d bytes is over MaxRequestSize (%d)", errProtocol, n, c.b.cfg.MaxRequestSize)
	case n < lo:
		return nil, fmt.Errorf("%w: frame of %d bytes is too short for a request header", errProtocol, n)
	}
	if err := c.fill(4 + int(n)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: truncated frame: connection closed before the %d bytes announced arrived", errProtocol, n)
		}
		return nil, err
	}
	start := c.rpos + 4
	end := start + int(n)
	c.rpos = end
	return c.rbuf[start:end:end], nil
}

// fill reads until at least k bytes from rpos are buffered. The buffer
// grows only when it is full, so that it never holds much more room than
// twice the bytes that arrived.
func (c *conn) fill(k int) error {
	for c.rend-c.rpos < k {
		if c.rend == len(c.rbuf) {
			if err := c.makeRoom(k); err != nil {
				return err
			}
		}
		if err := c.beforeRead(); err != nil {
			return err
		}
		n, err := c.src.Read(c.rbuf[c.rend:])
		c.rend += n
		if err != nil {
			if c.rend-c.rpos >= k {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%w: %d of %d bytes of a frame arrived in %v (RequestReadTimeout)",
					ErrRequestTimeout, c.rend-c.rpos, k, c.b.cfg.RequestReadTimeout)
			}
			return err
		}
	}
	return nil
}

// beforeRead writes pending answers, since the read may wait for the
// client, and arms the frame's read deadline.
func (c *conn) beforeRead() error {
	if err := c.flush(); err != nil {
		return err
	}
	if c.armed || c.nc == nil {
		return nil
	}
	c.armed = true
	var deadline time.Time
	if d := c.b.cfg.RequestReadTimeout; d > 0 {
		deadline = c.frameStart.Add(d)
	}
	return c.nc.SetReadDeadline(deadline)
}

// makeRoom makes room after rend for a frame of k bytes from rpos: it moves
// the buffered bytes to the front, or moves them to a buffer twice as large
// (at most k), reserved from the budget. Doubling keeps the copies linear
// in the frame's size, and the buffer at most twice the bytes received. It
// waits for the budget until the frame's read deadline.
func (c *conn) makeRoom(k int) error {
	if c.rpos > 0 {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
		if c.rend < len(c.rbuf) {
			return nil
		}
	}
	size := min(k, max(2*len(c.rbuf), minPooled))
	budget := c.b.budget
	if !budget.tryAcquire(size) {
		ctx := c.ctx
		if d := c.b.cfg.RequestReadTimeout; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, c.frameStart.Add(d))
			defer cancel()
		}
		if err := budget.acquire(ctx, size, c.reserved); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("%w: waited for the request byte budget (QueuedMaxRequestBytes) until RequestReadTimeout", ErrRequestTimeout)
			}
			return err
		}
	}
	c.setReadBuffer(getBuf(size)[:size], size)
	return nil
}

// setReadBuffer moves the buffered bytes to buf, whose size bytes are
// reserved, and gives the previous buffer back.
func (c *conn) setReadBuffer(buf []byte, reserved int) {
	n := copy(buf, c.rbuf[c.rpos:c.rend])
	c.dropReadBuffer()
	c.rbuf, c.rpos, c.rend, c.reserved = buf, 0, n, reserved
}

// dropReadBuffer gives the pooled read buffer back, if any, with its
// reservation. The caller then sets rbuf.
func (c *conn) dropReadBuffer() {
	if c.reserved > 0 {
		putBuf(c.rbuf)
		c.b.budget.release(c.reserved)
		c.reserved = 0
	}
}

// afterFrame runs once a frame is answered: the bytes left are the next
// frames (pipelined requests). A pooled buffer is given back once empty.
func (c *conn) afterFrame() {
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
		if c.reserved > 0 {
			c.dropReadBuffer()
			c.rbuf = c.idle[:]
		}
	}
}

// releaseBuffers gives every pooled buffer back. Called when the
// connection goes idle and when it closes.
func (c *conn) releaseBuffers() {
	if c.rpos == c.rend && c.reserved > 0 {
		c.dropReadBuffer()
		c.rbuf, c.rpos, c.rend = c.idle[:], 0, 0
	}
	if c.out != nil && len(c.out) == 0 {
		putBuf(c.out)
		c.out = nil
	}
	if c.scratch != nil {
		putBuf(c.scratch)
		c.scratch = nil
	}
}

// freeBuffers gives every buffer back, whatever it holds, when the
// connection ends.
func (c *conn) freeBuffers() {
	c.dropReadBuffer()
	c.rbuf, c.rpos, c.rend = c.idle[:], 0, 0
	c.out = c.out[:0]
	c.dropPending()
	c.dropSections()
	c.releaseBuffers()
}

// flush writes the buffered answers.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	c.b.stats.sent(c, len(c.out)+c.sectionBytes)
	defer c.dropSections()
	var err error
	switch {
	case c.nc != nil:
		// A client that stops reading its answers would block the write,
		// and hold the connection, forever: the write must be done
		// within the idle timeout.
		var deadline time.Time
		if d := c.b.cfg.IdleTimeout; d > 0 {
			deadline = time.Now().Add(d)
		}
		if err = c.nc.SetWriteDeadline(deadline); err == nil {
			err = c.writeOut()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: writing %d bytes of answers took over %v (IdleTimeout)", errNotReading, len(c.out)+c.sectionBytes, c.b.cfg.IdleTimeout)
			}
		}
	case c.onFlush != nil:
		c.onFlush(c.out)
	}
	if cap(c.out) > maxPooled {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
	return err
}

// watchPeer reads from the client in the background while a request waits
// (a fetch for data, a paused or slowed broker), so that the client closing
// its connection ends the wait at once: nothing else reads the socket then,
// and without it a closed connection would be noticed only when the wait
// ends. Bytes that arrive (pipelined requests) are kept for the loop, up to
// watchBufferSize. The returned function stops the reading and must be
// called before the handler returns.
//
// The waiting request's frame aliases rbuf[:rpos], which the reader never
// writes: it appends after rend, and moves to a new buffer when full.
func (c *conn) watchPeer() (stop func()) {
	if c.nc == nil {
		return func() {}
	}
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if c.rend == len(c.rbuf) {
				size := min(max(2*len(c.rbuf), minPooled), watchBufferSize)
				if size <= len(c.rbuf) || !c.b.budget.tryAcquire(size) {
					return // full: the wait ends by its own timeout
				}
				buf := getBuf(size)[:size]
				n := copy(buf, c.rbuf[c.rpos:c.rend])
				if c.reserved > 0 {
					// Not pooled: the waiting frame may alias it.
					c.b.budget.release(c.reserved)
				}
				c.rbuf, c.rpos, c.rend, c.reserved = buf, 0, n, size
			}
			n, err := c.nc.Read(c.rbuf[c.rend:])
			c.rend += n
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					c.cancel() // the client is gone: end the wait
				}
				return
			}
		}
	}()
	return func() {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
		<-done
		c.armed = false // the loop sets the deadline again before reading
	}
}

// wait blocks for d, writing pending answers first. It fails when the
// connection closes.
func (c *conn) wait(d time.Duration) error {
	if err := c.flush(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	stop := c.watchPeer()
	defer stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}
