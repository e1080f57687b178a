package broker

// Zero-copy Fetch answers: the records of a partition on disk go from the
// segment file to the client's socket with sendfile(2), never through the
// broker's memory.
//
// A Fetch answer is built as a kmsg.FetchResponse whose record fields
// hold, instead of the records, a 16-byte marker: a random key of the
// connection and the marker's number. Once the answer is encoded into
// c.out, each marker and the length before it are replaced by the real
// length, and the place is remembered with the slices whose bytes go
// there (an outSection); flush writes c.out up to it, then the slices, and
// so on. Only bytes seglog has checked (Slice.Checked) are sent this way;
// others are copied and checked, as they are on a TLS connection and from
// the in-memory storage, so that a damaged batch is still answered
// CORRUPT_MESSAGE.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"

	"github.com/merlinkafka/merlin/seglog"
)

const markerSize = 16

// pendingRecords are the slices of one partition of the answer being
// built, behind its marker.
type pendingRecords struct {
	marker []byte
	slices []seglog.Slice
	n      int
}

// outSection is a run of file bytes to send at position at of c.out.
type outSection struct {
	at     int
	slices []seglog.Slice
}

// zeroCopy says whether records may be sent from their files: on a plain
// TCP connection (TLS must encrypt them in user space).
func (c *conn) zeroCopy() bool {
	_, ok := c.nc.(*net.TCPConn)
	return ok && !c.b.faults.copiesFetch()
}

// pend puts the n bytes of sls behind a new marker, which it returns for
// the answer's record field.
func (c *conn) pend(sls []seglog.Slice, n int) []byte {
	if c.markerKey == 0 {
		c.markerKey = rand.Uint64() | 1
	}
	m := make([]byte, 0, markerSize)
	m = binary.BigEndian.AppendUint64(m, c.markerKey)
	m = binary.BigEndian.AppendUint64(m, uint64(len(c.pending)))
	c.pending = append(c.pending, pendingRecords{marker: m, slices: sls, n: n})
	return m
}

// dropPending closes the slices of an answer that will not be sent.
func (c *conn) dropPending() {
	for _, p := range c.pending {
		closeSlices(p.slices)
	}
	clear(c.pending)
	c.pending = c.pending[:0]
}

// spliceSections replaces the markers in the answer encoded at c.out[start:]
// by the lengths of their records, and returns the bytes those add to the
// frame. flexible says how the answer encodes its byte fields (compact:
// an unsigned varint of length+1; else an int32 length).
func (c *conn) spliceSections(start int, flexible bool) (int, error) {
	extra, from := 0, start
	for _, p := range c.pending {
		i := bytes.Index(c.out[from:], p.marker)
		if i < 0 {
			return 0, fmt.Errorf("broker: fetch answer lost the place of its records")
		}
		at := from + i
		var prefix []byte
		var old int
		if flexible {
			old = 1
			if at-old < from || c.out[at-old] != markerSize+1 {
				return 0, fmt.Errorf("broker: fetch answer records field is not a compact marker")
			}
			prefix = binary.AppendUvarint(nil, uint64(p.n)+1)
		} else {
			old = 4
			if at-old < from || binary.BigEndian.Uint32(c.out[at-old:]) != markerSize {
				return 0, fmt.Errorf("broker: fetch answer records field is not a marker")
			}
			prefix = binary.BigEndian.AppendUint32(nil, uint32(p.n))
		}
		// The prefix (at most 5 bytes) is shorter than what it replaces:
		// the rest moves left within c.out.
		q := at - old
		q += copy(c.out[q:], prefix)
		m := copy(c.out[q:], c.out[at+markerSize:])
		c.out = c.out[:q+m]
		c.sections = append(c.sections, outSection{at: q, slices: p.slices})
		c.sectionBytes += p.n
		extra += p.n
		from = q
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	return extra, nil
}

// writeOut writes c.out and the sections it holds to the socket.
func (c *conn) writeOut() error {
	prev := 0
	for _, s := range c.sections {
		if _, err := c.nc.Write(c.out[prev:s.at]); err != nil {
			return err
		}
		for _, sl := range s.slices {
			if _, err := sl.WriteTo(c.nc); err != nil {
				return err
			}
		}
		prev = s.at
	}
	_, err := c.nc.Write(c.out[prev:])
	return err
}

// dropSections closes the slices of the sections, written or not.
func (c *conn) dropSections() {
	for _, s := range c.sections {
		closeSlices(s.slices)
	}
	clear(c.sections)
	c.sections, c.sectionBytes = c.sections[:0], 0
}
