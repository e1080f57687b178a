package broker

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleFrame runs one request frame (length prefix included) through a
// socketless connection of b and returns handle's error and the answer
// frames it appended.
func handleFrame(b *Broker, frame []byte) ([]byte, error) {
	c := newConn(b, nil)
	err := c.handle(frame[4:])
	return c.out, err
}

// The table is what ApiVersions advertises, entry for entry and in order.
func TestAPITableIsAdvertised(t *testing.T) {
	b := fuzzBroker(t)
	defer b.Close()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("t"))
	for v := int16(0); v <= apiFor(APIApiVersions).max; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		out, err := handleFrame(b, f.AppendRequest(nil, req, 1))
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		if err := resp.ReadFrom(out[8:]); err != nil { // header v0, always
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
			t.Fatalf("ApiVersions v%d: error %d, %d keys; the table has %d", v, resp.ErrorCode, len(resp.ApiKeys), len(apis))
		}
		for i, k := range resp.ApiKeys {
			a := apis[i]
			if APIKey(k.ApiKey) != a.key || k.MinVersion != a.min || k.MaxVersion != a.max {
				t.Errorf("ApiVersions v%d: entry %d is %d v%d-v%d; the table's is %s v%d-v%d", v, i, k.ApiKey, k.MinVersion, k.MaxVersion, a.key, a.min, a.max)
			}
		}
	}
}

// Every advertised key and version is dispatched to its handler: a sample
// request of each is answered without error (acks=0 produce: without an
// answer).
func TestAPITableDispatchesEveryAdvertisedVersion(t *testing.T) {
	b := fuzzBroker(t)
	defer b.Close()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("t"))
	for _, a := range apis {
		if a.shape == nil || a.handle == nil {
			t.Errorf("%s: no shape or no handler", a.key)
			continue
		}
		for v := a.min; v <= a.max; v++ {
			reqs := sampleRequests(t, a.key, v)
			if len(reqs) == 0 {
				t.Errorf("%s v%d: no sample request", a.key, v)
			}
			for _, req := range reqs {
				if _, err := handleFrame(b, f.AppendRequest(nil, req, 1)); err != nil {
					t.Errorf("%s v%d: %v", a.key, v, err)
				}
			}
		}
	}
}

// A version outside the table's range closes the connection without an
// answer, as Kafka does, except ApiVersions', answered in v0 with
// UNSUPPORTED_VERSION and its range (KIP-511). An unknown key closes the
// connection too.
func TestAPITableRefusesOtherVersions(t *testing.T) {
	b := fuzzBroker(t)
	defer b.Close()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("t"))
	for _, a := range apis {
		frame := f.AppendRequest(nil, sampleRequests(t, a.key, a.max)[0], 1)
		bad := []int16{a.max + 1}
		if a.min > 0 {
			bad = append(bad, a.min-1)
		}
		for _, v := range bad {
			frame[6], frame[7] = byte(uint16(v)>>8), byte(v)
			out, err := handleFrame(b, frame)
			if a.key == APIApiVersions {
				if err != nil {
					t.Fatalf("ApiVersions v%d: %v", v, err)
				}
				resp := kmsg.NewPtrApiVersionsResponse() // v0
				if err := resp.ReadFrom(out[8:]); err != nil {
					t.Fatal(err)
				}
				if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 ||
					resp.ApiKeys[0].ApiKey != int16(APIApiVersions) || resp.ApiKeys[0].MinVersion != a.min || resp.ApiKeys[0].MaxVersion != a.max {
					t.Errorf("ApiVersions v%d: answered %+v", v, resp)
				}
				continue
			}
			if !errors.Is(err, errProtocol) || !strings.Contains(err.Error(), "not supported") || len(out) != 0 {
				t.Errorf("%s v%d: err %v, %d bytes answered; want the connection closed", a.key, v, err, len(out))
			}
		}
	}
	frame := f.AppendRequest(nil, kmsg.NewPtrEndTxnRequest(), 1)
	if out, err := handleFrame(b, frame); !errors.Is(err, errProtocol) || len(out) != 0 {
		t.Errorf("EndTxn: err %v, %d bytes answered; want the connection closed", err, len(out))
	}
}

// The table agrees with kmsg on each version's flexibility and on the types
// and versions kmsg knows.
func TestAPITableAgreesWithKmsg(t *testing.T) {
	for _, a := range apis {
		req := kmsg.RequestForKey(int16(a.key))
		if req == nil {
			t.Errorf("%s: kmsg has no request type", a.key)
			continue
		}
		if a.max > req.MaxVersion() {
			t.Errorf("%s: max v%d, kmsg knows up to v%d", a.key, a.max, req.MaxVersion())
		}
		for v := a.min; v <= a.max; v++ {
			req.SetVersion(v)
			if req.IsFlexible() != a.isFlexible(v) {
				t.Errorf("%s v%d: flexible %v, kmsg says %v", a.key, v, a.isFlexible(v), req.IsFlexible())
			}
		}
		if got := apiFor(a.key); got == nil || got.key != a.key {
			t.Errorf("%s: apiFor finds %v", a.key, got)
		}
	}
	for _, k := range []APIKey{-1, 4, 26, 255, 256, 1000} {
		if a := apiFor(k); a != nil {
			t.Errorf("apiFor(%d) = %s", k, a.key)
		}
	}
}

// The package doc lists the table: every request type, with its versions.
func TestDocListsAPITable(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	start := strings.Index(s, "(what ApiVersions advertises):")
	end := strings.Index(s, "// # TLS and SASL")
	if start < 0 || end < start {
		t.Fatal("doc.go: no list of request types")
	}
	line := regexp.MustCompile(`(?m)^//\t([A-Za-z]+) +v(\d+)(?:-v(\d+))?`)
	listed := map[string][2]int16{}
	for _, m := range line.FindAllStringSubmatch(s[start:end], -1) {
		lo, _ := strconv.Atoi(m[2])
		hi := lo
		if m[3] != "" {
			hi, _ = strconv.Atoi(m[3])
		}
		listed[m[1]] = [2]int16{int16(lo), int16(hi)}
	}
	for _, a := range apis {
		r, ok := listed[a.name]
		switch {
		case !ok:
			t.Errorf("doc.go does not list %s", a.name)
		case r != [2]int16{a.min, a.max}:
			t.Errorf("doc.go lists %s v%d-v%d; the table has v%d-v%d", a.name, r[0], r[1], a.min, a.max)
		}
		delete(listed, a.name)
	}
	for name := range listed {
		t.Errorf("doc.go lists %s, which the table does not have", name)
	}
}
