package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// checkRequestShape walks a request body the way kmsg decodes it, before
// kmsg does, and refuses two things kmsg (v1.15.0) handles badly:
//
//   - a tagged field count larger than the bytes that follow: kmsg keeps
//     looping after its reader runs dry, billions of times for a count
//     near 2^32, which would pin a CPU for seconds per frame;
//   - array lengths that the bytes after them cannot hold: kmsg allocates
//     the whole array before reading its elements, so a small frame could
//     make it allocate far more than its size.
//
// The walk mirrors kmsg's field order per version, using the same kbin
// primitives, so a request kmsg decodes successfully passes the same walk.
// Where they could differ (a null where kmsg wants a value), kmsg fails
// anyway, and a failed kmsg reader stops every loop.
func checkRequestShape(key APIKey, version int16, body []byte) error {
	a := apiFor(key)
	if a == nil {
		return fmt.Errorf("%w: no shape for %s", errProtocol, key)
	}
	return a.checkShape(version, body)
}

// The shapes of the request types listed first in the table (apis.go); the
// group coordinator's and the admin ones are in wirecheck_groups.go. The
// walk is flexible from the table's flexible version on.

func shapeProduce(w *shapeWalk, v int16) {
	if v >= 3 {
		w.str()
	}
	w.fixed(2 + 4)
	w.topics(v, 12, func() {
		w.fixed(4)
		w.bytes()
		w.tags(nil)
	})
	w.tags(nil)
}

func shapeFetch(w *shapeWalk, v int16) {
	if v <= 14 {
		w.fixed(4)
	}
	w.fixed(4 + 4)
	if v >= 3 {
		w.fixed(4)
	}
	if v >= 4 {
		w.fixed(1)
	}
	if v >= 7 {
		w.fixed(4 + 4)
	}
	w.topics(v, 12, func() {
		w.fixed(4)
		if v >= 9 {
			w.fixed(4)
		}
		w.fixed(8)
		if v >= 12 {
			w.fixed(4)
		}
		if v >= 5 {
			w.fixed(8)
		}
		w.fixed(4)
		w.tags(nil)
	})
	if v >= 7 {
		w.topicPartitions(v, 12) // forgotten topics
	}
	if v >= 11 {
		w.str()
	}
	w.tags(func(tag uint32, sub *shapeWalk) {
		if tag == 1 { // ReplicaState: ID, Epoch, tags
			sub.fixed(4 + 8)
			sub.tags(nil)
		}
	})
}

func shapeListOffsets(w *shapeWalk, v int16) {
	w.fixed(4)
	if v >= 2 {
		w.fixed(1)
	}
	w.topics(v, never, func() {
		w.fixed(4)
		if v >= 4 {
			w.fixed(4)
		}
		w.fixed(8)
		if v == 0 {
			w.fixed(4)
		}
		w.tags(nil)
	})
	if v >= 10 {
		w.fixed(4)
	}
	w.tags(nil)
}

func shapeMetadata(w *shapeWalk, v int16) {
	w.array(func() {
		if v >= 10 {
			w.fixed(16)
		}
		w.str()
		w.tags(nil)
	})
	if v >= 4 {
		w.fixed(1)
	}
	if v >= 8 && v <= 10 {
		w.fixed(1)
	}
	if v >= 8 {
		w.fixed(1)
	}
	w.tags(nil)
}

func shapeApiVersions(w *shapeWalk, v int16) {
	if v >= 3 {
		w.str()
		w.str()
	}
	if v >= 5 {
		w.str()
		w.fixed(4)
	}
	w.tags(nil)
}

func shapeCreateTopics(w *shapeWalk, v int16) {
	w.array(func() {
		w.str()
		w.fixed(4 + 2)
		w.array(func() {
			w.fixed(4)
			w.int32s()
			w.tags(nil)
		})
		w.array(func() {
			w.str()
			w.str()
			w.tags(nil)
		})
		w.tags(nil)
	})
	w.fixed(4)
	if v >= 1 {
		w.fixed(1)
	}
	w.tags(nil)
}

func shapeInitProducerID(w *shapeWalk, v int16) {
	w.str()
	w.fixed(4)
	if v >= 3 {
		w.fixed(8 + 2)
	}
	w.tags(nil)
}

func shapeSaslHandshake(w *shapeWalk, _ int16) { w.str() }

func shapeSaslAuthenticate(w *shapeWalk, _ int16) {
	w.bytes()
	w.tags(nil)
}

// shapeWalk reads through a request without keeping anything.
type shapeWalk struct {
	r    kbin.Reader
	flex bool
	why  string // set when the walk refused something kmsg would accept
}

func (w *shapeWalk) err() error {
	switch {
	case w.why != "":
		return fmt.Errorf("%w: malformed request: %s", errProtocol, w.why)
	case !w.r.Ok():
		return fmt.Errorf("%w: malformed request: truncated or invalid field", errProtocol)
	}
	return nil
}

func (w *shapeWalk) refuse(why string) {
	if w.why == "" {
		w.why = why
	}
	w.r.Src = nil
	w.r.Span(1) // marks the reader bad
}

func (w *shapeWalk) fixed(n int) { w.r.Span(n) }

// str skips a (nullable) string as kbin's CompactNullableString and
// NullableString read it, without allocating.
func (w *shapeWalk) str() {
	var n int
	if w.flex {
		n = int(w.r.Uvarint()) - 1
	} else {
		n = int(w.r.Int16())
	}
	if n >= 0 {
		w.r.Span(n)
	}
}

func (w *shapeWalk) bytes() {
	if w.flex {
		w.r.CompactNullableBytes()
	} else {
		w.r.NullableBytes()
	}
}

// array walks an array, requiring every element to take at least a byte, so
// that the announced length is backed by data.
func (w *shapeWalk) array(elem func()) {
	var n int32
	if w.flex {
		n = w.r.CompactArrayLen()
	} else {
		n = w.r.ArrayLen()
	}
	for i := int32(0); i < n && w.r.Ok(); i++ {
		before := len(w.r.Src)
		elem()
		if w.r.Ok() && len(w.r.Src) == before {
			w.refuse("empty array element")
		}
	}
}

// tags walks a tagged field section (flexible versions only). known, if
// set, walks the content of the tags kmsg decodes as structures.
func (w *shapeWalk) tags(known func(tag uint32, sub *shapeWalk)) {
	if !w.flex || !w.r.Ok() {
		return
	}
	n := w.r.Uvarint()
	if uint64(n) > uint64(len(w.r.Src))/2 { // a tag takes at least 2 bytes
		w.refuse(fmt.Sprintf("%d tagged fields announced in %d bytes", n, len(w.r.Src)))
		return
	}
	for i := uint32(0); i < n && w.r.Ok(); i++ {
		tag := w.r.Uvarint()
		content := w.r.Span(int(w.r.Uvarint()))
		if known != nil && w.r.Ok() {
			sub := &shapeWalk{r: kbin.Reader{Src: content}, flex: true}
			known(tag, sub)
			if sub.why != "" {
				w.refuse(sub.why)
			}
		}
	}
}

// topic walks a topic named up to version lastByName, by id (16 bytes)
// after.
func (w *shapeWalk) topic(v, lastByName int16) {
	if v <= lastByName {
		w.str()
	} else {
		w.fixed(16)
	}
}

// topics walks an array of topics (see topic; lastByName never: always by
// name), each with an array of partitions and tags.
func (w *shapeWalk) topics(v, lastByName int16, partition func()) {
	w.array(func() {
		w.topic(v, lastByName)
		w.array(partition)
		w.tags(nil)
	})
}

// topicPartitions walks topics whose partitions are their numbers.
func (w *shapeWalk) topicPartitions(v, lastByName int16) {
	w.topics(v, lastByName, func() { w.fixed(4) })
}

// strs walks an array of strings.
func (w *shapeWalk) strs() { w.array(w.str) }

// int32s walks an array of int32s (partition numbers, replica ids).
func (w *shapeWalk) int32s() { w.array(func() { w.fixed(4) }) }
