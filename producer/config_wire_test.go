package producer

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/merlinkafka/merlin/internal/kbatch"
	"github.com/merlinkafka/merlin/mockbroker"
)

// TestAcksWire checks the one conversion from Acks to Kafka's acks field.
func TestAcksWire(t *testing.T) {
	for a, want := range map[Acks]int16{AcksDefault: -1, AcksAll: -1, AcksLeader: 1, AcksNone: 0} {
		if got := a.kafka(); got != want {
			t.Errorf("%v: acks=%d on the wire, want %d", a, got, want)
		}
		if got := sarama.RequiredAcks(a.kafka()); int16(got) != want {
			t.Errorf("%v: sarama.RequiredAcks %d, want %d", a, got, want)
		}
	}
	if AcksDefault != 0 || CompressionDefault != 0 {
		t.Fatal("the zero values must mean the default")
	}
}

// TestCompressionWire checks the codec table against Kafka's attribute bits.
func TestCompressionWire(t *testing.T) {
	for c, want := range map[Compression]kbatch.Codec{
		CompressionDefault: kbatch.CodecNone, CompressionNone: kbatch.CodecNone, CompressionGzip: kbatch.CodecGzip,
		CompressionSnappy: kbatch.CodecSnappy, CompressionLZ4: kbatch.CodecLZ4, CompressionZstd: kbatch.CodecZstd,
	} {
		if got := c.codec(); got != want {
			t.Errorf("%v: codec %v on the wire, want %v", c, got, want)
		}
	}
	if len(kafkaCodec) != int(CompressionZstd)+1 {
		t.Errorf("kafkaCodec has %d entries, want one per Compression", len(kafkaCodec))
	}
}

func TestParseAcksAndCompression(t *testing.T) {
	for in, want := range map[string]Acks{"all": AcksAll, "ALL": AcksAll, "-1": AcksAll, "leader": AcksLeader, "1": AcksLeader, "none": AcksNone, " 0 ": AcksNone} {
		if got, err := ParseAcks(in); err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, a := range []Acks{AcksAll, AcksLeader, AcksNone} {
		if got, err := ParseAcks(a.String()); err != nil || got != a {
			t.Errorf("ParseAcks(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, in := range []string{"", "default", "2", "most"} {
		if _, err := ParseAcks(in); err == nil {
			t.Errorf("ParseAcks(%q) accepted", in)
		}
	}
	for c := CompressionNone; c <= CompressionZstd; c++ {
		if got, err := ParseCompression(c.String()); err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v", c.String(), got, err)
		}
	}
	for _, in := range []string{"", "default", "brotli"} {
		if _, err := ParseCompression(in); err == nil {
			t.Errorf("ParseCompression(%q) accepted", in)
		}
	}
}

// TestDefaultsAndOverrides checks that the zero values resolve to the
// defaults and that AcksNone and CompressionNone, which used to be the zero
// values, override as any other setting does.
func TestDefaultsAndOverrides(t *testing.T) {
	c := Config{
		Brokers: []string{"h:1"},
		Topics: map[string]TopicConfig{
			"inherit": {},
			"none":    {Acks: AcksNone, Compression: CompressionNone},
			"leader":  {Acks: AcksLeader, Compression: CompressionZstd},
		},
	}.withDefaults()
	if c.Acks != AcksAll || c.Compression != CompressionNone {
		t.Fatalf("defaults: acks %v, compression %v", c.Acks, c.Compression)
	}
	c.Compression = CompressionGzip
	for topic, want := range map[string]struct {
		acks Acks
		comp Compression
	}{"inherit": {AcksAll, CompressionGzip}, "unlisted": {AcksAll, CompressionGzip}, "none": {AcksNone, CompressionNone}, "leader": {AcksLeader, CompressionZstd}} {
		if s := c.topic(topic); s.acks != want.acks || s.compression != want.comp {
			t.Errorf("%s: acks %v, compression %v; want %v, %v", topic, s.acks, s.compression, want.acks, want.comp)
		}
	}
	if c := (Config{Acks: AcksNone}).withDefaults(); c.Acks != AcksNone {
		t.Errorf("Config.Acks AcksNone became %v", c.Acks)
	}
	for _, bad := range []Config{
		{Brokers: []string{"h:1"}, Acks: AcksNone + 1},
		{Brokers: []string{"h:1"}, Acks: -1},
		{Brokers: []string{"h:1"}, Compression: CompressionZstd + 1},
		{Brokers: []string{"h:1"}, Topics: map[string]TopicConfig{"t": {Compression: -1}}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestAcksAndCodecOnTheWire produces to a mock broker and reads the acks field of
// each topic's produce requests and the codec of its stored batches.
func TestAcksAndCodecOnTheWire(t *testing.T) {
	mc := newMock(t, mockbroker.Topic("default", 1), mockbroker.Topic("leader", 1), mockbroker.Topic("none", 1), mockbroker.Topic("zstd", 1))
	p := newProducer(t, Config{Brokers: mc.Addrs(), Topics: map[string]TopicConfig{
		"leader": {Acks: AcksLeader},
		"none":   {Acks: AcksNone},
		"zstd":   {Compression: CompressionZstd},
	}})
	ctx := testCtx(t)
	for _, topic := range []string{"default", "leader", "none", "zstd"} {
		if _, err := p.ProduceSync(ctx, topic, Message{Value: []byte("v")}); err != nil {
			t.Fatal(topic, err)
		}
	}
	if err := mc.WaitForRecords(ctx, "none", 1); err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"default": -1, "leader": 1, "none": 0, "zstd": -1}
	for _, r := range mc.ProduceRequests() {
		if w, ok := want[r.Topic]; !ok || r.Acks != w {
			t.Errorf("%s: acks=%d on the wire, want %d", r.Topic, r.Acks, w)
		}
	}
	for topic, codec := range map[string]kbatch.Codec{"default": kbatch.CodecNone, "zstd": kbatch.CodecZstd} {
		recs := consume(t, mc.Addrs(), topic, 1)
		if got := kbatch.Codec(recs[0].Attrs.CompressionType()); got != codec {
			t.Errorf("%s: stored with codec %v, want %v", topic, got, codec)
		}
	}
}
