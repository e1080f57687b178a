package kbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func build(t testing.TB, codec Codec, n int) []byte {
	t.Helper()
	var bd Builder
	bd.Codec = codec
	for i := 0; i < n; i++ {
		var key []byte
		if i%2 == 0 {
			key = []byte(fmt.Sprintf("k%d", i))
		}
		bd.Add(1000+int64(i), key, []byte(fmt.Sprintf("value-%d", i)), RecordHeader{Key: "h", Value: []byte{byte(i)}})
	}
	b, err := bd.AppendBatch(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTripEveryCodec(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			b := build(t, codec, 50)
			SetBaseOffset(b, 100)
			h, err := ValidateOne(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != 100 || h.NumRecords != 50 || h.LastOffset() != 149 || h.Codec() != codec {
				t.Fatalf("header %+v", h)
			}
			if h.ProducerID != -1 || h.BaseSequence != -1 {
				t.Fatalf("non-idempotent batch has producer fields %+v", h)
			}
			recs, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 50 {
				t.Fatalf("%d records", len(recs))
			}
			for i, r := range recs {
				if r.Offset != 100+int64(i) || r.Timestamp != 1000+int64(i) || string(r.Value) != fmt.Sprintf("value-%d", i) {
					t.Fatalf("record %d: %+v", i, r)
				}
				if (i%2 == 0) != (r.Key != nil) {
					t.Fatalf("record %d key %q", i, r.Key)
				}
				if len(r.Headers) != 1 || r.Headers[0].Key != "h" || r.Headers[0].Value[0] != byte(i) {
					t.Fatalf("record %d headers %+v", i, r.Headers)
				}
			}
		})
	}
}

// The batches we build must parse with franz-go's codec, which every kgo
// consumer uses, and carry the CRC it computes.
func TestBuilderMatchesKmsg(t *testing.T) {
	b := build(t, CodecNone, 10)
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if rb.NumRecords != 10 || rb.Magic != 2 || uint32(rb.CRC) != checksum(b) {
		t.Fatalf("kmsg sees %+v", rb)
	}
	// And a batch encoded by kmsg validates here.
	rb.CRC = 0
	out := rb.AppendTo(nil)
	crc := checksum(out)
	rb.CRC = int32(crc)
	out = rb.AppendTo(nil)
	if _, err := ValidateOne(out); err != nil {
		t.Fatal(err)
	}
}

func TestCorruption(t *testing.T) {
	good := build(t, CodecNone, 3)
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"short":      {good[:40], ErrShort},
		"torn":       {good[:len(good)-1], ErrShort},
		"magic":      {patch(good, 16, 1), ErrMagic},
		"crc":        {patch(good, len(good)-1, good[len(good)-1]^0xff), ErrCRC},
		"length":     {patch(good, 11, 3), ErrLength},
		"leader ok":  {patch(good, 12, 7), nil},
		"offset ok":  {patch(good, 3, 9), nil},
		"attributes": {patch(good, 22, 1), ErrCRC},
	}
	for name, c := range cases {
		_, err := Validate(c.b)
		if !errors.Is(err, c.want) || (c.want != nil && !errors.Is(err, ErrCorrupt)) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func patch(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestValidPrefixAndNext(t *testing.T) {
	a, b := build(t, CodecNone, 2), build(t, CodecGzip, 3)
	all := append(append(bytes.Clone(a), b...), b[:20]...)
	n, err := ValidPrefix(all)
	if n != len(a)+len(b) || !errors.Is(err, ErrShort) {
		t.Fatalf("valid prefix %d, %v", n, err)
	}
	first, rest, h, err := Next(all)
	if err != nil || len(first) != len(a) || h.NumRecords != 2 || len(rest) != len(all)-len(a) {
		t.Fatalf("next: %d %d %v", len(first), len(rest), err)
	}
}

func TestIdempotentFields(t *testing.T) {
	var bd Builder
	bd.SetProducer(7, 2, 0x7ffffffe)
	bd.Add(1, nil, []byte("a"))
	bd.Add(2, nil, []byte("b"))
	bd.Add(3, nil, []byte("c"))
	b, err := bd.AppendBatch(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ValidateOne(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.ProducerID != 7 || h.ProducerEpoch != 2 || h.BaseSequence != 0x7ffffffe || h.LastSequence() != 0 {
		t.Fatalf("%+v last seq %d", h, h.LastSequence())
	}
}

func FuzzRecords(f *testing.F) {
	f.Add(build(f, CodecNone, 3))
	f.Add(build(f, CodecLZ4, 3))
	f.Add(build(f, CodecSnappy, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Validate(b); err != nil {
			return
		}
		_, _ = Records(b)
	})
}

// checksum computes the CRC-32C of the batch at the start of b from its
// attributes to its end, as the header's CRC field should hold.
func checksum(b []byte) uint32 {
	size := lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[8:12])))
	return crc32.Checksum(b[crcStart:size], Castagnoli)
}
