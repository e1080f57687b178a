package picker_test

import (
	"fmt"

	"github.com/merlinkafka/merlin/picker"
)

// Keyed messages go where the Java client and franz-go would put them;
// unkeyed ones stick to one partition for 1000 messages.
func Example() {
	p := picker.Keyed().New("clicks")
	const partitions = 12
	fmt.Println(p.Pick([]byte("user-42"), partitions, nil))
	fmt.Println(p.Pick([]byte("user-42"), partitions, nil))
	fmt.Println(picker.KeyPartition([]byte("user-42"), partitions))
	// Output:
	// 4
	// 4
	// 4
}

func ExampleStrictRoundRobin() {
	p := picker.StrictRoundRobin().New("jobs")
	// Partition 2 is down: unkeyed messages skip it.
	up := picker.AvailabilityFunc(func(partition int32) bool { return partition != 2 })
	for range 6 {
		fmt.Print(p.Pick(nil, 4, up), " ")
	}
	fmt.Println()
	// Output: 0 1 3 0 1 3
}

func ExampleByName() {
	s, err := picker.ByName("sticky:500")
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	_, err = picker.ByName("ketama")
	fmt.Println(err)
	// Output:
	// sticky:500
	// picker: unknown strategy: "ketama" (want random, sticky[:N], strict, keyed or keyed+<strategy>)
}

func ExampleFunc() {
	// Route by the first byte of the key; the result is reduced modulo the
	// partition count.
	s := picker.Func(func(topic string, key []byte, n int32) int32 {
		if len(key) == 0 {
			return 0
		}
		return int32(key[0])
	})
	p := s.New("events")
	fmt.Println(p.Pick([]byte("a"), 10, nil)) // 'a' is 97
	// Output: 7
}
