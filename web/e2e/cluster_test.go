package e2e

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scaler-go/scaler/core/client"
	_ "github.com/scaler-go/scaler/core/transport/ymq"
	"github.com/scaler-go/scaler/internal/testbin"
)

// TestDashboardOnRealCluster runs a scheduler, two workers and scaler_gui, pushes tasks
// through the Go client and checks in the browser that the counters move without a reload,
// the worker table lists the workers and sorts, and every page renders.
func TestDashboardOnRealCluster(t *testing.T) {
	ctx := newBrowser(t)
	c := testbin.StartCluster(t, nil, 2)
	c.WaitWorkers(t, 2, 30*time.Second)
	g := startGUI(t, c.Monitor(), "--broadcast-interval-seconds", "0.5")

	do(t, ctx, chromedp.Navigate(g.url+"/"))
	waitJS(t, ctx, 15*time.Second, `document.querySelector('[data-region="conn"] [data-state="live"]') && window.scalerGUI.open`)
	// A mark that survives only as long as the document does: a reload would erase it.
	eval[bool](t, ctx, `window.sameDocument = true`)
	before := intJS(t, ctx, `[data-count="success"]`)
	updatesBefore := eval[int](t, ctx, `window.scalerGUI.updates`)

	cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Connect(cctx, c.Address(), client.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var futures []*client.Future
	for range 8 {
		futures = append(futures, cl.Submit("sleep", 0.25))
	}
	for i := range 40 {
		futures = append(futures, cl.Submit("inc", i))
	}
	for _, f := range futures {
		if _, err := f.Result(cctx); err != nil {
			t.Fatal(err)
		}
	}
	const total = 48

	// The overview's counters follow without a reload.
	waitJS(t, ctx, 15*time.Second, `parseInt(document.querySelector('[data-count="success"]').textContent.replace(/,/g, ""), 10) >= `+strconv.Itoa(before+total))
	if !eval[bool](t, ctx, `window.sameDocument === true`) {
		t.Fatal("the page was reloaded")
	}
	if n := eval[int](t, ctx, `window.scalerGUI.updates`); n <= updatesBefore {
		t.Errorf("no live update applied (%d before, %d after)", updatesBefore, n)
	}
	if got := intJS(t, ctx, "#finished-count"); got < total {
		t.Errorf("finished tasks seen %d, want at least %d", got, total)
	}
	waitJS(t, ctx, 10*time.Second, `(document.querySelector("#chart-throughput polyline") || {getAttribute: () => ""}).getAttribute("points").length > 0`)
	screenshot(t, ctx, "cluster-overview")

	// Workers page: both workers, sortable.
	clickNav(t, ctx, "workers")
	waitJS(t, ctx, 10*time.Second, `document.querySelectorAll("#workers-table tbody tr").length === 2`)
	names := rowNames(t, ctx)
	for _, n := range names {
		if !strings.HasPrefix(n, "Worker|") {
			t.Errorf("worker row %q", n)
		}
	}
	if !isSorted(names, false) {
		t.Errorf("default order is not by name: %v", names)
	}
	eval[bool](t, ctx, `window.sameDocument = true`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[data-sort="name"]`)))
	waitJS(t, ctx, 10*time.Second, `location.search.includes("dir=desc") && document.querySelector('th[aria-sort="descending"] a[data-sort="name"]')`)
	if got := rowNames(t, ctx); !isSorted(got, true) || len(got) != 2 {
		t.Errorf("after sorting by name descending: %v", got)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[data-sort="sent"]`)))
	waitJS(t, ctx, 10*time.Second, `location.search.includes("sort=sent") && document.querySelector('th[aria-sort="descending"] a[data-sort="sent"]')`)
	if !eval[bool](t, ctx, `window.sameDocument === true`) {
		t.Error("sorting reloaded the page")
	}
	screenshot(t, ctx, "cluster-workers")

	// Task stream: the sleeps with their worker and duration.
	clickNav(t, ctx, "tasks")
	waitJS(t, ctx, 10*time.Second, `document.querySelectorAll("#tasks-table tbody tr").length >= 48`)
	sleeps := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#tasks-table tbody tr"))
		.filter(r => r.cells[2].textContent === "sleep")
		.map(r => r.cells[3].textContent + " " + r.cells[4].textContent + " " + r.cells[5].textContent)`)
	if len(sleeps) != 8 {
		t.Fatalf("%d sleep tasks listed, want 8: %v", len(sleeps), sleeps)
	}
	for _, s := range sleeps {
		if !strings.HasPrefix(s, "success Worker|") || !strings.HasSuffix(s, "s") {
			t.Errorf("sleep row %q", s)
		}
	}
	screenshot(t, ctx, "cluster-tasks")

	clickNav(t, ctx, "managers")
	waitJS(t, ctx, 5*time.Second, `document.querySelector('[data-region="managers"]').textContent.includes("No worker managers connected")`)
	screenshot(t, ctx, "cluster-managers")

	clickNav(t, ctx, "clients")
	waitJS(t, ctx, 10*time.Second, `document.querySelector('tr[data-client="`+cl.ID()+`"]')`)
	screenshot(t, ctx, "cluster-clients")

	// The scheduler goes away: the badge turns, the page stays.
	c.Scheduler.Stop(10 * time.Second)
	waitJS(t, ctx, 20*time.Second, `document.querySelector('[data-region="conn"] [data-state="down"], [data-region="conn"] [data-state="stale"]')`)
}
