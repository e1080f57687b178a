package callbacks_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/merlinkafka/merlin/callbacks"
)

// A Bus fans events out to handlers, each on its own goroutine, so that a
// slow handler never slows the producer that emits.
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Drop the time so the example's output is stable.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	bus := callbacks.NewBus(callbacks.BusOptions{}, callbacks.NewSlog(logger))

	bus.Emit(callbacks.Event{Kind: callbacks.WorkerUp, Topic: "clicks", Partition: 0, Broker: 1})
	bus.Emit(callbacks.Event{Kind: callbacks.DowntimeSaved, Topic: "clicks", Partition: 0, Broker: -1, Count: 12})

	// Close delivers what is queued before it returns.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.Close(ctx); err != nil {
		fmt.Println("close:", err)
	}
	// Output:
	// level=INFO msg=worker_up topic=clicks partition=0 broker=1
	// level=INFO msg=downtime_saved topic=clicks partition=0 count=12
}

// Metrics go to statsd as <prefix>.<topic>.<event>.broker<id>.<partition>.
func ExampleNewStatsd() {
	sd, err := callbacks.NewStatsd("127.0.0.1:8125", "merlin")
	if err != nil {
		fmt.Println(err)
		return
	}
	bus := callbacks.NewBus(callbacks.BusOptions{}, sd)
	// A producer emits, for example:
	bus.Emit(callbacks.Event{Kind: callbacks.Flush, Topic: "clicks", Partition: 3, Broker: 1, Count: 20})
	// which sends "merlin.clicks.flush.broker1.3:20|c".

	// Close the bus first, so the sink gets everything, then the sink.
	_ = bus.Close(context.Background())
	_ = sd.Close()
}

func ExampleHandlerFunc() {
	failed := make(chan int, 1)
	bus := callbacks.NewBus(callbacks.BusOptions{}, callbacks.HandlerFunc(func(e callbacks.Event) {
		if e.Kind == callbacks.MessagesFailed {
			failed <- e.Count
		}
	}))
	bus.Emit(callbacks.Event{Kind: callbacks.MessagesFailed, Topic: "t", Partition: 2, Broker: 1, Count: 3})
	fmt.Println(<-failed, "messages failed")
	_ = bus.Close(context.Background())
	// Output: 3 messages failed
}
