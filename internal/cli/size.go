package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a flag value in bytes: a count, or a whole number with a
// unit, case-insensitive, with or without a space before it: K, M, G, T and
// KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB powers of 1000; B
// is bytes. "1048576", "64MiB", "64m", "2 KiB", "1GB". Negative and
// fractional sizes are refused, and so is anything beyond 2^62 bytes.
type ByteSize int64

// MaxByteSize is the largest size ParseByteSize accepts.
const MaxByteSize = 1 << 62

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first.
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseByteSize reads a size as ByteSize documents.
func ParseByteSize(s string) (int64, error) {
	text := strings.TrimSpace(s)
	num := strings.ToLower(text)
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > MaxByteSize/mult {
		return 0, fmt.Errorf("%q is not a size such as 1048576, 64MiB or 1GB (a byte count, or with K, M, G, T, KiB, MiB, GiB, TiB: powers of 1024, or KB, MB, GB, TB: powers of 1000)", text)
	}
	return n * mult, nil
}

// UnmarshalText implements encoding.TextUnmarshaler, which go-arg uses.
func (b *ByteSize) UnmarshalText(text []byte) error {
	n, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

// String writes the size in the largest power-of-1024 unit that divides it
// ("10MiB", "512KiB"), else in bytes; ParseByteSize reads it back.
func (b ByteSize) String() string {
	for _, u := range []struct {
		suffix string
		mult   ByteSize
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b >= u.mult && b%u.mult == 0 {
			return strconv.FormatInt(int64(b/u.mult), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
