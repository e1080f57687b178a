package producer

import (
	"testing"

	"github.com/rcrowley/go-metrics"
)

// Every kind of metric sarama registers comes back as its no-op form, so
// that sarama's type assertions hold and nothing is recorded.
func TestNilRegistryMetrics(t *testing.T) {
	r := nilRegistry{}
	if _, ok := r.GetOrRegister("m", metrics.NewMeter).(metrics.NilMeter); !ok {
		t.Error("meter constructor: not a NilMeter")
	}
	if _, ok := r.GetOrRegister("c", metrics.NewCounter).(metrics.NilCounter); !ok {
		t.Error("counter constructor: not a NilCounter")
	}
	h := r.GetOrRegister("h", func() metrics.Histogram { return metrics.NewHistogram(metrics.NewUniformSample(10)) })
	if _, ok := h.(metrics.NilHistogram); !ok {
		t.Errorf("histogram constructor: %T, not a NilHistogram", h)
	}
	hist := metrics.GetOrRegisterHistogram("h2", r, metrics.NewUniformSample(10))
	hist.Update(5)
	if hist.Count() != 0 {
		t.Errorf("a no-op histogram counted %d", hist.Count())
	}
	if got := r.GetOrRegister("x", func() int { return 7 }); got != 7 {
		t.Errorf("another constructor gave %v, want its value", got)
	}
}
