package broker

import (
	"math"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// maxCachedBatches is how many recent batches per producer and partition are
// remembered to recognise retries, as Kafka does (and as the five in-flight
// requests an idempotent producer may have at most require).
const maxCachedBatches = 5

// producerState is the idempotence state of one producer id on one
// partition: its epoch and its last few batches.
type producerState struct {
	epoch   int16
	batches [maxCachedBatches]seqRange // ring, oldest first from head
	head, n int
}

type seqRange struct {
	first, last int32
	base        int64
}

// seqVerdict is what checkSequence decides about an incoming batch.
type seqVerdict struct {
	code      int16 // non-zero: refuse with this Kafka error
	duplicate bool  // a retry of a stored batch: answer base, store nothing
	base      int64
}

// checkSequence applies Kafka's idempotent producer rules to a batch with
// producer id >= 0. st is nil for a producer this partition has not seen,
// whose first batch is accepted at any sequence (its earlier state may be
// gone with old segments, as Kafka 2.5+ assumes), except on a partition
// that never held a record (neverWritten), which takes only sequence 0:
// KAFKA-15591, which keeps a later batch from being stored before an
// earlier one that failed.
func checkSequence(st *producerState, h kbatch.Header, neverWritten bool) seqVerdict {
	if st == nil {
		if neverWritten && h.BaseSequence != 0 {
			return seqVerdict{code: kerr.OutOfOrderSequenceNumber.Code}
		}
		return seqVerdict{}
	}
	switch {
	case h.ProducerEpoch < st.epoch:
		return seqVerdict{code: kerr.InvalidProducerEpoch.Code}
	case h.ProducerEpoch > st.epoch:
		// A new epoch starts its sequences over.
		if h.BaseSequence != 0 {
			return seqVerdict{code: kerr.OutOfOrderSequenceNumber.Code}
		}
		return seqVerdict{}
	}
	last := h.LastSequence()
	for i := 0; i < st.n; i++ {
		r := st.batches[(st.head+i)%maxCachedBatches]
		if r.first == h.BaseSequence && r.last == last {
			return seqVerdict{duplicate: true, base: r.base}
		}
	}
	if st.n > 0 && h.BaseSequence != nextSequence(st.batches[(st.head+st.n-1)%maxCachedBatches].last) {
		return seqVerdict{code: kerr.OutOfOrderSequenceNumber.Code}
	}
	return seqVerdict{}
}

func nextSequence(s int32) int32 {
	if s == math.MaxInt32 {
		return 0
	}
	return s + 1
}

// record remembers a stored batch, starting over on a new epoch.
func (st *producerState) record(h kbatch.Header, base int64) {
	if h.ProducerEpoch != st.epoch {
		*st = producerState{epoch: h.ProducerEpoch}
	}
	r := seqRange{first: h.BaseSequence, last: h.LastSequence(), base: base}
	if st.n < maxCachedBatches {
		st.batches[(st.head+st.n)%maxCachedBatches] = r
		st.n++
		return
	}
	st.batches[st.head] = r
	st.head = (st.head + 1) % maxCachedBatches
}
