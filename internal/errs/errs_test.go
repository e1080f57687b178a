package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindsMatchAcrossPackages(t *testing.T) {
	closedA, closedB := Closed("a: closed"), Closed("b: closed")
	configA, configB := Config("a: invalid config"), Config("b: invalid config")
	for _, c := range []struct {
		err, target error
		want        bool
	}{
		{closedA, closedB, true},
		{fmt.Errorf("wrapped: %w", closedB), closedA, true},
		{configA, configB, true},
		{closedA, configA, false},
		{configA, closedA, false},
		{NewConfig("a", "F", "bad"), configB, true},
		{fmt.Errorf("x: %w", NewConfig("a", "F", "bad")), configA, true},
		{NewConfig("a", "F", "bad"), closedA, false},
		{errors.New("a: closed"), closedA, false},
	} {
		if got := errors.Is(c.err, c.target); got != c.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", c.err, c.target, got, c.want)
		}
	}
	if closedA.Error() != "a: closed" {
		t.Errorf("message %q", closedA)
	}
}

func TestConfigError(t *testing.T) {
	inner := errors.New("inner")
	for _, c := range []struct {
		err  *ConfigError
		want string
	}{
		{NewConfig("producer", "Acks", "%d is not an Acks", 7), "producer: invalid config: Acks: 7 is not an Acks"},
		{&ConfigError{Field: "X", Err: inner, pkg: "broker"}, "broker: invalid config: X: inner"},
		{&ConfigError{Field: "X", Reason: "why"}, "invalid config: X: why"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
	if err := (&ConfigError{Field: "X", Err: inner}); !errors.Is(err, inner) {
		t.Error("ConfigError does not unwrap to Err")
	}
	var ce *ConfigError
	if !errors.As(fmt.Errorf("w: %w", NewConfig("p", "F", "r")), &ce) || ce.Field != "F" || ce.Reason != "r" {
		t.Errorf("errors.As: %+v", ce)
	}
}
