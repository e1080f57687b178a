package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/syncbuf"
)

// interopEnv makes a missing tool a failure instead of a skip.
const interopEnv = "MERLIN_INTEROP"

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// brokerBinary builds cmd/merlin-broker once per test run and returns its
// path.
func brokerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "merlin-interop-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "merlin-broker")
		args := []string{"build", "-o", buildBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/merlinkafka/merlin/cmd/merlin-broker")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// need skips the test when a tool is missing (err != nil), or fails it when
// MERLIN_INTEROP=1.
func need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(interopEnv) == "1" {
		t.Fatalf("%s=1 and %s is missing: %v", interopEnv, what, err)
	}
	t.Skipf("skipped: %s is missing (%v); install it, or set %s=1 to make this a failure", what, err, interopEnv)
}

// brokerProc is a merlin-broker child process, and the process that
// restarts it on the same address and directory.
type brokerProc struct {
	t    testing.TB
	dir  string
	args []string // without --listen and --dir
	addr string
	cur  *procRun
}

// procRun is one run of the process.
type procRun struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	exited chan struct{}
	err    error // of Wait, set before exited is closed
}

// startBroker starts merlin-broker on a free loopback port with its data in
// dir, and waits until it listens. The process is killed when the test
// ends, if still running.
func startBroker(t testing.TB, dir string, args ...string) *brokerProc {
	t.Helper()
	p := &brokerProc{t: t, dir: dir, args: args, addr: "127.0.0.1:0"}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *brokerProc) start() error {
	p.t.Helper()
	argv := append([]string{"--listen", p.addr, "--dir", p.dir}, p.args...)
	cmd := exec.Command(brokerBinary(p.t), argv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	r := &procRun{cmd: cmd, stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p.t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-r.exited
		}
		if strings.Contains(r.stderr.String(), "WARNING: DATA RACE") {
			p.t.Errorf("the broker reported a data race:\n%s", r.stderr)
		} else if p.t.Failed() {
			p.t.Logf("broker stderr (%s):\n%s", strings.Join(argv, " "), r.stderr)
		}
	})
	type first struct {
		line string
		err  error
	}
	firstLine := make(chan first, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		firstLine <- first{line, err}
		_, _ = io.Copy(io.Discard, stdout) // drained before Wait
		r.err = cmd.Wait()
		close(r.exited)
	}()
	f := <-firstLine
	addr, ok := strings.CutPrefix(strings.TrimSpace(f.line), "merlin-broker listening on ")
	if !ok {
		<-r.exited
		return fmt.Errorf("merlin-broker %s did not start: %v; first line %q, exit %v; stderr:\n%s",
			strings.Join(argv, " "), f.err, f.line, r.err, r.stderr)
	}
	p.addr, p.cur = addr, r
	return nil
}

// stderr returns what the current run wrote to stderr so far.
func (p *brokerProc) stderr() string { return p.cur.stderr.String() }

// waitStderr waits until the current run's stderr matches re: what the
// process wrote reaches the buffer through a pipe, after the process wrote
// it.
func (p *brokerProc) waitStderr(ctx context.Context, re *regexp.Regexp) bool {
	for !re.MatchString(p.stderr()) {
		select {
		case <-ctx.Done():
			return false
		case <-p.cur.exited:
			return re.MatchString(p.stderr())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// kill sends SIGKILL and waits for the process to die.
func (p *brokerProc) kill() {
	p.t.Helper()
	_ = p.cur.cmd.Process.Signal(syscall.SIGKILL)
	<-p.cur.exited
}

// stop sends SIGTERM and checks the clean exit.
func (p *brokerProc) stop() {
	p.t.Helper()
	_ = p.cur.cmd.Process.Signal(syscall.SIGTERM)
	<-p.cur.exited
	if p.cur.err != nil {
		p.t.Fatalf("broker exit after SIGTERM: %v; stderr:\n%s", p.cur.err, p.cur.stderr)
	}
}

// restart starts the broker again on the same address and directory, with
// extra flags added to the first start's.
func (p *brokerProc) restart(extra ...string) {
	p.t.Helper()
	select {
	case <-p.cur.exited:
	default:
		p.t.Fatal("restart of a running broker")
	}
	p.args = append(slices.Clone(p.args), extra...)
	if err := p.start(); err != nil {
		p.t.Fatal(err)
	}
}

// failToStart runs merlin-broker with argv, expecting it to exit with a
// non-zero status, and returns the status and stderr.
func failToStart(t testing.TB, argv ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, brokerBinary(t), argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("merlin-broker %v: %v, want a non-zero exit (stdout %q, stderr %q)", argv, err, stdout.String(), stderr.String())
	}
	return ee.ExitCode(), stderr.String()
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
