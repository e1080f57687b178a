// Package cli is what merlin's commands share: flags parsed with go-arg the
// same way in each, and the same exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alexflint/go-arg"
)

// Exit codes of every merlin command.
const (
	ExitOK    = 0 // done, or --help
	ExitError = 1 // it ran and failed
	ExitUsage = 2 // bad flags: nothing was done
)

// Parser is a command's flag parser.
type Parser struct {
	p       *arg.Parser
	program string
	stderr  io.Writer
}

// Parse parses argv into dest, a go-arg flag struct, for program. When the
// command should stop at once it returns done with the exit code: --help
// was printed to stdout (ExitOK), or a flag error and the usage went to
// stderr (ExitUsage). Environment variables are not read.
func Parse(program string, dest any, argv []string, stdout, stderr io.Writer) (p *Parser, code int, done bool) {
	ap, err := arg.NewParser(arg.Config{Program: program, IgnoreEnv: true, Out: stderr, Exit: func(int) {}}, dest)
	if err != nil {
		// A bug in the flag struct, not the user's input.
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return nil, ExitError, true
	}
	p = &Parser{p: ap, program: program, stderr: stderr}
	if err := ap.Parse(argv); err != nil {
		if errors.Is(err, arg.ErrHelp) {
			ap.WriteHelp(stdout)
			return p, ExitOK, true
		}
		return p, p.Usagef("%v", err), true
	}
	return p, ExitOK, false
}

// Usagef reports a flag problem found after parsing (a value out of range,
// flags that do not go together), then the usage, and returns ExitUsage.
func (p *Parser) Usagef(format string, args ...any) int {
	fmt.Fprintf(p.stderr, "%s: "+format+"\n", append([]any{p.program}, args...)...)
	p.p.WriteUsage(p.stderr)
	return ExitUsage
}

// Main runs a command: run gets a context that ends on SIGINT or SIGTERM,
// the arguments and the standard streams, and the process exits with the
// code it returns. After the first signal the default action is back, so a
// second one ends a shutdown that takes too long.
func Main(run func(ctx context.Context, argv []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// List splits each of values at commas and returns the non-empty items,
// trimmed, in order: a repeatable flag that also takes comma-separated
// lists, such as --brokers a:9092,b:9092 --brokers c:9092.
func List(values ...string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
