// Package errs holds the error kinds every merlin package shares, so that
// errors.Is matches them whichever package returned them: each public
// package exports its own ErrClosed and ErrConfig (with its own message),
// and every ErrClosed matches every other, as every ErrConfig does.
package errs

import "fmt"

type kind uint8

const (
	closed kind = iota + 1
	config
)

// sentinel is an exported error variable of one kind. Two sentinels of the
// same kind match each other under errors.Is.
type sentinel struct {
	kind kind
	msg  string
}

func (e *sentinel) Error() string { return e.msg }

func (e *sentinel) Is(target error) bool {
	t, ok := target.(*sentinel)
	return ok && t.kind == e.kind
}

// Closed returns a package's ErrClosed, with message msg ("producer:
// closed"): it matches every other package's ErrClosed.
func Closed(msg string) error { return &sentinel{closed, msg} }

// Config returns a package's ErrConfig, with message msg ("producer:
// invalid config"): it matches every other package's ErrConfig, and every
// *ConfigError matches it.
func Config(msg string) error { return &sentinel{config, msg} }

// ConfigError is an invalid configuration: Field names the field (or
// flag, or option) as the user wrote it, "Topics[clicks].Acks"; Reason
// says what is wrong with it. It matches every package's ErrConfig under
// errors.Is, and unwraps to Err when set (for example producer.ErrHook).
type ConfigError struct {
	Field  string
	Reason string
	Err    error

	pkg string // "producer", "broker": the message's prefix
}

// NewConfig returns a *ConfigError of package pkg, its Reason formatted.
func NewConfig(pkg, field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...), pkg: pkg}
}

func (e *ConfigError) Error() string {
	msg := "invalid config"
	if e.pkg != "" {
		msg = e.pkg + ": " + msg
	}
	if e.Field != "" {
		msg += ": " + e.Field
	}
	switch {
	case e.Reason != "":
		msg += ": " + e.Reason
	case e.Err != nil:
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is an ErrConfig of any package.
func (e *ConfigError) Is(target error) bool {
	t, ok := target.(*sentinel)
	return ok && t.kind == config
}

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// WrapConfig returns a *ConfigError of package pkg for field, saying err
// and unwrapping to it.
func WrapConfig(pkg, field string, err error) *ConfigError {
	return &ConfigError{Field: field, Err: err, pkg: pkg}
}
