package picker

import (
	"errors"
	"fmt"
	"testing"
)

func TestByName(t *testing.T) {
	cases := map[string]string{
		"random":               "random",
		" Random ":             "random",
		"sticky":               "sticky",
		"sticky_round_robin":   "sticky",
		"sticky:1000":          "sticky",
		"sticky:25":            "sticky:25",
		"STICKY_ROUND_ROBIN:3": "sticky:3",
		"strict":               "strict",
		"strict_round_robin":   "strict",
		"keyed":                "keyed",
		"keyed+sticky":         "keyed",
		"keyed+random":         "keyed+random",
		"keyed+strict":         "keyed+strict",
		"keyed+sticky:5":       "keyed+sticky:5",
	}
	for name, want := range cases {
		s, err := ByName(name)
		if err != nil {
			t.Errorf("ByName(%q): %v", name, err)
			continue
		}
		if got := fmt.Sprint(s); got != want {
			t.Errorf("ByName(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestByNameErrors(t *testing.T) {
	for _, name := range []string{"", "ketama", "sticky:0", "sticky:-3", "sticky:x", "random:3", "strict:2", "keyed:1", "keyed+keyed", "keyed+", "func", "custom"} {
		if s, err := ByName(name); !errors.Is(err, ErrUnknownStrategy) {
			t.Errorf("ByName(%q) = %v, %v; want ErrUnknownStrategy", name, s, err)
		}
	}
}

// TestStringRoundTrips checks that every strategy's String is a name ByName
// maps back to the same strategy.
func TestStringRoundTrips(t *testing.T) {
	for _, s := range []Strategy{Random(), StickyRoundRobin(0), StickyRoundRobin(1), StickyRoundRobin(77),
		StrictRoundRobin(), Keyed(), KeyedWith(Random()), KeyedWith(StickyRoundRobin(9))} {
		name := fmt.Sprint(s)
		back, err := ByName(name)
		if err != nil {
			t.Errorf("ByName(%q): %v", name, err)
			continue
		}
		if got := fmt.Sprint(back); got != name {
			t.Errorf("ByName(%q).String() = %q", name, got)
		}
	}
	if got := fmt.Sprint(Func(func(string, []byte, int32) int32 { return 0 })); got != "func" {
		t.Errorf("Func strategy is named %q, want func", got)
	}
	if got := fmt.Sprint(KeyedWith(strategyFunc(func(string) Picker { return nil }))); got != "keyed+custom" {
		t.Errorf("KeyedWith a custom strategy is named %q, want keyed+custom", got)
	}
}

// strategyFunc is a Strategy without a String method, for the test above.
type strategyFunc func(topic string) Picker

func (f strategyFunc) New(topic string) Picker { return f(topic) }
