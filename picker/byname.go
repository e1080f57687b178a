package picker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownStrategy is returned, wrapped with the name, by ByName for a name
// it does not know.
var ErrUnknownStrategy = errors.New("picker: unknown strategy")

// ByName returns the strategy a configuration file or flag names. Names are
// case-insensitive and surrounding spaces are ignored:
//
//	random                               Random()
//	sticky, sticky_round_robin           StickyRoundRobin(DefaultStickyRun)
//	sticky:N, sticky_round_robin:N       StickyRoundRobin(N), N >= 1
//	strict, strict_round_robin           StrictRoundRobin()
//	keyed                                Keyed()
//	keyed+S                              KeyedWith(ByName(S)), S one of the above but keyed
//
// The long names (sticky_round_robin, strict_round_robin) are aliases of the
// short ones.
// The String method of every strategy this package makes, except Func's,
// returns a name that ByName maps back to an equivalent strategy.
func ByName(name string) (Strategy, error) {
	s := strings.ToLower(strings.TrimSpace(name))
	if rest, ok := strings.CutPrefix(s, "keyed+"); ok {
		if strings.HasPrefix(rest, "keyed") {
			return nil, fmt.Errorf("%w: %q: keyed cannot be nested", ErrUnknownStrategy, name)
		}
		unkeyed, err := ByName(rest)
		if err != nil {
			return nil, err
		}
		return KeyedWith(unkeyed), nil
	}
	base, arg, hasArg := strings.Cut(s, ":")
	switch base {
	case "random", "strict", "strict_round_robin", "keyed":
		if hasArg {
			return nil, fmt.Errorf("%w: %q: %s takes no argument", ErrUnknownStrategy, name, base)
		}
	}
	switch base {
	case "random":
		return Random(), nil
	case "strict", "strict_round_robin":
		return StrictRoundRobin(), nil
	case "keyed":
		return Keyed(), nil
	case "sticky", "sticky_round_robin":
		if !hasArg {
			return StickyRoundRobin(DefaultStickyRun), nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: %q: the run length must be a positive integer", ErrUnknownStrategy, name)
		}
		return StickyRoundRobin(n), nil
	case "func", "custom":
		return nil, fmt.Errorf("%w: %q: a custom strategy is made in code with picker.Func", ErrUnknownStrategy, name)
	}
	return nil, fmt.Errorf("%w: %q (want random, sticky[:N], strict, keyed or keyed+<strategy>)", ErrUnknownStrategy, name)
}
