package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every request kmsg encodes, at every supported version, passes the shape
// check and decodes back.
func TestCheckRequestShapeAcceptsValid(t *testing.T) {
	for _, r := range apis {
		for v := r.min; v <= r.max; v++ {
			for i, req := range sampleRequests(t, r.key, v) {
				body := req.AppendTo(nil)
				if err := checkRequestShape(r.key, v, body); err != nil {
					t.Errorf("%s v%d sample %d: %v", r.key, v, i, err)
				}
				back := kmsg.RequestForKey(int16(r.key))
				back.SetVersion(v)
				if err := back.ReadFrom(body); err != nil {
					t.Errorf("%s v%d sample %d: kmsg: %v", r.key, v, i, err)
				}
			}
		}
	}
}

// A tagged field count far beyond the bytes present, which would make kmsg
// loop for seconds, and an array length the bytes cannot back, are refused.
func TestCheckRequestShapeRefusesHugeCounts(t *testing.T) {
	// ApiVersions v3: two compact strings, then a tag count of 2^32-1.
	body := []byte{2, 'a', 2, 'b', 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}
	if err := checkRequestShape(APIApiVersions, 3, body); !errors.Is(err, errProtocol) {
		t.Fatalf("huge tag count: %v", err)
	}
	// Metadata v1: an array of 1000 topics, one present.
	body = []byte{0, 0, 0x03, 0xe8, 0, 1, 'a'}
	if err := checkRequestShape(APIMetadata, 1, body); !errors.Is(err, errProtocol) {
		t.Fatalf("array longer than its data: %v", err)
	}
	// Fetch v15: the ReplicaState tag holding a huge nested tag count.
	req := fetchReq(15, "t", 0, 0, 0, 1, 1, 1)
	req.ReplicaState.ID = 1
	body = req.AppendTo(nil)
	// The body ends with the top-level tags: count 1, tag 1, size 13,
	// then ID (4), Epoch (8) and the nested count (1 byte: 0).
	body[len(body)-1] = 0x7f
	if err := checkRequestShape(APIFetch, 15, body); !errors.Is(err, errProtocol) {
		t.Fatalf("huge nested tag count: %v", err)
	}
}
