package producer

import "runtime"

// Delivery reports (OnDelivery callbacks, Config.OnDelivery, the delivery
// hooks, ProduceSync results) and the room they give back are completed off
// the workers, by reporters: a worker hands each settled batch to its
// reporter and goes back to sending, so a slow callback never slows a
// partition's sending.
//
// A worker always uses the same reporter (there are GOMAXPROCS of them,
// shared by the workers), which reports in the order it is given: in order
// per partition. A slow callback delays the reports of the partitions that
// share its reporter, nothing else. How far reports may fall behind is
// bounded by the buffer: a message's room (MaxBufferedMessages,
// MaxBufferedBytes) is given back only once it is reported, so produce
// calls block (or fail, as BufferFull says) when callbacks fall that far
// behind.
//
// A batch without user code to run (only ProduceSync waiters, or nothing)
// whose worker has no report outstanding is reported on the worker at
// once: that keeps order, and saves ProduceSync a handoff.
type reporter struct {
	q runq[report]
}

// report is a settled batch whose outcome is still to be told.
type report struct {
	b    *batch
	base int64
	err  error
}

func newReporters(p *Producer) []*reporter {
	rs := make([]*reporter, max(1, runtime.GOMAXPROCS(0)))
	for i := range rs {
		rs[i] = &reporter{q: newRunq(&p.bg, reportAll)}
	}
	return rs
}

func (r *reporter) push(x report) { r.q.push(x) }

func reportAll(take []report) {
	for i := range take {
		x := &take[i]
		w := x.b.owner
		w.report(x.b, x.base, x.err)
		if w.reporting.Add(-1) == 0 {
			w.signal() // Close may be waiting for the worker to be empty
		}
	}
}
