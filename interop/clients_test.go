package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The current releases of non-Go clients, pinned in interop/clients/ and
// installed by interop/clients/install into a cache outside the work tree:
// confluent-kafka 2.x (with its bundled librdkafka 2.x), kafka-python 3.x
// and aiokafka in a Python venv, kafkajs in an npm prefix. Each test runs
// one script of testdata/ (*_workflow.py, kafkajs_workflow.js) that goes
// through the client's whole workflow against the real merlin-broker binary
// and prints a JSON summary, which checkWorkflow asserts on, together with
// what the broker holds afterwards.

// clientsCacheEnv overrides the cache directory of interop/clients/install.
const clientsCacheEnv = "MERLIN_CLIENTS_CACHE"

// Records produced by each workflow, and partitions of its topics.
const (
	workflowRecords    = 400
	workflowPartitions = 4
)

// clientsCache returns the directory that interop/clients/install fills.
func clientsCache() string {
	if d := os.Getenv(clientsCacheEnv); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "merlin")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "merlin")
}

const installHint = "interop/clients/install"

// venvPython returns the installed venv's interpreter if it imports module,
// and skips or fails the test otherwise (see need).
func venvPython(t *testing.T, module string) string {
	t.Helper()
	py := filepath.Join(clientsCache(), "pyenv", "bin", "python")
	var err error
	if out, rerr := exec.Command(py, "-c", "import "+module).CombinedOutput(); rerr != nil {
		err = fmt.Errorf("%s cannot import %s: %v: %s", py, module, rerr, strings.TrimSpace(string(out)))
	}
	need(t, fmt.Sprintf("Python module %s in the venv of %s", module, installHint), err)
	return py
}

// kafkajsNode returns node and the NODE_PATH under which kafkajs is
// installed, and skips or fails the test when either is missing.
func kafkajsNode(t *testing.T) (node, nodePath string) {
	t.Helper()
	nodePath = filepath.Join(clientsCache(), "npm", "node_modules")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(nodePath, "kafkajs", "package.json"))
	}
	need(t, "kafkajs for node (the npm prefix of "+installHint+")", err)
	return node, nodePath
}

// workflowSummary is the JSON line a workflow script prints.
type workflowSummary struct {
	Client string
	Admin  struct {
		Partitions      int
		RetentionBefore string `json:"retention_before"`
		Altered         []struct{ API, Set, Read string }
		Deleted         bool
		// Error codes of creating the topic again, shrinking it to one
		// partition and deleting a topic that does not exist.
		Errors map[string]int16
	}
	Produced int
	Assigned struct {
		Consumed, Intact int
		Partitions       []int
	}
	Group struct {
		First               struct{ A, B []int32 }
		AfterLeave          []int32          `json:"after_leave"`
		ConsumedA           int              `json:"consumed_a"`
		ConsumedB           int              `json:"consumed_b"`
		Duplicates, Foreign int              // records seen twice; records of a partition not assigned to the member
		CommittedA          map[string]int64 `json:"committed_a"`
		ResumedB            map[string]int64 `json:"resumed_b"` // b's first offset per partition after a left
	}
}

// runWorkflow starts a broker, runs interpreter (with env added to the
// environment) on testdata/script with the broker's address, a topic prefix,
// the record count and the partition count, and checks the summary and the
// broker's topics, offsets and commits afterwards. alters is the number of
// alter-configs calls the client makes (AlterConfigs, and
// IncrementalAlterConfigs where the client has it).
func runWorkflow(t *testing.T, interpreter, script string, env []string, alters int) {
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, t.TempDir())
	prefix := strings.TrimSuffix(script, filepath.Ext(script))
	cmd := exec.CommandContext(ctx, interpreter, filepath.Join("testdata", script), b.addr, prefix,
		strconv.Itoa(workflowRecords), strconv.Itoa(workflowPartitions))
	// No __pycache__ in testdata/ from the scripts' import of workflow.py.
	cmd.Env = append(os.Environ(), append(env, "PYTHONDONTWRITEBYTECODE=1")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s did not finish in time; stdout:\n%s\nstderr:\n%s", script, stdout.String(), stderr.String())
		}
		t.Fatalf("%s: %v; stdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	var sum workflowSummary
	var line string
	for l := range strings.Lines(stdout.String()) {
		if strings.HasPrefix(l, `{"client"`) {
			line = l
		}
	}
	if err := json.Unmarshal([]byte(line), &sum); err != nil {
		t.Fatalf("%s printed no summary (%v); stdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	t.Logf("%s: %s", sum.Client, strings.TrimSpace(line))
	checkWorkflow(t, &sum, alters)
	checkWorkflowBroker(t, ctx, b.addr, prefix)
	if t.Failed() {
		t.Logf("%s stderr:\n%s", script, stderr.String())
	}
}

// checkWorkflow checks a script's own account of what it did.
func checkWorkflow(t *testing.T, sum *workflowSummary, alters int) {
	t.Helper()
	const n, p = workflowRecords, workflowPartitions
	perPartition, half := n/p, n/2
	all := make([]int32, p)
	for i := range all {
		all[i] = int32(i)
	}

	a := sum.Admin
	if a.Partitions != p {
		t.Errorf("admin: topic created with 2 partitions has %d after create-partitions to %d", a.Partitions, p)
	}
	if _, err := strconv.ParseInt(a.RetentionBefore, 10, 64); err != nil {
		t.Errorf("admin: retention.ms described as %q before the alter", a.RetentionBefore)
	}
	if len(a.Altered) != alters {
		t.Errorf("admin: %d alter-configs calls, want %d", len(a.Altered), alters)
	}
	for _, alt := range a.Altered {
		if alt.Read != alt.Set || alt.Set == a.RetentionBefore {
			t.Errorf("admin: %s set retention.ms to %s (from %s), then it was described as %s", alt.API, alt.Set, a.RetentionBefore, alt.Read)
		}
	}
	if !a.Deleted {
		t.Error("admin: the deleted topic was not gone")
	}
	wantErrors := map[string]int16{
		"create_existing":   kerr.TopicAlreadyExists.Code,
		"shrink_partitions": kerr.InvalidPartitions.Code,
		"delete_missing":    kerr.UnknownTopicOrPartition.Code,
	}
	if !maps.Equal(a.Errors, wantErrors) {
		t.Errorf("admin: error codes %v, want %v", a.Errors, wantErrors)
	}

	if sum.Produced != n || sum.Assigned.Consumed != n || sum.Assigned.Intact != n {
		t.Errorf("produced %d, consumed %d back, %d with key, headers and partition intact; want %d each",
			sum.Produced, sum.Assigned.Consumed, sum.Assigned.Intact, n)
	}
	if !slices.Equal(sum.Assigned.Partitions, slices.Repeat([]int{perPartition}, p)) {
		t.Errorf("consumed %v records per partition, want %d each", sum.Assigned.Partitions, perPartition)
	}

	g := sum.Group
	first := slices.Concat(g.First.A, g.First.B)
	slices.Sort(first)
	if len(g.First.A) == 0 || len(g.First.B) == 0 || !slices.Equal(first, all) {
		t.Errorf("group: members got %v and %v, want the %d partitions shared between them", g.First.A, g.First.B, p)
	}
	if !slices.Equal(g.AfterLeave, all) {
		t.Errorf("group: after a left, b has %v, want all of %v", g.AfterLeave, all)
	}
	if g.Duplicates != 0 || g.Foreign != 0 {
		t.Errorf("group: %d records consumed twice, %d from a partition not assigned to the member", g.Duplicates, g.Foreign)
	}
	if want := len(g.First.A) * half / p; g.ConsumedA != want || g.ConsumedA+g.ConsumedB != n {
		t.Errorf("group: a consumed %d (want %d, the first half's records of its partitions), b %d; want %d in all",
			g.ConsumedA, want, g.ConsumedB, n)
	}
	for _, part := range g.First.A {
		if c := g.CommittedA[strconv.Itoa(int(part))]; c != int64(half/p) {
			t.Errorf("group: a committed %d on partition %d, want %d", c, part, half/p)
		}
	}
	for _, part := range all {
		r, ok := g.ResumedB[strconv.Itoa(int(part))]
		if !ok || r != int64(half/p) {
			t.Errorf("group: after a left, b's first record on partition %d was at %d (seen: %v), want %d, the commit", part, r, ok, half/p)
		}
	}
}

// checkWorkflowBroker checks what the broker holds after a workflow: the
// topics, their end offsets and the group's commits.
func checkWorkflowBroker(t *testing.T, ctx context.Context, addr, prefix string) {
	t.Helper()
	const n, p = workflowRecords, workflowPartitions
	counts, _ := metadataTopics(t, ctx, kgoClient(t, addr))
	if _, ok := counts[prefix+"-admin"]; ok {
		t.Errorf("topic %s-admin still exists after delete", prefix)
	}
	for _, topic := range []string{prefix + "-data", prefix + "-group"} {
		if counts[topic] != p {
			t.Errorf("topic %s has %d partitions, want %d", topic, counts[topic], p)
			continue
		}
		for part, end := range endOffsets(t, ctx, addr, topic, p) {
			if end != n/p {
				t.Errorf("%s/%d: end offset %d, want %d", topic, part, end, n/p)
			}
		}
	}
	offs, err := kadm.NewClient(kgoClient(t, addr)).FetchOffsets(ctx, prefix+"-grp")
	if err != nil {
		t.Fatal(err)
	}
	for part := range int32(p) {
		o, ok := offs.Lookup(prefix+"-group", part)
		switch {
		case !ok:
			t.Errorf("group %s-grp: no commit on partition %d, want %d", prefix, part, n/p)
		case o.Err != nil || o.At != n/p:
			t.Errorf("group %s-grp: commit on partition %d is %d (%v), want %d", prefix, part, o.At, o.Err, n/p)
		}
	}
}

// confluent-kafka 2.x (librdkafka 2.x): AdminClient create topic, create
// partitions, the errors of creating it again, shrinking it and deleting a
// missing topic, describe configs, AlterConfigs and IncrementalAlterConfigs of
// retention.ms, delete topic; idempotent produce with keys and headers;
// consume by assignment; two members of a group (classic protocol) share the
// partitions, one leaves and the other resumes at its commits.
func TestConfluentKafka2(t *testing.T) {
	py := venvPython(t, "confluent_kafka")
	runWorkflow(t, py, "confluent2_workflow.py", nil, 2)
}

// kafka-python 3.x: the same workflow with KafkaAdminClient, KafkaProducer
// and KafkaConsumer (the group's members each polled by a thread).
func TestKafkaPython3(t *testing.T) {
	py := venvPython(t, "kafka")
	runWorkflow(t, py, "kafkapython3_workflow.py", nil, 2)
}

// aiokafka: the same workflow with AIOKafkaAdminClient (AlterConfigs only),
// AIOKafkaProducer and AIOKafkaConsumer.
func TestAIOKafka(t *testing.T) {
	py := venvPython(t, "aiokafka")
	runWorkflow(t, py, "aiokafka_workflow.py", nil, 1)
}

// kafkajs: the same workflow with its admin (AlterConfigs only), an
// idempotent producer and consumers; kafkajs has no manual assignment, so
// the records come back through a consumer alone in its own group.
func TestKafkaJS(t *testing.T) {
	node, nodePath := kafkajsNode(t)
	runWorkflow(t, node, "kafkajs_workflow.js", []string{"NODE_PATH=" + nodePath}, 1)
}
