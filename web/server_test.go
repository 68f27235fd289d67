package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

// clusterWithEvilNames feeds a cluster whose worker, function, client and manager names are
// HTML, so every page that shows them must escape them.
func clusterWithEvilNames(t *testing.T, h *harness) {
	t.Helper()
	tid := protocol.NewTaskID()
	h.apply(t,
		connected(),
		msg(&protocol.StateWorker{WorkerID: []byte(evilWorker), State: protocol.WorkerConnected,
			Capabilities: []protocol.Capability{{Name: `<i>gpu</i>`, Value: -1}}}),
		msg(status(worker(evilWorker, 300, 2, 8, 1), worker("Worker|plain", 950, 10, 0, 4))),
		msg(&protocol.StateTask{TaskID: tid[:], FunctionName: []byte(`<img src=x onerror=alert(2)>`), State: protocol.StateRunning,
			Worker: []byte(evilWorker)}),
	)
}

func TestPagesRenderAndEscape(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	clusterWithEvilNames(t, h)
	for _, tc := range []struct {
		path, page string
		want       []string
	}{
		{"/", pageOverview, []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `data-count="success">7<`, "Tasks by state", `id="chart-throughput"`}},
		{"/workers", pageWorkers, []string{`data-worker="&lt;script&gt;alert(1)&lt;/script&gt;"`, "&lt;i&gt;gpu&lt;/i&gt;", `id="workers-table"`, "2 workers"}},
		{"/tasks", pageTasks, []string{"&lt;img src=x onerror=alert(2)&gt;", "running", `id="tasks-table"`}},
		{"/managers", pageManagers, []string{`data-manager="wm-1"`, "gpu linux", "2 / 5"}},
		{"/clients", pageClients, []string{"Client|&lt;b&gt;bold&lt;/b&gt;", `id="clients-table"`}},
	} {
		t.Run(tc.page, func(t *testing.T) {
			resp, body := get(t, h.ts.URL+tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("content security policy %q", csp)
			}
			if !strings.Contains(body, `data-page="`+tc.page+`"`) {
				t.Errorf("page is not marked %q", tc.page)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			// The only script element is our own.
			if n := strings.Count(strings.ToLower(body), "<script"); n != 1 {
				t.Errorf("%d script elements, want only app.js", n)
			}
			for _, bad := range []string{"<img src=x", "<b>bold", "<i>gpu"} {
				if strings.Contains(body, bad) {
					t.Errorf("unescaped %q on the page", bad)
				}
			}
			// Every region the live channel updates exists on the page.
			for _, rg := range regions[tc.page] {
				if !strings.Contains(body, `data-region="`+rg.name+`"`) {
					t.Errorf("page has no region %q", rg.name)
				}
			}
		})
	}
}

func TestRoutesErrors(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/nope", http.StatusNotFound},
		{"GET", "/workers/extra", http.StatusNotFound},
		{"POST", "/workers", http.StatusMethodNotAllowed},
		{"GET", "/static/missing.js", http.StatusNotFound},
		{"GET", "/events", http.StatusBadRequest},
		{"GET", "/events?page=%3Cscript%3E", http.StatusBadRequest},
		{"HEAD", "/", http.StatusOK},
	} {
		req, err := http.NewRequest(tc.method, h.ts.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
	}
	// A page name in the error must not come back as markup.
	_, body := get(t, h.ts.URL+"/events?page=%3Cscript%3E")
	if strings.Contains(body, "<script>") {
		t.Errorf("error echoes markup: %q", body)
	}
}

func TestStaticAssets(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	for name, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"} {
		resp, body := get(t, h.ts.URL+"/static/"+name)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ct {
			t.Errorf("%s: %s %q", name, resp.Status, resp.Header.Get("Content-Type"))
		}
		if body != string(assets[name].body) {
			t.Errorf("%s: body differs from the embedded file", name)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s without version: cache control %q", name, cc)
		}
		// The versioned URL the pages use may be cached for good.
		resp, _ = get(t, h.ts.URL+assetURL(name))
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s with version: cache control %q", name, cc)
		}
		// Revalidation with the ETag costs a 304.
		req, _ := http.NewRequest("GET", h.ts.URL+"/static/"+name, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidation: %s", name, r2.Status)
		}
	}
}

var rowRE = regexp.MustCompile(`<tr data-worker="([^"]*)"`)

func workerOrder(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestWorkersSortPageFilter(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	var ws []protocol.WorkerStatus
	for i := range 120 {
		// CPU rises with i except for the every-tenth worker, so name and CPU order differ.
		cpu := uint16(i * 8)
		if i%10 == 0 {
			cpu = 999
		}
		ws = append(ws, worker(fmt.Sprintf("w-%03d", i), cpu, uint32(i%7), 10, 0))
	}
	h.apply(t, connected(), msg(status(ws...)))

	_, body := get(t, h.ts.URL+"/workers")
	order := workerOrder(body)
	if len(order) != rowsPerPage || order[0] != "w-000" || order[49] != "w-049" {
		t.Fatalf("default page: %d rows %v…", len(order), order[:min(3, len(order))])
	}
	if !strings.Contains(body, "1–50 of 120") || !strings.Contains(body, "page 1 of 3") {
		t.Error("pager text missing")
	}

	_, body = get(t, h.ts.URL+"/workers?sort=cpu&dir=desc")
	order = workerOrder(body)
	// The twelve 999s first (by name), then w-119, w-118, ...
	if order[0] != "w-000" || order[11] != "w-110" || order[12] != "w-119" || order[13] != "w-118" {
		t.Errorf("cpu descending: %v", order[:14])
	}
	if !strings.Contains(body, `aria-sort="descending"`) {
		t.Error("sorted column not marked")
	}
	// The header link flips the direction and restarts paging.
	if !strings.Contains(body, `href="/workers?sort=cpu"`) {
		t.Error("sorted header does not link to the ascending order")
	}

	_, body = get(t, h.ts.URL+"/workers?sort=cpu&p=2")
	if order = workerOrder(body); len(order) != 20 || !strings.Contains(body, "101–120 of 120") {
		t.Errorf("last page: %d rows", len(order))
	}
	_, body = get(t, h.ts.URL+"/workers?p=99")
	if !strings.Contains(body, "101–120 of 120") {
		t.Error("a page past the end is not clamped to the last")
	}

	_, body = get(t, h.ts.URL+"/workers?q=W-11")
	if order = workerOrder(body); len(order) != 10 || order[0] != "w-110" || !strings.Contains(body, "10 of 120 workers") {
		t.Errorf("filter: %v", order)
	}
	_, body = get(t, h.ts.URL+"/workers?q=nothing-like-it")
	if !strings.Contains(body, "No worker matches “nothing-like-it”") {
		t.Error("empty filter result not explained")
	}

	// Nonsense in the query falls back to the defaults.
	_, body = get(t, h.ts.URL+"/workers?sort=%3Cx%3E&p=-3&w=7")
	if order = workerOrder(body); order[0] != "w-000" {
		t.Errorf("bad query: %v", order[:3])
	}
}

func TestLiveChannel(t *testing.T) {
	h := newHarness(t, 20*time.Millisecond)
	h.apply(t, connected(), msg(status(worker("w-a", 10, 0, 5, 0), worker(evilWorker, 10, 0, 5, 0))))

	ev := openEvents(t, h.ts.URL+"/events?page=workers&sort=name&dir=desc")
	if ct := ev.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	var first liveUpdate
	if err := json.Unmarshal([]byte(ev.next(t, 5*time.Second)), &first); err != nil {
		t.Fatal(err)
	}
	if len(first.Regions) != 2 || first.Regions["conn"] == "" {
		t.Fatalf("first message regions %v", keys(first.Regions))
	}
	table := first.Regions["workers"]
	if got := workerOrder(table); len(got) != 2 || got[0] != "w-a" {
		t.Errorf("the channel does not render the view it was asked for: %v", got)
	}
	if strings.Contains(table, "<script>") || !strings.Contains(table, "&lt;script&gt;") {
		t.Error("live update is not escaped")
	}

	// Nothing changes (the clock stands still): nothing is sent, however many ticks pass.
	select {
	case e := <-ev.events:
		t.Fatalf("update without a change: %.200s", e)
	case <-time.After(200 * time.Millisecond):
	}

	// A new worker arrives: only the workers region is sent.
	h.apply(t, msg(status(worker("w-a", 10, 0, 5, 0), worker("w-b", 10, 0, 5, 0), worker(evilWorker, 10, 0, 5, 0))))
	var second liveUpdate
	if err := json.Unmarshal([]byte(ev.next(t, 5*time.Second)), &second); err != nil {
		t.Fatal(err)
	}
	if len(second.Regions) != 1 || second.Version <= first.Version {
		t.Errorf("second message: version %d regions %v", second.Version, keys(second.Regions))
	}
	if got := workerOrder(second.Regions["workers"]); len(got) != 3 || got[0] != "w-b" {
		t.Errorf("second message rows %v", got)
	}

	// The monitor drops: the badge says so.
	h.apply(t, monitor.Update{Err: errors.New("connection reset by peer")})
	var third liveUpdate
	if err := json.Unmarshal([]byte(ev.next(t, 5*time.Second)), &third); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(third.Regions["conn"], `data-state="down"`) {
		t.Errorf("badge after disconnect: %q", third.Regions["conn"])
	}
}

// TestLiveChannelCoalesces floods the hub with status reports and checks that a browser gets
// at most one message per broadcast interval.
func TestLiveChannelCoalesces(t *testing.T) {
	const interval = 100 * time.Millisecond
	h := newHarness(t, interval)
	h.apply(t, connected(), msg(status()))
	ev := openEvents(t, h.ts.URL+"/events?page=overview")
	ev.next(t, 5*time.Second)

	start := time.Now()
	n := 0
	for time.Since(start) < 600*time.Millisecond {
		n++
		h.clock.Add(10 * time.Millisecond)
		st := status(worker(fmt.Sprintf("w-%d", n), uint16(n), 0, 1, 0))
		h.updates <- msg(st)
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	got := 0
	deadline := time.After(2 * interval)
collect:
	for {
		select {
		case <-ev.events:
			got++
		case <-deadline:
			break collect
		}
	}
	maxMessages := int(elapsed/interval) + 2
	if got == 0 || got > maxMessages {
		t.Errorf("%d status reports in %s gave %d messages, want 1..%d", n, elapsed, got, maxMessages)
	}
	if n < 3*got {
		t.Errorf("only %d status reports for %d messages: nothing was coalesced", n, got)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	check := func(code int, want string) {
		t.Helper()
		resp, body := get(t, h.ts.URL+"/healthz")
		if resp.StatusCode != code || !strings.Contains(body, want) {
			t.Errorf("healthz: %d %q, want %d containing %q", resp.StatusCode, body, code, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("content type %q", ct)
		}
		if strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("reason is not one line: %q", body)
		}
	}
	check(http.StatusServiceUnavailable, "not connected to monitor tcp://127.0.0.1:6380 yet")
	h.apply(t, monitor.Update{Err: errors.New("connection refused")})
	check(http.StatusServiceUnavailable, "disconnected: connection refused")
	h.apply(t, connected())
	check(http.StatusServiceUnavailable, "no status report yet")
	h.apply(t, msg(status(worker("w", 1, 0, 1, 0))))
	check(http.StatusOK, "ok: status report 0.0s old, 1 workers")
	h.clock.Add(6 * time.Second)
	check(http.StatusServiceUnavailable, "stale: no status report from tcp://127.0.0.1:6380 for 6s (stale after 5s)")
	h.apply(t, msg(status(worker("w", 1, 0, 1, 0))))
	check(http.StatusOK, "ok")
	h.apply(t, monitor.Update{Err: errors.New("connection reset")})
	check(http.StatusServiceUnavailable, "monitor tcp://127.0.0.1:6380 disconnected: connection reset")
}

func TestConnectionBadge(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	state := func() string {
		_, body := get(t, h.ts.URL+"/")
		m := regexp.MustCompile(`data-region="conn"><span class="[^"]*" data-state="([a-z]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no connection badge")
		}
		return m[1]
	}
	for _, step := range []struct {
		do   func()
		want string
	}{
		{func() {}, "connecting"},
		{func() { h.apply(t, connected()) }, "waiting"},
		{func() { h.apply(t, msg(status())) }, "live"},
		{func() { h.clock.Add(10 * time.Second); h.sync(t) }, "stale"},
		{func() { h.apply(t, monitor.Update{Err: errors.New("gone")}) }, "down"},
	} {
		step.do()
		if got := state(); got != step.want {
			t.Fatalf("badge %q, want %q", got, step.want)
		}
	}
	_, body := get(t, h.ts.URL+"/")
	if !strings.Contains(body, `id="stale-marker"`) {
		t.Error("overview shows no stale marker")
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	parse := func() (map[string]float64, string) {
		t.Helper()
		resp, body := get(t, h.ts.URL+"/metrics")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metrics: %s", resp.Status)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("content type %q", ct)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		out := map[string]float64{}
		for name, f := range families {
			for _, m := range f.Metric {
				key := name
				var labels []string
				for _, l := range m.Label {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				if len(labels) > 0 {
					key += "{" + strings.Join(labels, ",") + "}"
				}
				switch {
				case m.Gauge != nil:
					out[key] = m.Gauge.GetValue()
				case m.Counter != nil:
					out[key] = m.Counter.GetValue()
				}
			}
		}
		return out, body
	}

	got, _ := parse()
	if got["scaler_gui_monitor_connected"] != 0 || got["scaler_gui_scheduler_stale"] != 1 {
		t.Errorf("before connecting: %v %v", got["scaler_gui_monitor_connected"], got["scaler_gui_scheduler_stale"])
	}
	if _, ok := got["scaler_workers"]; ok {
		t.Error("worker count reported before any status report")
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	clusterWithEvilNames(t, h)
	h.apply(t, msg(status(worker(evilWorker, 300, 2, 8, 1), worker("Worker|plain", 950, 10, 0, 4))))
	got, body := parse()
	for key, want := range map[string]float64{
		"scaler_gui_monitor_connected":                                                 1,
		"scaler_gui_scheduler_stale":                                                   0,
		"scaler_gui_status_reports_total":                                              2,
		"scaler_scheduler_cpu_ratio":                                                   0.125,
		"scaler_scheduler_memory_bytes":                                                50 << 20,
		"scaler_scheduler_memory_free_bytes":                                           12 << 30,
		"scaler_scheduler_objects":                                                     11,
		"scaler_tasks{state=running}":                                                  1,
		"scaler_tasks{state=inactive}":                                                 2,
		"scaler_tasks_finished_total{state=success}":                                   7,
		"scaler_tasks_finished_total{state=failed}":                                    1,
		"scaler_scheduler_messages_received_total{type=WorkerHeartbeat}":               40,
		"scaler_scheduler_messages_sent_total{type=Task}":                              9,
		"scaler_workers":                                                               2,
		"scaler_worker_managers":                                                       1,
		"scaler_worker_managers_pending_workers":                                       3,
		"scaler_clients":                                                               2,
		"scaler_gui_unfinished_tasks":                                                  1,
		"scaler_worker_queued_tasks{manager=wm-1,worker=Worker|plain}":                 4,
		"scaler_worker_sent_tasks{manager=wm-1,worker=" + evilWorker + "}":             2,
		"scaler_worker_free_slots{manager=wm-1,worker=" + evilWorker + "}":             8,
		"scaler_worker_cpu_ratio{manager=wm-1,process=processors,worker=Worker|plain}": 0.95,
		"scaler_worker_lag_seconds{manager=wm-1,worker=Worker|plain}":                  0.0012,
		"scaler_manager_workers{manager=wm-1}":                                         2,
		"scaler_manager_pending_workers{manager=wm-1}":                                 3,
		"scaler_manager_max_concurrency{manager=wm-1}":                                 8,
		"scaler_client_tasks{client=Client|<b>bold</b>}":                               3,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if !strings.Contains(body, "# TYPE scaler_tasks_finished_total counter") || !strings.Contains(body, "# TYPE scaler_workers gauge") {
		t.Error("metric types missing")
	}
}

func TestManagersAndTasks(t *testing.T) {
	h := newHarness(t, 10*time.Millisecond)
	tid := protocol.NewTaskID()
	h.apply(t, connected(), msg(status(worker("w-1", 0, 0, 1, 0), worker("w-2", 0, 0, 1, 0))),
		msg(&protocol.StateTask{TaskID: tid[:], FunctionName: []byte("sqrt"), State: protocol.StateRunning, Worker: []byte("w-1")}))
	h.clock.Add(2 * time.Second)
	h.apply(t, msg(&protocol.StateTask{TaskID: tid[:], State: protocol.StateSuccess, Worker: []byte("w-1"),
		Metadata: protocol.ProfileResult{DurationS: 1.5, MemoryPeak: 64 << 20}.Encode()}))
	_, body := get(t, h.ts.URL+"/tasks")
	row := regexp.MustCompile(`<tr data-task="` + tid.String() + `">.*?</tr>`).FindString(body)
	for _, want := range []string{">sqrt<", "st-ok", ">success<", ">w-1<", ">1.5s<", ">64.0M<"} {
		if !strings.Contains(row, want) {
			t.Errorf("task row lacks %q: %s", want, row)
		}
	}

	// The manager vanishes: it stays listed, marked gone.
	st := status(worker("w-1", 0, 0, 1, 0), worker("w-2", 0, 0, 1, 0))
	st.Managers, st.ManagedWorkers = nil, nil
	h.clock.Add(3 * time.Second)
	h.apply(t, msg(st))
	h.clock.Add(4 * time.Second)
	h.apply(t, msg(st))
	_, body = get(t, h.ts.URL+"/managers")
	if !strings.Contains(body, `<tr data-manager="wm-1" class="gone">`) || !strings.Contains(body, "gone 4s ago") {
		t.Errorf("vanished manager not marked: %s", regexp.MustCompile(`<tbody>.*</tbody>`).FindString(body))
	}
	if !strings.Contains(body, "0 managers with 0 workers, 0 pending; 2 workers without a manager.") {
		t.Error("manager summary wrong")
	}
}

// TestLiveChannelSkipsWhatThePageShows connects as a freshly loaded page does, with the
// version it was rendered from: nothing is repeated, and the next change sends only itself.
func TestLiveChannelSkipsWhatThePageShows(t *testing.T) {
	h := newHarness(t, 20*time.Millisecond)
	h.apply(t, connected(), msg(status(worker("w-a", 10, 0, 5, 0))))
	// The hub publishes a new version every tick even when nothing changed, so a tick may
	// slip in between reading the version and connecting; then the server rightly sends a
	// full first message. Five such races in a row would be a bug, not bad luck.
	for attempt := 0; ; attempt++ {
		v := h.hub.Snapshot().Version
		ev := openEvents(t, fmt.Sprintf("%s/events?page=workers&v=%d", h.ts.URL, v))
		select {
		case e := <-ev.events:
			if attempt < 5 {
				continue
			}
			t.Fatalf("first message repeats the page: %.200s", e)
		case <-time.After(200 * time.Millisecond):
		}
		h.apply(t, msg(status(worker("w-a", 10, 0, 5, 0), worker("w-b", 10, 0, 5, 0))))
		var up liveUpdate
		if err := json.Unmarshal([]byte(ev.next(t, 5*time.Second)), &up); err != nil {
			t.Fatal(err)
		}
		if _, ok := up.Regions["conn"]; ok || len(up.Regions) != 1 {
			t.Errorf("after the change: regions %v", keys(up.Regions))
		}
		return
	}
}

// TestManyBrowsersShareRendering opens several live channels on one view: each region of a
// snapshot is rendered once for all of them.
func TestManyBrowsersShareRendering(t *testing.T) {
	var renders atomic.Int32
	saved := regions[pageClients]
	t.Cleanup(func() { regions[pageClients] = saved })
	var counted []region
	for _, rg := range saved {
		counted = append(counted, region{rg.name, func(v view, s *Snapshot) templ.Component {
			renders.Add(1)
			return rg.render(v, s)
		}})
	}
	regions[pageClients] = counted

	h := newHarness(t, time.Hour) // no tick: one snapshot for the whole test
	var first string
	for i := range 5 {
		e := openEvents(t, h.ts.URL+"/events?page=clients").next(t, 5*time.Second)
		if i == 0 {
			first = e
		} else if e != first {
			t.Errorf("browser %d got a different first message", i)
		}
	}
	if n := int(renders.Load()); n != len(saved) {
		t.Errorf("%d renderings for %d regions watched by 5 browsers", n, len(saved))
	}
}
