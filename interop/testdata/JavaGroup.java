// JavaGroup is a consumer group round trip through merlin-broker with
// Apache Kafka's own Java clients, run as a single-file program:
//
//   java -cp <Kafka's class path> JavaGroup.java BOOTSTRAP TOPIC GROUP N
//
// Produces N/2 records (values "0" ...), consumes them with a KafkaConsumer
// that subscribes in GROUP (the classic protocol, the 4.x default) and
// commits synchronously, closes it; produces the other half and consumes
// again with a new consumer of the group, which must start at the commits:
// every record exactly once. Prints one line of JSON; exits non-zero with
// a message on stderr at the first problem.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.*;

public class JavaGroup {
  static void fail(String msg) {
    System.err.println("JavaGroup: " + msg);
    System.exit(1);
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0], topic = args[1], group = args[2];
    int n = Integer.parseInt(args[3]), half = n / 2;
    long deadline = System.currentTimeMillis() + 120_000;
    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    pp.put("linger.ms", "5");
    Set<Integer> seen = new HashSet<>();
    Set<Integer> partitions = new HashSet<>();
    int consumed = 0;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
      for (int phase = 0; phase < 2; phase++) {
        int from = phase == 0 ? 0 : half, to = phase == 0 ? half : n;
        for (int i = from; i < to; i++) {
          producer.send(new ProducerRecord<>(topic, Integer.toString(i), Integer.toString(i))).get();
        }
        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("group.id", group);
        cp.put("auto.offset.reset", "earliest");
        cp.put("enable.auto.commit", "false");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
          consumer.subscribe(List.of(topic));
          int got = 0;
          while (got < to - from) {
            if (System.currentTimeMillis() > deadline) {
              fail("consumed " + seen.size() + " of " + n + " before the deadline");
            }
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofSeconds(1))) {
              int i = Integer.parseInt(r.value());
              if (!seen.add(i)) {
                fail("record " + i + " consumed twice");
              }
              partitions.add(r.partition());
              got++;
            }
          }
          consumer.commitSync();
          consumed += got;
        }
      }
    }
    System.out.println("{\"produced\": " + n + ", \"consumed\": " + consumed + ", \"partitions\": " + partitions.size() + "}");
  }
}
