package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/merlinkafka/merlin/producer"
)

// BenchmarkHTTPAsync measures POST /async/{topic} with 100-byte raw bodies
// from parallel keep-alive clients through an httptest server to an
// in-process kfake broker (4 partitions), with the gateway's defaults
// (acks all, idempotent). The timer includes the final Flush: requests/s
// counts messages the broker acknowledged, not only accepted.
func BenchmarkHTTPAsync(b *testing.B) {
	c := newKfakeOpts(b, kfake.NumBrokers(1), kfake.SeedTopics(4, "bench"))
	gw := newTestGateway(b, producer.Config{Brokers: c.ListenAddrs()}, gwOpts{})
	url := gw.URL + "/async/bench"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	b.Cleanup(client.CloseIdleConnections)
	body := bytes.Repeat([]byte("x"), 100)
	postOnce := func() error {
		resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &httpError{status: resp.StatusCode, msg: "unexpected status"}
		}
		return nil
	}
	if err := postOnce(); err != nil { // topic metadata, connections
		b.Fatal(err)
	}
	b.SetParallelism(8)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := postOnce(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := gw.p.Flush(testCtx(b)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
