package producer

import (
	"reflect"

	"github.com/rcrowley/go-metrics"
)

// nilRegistry is the metrics registry merlin gives sarama: every metric
// sarama asks for is a no-op. sarama's default registry updates several
// sampled histograms under locks on every request, which merlin does not
// read (Producer.Stats has its own counters); profiles of the synchronous
// workloads showed it. Setting metrics.UseNilMetrics would do the same for
// the whole process, other sarama users included.
type nilRegistry struct{}

func (nilRegistry) Each(func(string, any))            {}
func (nilRegistry) Get(string) any                    { return nil }
func (nilRegistry) GetAll() map[string]map[string]any { return nil }
func (nilRegistry) Register(string, any) error        { return nil }
func (nilRegistry) RunHealthchecks()                  {}
func (nilRegistry) Unregister(string)                 {}
func (nilRegistry) UnregisterAll()                    {}
func (nilRegistry) GetOrRegister(_ string, m any) any { return nilMetric(m) }

// nilMetric is the no-op form of the metric m, or of what the constructor m
// would make.
func nilMetric(m any) any {
	switch m.(type) {
	case func() metrics.Meter, metrics.Meter:
		return metrics.NilMeter{}
	case func() metrics.Counter, metrics.Counter:
		return metrics.NilCounter{}
	case func() metrics.Histogram, metrics.Histogram:
		return metrics.NilHistogram{}
	case func() metrics.Timer, metrics.Timer:
		return metrics.NilTimer{}
	case func() metrics.Gauge, metrics.Gauge:
		return metrics.NilGauge{}
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Func && v.Type().NumIn() == 0 && v.Type().NumOut() == 1 {
		return v.Call(nil)[0].Interface()
	}
	return m
}
