package picker

// Murmur2 returns Kafka's murmur2 hash of b: the 32-bit MurmurHash2 with seed
// 0x9747b28c, as org.apache.kafka.common.utils.Utils.murmur2 computes it. The
// result is signed, like Java's int.
func Murmur2(b []byte) int32 {
	const (
		seed  = 0x9747b28c
		mul   = 0x5bd1e995
		shift = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	i := 0
	for ; i+4 <= len(b); i += 4 {
		k := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
		k *= mul
		k ^= k >> shift
		k *= mul
		h = h*mul ^ k
	}
	switch rest := b[i:]; len(rest) {
	case 3:
		h ^= uint32(rest[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(rest[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(rest[0])
		h *= mul
	}
	h ^= h >> 13
	h *= mul
	h ^= h >> 15
	return int32(h)
}

// KeyPartition returns the partition of key among n partitions as the Java
// client's default partitioner (and franz-go's StickyKeyPartitioner, and
// librdkafka's murmur2_random) computes it: Murmur2(key) & 0x7fffffff % n.
// It returns -1 when n <= 0.
func KeyPartition(key []byte, n int32) int32 {
	if n <= 0 {
		return -1
	}
	return (Murmur2(key) & 0x7fffffff) % n
}
