package interop

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/merlinkafka/merlin/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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
	runPython(t, "confluent_kafka", "python3-confluent-kafka", "confluent_group.py", "confluent-group", 2000)
}

// kafka-python: the same, with KafkaConsumer in a group.
func TestKafkaPythonGroup(t *testing.T) {
	runPython(t, "kafka", "python3-kafka", "kafkapython_group.py", "kafkapython-group", 2000)
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

// A kgo group member rides through kill -9 of merlin-broker: after the
// restart on the same directory the group is restored with its member and
// generation (no rebalance), the member keeps consuming from its commits,
// and nothing is consumed twice.
func TestKgoGroupSurvivesKill(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := startBroker(t, t.TempDir())
	createTopic(t, ctx, b.addr, "kgo-kill", 2)
	cons := kgoClient(t, b.addr, kgo.ConsumerGroup("kgo-kill-grp"), kgo.ConsumeTopics("kgo-kill"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(200*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond))
	seen := map[string]bool{}
	consume := func(n int) {
		t.Helper()
		for got := 0; got < n; {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", got, n)
			}
			for _, r := range fs.Records() {
				if seen[string(r.Value)] {
					t.Fatalf("%s consumed twice", r.Value)
				}
				seen[string(r.Value)] = true
				got++
			}
			if err := cons.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit: %v", err)
			}
		}
	}
	produce := func(from, to int) {
		t.Helper()
		prod := kgoClient(t, b.addr)
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "kgo-kill", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		prod.Close()
	}
	produce(0, 20)
	consume(20)
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	member, gen := cons.GroupMetadata()

	b.kill()
	b.restart()
	produce(20, 40)
	consume(20)
	if m, g := cons.GroupMetadata(); m != member || g != gen {
		t.Fatalf("member %s generation %d after kill -9 and restart, was %s generation %d", m, g, member, gen)
	}
	if len(seen) != 40 {
		t.Fatalf("consumed %d distinct records, want 40", len(seen))
	}
}
