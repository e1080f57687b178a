package broker

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// reqHeader is a decoded request header (v1, or v2 for flexible versions).
type reqHeader struct {
	key      APIKey
	version  int16
	corr     int32
	clientID []byte // aliases the frame; nil when null
}

// parseRequestHeader decodes the fixed part of the header: api key, version,
// correlation id and client id. The tagged fields of flexible versions follow
// in rest.
func parseRequestHeader(frame []byte) (h reqHeader, rest []byte, err error) {
	if len(frame) < minFrame {
		return h, nil, fmt.Errorf("%w: request header needs %d bytes, frame has %d", errProtocol, minFrame, len(frame))
	}
	h.key = APIKey(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.corr = int32(binary.BigEndian.Uint32(frame[4:]))
	n := int16(binary.BigEndian.Uint16(frame[8:]))
	rest = frame[10:]
	if n >= 0 {
		if int(n) > len(rest) {
			return h, nil, fmt.Errorf("%w: client id of %d bytes overruns the frame", errProtocol, n)
		}
		h.clientID, rest = rest[:n:n], rest[n:]
	}
	return h, rest, nil
}

// skipTags skips a tagged field section.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", errProtocol)
	}
	b = b[n:]
	for ; count > 0; count-- {
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", errProtocol)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tagged field size", errProtocol)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// unsafeReader is implemented by every kmsg request: decoding that aliases
// strings into the frame instead of copying them. Names kept past the
// request must be cloned (Cluster does so for the topics it creates).
type unsafeReader interface {
	UnsafeReadFrom([]byte) error
}

// handle decodes and answers one request frame, appending the answer (if
// any) to c.out. An error means the connection must be closed.
func (c *conn) handle(frame []byte) error {
	if c.sasl != nil && c.sasl.state == stRaw {
		return c.handleRawToken(frame)
	}
	h, body, err := parseRequestHeader(frame)
	if err != nil {
		return err
	}
	api := apiFor(h.key)
	if api == nil {
		return fmt.Errorf("%w: unsupported API key %d (%s)", errProtocol, h.key, h.key)
	}
	if err := c.authorize(h.key); err != nil {
		return err
	}
	if !api.supports(h.version) {
		if h.key == APIApiVersions {
			// KIP-511: answer in v0 with UNSUPPORTED_VERSION and our
			// range, so that the client retries with a version we know.
			if err := c.throttle(); err != nil {
				return err
			}
			c.appendResponse(h, apiVersionsDowngrade())
			return nil
		}
		return fmt.Errorf("%w: %s version %d is not supported (versions %d to %d are)", errProtocol, h.key, h.version, api.min, api.max)
	}
	req := kmsg.RequestForKey(int16(h.key))
	req.SetVersion(h.version)
	if api.isFlexible(h.version) {
		if body, err = skipTags(body); err != nil {
			return err
		}
	}
	if err := api.checkShape(h.version, body); err != nil {
		return fmt.Errorf("%s v%d: %w", h.key, h.version, err)
	}
	if err := req.(unsafeReader).UnsafeReadFrom(body); err != nil {
		return fmt.Errorf("%w: malformed %s v%d request: %v", errProtocol, h.key, h.version, err)
	}
	if err := c.throttle(); err != nil {
		return err
	}
	resp, err := api.handle(c, h, req)
	c.b.stats.answered(c, h, resp, err)
	if err != nil || resp == nil {
		c.dropPending()
		return err
	}
	if err := c.appendResponse(h, resp); err != nil {
		return err
	}
	return c.afterAnswer()
}

// appendResponse frames resp: length, correlation id, the tagged field
// section of response header v1 for flexible versions (never for
// ApiVersions, whose answers keep header v0 so that clients can read them
// before they know our versions), then the body.
//
// The records of a zero-copy Fetch answer (see zerocopy.go) are not in the
// body: their lengths are, and the frame's length counts them.
func (c *conn) appendResponse(h reqHeader, resp kmsg.Response) error {
	if c.out == nil {
		c.out = getBuf(minPooled)
	}
	start := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(h.corr))
	if resp.IsFlexible() && h.key != APIApiVersions {
		c.out = append(c.out, 0)
	}
	c.out = resp.AppendTo(c.out)
	extra := 0
	if len(c.pending) > 0 {
		var err error
		if extra, err = c.spliceSections(start, resp.IsFlexible()); err != nil {
			c.dropPending()
			return err
		}
	}
	binary.BigEndian.PutUint32(c.out[start:], uint32(len(c.out)-start-4+extra))
	return nil
}
