package cli

import (
	"bytes"
	"strings"
	"testing"
)

type flags struct {
	Name  string `arg:"--name" default:"x" help:"a name"`
	Count int    `arg:"--count" help:"how many"`
}

func TestParse(t *testing.T) {
	var out, errOut bytes.Buffer
	var f flags
	p, code, done := Parse("prog", &f, []string{"--count", "3"}, &out, &errOut)
	if done || code != ExitOK || f.Count != 3 || f.Name != "x" {
		t.Fatalf("done %v code %d flags %+v", done, code, f)
	}
	if got := p.Usagef("--count: %d is too many", 3); got != ExitUsage || !strings.Contains(errOut.String(), "prog: --count: 3 is too many") || !strings.Contains(errOut.String(), "Usage: prog") {
		t.Fatalf("usagef %d %q", got, errOut.String())
	}

	out.Reset()
	errOut.Reset()
	if _, code, done := Parse("prog", &flags{}, []string{"--help"}, &out, &errOut); !done || code != ExitOK || !strings.Contains(out.String(), "how many") {
		t.Fatalf("help: %v %d %q", done, code, out.String())
	}
	errOut.Reset()
	if _, code, done := Parse("prog", &flags{}, []string{"--count", "x"}, &out, &errOut); !done || code != ExitUsage || !strings.Contains(errOut.String(), "prog: ") {
		t.Fatalf("bad value: %v %d %q", done, code, errOut.String())
	}
	if _, code, done := Parse("prog", &struct{ X chan int }{}, nil, &out, &errOut); !done || code != ExitError {
		t.Fatalf("bad struct: %v %d", done, code)
	}
}

func TestList(t *testing.T) {
	got := List("a:1, b:2,,", " ", "c:3")
	if strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Fatalf("List = %q", got)
	}
	if List() != nil || List("", " , ") != nil {
		t.Fatal("List of nothing is not nil")
	}
}
