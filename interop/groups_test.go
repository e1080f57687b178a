package interop

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
)

// kcat -G (librdkafka's balanced consumer) consumes a topic in a group and
// commits on exit; after kill -9 of merlin-broker and a restart on the same
// directory, a second kcat -G of the same group gets exactly the records
// produced since, and the committed offsets are the partitions' ends.
func TestKcatBalancedConsumerSurvivesKill(t *testing.T) {
	bin := kcatPath(t)
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, t.TempDir())
	createTopic(t, ctx, b.addr, "kcat-group", 3)
	lines := func(from, to int) []byte {
		var sb strings.Builder
		for i := from; i < to; i++ {
			sb.WriteString(strconv.Itoa(i) + "\n")
		}
		return []byte(sb.String())
	}
	consume := func(n int) map[int]bool {
		t.Helper()
		out := kcat(t, ctx, bin, nil, "-b", b.addr, "-G", "kcat-grp", "kcat-group", "-c", strconv.Itoa(n), "-q",
			"-X", "auto.offset.reset=earliest", "-f", "%s\n")
		got := map[int]bool{}
		for _, l := range strings.Fields(string(out)) {
			i, err := strconv.Atoi(l)
			if err != nil || got[i] {
				t.Fatalf("kcat -G output line %q (duplicate or not produced)", l)
			}
			got[i] = true
		}
		return got
	}
	kcat(t, ctx, bin, lines(0, 300), "-b", b.addr, "-P", "-t", "kcat-group")
	first := consume(300)
	if len(first) != 300 {
		t.Fatalf("first kcat -G consumed %d records", len(first))
	}

	b.kill()
	b.restart()
	kcat(t, ctx, bin, lines(300, 400), "-b", b.addr, "-P", "-t", "kcat-group")
	second := consume(100)
	for i := range second {
		if i < 300 {
			t.Fatalf("after kill -9 and restart, kcat -G consumed %d again (committed before the kill)", i)
		}
	}
	if len(second) != 100 {
		t.Fatalf("second kcat -G consumed %d records", len(second))
	}

	adm := kadm.NewClient(kgoClient(t, b.addr))
	offs, err := adm.FetchOffsets(ctx, "kcat-grp")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for p := range int32(3) {
		o, ok := offs.Lookup("kcat-group", p)
		if !ok || o.Err != nil {
			t.Fatalf("partition %d: no commit (%+v)", p, o)
		}
		if end := listOffsets(t, ctx, kgoClient(t, b.addr), "kcat-group", p, -1); o.At != end {
			t.Errorf("partition %d: committed %d, end %d", p, o.At, end)
		}
		total += o.At
	}
	if total != 400 {
		t.Fatalf("committed %d records in all, want 400", total)
	}
}

// confluent-kafka: subscribe() in a group, commit, close; a new consumer of
// the group resumes at the commits.
func TestConfluentKafkaPythonGroup(t *testing.T) {
	py := python(t, "confluent_kafka", "python3-confluent-kafka")
	ctx := testContext(t, time.Minute)
	b := startBroker(t, t.TempDir())
	createTopic(t, ctx, b.addr, "confluent-group", 3)
	runScript(t, py, "confluent_group.py", b.addr, "confluent-group", 2000, 3)
}

// kafka-python: the same, with KafkaConsumer in a group.
func TestKafkaPythonGroup(t *testing.T) {
	py := python(t, "kafka", "python3-kafka")
	ctx := testContext(t, time.Minute)
	b := startBroker(t, t.TempDir())
	createTopic(t, ctx, b.addr, "kafkapython-group", 3)
	runScript(t, py, "kafkapython_group.py", b.addr, "kafkapython-group", 2000, 3)
}

// Apache Kafka's Java clients (the release internal/kafkatest resolves,
// 4.x): KafkaConsumer.subscribe() in a group with the classic protocol,
// commitSync, close; a new consumer of the group resumes at the commits.
func TestJavaConsumerGroup(t *testing.T) {
	classpath, java, err := kafkatest.Classpath(kafkatest.Version())
	need(t, "Java and Kafka's jars (interop/kafka/resolve)", err)
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, t.TempDir())
	createTopic(t, ctx, b.addr, "java-group", 3)
	src, err := filepath.Abs("testdata/JavaGroup.java")
	if err != nil {
		t.Fatal(err)
	}
	cmd := kafkatest.JavaCommand(ctx, java, classpath, t.TempDir(), "-Xmx256m", src, b.addr, "java-group", "java-grp", "600")
	checkSummary(t, ctx, "JavaGroup.java", cmd, 600, 3)
}
