package picker

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// javaMurmur2 pins hashes computed by Kafka's Java client: the first six
// come from Kafka's own UtilsTest.testMurmur2, the last five are the values
// Akka's Murmur2Spec took from Kafka's Utils.murmur2.
var javaMurmur2 = []struct {
	key  string
	hash int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	{"1", -1993445489},
	{"12", 126087238},
	{"123", -267702483},
	{"1234", -1614185708},
	{"12345", -1188365604},
}

func TestMurmur2JavaValues(t *testing.T) {
	for _, c := range javaMurmur2 {
		if got := Murmur2([]byte(c.key)); got != c.hash {
			t.Errorf("Murmur2(%q) = %d, Java says %d", c.key, got, c.hash)
		}
	}
}

// TestKeyPartitionJavaValues pins Java's Utils.toPositive(murmur2(key)) %
// numPartitions for the keys above and several partition counts.
func TestKeyPartitionJavaValues(t *testing.T) {
	want := map[string][4]int32{ // partitions for n = 3, 8, 12, 100
		"21":                         {0, 4, 0, 40},
		"foobar":                     {0, 6, 6, 66},
		"a-little-bit-long-string":   {2, 0, 8, 12},
		"a-little-bit-longer-string": {2, 3, 11, 19},
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": {2, 5, 5, 77},
		"abc":   {0, 3, 3, 7},
		"1":     {0, 7, 3, 59},
		"12":    {1, 6, 10, 38},
		"123":   {2, 5, 5, 65},
		"1234":  {0, 4, 0, 40},
		"12345": {2, 4, 8, 44},
	}
	p := Keyed().New("t")
	for key, parts := range want {
		for i, n := range []int32{3, 8, 12, 100} {
			if got := KeyPartition([]byte(key), n); got != parts[i] {
				t.Errorf("KeyPartition(%q, %d) = %d, want %d", key, n, got, parts[i])
			}
			if got := p.Pick([]byte(key), n, nil); got != parts[i] {
				t.Errorf("Keyed Pick(%q, %d) = %d, want %d", key, n, got, parts[i])
			}
		}
	}
}

// TestKeyedMatchesFranzGo checks that Keyed puts 10 000 random keys of
// random lengths (including empty keys) on the partition franz-go's default
// key partitioner chooses, for several partition counts.
func TestKeyedMatchesFranzGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	theirs := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	ours := Keyed().New("t")
	counts := []int32{1, 2, 3, 5, 8, 12, 16, 31, 64, 100, 1000, 4096}
	for i := range 10000 {
		key := make([]byte, rng.IntN(64))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		n := counts[i%len(counts)]
		want := int32(theirs.Partition(&kgo.Record{Key: key}, int(n)))
		if got := ours.Pick(key, n, nil); got != want {
			t.Fatalf("key %x, %d partitions: merlin picks %d, franz-go %d", key, n, got, want)
		}
	}
}

func TestKeyPartitionNoPartitions(t *testing.T) {
	if got := KeyPartition([]byte("k"), 0); got != -1 {
		t.Errorf("KeyPartition with 0 partitions = %d, want -1", got)
	}
}
