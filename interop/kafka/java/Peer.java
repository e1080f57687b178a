// Peer is the Java client's side of merlin's tests against Apache Kafka,
// run as a single-file program: java -cp <Kafka's class path> Peer.java ...
//
//   Peer dump BOOTSTRAP TOPIC
//       Reads every partition of TOPIC from the start to the end offsets as
//       they are when it starts, with KafkaConsumer (no group), and prints a
//       line per record:
//       partition offset b:base64(key)|- b:base64(value)|- [hkey=b:base64(hvalue)]...
//       (- for null)
//   Peer keyed BOOTSTRAP TOPIC N
//       Produces keys key-0 .. key-(N-1) with KafkaProducer and its default
//       partitioner (acks=all), and prints "key partition" per record.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.*;

public class Peer {
  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "dump" -> dump(args[1], args[2]);
      case "keyed" -> keyed(args[1], args[2], Integer.parseInt(args[3]));
      default -> throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  static String b64(byte[] b) {
    return b == null ? "-" : "b:" + Base64.getEncoder().encodeToString(b);
  }

  static void dump(String bootstrap, String topic) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("enable.auto.commit", "false");
    p.put("auto.offset.reset", "earliest");
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
        tps.add(new TopicPartition(topic, pi.partition()));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
      StringBuilder out = new StringBuilder();
      long deadline = System.currentTimeMillis() + 120_000;
      while (true) {
        boolean done = true;
        for (TopicPartition tp : tps) {
          if (c.position(tp) < end.get(tp)) done = false;
        }
        if (done) break;
        if (System.currentTimeMillis() > deadline) throw new RuntimeException("dump: timed out before the end offsets " + end);
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
          if (r.offset() >= end.get(new TopicPartition(topic, r.partition()))) continue;
          out.append(r.partition()).append(' ').append(r.offset()).append(' ').append(b64(r.key())).append(' ').append(b64(r.value()));
          for (Header h : r.headers()) {
            out.append(' ').append(h.key()).append('=').append(b64(h.value()));
          }
          out.append('\n');
        }
      }
      System.out.print(out);
      System.out.flush();
    }
  }

  static void keyed(String bootstrap, String topic, int n) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("acks", "all");
    p.put("linger.ms", "5");
    try (KafkaProducer<String, String> pr = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
      List<Future<RecordMetadata>> fs = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        fs.add(pr.send(new ProducerRecord<>(topic, "key-" + i, "v")));
      }
      StringBuilder out = new StringBuilder();
      for (int i = 0; i < n; i++) {
        out.append("key-").append(i).append(' ').append(fs.get(i).get().partition()).append('\n');
      }
      System.out.print(out);
      System.out.flush();
    }
  }
}
