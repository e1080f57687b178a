package mockbroker

import (
	"slices"
	"testing"
)

func TestBootstrap(t *testing.T) {
	addrs, stop, err := Bootstrap("a:1,b:2")
	if err != nil || !slices.Equal(addrs, []string{"a:1", "b:2"}) {
		t.Fatalf("Bootstrap(list) = %v, %v", addrs, err)
	}
	stop()

	addrs, stop, err = Bootstrap("", Brokers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if len(addrs) != 2 || addrs[0] == "" {
		t.Fatalf("Bootstrap(\"\") started %v", addrs)
	}
}
