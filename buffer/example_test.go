package buffer_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/merlinkafka/merlin/buffer"
)

// A budget of 2 messages and 1 KiB under Reject: a call that does not fit
// is refused at once and takes nothing; released room can be taken again.
func ExampleBudget() {
	ctx := context.Background()
	b := buffer.NewBudget(buffer.Limits{Messages: 2, Bytes: 1024, Policy: buffer.Reject})

	fmt.Println(b.Reserve(ctx, 2, 600)) // two messages of 300 bytes
	err := b.Reserve(ctx, 1, 100)
	fmt.Println(err, errors.Is(err, buffer.ErrFull))

	b.Release(1, 300) // one was delivered
	fmt.Println(b.Reserve(ctx, 1, 100))
	fmt.Println(b.Held())

	b.Release(2, 400)
	// Empty, a call larger than the whole budget still goes through, alone.
	fmt.Println(b.Reserve(ctx, 5, 5000))
	fmt.Println(b.Reserve(ctx, 1, 1)) // nothing beside it

	b.Release(5, 5000)
	fmt.Println(b.WaitEmpty(ctx, nil)) // empty: at once
	// Output:
	// <nil>
	// buffer: full true
	// <nil>
	// 2 400
	// <nil>
	// buffer: full
	// <nil>
}
