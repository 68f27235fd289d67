package topview

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

func key(r rune) *tcell.EventKey { return tcell.NewEventKey(tcell.KeyRune, r, tcell.ModNone) }

func special(k tcell.Key) *tcell.EventKey { return tcell.NewEventKey(k, 0, tcell.ModNone) }

// pythonScreen is what the recorded Python dashboard shows (top_screen.txt).
type pythonScreen struct {
	band      [][2]string // key/value pairs of the upper band
	shortcuts []string
	total     string
	workers   [][]string // manager (maybe ""), worker prefix, then the 11 figures
	clients   [][2]string
}

func readPythonScreen(t *testing.T, scenario string) pythonScreen {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(interopDir, scenario, "top_screen.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var p pythonScreen
	ls := strings.Split(string(data), "\n")
	i := 1 // the titles row
	for ; !strings.HasPrefix(ls[i], "---"); i++ {
		for _, part := range strings.Split(ls[i], "|") {
			f := strings.Fields(part)
			if len(f) == 2 {
				p.band = append(p.band, [2]string{f[0], f[1]})
			} else if len(f) != 0 {
				t.Fatalf("unexpected band cell %q", part)
			}
		}
	}
	p.shortcuts = strings.Fields(strings.TrimPrefix(ls[i+1], "Shortcuts:"))
	p.total = strings.TrimSpace(ls[i+3])
	for _, l := range ls[i+5:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		left, right, _ := strings.Cut(l, " | ")
		f := strings.Fields(left)
		if !strings.HasPrefix(f[0], "Worker|") {
			f[0] = strings.TrimSuffix(f[0], "+")
		} else {
			f = append([]string{""}, f...)
		}
		f[1] = strings.TrimSuffix(f[1], "+")
		p.workers = append(p.workers, f)
		if c := strings.Fields(right); len(c) == 2 {
			p.clients = append(p.clients, [2]string{strings.TrimSuffix(c[0], "+"), c[1]})
		}
	}
	if len(p.band) < 20 || len(p.workers) == 0 || len(p.clients) == 0 {
		t.Fatalf("could not read the Python screen: %+v", p)
	}
	return p
}

// TestRecordedScreenMatchesPython renders the snapshot the recorded Python dashboard shows
// and finds every figure of the Python screen on ours: the band's key/value pairs, the
// totals, each worker row's figures (same column order) and the client table.
func TestRecordedScreenMatchesPython(t *testing.T) {
	for _, scenario := range []string{"c_ymq_monitor", "c_zmq_monitor"} {
		t.Run(scenario, func(t *testing.T) {
			m, shown := shownModel(t, scenario)
			if m.Latest == nil || m.LatestAt != at(shown.TMS) {
				t.Fatalf("the snapshot at %.3f ms is not the latest (latest at %v)", shown.TMS, m.LatestAt)
			}
			py := readPythonScreen(t, scenario)
			s := newScreen(t, 200, 50)
			New(Options{Address: "tcp://127.0.0.1:27528"}).Draw(s, m, at(shown.TMS+200))
			ls := lines(s)
			screen := strings.Join(ls, "\n")
			for _, kv := range py.band {
				re := regexp.MustCompile(`(^|[ |])` + regexp.QuoteMeta(kv[0]) + ` +` + regexp.QuoteMeta(kv[1]) + `( |$)`)
				if !re.MatchString(screen) {
					t.Errorf("band: %s = %s not on our screen", kv[0], kv[1])
				}
			}
			if row(ls, py.total) < 0 {
				t.Errorf("totals line %q missing", py.total)
			}
			want := strings.Join(py.shortcuts, " ")
			want = strings.Replace(want, " rss_free[F]", " os_rss_free[F]", 1)
			if row(ls, "Shortcuts: "+want) < 0 {
				t.Errorf("shortcut line %q missing", want)
			}
			for _, w := range py.workers {
				y := row(ls, w[1])
				if y < 0 {
					t.Errorf("worker %s missing", w[1])
					continue
				}
				f := strings.Fields(ls[y])
				if w[0] != "" && f[0] != w[0] {
					t.Errorf("worker %s: manager %q, Python shows %q", w[1], f[0], w[0])
				}
				if w[0] == "" && strings.HasPrefix(ls[y], " ") == false {
					t.Errorf("worker %s has a manager on our screen, none on Python's: %q", w[1], ls[y])
				}
				at := slices.IndexFunc(f, func(s string) bool { return strings.HasPrefix(s, w[1]) })
				if got := f[at+1 : at+1+len(w)-2]; !slices.Equal(got, w[2:]) {
					t.Errorf("worker %s: figures %v, Python shows %v", w[1], got, w[2:])
				}
			}
			for _, c := range py.clients {
				if row(ls, c[0], " "+c[1]) < 0 {
					t.Errorf("client %s with %s tasks missing", c[0], c[1])
				}
			}
			if t.Failed() {
				dump(t, ls)
			}
		})
	}
}

// TestColumnHeaders checks every header of the worker and client tables, in the Python
// order, with the default sort (cpu) bracketed.
func TestColumnHeaders(t *testing.T) {
	m, shown := shownModel(t, "c_ymq_monitor")
	s := newScreen(t, 200, 50)
	New(Options{}).Draw(s, m, at(shown.TMS))
	ls := lines(s)
	want := []string{"manager", "worker", "agt_cpu", "agt_rss", "[cpu]", "rss", "os_rss_free", "free", "sent",
		"queued", "suspended", "lag", "ITL", "|", "client_manager"}
	y := row(ls, "manager", " worker ")
	if y < 0 {
		dump(t, ls)
		t.Fatal("no worker table header")
	}
	if got := strings.Fields(ls[y]); !slices.Equal(got, want) {
		t.Errorf("headers %q, want %q", got, want)
	}
	// The upper band's sections, titles and every task state (alphabetically).
	for _, title := range []string{"scheduler", "object_manager", "task_manager", "scheduler_sent", "scheduler_received"} {
		if row(ls, title) < 0 {
			t.Errorf("section %s missing", title)
		}
	}
	var states []string
	for _, l := range ls {
		for _, s := range []string{"balanceCanceled", "balanceCanceling", "canceled", "canceledNotFound", "canceling",
			"failed", "failedWorkerDied", "inactive", "running", "success", "workerDisconnecting"} {
			if regexp.MustCompile(`\| +` + s + ` +\d`).MatchString(l) {
				states = append(states, s)
			}
		}
	}
	if !slices.IsSorted(states) || len(states) != 11 {
		t.Errorf("task states %v: want all 11, alphabetically", states)
	}
}

// workerOrder reads the worker table: the row index in ws of each screen row, identified by
// the start of the shortened worker id.
func workerOrder(t *testing.T, ls []string, ws []monitor.WorkerRow) []int {
	t.Helper()
	y := row(ls, "manager", "worker", "agt_cpu", "os_rss_free", "ITL")
	if y < 0 {
		dump(t, ls)
		t.Fatal("no worker table")
	}
	var out []int
	for _, l := range ls[y+1:] {
		i := slices.IndexFunc(ws, func(w monitor.WorkerRow) bool {
			head, _, _ := strings.Cut(monitor.ShortenID(w.Worker, 24), "…")
			return strings.Contains(l, head)
		})
		if i < 0 {
			break
		}
		out = append(out, i)
	}
	return out
}

// TestSortKeys presses every sort shortcut, twice, and checks the bracketed header and the
// order of the rows by the raw figures, descending then ascending.
func TestSortKeys(t *testing.T) {
	now := base
	m := syntheticModel(30, now)
	ws := m.Workers()
	s := newScreen(t, 200, 50)
	v := New(Options{})
	v.Draw(s, m, now)
	check := func(col Column, desc bool) {
		t.Helper()
		ls := lines(s)
		if row(ls, "["+col.String()+"]") < 0 {
			t.Errorf("%s: header not bracketed", col)
		}
		order := workerOrder(t, ls, ws)
		if len(order) != len(ws) {
			t.Fatalf("%s: %d rows on screen, want %d", col, len(order), len(ws))
		}
		for k := 1; k < len(order); k++ {
			a, b := &ws[order[k-1]], &ws[order[k]]
			d := columns[col].cmp(a, b)
			if (desc && d < 0) || (!desc && d > 0) {
				t.Fatalf("%s desc=%v: row %d (%s) before row %d (%s)", col, desc, k-1, columns[col].cell(a), k, columns[col].cell(b))
			}
		}
	}
	check(ColCPU, true) // the default
	for _, col := range shortcuts {
		r := columns[col].key
		if v.Key(key(r)) {
			t.Fatalf("%c quit", r)
		}
		v.Draw(s, m, now)
		if c, desc := v.Sort(); c != col || !desc {
			t.Fatalf("after %c: sort %s desc=%v", r, c, desc)
		}
		check(col, true)
		v.Key(key(r))
		v.Draw(s, m, now)
		check(col, false)
	}
}

// TestSortByRawValues: sizes, CPU and latencies sort by their numbers, not their text
// ("2.0M" > "900K", "2.5s" > "900.0ms"); F (os_rss_free), which kills the Python dashboard,
// sorts too.
func TestSortByRawValues(t *testing.T) {
	st := &protocol.StateScheduler{Workers: []protocol.WorkerStatus{
		{WorkerID: []byte("Worker|small"), Agent: protocol.Resource{RSS: 900 << 10}, RSSFree: 900 << 20, LagUS: 900_000},
		{WorkerID: []byte("Worker|large"), Agent: protocol.Resource{RSS: 2 << 20}, RSSFree: 2 << 30, LagUS: 2_500_000},
	}}
	m := stateModel(st)
	s := newScreen(t, 120, 30)
	for _, r := range []rune{'M', 'F', 'l'} {
		v := New(Options{})
		v.Key(key(r))
		v.Draw(s, m, base)
		ls := lines(s)
		if large, small := row(ls, "Worker|large"), row(ls, "Worker|small"); large < 0 || small < 0 || large > small {
			dump(t, ls)
			t.Errorf("%c: the larger figure must come first (rows %d, %d)", r, large, small)
		}
	}
}

func TestFilter(t *testing.T) {
	m, shown := shownModel(t, "c_ymq_monitor")
	now := at(shown.TMS)
	s := newScreen(t, 200, 50)
	v := New(Options{})
	for _, r := range "/naT" {
		if v.Key(key(r)) {
			t.Fatal("a key of the filter quit")
		}
	}
	v.Draw(s, m, now)
	ls := lines(s)
	if row(ls, "filter workers: naT") != 49 {
		dump(t, ls)
		t.Fatal("the prompt is not on the last line")
	}
	// The table previews the filter while it is typed (case-insensitive).
	if row(ls, "Worker|NAT|") < 0 || row(ls, "Worker|FIX|") >= 0 {
		t.Errorf("preview does not filter")
	}
	if v.Key(key('q')) || !v.Editing() {
		t.Fatal("q in the prompt must be typed, not quit")
	}
	v.Key(special(tcell.KeyBackspace))
	v.Key(special(tcell.KeyEnter))
	v.Draw(s, m, now)
	ls = lines(s)
	if v.Editing() || v.Filter() != "naT" {
		t.Fatalf("after Enter: editing=%v filter=%q", v.Editing(), v.Filter())
	}
	if row(ls, `filter "naT": 1 of 2`) < 0 || row(ls, "Worker|FIX|") >= 0 {
		dump(t, ls)
		t.Error("applied filter not shown")
	}
	// The filter matches manager ids too.
	v.Key(key('/'))
	v.Key(special(tcell.KeyCtrlU))
	for _, r := range "wm-gpu" {
		v.Key(key(r))
	}
	v.Key(special(tcell.KeyEnter))
	v.Draw(s, m, now)
	if ls = lines(s); row(ls, "Worker|NAT|") < 0 || row(ls, "Worker|FIX|") >= 0 {
		t.Error("filter by manager id")
	}
	// Nothing matches: say so.
	v.Key(key('/'))
	v.Key(key('x'))
	v.Key(special(tcell.KeyEnter))
	v.Draw(s, m, now)
	if ls = lines(s); row(ls, `No workers match "wm-gpux"`) < 0 {
		dump(t, ls)
		t.Error("empty filter result not explained")
	}
	v.Key(special(tcell.KeyEscape))
	v.Draw(s, m, now)
	if ls = lines(s); v.Filter() != "" || row(ls, "Worker|NAT|") < 0 || row(ls, "Worker|FIX|") < 0 {
		t.Error("Esc did not clear the filter")
	}
	// Esc inside the prompt clears too.
	v.Key(key('/'))
	v.Key(key('z'))
	v.Key(special(tcell.KeyEscape))
	if v.Editing() || v.Filter() != "" {
		t.Errorf("Esc in the prompt: editing=%v filter=%q", v.Editing(), v.Filter())
	}
}

// TestResize draws the same model at 200×50, 80×24 and back, as a live resize does, and
// below the smallest usable size.
func TestResize(t *testing.T) {
	m, shown := shownModel(t, "c_ymq_monitor")
	now := at(shown.TMS)
	s := newScreen(t, 200, 50)
	v := New(Options{Address: "tcp://127.0.0.1:27528"})
	v.Draw(s, m, now)
	big := lines(s)
	if row(big, "scheduler ", "| object_manager", "task_manager", "scheduler_sent", "scheduler_received", "| tasks/s") < 0 {
		dump(t, big)
		t.Fatal("the wide band is not in one row")
	}

	s.SetSize(80, 24)
	v.Draw(s, m, now)
	small := lines(s)
	for _, want := range [][]string{
		{"scheduler", "cpu 13.0%", "rss 23.7M", "rss_free 22.8G", "object_manager", "num_of_objs 383"},
		{"task_manager", "messages", "sent", "recv"},
		{"canceled   0 |", "ObjectInstruction    0  182"},
		{"running  28 |", "WorkerManagerHeartbeat    0    8"},
		{"Shortcuts: manager[g]"},
		{"lag[l]"},
		{"Total 1 manager(s) with 2 worker(s)"},
		{"manager", "worker", "agt_cpu", "[cpu]", "▶"},
		{"Worker|FIX", "0.0%", "23.4M", "22.8G", "980", "20"},
		{"wm-gpu", "Worker|NAT", "992", "8"},
		{"client_manager"},
		{"Client|452e8878e86b4ebd9812abd8ae3cce2c 28"},
		{"tasks/s 172"},
	} {
		if row(small, want...) < 0 {
			dump(t, small)
			t.Fatalf("80x24: %q missing", want)
		}
	}
	if !strings.HasPrefix(small[23], "q quit") {
		t.Errorf("help line not at the bottom: %q", small[23])
	}
	// The columns that do not fit scroll into view with → and come back with ←.
	for range 5 {
		v.Key(special(tcell.KeyRight))
	}
	v.Draw(s, m, now)
	if ls := lines(s); row(ls, "worker", "◀", "lag", "ITL") < 0 || row(ls, "Worker|FIX", "0.4ms", "110") < 0 {
		dump(t, ls)
		t.Fatal("→ does not bring the last columns into view")
	}
	// Sorting by a hidden column brings it into view.
	v.Key(special(tcell.KeyLeft))
	v.Key(special(tcell.KeyLeft))
	v.Key(special(tcell.KeyLeft))
	v.Key(special(tcell.KeyLeft))
	v.Key(special(tcell.KeyLeft))
	v.Key(key('l'))
	v.Draw(s, m, now)
	if ls := lines(s); row(ls, "worker", "[lag]") < 0 {
		dump(t, ls)
		t.Fatal("the sort column was not scrolled into view")
	}

	s.SetSize(200, 50)
	v.Draw(s, m, now)
	if again := lines(s); row(again, "Worker|FIX|3e93bead9bda40b2", "0.4ms", "110 |") < 0 ||
		row(again, "Worker|NAT|50eb43f90ebb4061", "0.7ms", "100 |", "Client|452e8878e86b4ebd9812abd8ae3cce2c 28") < 0 {
		dump(t, again)
		t.Fatal("back at 200x50 the wide table is not restored")
	}

	s.SetSize(40, 12)
	v.Draw(s, m, now)
	if ls := lines(s); row(ls, "terminal too small: 40x12") < 0 || row(ls, "needs at least") < 0 {
		dump(t, ls)
		t.Fatal("no 'too small' message")
	}
}

// TestBanner: the title bar turns into a "no data" banner after the timeout without a
// snapshot, says when the connection is lost, and goes when data comes back.
func TestBanner(t *testing.T) {
	m, shown := shownModel(t, "c_ymq_monitor")
	last := at(shown.TMS)
	s := newScreen(t, 120, 40)
	v := New(Options{Address: "tcp://127.0.0.1:27528", Timeout: 5 * time.Second})

	v.Draw(s, m, last.Add(2*time.Second))
	if ls := lines(s); !strings.Contains(ls[0], "connected") || strings.Contains(ls[0], "no data") {
		t.Fatalf("title bar before the timeout: %q", ls[0])
	}
	v.Draw(s, m, last.Add(7*time.Second))
	ls := lines(s)
	if !strings.Contains(ls[0], "no data for 7s") || !strings.Contains(ls[0], "connected to tcp://127.0.0.1:27528") {
		t.Fatalf("banner after the timeout: %q", ls[0])
	}
	if fg, bg, _ := styleAt(s, 0, 0).Decompose(); bg != tcell.ColorMaroon || fg != tcell.ColorWhite {
		t.Errorf("banner colours %v on %v", fg, bg)
	}
	// The last figures stay on screen under the banner.
	if row(ls, "num_of_objs 383") < 0 {
		t.Error("the last snapshot is no longer shown")
	}

	m.Apply(monitor.Update{At: last.Add(8 * time.Second), Err: fmt.Errorf("connection reset by peer")})
	v.Draw(s, m, last.Add(9*time.Second))
	if ls := lines(s); !strings.Contains(ls[0], "no data for 9s · connection lost (connection reset by peer) · retrying tcp://127.0.0.1:27528") {
		t.Fatalf("banner after a disconnect: %q", ls[0])
	}

	m.Apply(monitor.Update{At: last.Add(10 * time.Second), Connected: true})
	m.Apply(monitor.Update{At: last.Add(10 * time.Second), Msg: m.Latest})
	v.Draw(s, m, last.Add(10*time.Second))
	if ls := lines(s); strings.Contains(ls[0], "no data") || !strings.Contains(ls[0], "connected") {
		t.Fatalf("banner stays after data came back: %q", ls[0])
	}
}

// TestScrolling pages through more workers than the screen holds.
func TestScrolling(t *testing.T) {
	m := syntheticModel(100, base)
	ws := m.Workers()
	s := newScreen(t, 200, 50)
	v := New(Options{})
	v.Draw(s, m, base)
	first := workerOrder(t, lines(s), ws)
	if len(first) == 0 || len(first) >= 100 {
		t.Fatalf("%d rows on the first page", len(first))
	}
	if row(lines(s), fmt.Sprintf("rows 1-%d of 100", len(first))) < 0 {
		t.Error("no row range on the totals line")
	}
	v.Key(special(tcell.KeyPgDn))
	v.Draw(s, m, base)
	second := workerOrder(t, lines(s), ws)
	if len(second) == 0 || second[0] == first[0] || slices.Contains(first, second[0]) {
		t.Errorf("PgDn did not move a page: %v then %v", first[:3], second[:3])
	}
	v.Key(special(tcell.KeyEnd))
	v.Draw(s, m, base)
	if ls := lines(s); row(ls, "of 100") < 0 || row(ls, fmt.Sprintf("-100 of 100")) < 0 {
		dump(t, ls)
		t.Error("End does not show the last rows")
	}
	v.Key(special(tcell.KeyHome))
	v.Draw(s, m, base)
	if got := workerOrder(t, lines(s), ws); !slices.Equal(got, first) {
		t.Error("Home does not go back to the top")
	}
}

// TestChart: the throughput of the map shows in the side chart of a big terminal and in
// the title bar's sparkline of a narrower one.
func TestChart(t *testing.T) {
	m, shown := shownModel(t, "c_ymq_monitor")
	now := at(shown.TMS)
	s := newScreen(t, 200, 50)
	New(Options{}).Draw(s, m, now)
	ls := lines(s)
	y := row(ls, "tasks/s, last ")
	if y < 0 {
		dump(t, ls)
		t.Fatal("no chart panel")
	}
	bars := 0
	for _, l := range ls[y+1 : y+12] {
		bars += strings.Count(l, "█")
	}
	if bars < 10 {
		dump(t, ls)
		t.Errorf("the map's burst shows as %d full blocks", bars)
	}
	s.SetSize(130, 30)
	New(Options{}).Draw(s, m, now)
	if ls := lines(s); !strings.Contains(ls[0], "tasks/s 172") || !strings.Contains(ls[0], "█") {
		t.Errorf("no sparkline in the title bar: %q", ls[0])
	}
}

// TestQuitKeys: q and Ctrl-C quit; other keys do not.
func TestQuitKeys(t *testing.T) {
	v := New(Options{})
	if !v.Key(key('q')) || !New(Options{}).Key(tcell.NewEventKey(tcell.KeyCtrlC, 'c', tcell.ModCtrl)) {
		t.Error("q or Ctrl-C does not quit")
	}
	if v.Key(key('x')) || v.Key(special(tcell.KeyF1)) {
		t.Error("a stray key quit")
	}
}

// TestBandHysteresis: once the band had to go narrow at a width, it goes wide again only
// with room to spare, so figures hovering at the limit do not flip the layout each frame.
func TestBandHysteresis(t *testing.T) {
	state := func(sent uint32) *monitor.Model {
		return stateModel(&protocol.StateScheduler{Sent: []protocol.Counter{{Name: "Task", Number: sent}}})
	}
	wideWidth := func(m *monitor.Model) int {
		b, ok := planBand(m.Latest, 1000, 50, 0)
		if !ok || !b.wide {
			t.Fatal("no wide band at 1000 columns")
		}
		return b.w
	}
	small, big := state(9), state(99999)
	w := wideWidth(small)
	if wideWidth(big) <= w {
		t.Fatal("the bigger figure does not widen the band")
	}
	s := newScreen(t, w, 40)
	v := New(Options{})
	isWide := func(m *monitor.Model) bool {
		v.Draw(s, m, base)
		return row(lines(s), "scheduler_sent") >= 0
	}
	if !isWide(small) {
		t.Fatal("the band does not fit its own width")
	}
	if isWide(big) {
		t.Fatal("a band wider than the screen stayed wide")
	}
	if isWide(small) {
		t.Error("the band went wide again without room to spare")
	}
	s.SetSize(w+bandHysteresis, 40)
	if !isWide(small) {
		t.Error("the band stays narrow with room to spare")
	}
}
