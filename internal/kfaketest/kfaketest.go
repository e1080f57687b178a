// Package kfaketest has helpers for tests that run against franz-go's
// kfake. It is imported by tests only (kfake is a test peer, never a
// dependency of merlin's libraries or commands).
package kfaketest

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RefuseProduce makes c answer every produce request with code for each of
// its partitions while refuse returns true, and serve it normally when it
// returns false. refuse is called once per request, one call at a time.
func RefuseProduce(c *kfake.Cluster, code int16, refuse func() bool) {
	var mu sync.Mutex
	c.ControlKey(0, func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if !refuse() {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// RefuseNextProduces refuses the next n produce requests with code and
// returns a counter of the produce requests seen.
func RefuseNextProduces(c *kfake.Cluster, n int, code int16) *Counter {
	var seen Counter
	RefuseProduce(c, code, func() bool { return seen.add() <= n })
	return &seen
}

// Counter counts produce requests; safe for concurrent use.
type Counter struct {
	mu sync.Mutex
	n  int
}

func (c *Counter) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// Load returns the count.
func (c *Counter) Load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
