// Package e2e drives scaler_gui in a real browser: Debian's chromium through chromedp, the
// real scaler binary (scheduler, workers and scaler_gui as processes), tasks pushed with the
// Go client. The tests are skipped only when no chromium is installed (scripts/deps.sh test
// installs it).
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/internal/testbin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chromiumPath finds a Chromium-family browser on PATH.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium for the test with the flags this machine needs (no
// sandbox as root, no background networking on a closed network) and a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium is not installed; scripts/deps.sh test installs it (apt-get install -y chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first action starts the browser; its context must not carry a timeout, because
	// the browser lives as long as that context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// do runs browser actions with a deadline.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// await evaluates an expression that yields a promise and returns its value.
func await[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it holds. Errors count as "not yet": while a
// link loads a new page there is briefly no document to ask.
func waitJS(t *testing.T, ctx context.Context, d time.Duration, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("page condition not met within %s: %s (last error %v)", d, expr, lastErr)
}

// screenshot saves a PNG of the whole page under web/testdata/screenshots (or
// $SCALER_SCREENSHOT_DIR) for people to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SCALER_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot %s (%d bytes)", abs, len(png))
}

// gui is a running scaler_gui process.
type gui struct {
	proc *testbin.Proc
	url  string
}

// startGUI runs the real scaler_gui binary against a monitor address and waits until its
// /healthz reports a live stream.
func startGUI(t *testing.T, monitorAddr string, args ...string) *gui {
	t.Helper()
	port := testbin.FreePorts(t, 1)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	g := &gui{url: "http://" + addr}
	g.proc = testbin.Start(t, nil, "scaler_gui", append([]string{monitorAddr, "--gui-address", addr}, args...)...)
	testbin.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(g.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
	return g
}

// intJS reads a number shown on the page (thousands separators removed).
func intJS(t *testing.T, ctx context.Context, selector string) int {
	t.Helper()
	return eval[int](t, ctx, fmt.Sprintf(`parseInt(document.querySelector(%q).textContent.replace(/,/g, ""), 10)`, selector))
}

// rowNames returns the worker ids of the rows of the worker table, in order.
func rowNames(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#workers-table tbody tr")).map(r => r.dataset.worker)`)
}

// clickNav follows a navigation link and waits for the new page and its live channel.
func clickNav(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[data-page-link="`+page+`"]`)))
	waitJS(t, ctx, 15*time.Second, `document.body.dataset.page === "`+page+`" && window.scalerGUI && window.scalerGUI.open`)
}

func isSorted(s []string, desc bool) bool {
	c := slices.Clone(s)
	slices.Sort(c)
	if desc {
		slices.Reverse(c)
	}
	return slices.Equal(c, s)
}

// median returns the middle value of xs.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// mainThreadMS is the CPU time the renderer's main thread spent on the current document
// (parsing, style, layout, script), which other processes' load does not inflate.
func mainThreadMS(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	r, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Metrics {
		if m.Name == "TaskDuration" {
			return m.Value * 1000
		}
	}
	t.Fatal("no TaskDuration metric")
	return 0
}

// navTimings navigates to url and returns, in milliseconds from the start of the
// navigation, when the response ended and when the load event finished (the page fully
// rendered, the table included: it is rendered by the server, not by script).
func navTimings(t *testing.T, ctx context.Context, url string) (response, load float64) {
	t.Helper()
	// Thread time, not wall time, for mainThreadMS; enabled before the navigation so the
	// new document is measured from its start.
	if _, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{TimeDomain: performance.EnableTimeDomainThreadTicks}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(url))
	waitJS(t, ctx, 10*time.Second, `performance.getEntriesByType("navigation")[0].loadEventEnd > 0`)
	v := eval[[]float64](t, ctx, `(() => { const n = performance.getEntriesByType("navigation")[0];
		return [n.responseEnd - n.startTime, n.loadEventEnd - n.startTime]; })()`)
	return v[0], v[1]
}
