// Package topview is scaler_top's dashboard: it lays out and draws a monitor.Model on a
// tcell.Screen and turns key presses into sorting, filtering and scrolling.
//
// The screen has the sections of the Python dashboard (spec/features.md §4): the scheduler's
// cpu/rss/rss_free, the object count, the task state counters, the messages sent and
// received by type, the shortcut line, the manager/worker totals, the worker table with its
// sort shortcuts and the client table. Beyond it: a title bar that turns into a "no data for
// N s" banner when the stream stops, a task-throughput chart, a worker filter (/), scrolling
// for tables taller or wider than the terminal, and a help line. It fits 80×24 and spreads
// out on bigger terminals.
//
// View holds what the user chose between frames; Run is the event loop that feeds it keys
// and monitor updates.
package topview

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

// DefaultTimeout is how long without a status snapshot before the banner shows, as the
// Python dashboard's --timeout default.
const DefaultTimeout = 5 * time.Second

// DefaultChartWindow is the period the throughput chart covers.
const DefaultChartWindow = 5 * time.Minute

// Options configure a View.
type Options struct {
	// Address is the monitor address, shown in the title bar and the banner.
	Address string
	// Timeout is how long without a status snapshot before the "no data" banner shows
	// (scaler_top --timeout); zero means DefaultTimeout.
	Timeout time.Duration
	// ChartWindow is the period of the throughput chart; zero means DefaultChartWindow.
	ChartWindow time.Duration
}

// View is the dashboard between frames: the sort, the filter and the scroll position the
// user chose, and scratch space every frame reuses. Like the Model it draws, it belongs to
// one goroutine.
type View struct {
	opts Options

	sort Column
	asc  bool

	filter  string // the applied filter, as typed
	editing bool   // the filter prompt is open; the table previews input
	input   []rune

	top    int  // index of the first worker row shown
	left   int  // first scrolled column shown when the table is wider than the screen
	reveal bool // bring the sort column into view at the next frame

	page     int // worker rows the last frame showed, for PgUp/PgDn
	narrowAt int // terminal width at which the last frame used the narrow band, else 0

	rows  []*monitor.WorkerRow
	cells [][numColumns]string
}

// New returns a view sorted by cpu, descending, like the Python dashboard.
func New(o Options) *View {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ChartWindow <= 0 {
		o.ChartWindow = DefaultChartWindow
	}
	return &View{opts: o, sort: ColCPU, page: 1}
}

// Sort returns the sort column and whether the order is descending.
func (v *View) Sort() (Column, bool) { return v.sort, !v.asc }

// Filter returns the worker filter in effect ("" for none); while the prompt is open it is
// the text typed so far.
func (v *View) Filter() string {
	if v.editing {
		return string(v.input)
	}
	return v.filter
}

// Editing reports whether the filter prompt is open (keys go to the prompt).
func (v *View) Editing() bool { return v.editing }

// maxFilter bounds the filter text; worker names are far shorter.
const maxFilter = 128

// Key applies one key press and reports whether the user asked to quit (q or Ctrl-C).
func (v *View) Key(ev *tcell.EventKey) (quit bool) {
	if ev.Key() == tcell.KeyCtrlC {
		return true
	}
	if v.editing {
		v.promptKey(ev)
		return false
	}
	switch ev.Key() {
	case tcell.KeyEscape:
		v.filter, v.top = "", 0
	case tcell.KeyUp:
		v.top--
	case tcell.KeyDown:
		v.top++
	case tcell.KeyPgUp:
		v.top -= v.page
	case tcell.KeyPgDn:
		v.top += v.page
	case tcell.KeyHome:
		v.top = 0
	case tcell.KeyEnd:
		v.top = 1 << 30 // clamped by the next frame, which knows the row count
	case tcell.KeyLeft:
		v.left--
	case tcell.KeyRight:
		v.left++
	case tcell.KeyRune:
		switch r := ev.Rune(); r {
		case 'q':
			return true
		case '/':
			v.editing, v.input = true, []rune(v.filter)
		default:
			if c, ok := ColumnForKey(r); ok {
				v.SortBy(c)
			}
		}
	}
	return false
}

// SortBy sorts by c, descending; when c is already the sort column it flips the direction.
func (v *View) SortBy(c Column) {
	if c == v.sort {
		v.asc = !v.asc
	} else {
		v.sort, v.asc = c, false
	}
	v.reveal = true
}

func (v *View) promptKey(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEnter:
		v.filter, v.editing, v.top = strings.TrimSpace(string(v.input)), false, 0
	case tcell.KeyEscape:
		v.filter, v.editing, v.input, v.top = "", false, nil, 0
	case tcell.KeyBackspace, tcell.KeyDEL:
		if n := len(v.input); n > 0 {
			v.input = v.input[:n-1]
		}
	case tcell.KeyCtrlU:
		v.input = v.input[:0]
	case tcell.KeyRune:
		if len(v.input) < maxFilter {
			v.input = append(v.input, ev.Rune())
		}
		v.top = 0
	}
}

// frame is what one frame shows, gathered from the model.
type frame struct {
	m       *monitor.Model
	now     time.Time
	st      *protocol.StateScheduler
	rows    []*monitor.WorkerRow // filtered and sorted
	workers int                  // before the filter
	clients []protocol.ClientTasks
}

var emptyState = &protocol.StateScheduler{}

func (v *View) gather(m *monitor.Model, now time.Time) frame {
	f := frame{m: m, now: now, st: m.Latest}
	if f.st == nil {
		f.st = emptyState
	}
	all := m.Workers()
	f.workers = len(all)
	v.rows = monitor.SelectWorkers(v.rows[:0], all, v.Filter(), columns[v.sort].cmp, !v.asc)
	f.rows = v.rows
	f.clients = slices.Clone(m.Clients())
	slices.SortFunc(f.clients, func(a, b protocol.ClientTasks) int { return strings.Compare(string(a.Client), string(b.Client)) })
	return f
}

// Draw renders one frame of m as of now on s and shows it.
func (v *View) Draw(s tcell.Screen, m *monitor.Model, now time.Time) {
	s.Clear()
	w, h := s.Size()
	c := &canvas{s: s, w: w, h: h}
	f := v.gather(m, now)
	s.HideCursor()

	// Figures grow and shrink with the cluster; a band that just had to go narrow waits for
	// some room to spare before going wide again, so it does not flip at every snapshot.
	margin := 0
	if v.narrowAt == w {
		margin = bandHysteresis
	}
	b, ok := planBand(f.st, w, h, margin)
	if v.narrowAt = 0; ok && !b.wide {
		v.narrowAt = w
	}
	shortcutLines := v.shortcutLines(w)
	// title bar, band, rule, shortcuts, totals, table header and one row, help line
	need := 1 + b.infoLines() + b.h + 1 + len(shortcutLines) + 1 + 2 + 1
	if !ok || h < need || w < minWidth {
		v.drawTooSmall(c, b, f)
		s.Show()
		return
	}

	// The throughput chart goes beside the band when there is room, else into the title bar.
	side := w - b.w - width(bandSep)
	panel := side >= minSideChart && b.h >= 4
	if panel {
		t := newThroughput(m, now, v.opts.ChartWindow, side)
		t.drawPanel(c, b.w+width(bandSep), 1+b.infoLines(), b.h)
		b.separator(c, b.w, 1+b.infoLines())
	}
	v.drawTitle(c, f, !panel)
	y := 1
	b.draw(c, y)
	y += b.infoLines() + b.h
	c.fill(0, y, w, "-", styleDim)
	y++
	for _, line := range shortcutLines {
		v.drawShortcuts(c, y, line)
		y++
	}
	totalsY := y
	y++
	shown := v.drawTables(c, f, y, h-1-y)
	v.drawTotals(c, f, totalsY, shown)
	v.drawHelp(c)
	s.Show()
}

// bandHysteresis is the room the wide band needs beyond its width to replace the narrow one
// at the same terminal width.
const bandHysteresis = 4

// minWidth is the narrowest terminal the worker table can use.
const minWidth = 50

// minSideChart is the narrowest room beside the band worth a chart panel; with less the
// title bar carries a one-line sparkline instead.
const minSideChart = 24

func (t *throughput) drawPanel(c *canvas, x, y, h int) {
	head := "tasks/s, last " + formatWindow(t.window)
	n := c.text(x, y, head, styleBold, c.w-x)
	c.text(x+n, y, "  now "+monitor.FormatRate(t.now)+"  peak "+monitor.FormatRate(t.peak), styleNormal, c.w-x-n)
	t.draw(c, x, y+1, h-1)
}

// drawTitle paints row 0: the title bar (with a throughput sparkline at its right end when
// sparkline is set), or the banner when no data arrives.
func (v *View) drawTitle(c *canvas, f frame, sparkline bool) {
	m := f.m
	silence := m.Silence(f.now)
	if !m.Connected || silence >= v.opts.Timeout {
		msg := " no data for " + monitor.FormatAge(silence)
		if m.Connected {
			msg += " · connected to " + v.opts.Address + ", waiting for the scheduler's status"
		} else {
			msg += " · connection lost"
			if m.LastError != nil {
				msg += " (" + m.LastError.Error() + ")"
			}
			msg += " · retrying " + v.opts.Address
		}
		c.fill(0, 0, c.w, " ", styleBanner)
		c.text(0, 0, msg, styleBanner, c.w)
		return
	}
	c.fill(0, 0, c.w, " ", styleBar)
	x := c.text(0, 0, " scaler_top ", styleBar.Bold(true), c.w)
	if v.opts.Address != "" {
		x += c.text(x, 0, v.opts.Address+" · ", styleBar, c.w-x)
	}
	x += c.text(x, 0, "connected", styleBar, c.w-x)
	if m.Latest != nil && silence >= staleStatus {
		x += c.text(x, 0, " · status "+monitor.FormatAge(silence)+" old", styleBar, c.w-x)
	}
	if !sparkline {
		return
	}
	label := "tasks/s "
	if k := len(m.Throughput); k > 0 {
		label += monitor.FormatRate(m.Throughput[k-1].Value) + " "
	}
	n := min(maxSparkline, c.w-x-width(label)-3)
	if n < minSparkline {
		return
	}
	spark := newThroughput(m, f.now, v.opts.ChartWindow, n)
	start := c.w - 1 - len(spark.vals) - width(label)
	c.text(start, 0, label, styleBar, width(label))
	for i := range spark.vals {
		c.s.Put(start+width(label)+i, 0, spark.glyph(i, 0, 1), styleBar)
	}
}

// Sizes of the title bar's sparkline.
const (
	minSparkline = 8
	maxSparkline = 40
)

// staleStatus is the snapshot age from which the title bar shows it: with the default
// one-second status interval a younger one is simply current.
const staleStatus = 2 * time.Second

// shortcutLines wraps the shortcut list to w columns; each line is a list of columns, the
// first line starting with "Shortcuts:".
func (v *View) shortcutLines(w int) [][]Column {
	var lines [][]Column
	var cur []Column
	x := width("Shortcuts:")
	for _, col := range shortcuts {
		n := 1 + width(columns[col].name) + 3
		if x+n > w && len(cur) > 0 {
			lines = append(lines, cur)
			cur, x = nil, 0
		}
		cur = append(cur, col)
		x += n
	}
	return append(lines, cur)
}

func (v *View) drawShortcuts(c *canvas, y int, line []Column) {
	x := 0
	if line[0] == shortcuts[0] {
		x += c.text(x, y, "Shortcuts:", styleNormal, c.w)
	}
	for i, col := range line {
		if i > 0 || x > 0 {
			x += c.text(x, y, " ", styleNormal, c.w-x)
		}
		st := styleNormal
		if col == v.sort {
			st = styleBold
		}
		x += c.text(x, y, columns[col].name+"[", st, c.w-x)
		x += c.text(x, y, string(columns[col].key), styleBold, c.w-x)
		x += c.text(x, y, "]", st, c.w-x)
	}
}

// drawTotals paints the Python totals line, then what the table shows of the workers.
func (v *View) drawTotals(c *canvas, f frame, y int, shown tableShown) {
	managers := 0
	if f.m.Latest != nil {
		managers = len(f.m.Latest.Managers)
	}
	line := "Total " + strconv.Itoa(managers) + " manager(s) with " + strconv.Itoa(f.workers) + " worker(s)"
	if p := f.m.PendingWorkers(); p > 0 {
		line += ", " + strconv.FormatUint(p, 10) + " pending"
	}
	x := c.text(0, y, line, styleNormal, c.w)
	var notes []string
	if flt := v.Filter(); flt != "" {
		notes = append(notes, "filter \""+flt+"\": "+strconv.Itoa(len(f.rows))+" of "+strconv.Itoa(f.workers))
	}
	if shown.last-shown.first < len(f.rows) && len(f.rows) > 0 {
		notes = append(notes, "rows "+strconv.Itoa(shown.first+1)+"-"+strconv.Itoa(shown.last)+" of "+strconv.Itoa(len(f.rows)))
	}
	dir := "↓"
	if v.asc {
		dir = "↑"
	}
	notes = append(notes, "sort "+v.sort.String()+" "+dir)
	if shown.clientsHidden > 0 {
		notes = append(notes, strconv.Itoa(shown.clientsHidden)+" of "+strconv.Itoa(len(f.clients))+" client(s) not shown")
	}
	c.text(x, y, "   "+strings.Join(notes, " · "), styleDim, c.w-x)
}

// drawHelp paints the last row: the keys, or the filter prompt while it is open.
func (v *View) drawHelp(c *canvas) {
	y := c.h - 1
	if v.editing {
		x := c.text(0, y, "filter workers: ", styleBold, c.w)
		x += c.text(x, y, string(v.input), styleNormal, c.w-x)
		c.s.ShowCursor(x, y)
		c.text(x+1, y, "   Enter apply · Esc clear · Backspace erase", styleDim, c.w-x-1)
		return
	}
	c.text(0, y, "q quit · / filter · Esc clear filter · ↑↓ PgUp PgDn Home End scroll · ←→ columns · a sort key twice reverses",
		styleDim, c.w)
}

func (v *View) drawTooSmall(c *canvas, b band, f frame) {
	needW := max(minWidth, b.w)
	needH := 1 + 1 + max(b.h, maxBandRowsSmall+1) + 1 + len(v.shortcutLines(needW)) + 1 + 2 + 1
	lines := []string{
		"terminal too small: " + strconv.Itoa(c.w) + "x" + strconv.Itoa(c.h),
		"scaler_top needs at least " + strconv.Itoa(needW) + "x" + strconv.Itoa(needH),
		"q quits",
	}
	y := max(0, (c.h-len(lines))/2)
	for i, l := range lines {
		c.text(max(0, (c.w-width(l))/2), y+i, l, styleBold, c.w)
	}
}
