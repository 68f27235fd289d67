package web

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 1}, {0.3, 1}, {1, 1}, {1.01, 2}, {3, 5}, {7, 10}, {10, 10}, {11, 20}, {180, 200}, {201, 500}, {16900, 20000},
	} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestChartGeometry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	var samples []monitor.Sample
	// One sample per 30 s over 10 minutes; only the last 5 minutes are in the window.
	for i := 0; i <= 20; i++ {
		samples = append(samples, monitor.Sample{At: now.Add(-10 * time.Minute).Add(time.Duration(i) * 30 * time.Second), Value: float64(i * 10)})
	}
	c := newChart("t", now, 5*time.Minute, chartSeries{name: "s", class: "c", samples: samples, format: rateText})
	if c.Empty {
		t.Fatal("chart with samples is empty")
	}
	pts := strings.Fields(c.Series[0].Points)
	if len(pts) != 11 {
		t.Fatalf("%d points in the window, want 11", len(pts))
	}
	for _, p := range pts {
		xy := strings.Split(p, ",")
		x, _ := strconv.ParseFloat(xy[0], 64)
		y, _ := strconv.ParseFloat(xy[1], 64)
		if x < c.Left-0.05 || x > c.Right+0.05 || y < c.Top-0.05 || y > c.Bottom+0.05 {
			t.Errorf("point %s outside the plot area", p)
		}
	}
	// The last point is the peak (200 of a 200 axis) at the right edge, top.
	if pts[len(pts)-1] != coord(c.Right)+","+coord(c.Top) {
		t.Errorf("last point %s", pts[len(pts)-1])
	}
	if c.Series[0].Last != "200/s" || c.YTicks[4].Label != "200" {
		t.Errorf("legend %q, top tick %q", c.Series[0].Last, c.YTicks[4].Label)
	}
	if len(c.XTicks) != 6 || c.XTicks[0].Label != "-5m" || c.XTicks[5].Label != "now" {
		t.Errorf("x ticks %+v", c.XTicks)
	}
	if !strings.HasPrefix(c.Series[0].Area, coord(pts0x(pts))+","+coord(c.Bottom)) {
		t.Errorf("area does not start on the axis: %s", c.Series[0].Area[:20])
	}

	empty := newChart("t", now, 5*time.Minute, chartSeries{name: "s", samples: samples[:2], format: rateText})
	if !empty.Empty || empty.Series[0].Points != "" {
		t.Error("samples older than the window drawn")
	}

	// A dashboard that started 40 s ago shows its first minute, not a sliver of 5 minutes.
	young := newChart("t", now, 5*time.Minute, chartSeries{name: "s", format: rateText,
		samples: []monitor.Sample{{At: now.Add(-40 * time.Second), Value: 1}, {At: now, Value: 2}}})
	var labels []string
	for _, x := range young.XTicks {
		labels = append(labels, x.Label)
	}
	if got := strings.Join(labels, " "); got != "-60s -50s -40s -30s -20s -10s now" {
		t.Errorf("young chart ticks %q", got)
	}
	if first := strings.Fields(young.Series[0].Points)[0]; !strings.HasPrefix(first, coord(young.Left+(young.Right-young.Left)/3)+",") {
		t.Errorf("first point %s, want a third into the plot", first)
	}
}

func pts0x(pts []string) float64 {
	x, _ := strconv.ParseFloat(strings.Split(pts[0], ",")[0], 64)
	return x
}

func TestViewURLs(t *testing.T) {
	v := parseView(pageWorkers, url.Values{"sort": {"lag"}, "dir": {"desc"}, "p": {"3"}, "q": {"a&b"}})
	if v.URL() != "/workers?dir=desc&p=3&q=a%26b&sort=lag" {
		t.Errorf("URL %s", v.URL())
	}
	// Another column sorts numbers descending first and restarts paging; the same column flips.
	if got := v.sortURL("cpu"); got != "/workers?dir=desc&q=a%26b&sort=cpu" {
		t.Errorf("sortURL(cpu) = %s", got)
	}
	if got := v.sortURL("lag"); got != "/workers?q=a%26b&sort=lag" {
		t.Errorf("sortURL(lag) = %s", got)
	}
	if got := v.sortURL("name"); got != "/workers?q=a%26b" {
		t.Errorf("sortURL(name) = %s", got)
	}
	long := parseView(pageWorkers, url.Values{"q": {strings.Repeat("x", 1000)}})
	if len(long.Filter) != maxFilterLen {
		t.Errorf("filter of %d bytes kept", len(long.Filter))
	}
	// A cut through a multi-byte character leaves valid text.
	long = parseView(pageWorkers, url.Values{"q": {"x" + strings.Repeat("é", 300)}})
	if !utf8.ValidString(long.Filter) || len(long.Filter) != maxFilterLen-1 {
		t.Errorf("filter cut to %d bytes, valid %v", len(long.Filter), utf8.ValidString(long.Filter))
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{durationText(850 * time.Millisecond), "850ms"},
		{durationText(12340 * time.Millisecond), "12.3s"},
		{durationText(245 * time.Second), "4m05s"},
		{plural(1, "worker"), "1 worker"},
		{plural(1500, "worker"), "1,500 workers"},
		{barClass(cpuGauge(1234)), "w100 lvl-bad"},
		{barClass(cpuGauge(734)), "w75 lvl-warn"},
		{barClass(cpuGauge(12)), "w0 lvl-ok"},
		{barClass(fractionGauge(0.5)), "w50 lvl-ok"},
		{fractionText(0.256), "26%"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	w := monitor.WorkerRow{WorkerStatus: protocol.WorkerStatus{Agent: protocol.Resource{RSS: 1 << 20}, RSSFree: 4 << 20}, ProcRSS: 3 << 20}
	if memFraction(w) != 0.5 {
		t.Errorf("memory without a limit: %v", memFraction(w))
	}
	w.MemLimit = 16 << 20
	if memFraction(w) != 0.25 || memLimit(w) != 16<<20 {
		t.Errorf("memory with a limit: %v", memFraction(w))
	}
	if q := queueFraction(monitor.WorkerRow{WorkerStatus: protocol.WorkerStatus{Sent: 3, Free: 1}}); q != 0.75 {
		t.Errorf("queue %v", q)
	}
}

// TestSnapshotIsolation checks that a published snapshot does not change when the model
// moves on: handlers read snapshots while the hub goroutine keeps applying updates.
func TestSnapshotIsolation(t *testing.T) {
	m := monitor.NewModel(monitor.ModelConfig{})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tid := protocol.NewTaskID()
	m.Apply(monitor.Update{At: base, Connected: true})
	m.Apply(monitor.Update{At: base, Msg: status(worker("a", 1, 0, 1, 0), worker("b", 1, 0, 1, 0))})
	m.Apply(monitor.Update{At: base, Msg: &protocol.StateTask{TaskID: tid[:], FunctionName: []byte("f"), State: protocol.StateRunning}})
	s := buildSnapshot(m, base, 1, HubConfig{Model: monitor.ModelConfig{TaskLog: 10, StaleAfter: time.Second}})
	m.Apply(monitor.Update{At: base.Add(time.Second), Msg: status(worker("z", 1, 0, 1, 0))})
	m.Apply(monitor.Update{At: base.Add(time.Second), Msg: &protocol.StateTask{TaskID: tid[:], State: protocol.StateFailed}})
	if len(s.Workers) != 2 || s.Workers[0].Worker != "a" || len(s.Tasks) != 1 || s.Tasks[0].State != protocol.StateRunning {
		t.Errorf("snapshot changed under the reader: workers %d, task state %v", len(s.Workers), s.Tasks[0].State)
	}
	if len(s.Managers) != 1 || s.Managers[0].Connected != 2 || s.Managers[0].Desired() != 5 {
		t.Errorf("managers %+v", s.Managers)
	}
}

func TestHubPublishesAndStops(t *testing.T) {
	h := NewHub(HubConfig{Interval: time.Hour, Logger: quietLogger()})
	if h.Snapshot() == nil {
		t.Fatal("no initial snapshot")
	}
	first := h.Snapshot().Version
	if later := NewHub(HubConfig{Interval: time.Hour, Logger: quietLogger()}).Snapshot().Version; later < first || later > 1<<53 {
		t.Errorf("versions of a later hub: %d after %d (must grow and stay exact in JavaScript)", later, first)
	}
	updates := make(chan monitor.Update, 2)
	updates <- monitor.Update{At: time.Now(), Connected: true}
	close(updates)
	changed := h.Changed()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(context.Background(), updates)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run does not return when the updates end")
	}
	select {
	case <-changed:
	default:
		t.Fatal("no final snapshot")
	}
	if s := h.Snapshot(); !s.Connected || s.Version != first+1 {
		t.Errorf("final snapshot: connected %v version %d", s.Connected, s.Version)
	}
}
