// Package mocktesting shows how to test code that produces to Kafka with
// mockbroker: a cluster of fake brokers inside the test, faults on demand,
// and a look at exactly what arrived. Run it with
//
//	go test ./examples/mocktesting
package mocktesting

import (
	"context"
	"fmt"

	"github.com/merlinkafka/merlin/producer"
)

// Checkout is the code under test: it records an order as a Kafka message
// keyed by customer, so that one customer's orders stay in order.
type Checkout struct{ P *producer.Producer }

// Order publishes one order and returns its offset.
func (c Checkout) Order(ctx context.Context, customer string, amount int) (int64, error) {
	res, err := c.P.ProduceSync(ctx, "orders", producer.Message{
		Key:   []byte(customer),
		Value: []byte(fmt.Sprintf(`{"customer":%q,"amount":%d}`, customer, amount)),
	})
	if err != nil {
		return -1, err
	}
	return res[0].Offset, nil
}
