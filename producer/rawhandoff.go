package producer

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/internal/kbatch"
)

// sarama has no API for a record batch encoded elsewhere. Its RecordBatch
// caches the encoded records section in an unexported field the first time
// a request carrying it is encoded, and from then on writes only the
// header around that cache. merlin fills the cache with its own encoding:
// sarama then writes the 61-byte header (with the producer id, epoch and
// sequence of this send, and its CRC) and copies the records once into the
// request, without decoding, re-encoding or compressing anything.
//
// The two fields are looked up by name and type when the package loads.
// Should a sarama release change them, handOver falls back to giving sarama
// decoded records, which it encodes and compresses itself: slower, the
// same bytes on the wire (TestHandOverFallback runs that path).
var rawFields = func() (f struct {
	ok         bool
	recs, size uintptr
}) {
	t := reflect.TypeFor[sarama.RecordBatch]()
	recs, ok1 := t.FieldByName("compressedRecords")
	size, ok2 := t.FieldByName("recordsLen")
	f.ok = ok1 && ok2 && recs.Type == reflect.TypeFor[[]byte]() && size.Type.Kind() == reflect.Int
	f.recs, f.size = recs.Offset, size.Offset
	return f
}()

// rawHandOff says whether handOver gives sarama the encoding as it is;
// tests turn it off to run the fallback.
var rawHandOff = rawFields.ok

// handOver gives rb the records of the encoded batch enc (n records,
// rawLen bytes uncompressed; 0 if unknown).
func handOver(rb *sarama.RecordBatch, enc []byte, n, rawLen int) error {
	if !rawHandOff {
		return decodeFor(rb, enc)
	}
	// sarama writes len(Records) as the record count and never looks at
	// the records themselves once the cache is set.
	rb.Records = nilRecords(n)
	if rawLen == 0 {
		rawLen = len(enc) - kbatch.HeaderSize
	}
	*(*[]byte)(unsafe.Add(unsafe.Pointer(rb), rawFields.recs)) = enc[kbatch.HeaderSize:]
	*(*int)(unsafe.Add(unsafe.Pointer(rb), rawFields.size)) = rawLen
	return nil
}

// nilRecs is a slice of nil records that only grows; nothing writes its
// elements.
var nilRecs atomic.Pointer[[]*sarama.Record]

// nilRecords is a slice of n nil records, shared.
func nilRecords(n int) []*sarama.Record {
	for {
		cur := nilRecs.Load()
		if cur != nil && len(*cur) >= n {
			return (*cur)[:n:n]
		}
		size := max(n, 1024)
		if cur != nil {
			size = max(size, 2*len(*cur))
		}
		grown := make([]*sarama.Record, size)
		if nilRecs.CompareAndSwap(cur, &grown) {
			return grown[:n:n]
		}
	}
}

// decodeFor is the fallback of handOver: sarama records decoded from enc.
func decodeFor(rb *sarama.RecordBatch, enc []byte) error {
	decoded, err := kbatch.Records(enc)
	if err != nil {
		return fmt.Errorf("producer: own batch unreadable: %w", err)
	}
	first := rb.FirstTimestamp.UnixMilli()
	rb.Records = make([]*sarama.Record, len(decoded))
	for i := range decoded {
		d := &decoded[i]
		r := &sarama.Record{Key: d.Key, Value: d.Value, OffsetDelta: int64(i),
			TimestampDelta: time.Duration(d.Timestamp-first) * time.Millisecond}
		for _, h := range d.Headers {
			r.Headers = append(r.Headers, &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		rb.Records[i] = r
	}
	if rb.Codec != sarama.CompressionNone {
		rb.CompressionLevel = sarama.CompressionLevelDefault
	}
	return nil
}
