package console

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/merlinkafka/merlin/broker"
	"github.com/merlinkafka/merlin/internal/brokertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// findChromium returns the path of Debian's chromium (package chromium),
// or "" when it is not installed. MERLIN_CHROMIUM names another binary.
func findChromium() string {
	if p := os.Getenv("MERLIN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser loads the console in headless Chromium while a client
// produces: the page shows the topic, the chart's data points change
// between two reads and show a produce rate, and the messages of the
// partition are shown on request. Without chromium it is skipped, unless
// MERLIN_BROWSER=1 (as CI sets), when it fails. MERLIN_CONSOLE_SCREENSHOT
// names a PNG file to save a screenshot of the page to.
func TestBrowser(t *testing.T) {
	exe := findChromium()
	if exe == "" {
		if os.Getenv("MERLIN_BROWSER") == "1" {
			t.Fatal("MERLIN_BROWSER=1 but chromium is not installed (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); MERLIN_BROWSER=1 makes this a failure")
	}
	ctx := brokertest.Context(t)
	b := brokertest.Start(t, broker.Config{})
	const topic = "browser-topic"
	if err := b.Cluster().CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	cl := newProducer(t, b.Addr(), topic)
	produce(t, ctx, cl, 0, 10)
	srv := serve(t, b)

	// Keep producing while the page polls, so that its rates move: one
	// record every 20ms, for at most the test's minute.
	prodCtx, stopProducing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 10; i < 3000 && prodCtx.Err() == nil; i++ {
			if err := cl.ProduceSync(prodCtx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i)}).FirstErr(); err != nil {
				if prodCtx.Err() == nil {
					t.Errorf("produce: %v", err)
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	defer wg.Wait()
	defer stopProducing()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in CI: Chromium's sandbox refuses to run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1100),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()

	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))
	}
	const points = `document.getElementById("chart-produce").getAttribute("points")`
	rowSel := `#topics tbody tr[data-topic="` + topic + `"]`
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(rowSel), poll(points+`.split(" ").length >= 2`)); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	row, err := chromedp.Run(bctx, chromedp.Text(rowSel))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row, topic) {
		t.Errorf("topic row %q", row)
	}
	first, err := chromedp.Run(bctx, chromedp.Evaluate[string](points))
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(first)
	if err := chromedp.Do(bctx, poll(points+` !== `+string(quoted))); err != nil {
		t.Fatalf("waiting for the chart to change from %q: %v", first, err)
	}
	second, err := chromedp.Run(bctx, chromedp.Evaluate[string](points))
	if err != nil {
		t.Fatal(err)
	}
	if first == second || second == "" {
		t.Errorf("chart points %q then %q: want a change", first, second)
	}
	if err := chromedp.Do(bctx, poll(`parseFloat(document.getElementById("rate-produce").textContent) > 0`)); err != nil {
		t.Errorf("no produce rate shown: %v", err)
	}
	rate, err := chromedp.Run(bctx, chromedp.Text(`#rate-produce`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chart %q -> %q; produce rate %s", first, second, rate)

	if err := chromedp.Do(bctx, chromedp.Click(rowSel+` button.show`), chromedp.WaitVisible(`#messages tbody tr`)); err != nil {
		t.Fatalf("showing the messages: %v", err)
	}
	newest, err := chromedp.Run(bctx, chromedp.Text(`#messages tbody tr:first-child td:nth-child(4)`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(newest, "value ") {
		t.Errorf("newest message's value %q", newest)
	} else if i, err := strconv.Atoi(strings.TrimPrefix(newest, "value ")); err != nil || i < 10 {
		t.Errorf("newest message's value %q: want one produced while the page was open", newest)
	}

	if path := os.Getenv("MERLIN_CONSOLE_SCREENSHOT"); path != "" {
		if err := chromedp.Do(bctx, chromedp.Sleep(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
