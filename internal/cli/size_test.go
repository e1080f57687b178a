package cli

import "testing"

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1024": 1024, "1048576": 1 << 20, "64MiB": 64 << 20, "64M": 64 << 20, "64m": 64 << 20,
		"10mib": 10 << 20, "1MB": 1e6, "512KiB": 512 << 10, "64k": 64 << 10, "2 GiB": 2 << 30,
		"1GB": 1e9, "2 KiB": 2048, "3kb": 3000, "1T": 1 << 40, "1TiB": 1 << 40, "1tb": 1e12,
		"7b": 7, "100B": 100, " 5 ": 5, "4194304 TiB": 1 << 62,
	} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("UnmarshalText %q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "M", "-1", "1.5M", "1.5MiB", "ten", "12 parsecs", "99999999999T", "99999999999GiB", "4194305TiB", "1 PiB"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("%q parsed as %d", in, got)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for b, want := range map[ByteSize]string{
		0: "0", 1: "1", 1000: "1000", 1024: "1KiB", 10 << 20: "10MiB", 1536: "1536", 3 << 30: "3GiB", 2 << 40: "2TiB",
	} {
		if got := b.String(); got != want {
			t.Errorf("%d: %q, want %q", int64(b), got, want)
		}
		if n, err := ParseByteSize(b.String()); err != nil || n != int64(b) {
			t.Errorf("%q does not read back: %d, %v", b.String(), n, err)
		}
	}
}
