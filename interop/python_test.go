package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pythonEnv names another interpreter than /usr/bin/python3, whose modules
// Debian's python3-confluent-kafka and python3-kafka install.
const pythonEnv = "MERLIN_PYTHON"

// python returns the interpreter to use if it can import module, and skips
// or fails the test otherwise (see need).
func python(t *testing.T, module, debianPackage string) string {
	t.Helper()
	py := os.Getenv(pythonEnv)
	if py == "" {
		py = "/usr/bin/python3"
	}
	var err error
	if _, serr := os.Stat(py); serr != nil {
		err = serr
	} else if out, rerr := exec.Command(py, "-c", "import "+module).CombinedOutput(); rerr != nil {
		err = fmt.Errorf("%s cannot import %s: %v: %s", py, module, rerr, strings.TrimSpace(string(out)))
	}
	need(t, fmt.Sprintf("Python module %s (Debian package %s)", module, debianPackage), err)
	return py
}

// runScript runs testdata/script with the broker's address, a topic and a
// record count, and checks its JSON summary.
func runScript(t *testing.T, py, script, addr, topic string, n, partitions int) {
	t.Helper()
	ctx := testContext(t, 3*time.Minute)
	checkSummary(t, ctx, script, exec.CommandContext(ctx, py, "testdata/"+script, addr, topic, fmt.Sprint(n)), n, partitions)
}

// checkSummary runs cmd (made with ctx), a test program that prints a JSON
// summary as its last line, and checks that it produced and consumed n
// records over partitions partitions.
func checkSummary(t *testing.T, ctx context.Context, name string, cmd *exec.Cmd, n, partitions int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s did not finish in time; stderr:\n%s", name, stderr.String())
		}
		t.Fatalf("%s: %v; stderr:\n%s", name, err, stderr.String())
	}
	var sum struct{ Produced, Consumed, Partitions int }
	last := stdout.String()
	if i := strings.LastIndexByte(strings.TrimSpace(last), '\n'); i >= 0 {
		last = last[i+1:]
	}
	if err := json.Unmarshal([]byte(last), &sum); err != nil || sum.Produced != n || sum.Consumed != n || sum.Partitions != partitions {
		t.Fatalf("%s: summary %q (%v), want %d produced and consumed over %d partitions; stderr:\n%s",
			name, stdout.String(), err, n, partitions, stderr.String())
	}
}

// runPython runs testdata/script with module's interpreter against a new
// broker on disk, on a new topic of 3 partitions, for n records, and checks
// its summary.
func runPython(t *testing.T, module, debianPackage, script, topic string, n int) {
	t.Helper()
	py := python(t, module, debianPackage)
	ctx := testContext(t, time.Minute)
	b := startBroker(t, t.TempDir())
	createTopic(t, ctx, b.addr, topic, 3)
	runScript(t, py, script, b.addr, topic, n, 3)
}

// confluent-kafka (librdkafka): idempotent producer, acks=all, lz4; then a
// consumer in assign mode gets every record back, keys and headers intact.
func TestConfluentKafkaPython(t *testing.T) {
	runPython(t, "confluent_kafka", "python3-confluent-kafka", "confluent_roundtrip.py", "confluent", 5000)
}

// kafka-python: producer with acks=all and gzip, consumer in assign mode.
func TestKafkaPython(t *testing.T) {
	runPython(t, "kafka", "python3-kafka", "kafkapython_roundtrip.py", "kafkapython", 5000)
}
