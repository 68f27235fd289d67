package web

import (
	"cmp"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

// The pages of the dashboard, by the path segment that serves them ("" is the overview at /).
const (
	pageOverview = "overview"
	pageWorkers  = "workers"
	pageTasks    = "tasks"
	pageManagers = "managers"
	pageClients  = "clients"
)

// pages lists the pages in navigation order with their paths and titles.
var pages = []struct{ Name, Path, Title string }{
	{pageOverview, "/", "Overview"},
	{pageWorkers, "/workers", "Workers"},
	{pageTasks, "/tasks", "Task stream"},
	{pageManagers, "/managers", "Managers"},
	{pageClients, "/clients", "Clients"},
}

func pagePath(name string) string {
	for _, p := range pages {
		if p.Name == name {
			return p.Path
		}
	}
	return "/"
}

func pageTitle(name string) string {
	for _, p := range pages {
		if p.Name == name {
			return p.Title
		}
	}
	return ""
}

func knownPage(name string) bool {
	for _, p := range pages {
		if p.Name == name {
			return true
		}
	}
	return false
}

// rowsPerPage is the size of a table page, as in the Python GUI.
const rowsPerPage = 50

// chartWindows are the time windows the overview charts offer, in minutes.
var chartWindows = []int{5, 10, 30}

// maxFilterLen bounds the worker name filter taken from a URL.
const maxFilterLen = 200

// view is what one browser looks at: the page and, for tables, sorting, paging and
// filtering. It travels in the URL query, so a view can be bookmarked and reloaded, and the
// live channel renders exactly what the page shows.
type view struct {
	Page string
	// Sort is the worker column key (see workerColumns) and Desc its direction.
	Sort string
	Desc bool
	// PageNo is the 0-based page of the page's table (the "p" query parameter, as in the
	// Python GUI's workers_page).
	PageNo int
	// Filter keeps workers whose name or manager contains it (case-insensitive).
	Filter string
	// Window is the chart window in minutes.
	Window int
}

// parseView reads a view from a URL query. Unknown or out-of-range values fall back to the
// defaults: a URL typed by hand never causes an error page.
func parseView(page string, q url.Values) view {
	v := view{Page: page, Sort: "name", Window: chartWindows[0]}
	if _, ok := workerColumn(q.Get("sort")); ok {
		v.Sort = q.Get("sort")
	}
	v.Desc = q.Get("dir") == "desc"
	if n, err := strconv.Atoi(q.Get("p")); err == nil && n > 0 {
		v.PageNo = n
	}
	v.Filter = strings.TrimSpace(q.Get("q"))
	if len(v.Filter) > maxFilterLen {
		// Cut at a byte count, then drop a character the cut split.
		v.Filter = strings.ToValidUTF8(v.Filter[:maxFilterLen], "")
	}
	if n, err := strconv.Atoi(q.Get("w")); err == nil && slices.Contains(chartWindows, n) {
		v.Window = n
	}
	return v
}

// query encodes the view's non-default settings.
func (v view) query() url.Values {
	q := url.Values{}
	if v.Sort != "name" {
		q.Set("sort", v.Sort)
	}
	if v.Desc {
		q.Set("dir", "desc")
	}
	if v.PageNo > 0 {
		q.Set("p", strconv.Itoa(v.PageNo))
	}
	if v.Filter != "" {
		q.Set("q", v.Filter)
	}
	if v.Window != chartWindows[0] {
		q.Set("w", strconv.Itoa(v.Window))
	}
	return q
}

// URL is the address of the view's page.
func (v view) URL() string {
	u := pagePath(v.Page)
	if q := v.query().Encode(); q != "" {
		u += "?" + q
	}
	return u
}

// key identifies the view for the per-snapshot render cache.
func (v view) key() string {
	return v.Page + "?" + v.query().Encode()
}

// sortURL is the link of a worker column header: sort by it (descending first for numbers),
// or flip the direction when it is already the sort column. Paging restarts.
func (v view) sortURL(col string) string {
	n := v
	n.PageNo = 0
	if v.Sort == col {
		n.Desc = !v.Desc
	} else {
		c, _ := workerColumn(col)
		n.Sort, n.Desc = col, c.numeric
	}
	return n.URL()
}

// pageURL is the link to page p of the view's table.
func (v view) pageURL(p int) string {
	n := v
	n.PageNo = p
	return n.URL()
}

// windowURL is the link to the overview with another chart window.
func (v view) windowURL(w int) string {
	n := v
	n.Window = w
	return n.URL()
}

// column describes one sortable worker column.
type column struct {
	key, label, title string
	// numeric columns sort descending first; gauge columns hold a meter and its figure.
	numeric, gauge bool
	less           func(a, b *monitor.WorkerRow) int
}

func workerColumn(key string) (column, bool) {
	for _, c := range workerColumns {
		if c.key == key {
			return c, true
		}
	}
	return column{}, false
}

var workerColumns = []column{
	{"name", "Worker", "worker id", false, false, monitor.ByWorker},
	{"manager", "Manager", "id of the worker manager that started it", false, false, monitor.ByManager},
	{"agt_cpu", "Agent CPU", "CPU of the worker agent", true, true, monitor.ByAgentCPU},
	{"cpu", "CPU", "CPU of the worker's processors", true, true, monitor.ByCPU},
	{"agt_rss", "Agent mem", "memory of the worker agent", true, false, monitor.ByAgentRSS},
	{"rss", "Proc mem", "memory of the worker's processors", true, false, monitor.ByRSS},
	{"mem", "Memory", "memory in use against the worker's limit", true, true, func(a, b *monitor.WorkerRow) int { return cmp.Compare(memFraction(*a), memFraction(*b)) }},
	{"queue", "Queue", "tasks assigned against queue capacity (sent / (sent + free))", true, true, func(a, b *monitor.WorkerRow) int { return cmp.Compare(queueFraction(*a), queueFraction(*b)) }},
	{"free", "Free", "free queue slots", true, false, monitor.ByFree},
	{"sent", "Sent", "tasks assigned to the worker", true, false, monitor.BySent},
	{"queued", "Queued", "tasks queued inside the worker", true, false, monitor.ByQueued},
	{"suspended", "Susp.", "suspended processors", true, false, monitor.BySuspended},
	{"lag", "Lag", "heartbeat latency", true, false, monitor.ByLag},
	{"itl", "ITL", "processor Initialized, has Task, task Lock", false, false, monitor.ByITL},
	{"last", "Last seen", "time since the last heartbeat", true, false, monitor.ByLastSeen},
	{"caps", "Capabilities", "capabilities the worker offers", false, false, func(a, b *monitor.WorkerRow) int {
		return strings.Compare(monitor.CapabilityNames(a.Capabilities), monitor.CapabilityNames(b.Capabilities))
	}},
}

// workerTableData is one page of the worker table.
type workerTableData struct {
	Rows []monitor.WorkerRow
	// Total is the number of workers, Matched the ones the filter keeps.
	Total, Matched int
	Paging         pageInfo
}

// pageInfo places one page in a paged table.
type pageInfo struct {
	PageNo, Pages int
	// First and Last are the 1-based positions of the rows shown (0 when none).
	First, Last, Count int
}

func newPager(count, pageNo int) pageInfo {
	p := pageInfo{Count: count, Pages: max(1, (count+rowsPerPage-1)/rowsPerPage)}
	p.PageNo = min(max(pageNo, 0), p.Pages-1)
	if count > 0 {
		p.First = p.PageNo*rowsPerPage + 1
		p.Last = min(count, (p.PageNo+1)*rowsPerPage)
	}
	return p
}

// workerTable filters, sorts and pages the snapshot's workers. The snapshot is shared, so it
// sorts pointers into it and copies out the page shown.
func workerTable(s *Snapshot, v view) workerTableData {
	col, _ := workerColumn(v.Sort)
	rows := monitor.SelectWorkers(nil, s.Workers, v.Filter, col.less, v.Desc)
	t := workerTableData{Total: len(s.Workers), Matched: len(rows), Paging: newPager(len(rows), v.PageNo)}
	if t.Paging.Count > 0 {
		for _, r := range rows[t.Paging.First-1 : t.Paging.Last] {
			t.Rows = append(t.Rows, *r)
		}
	}
	return t
}

// taskTableData is one page of the task stream.
type taskTableData struct {
	Rows   []monitor.TaskInfo
	Paging pageInfo
}

func taskTable(s *Snapshot, v view) taskTableData {
	t := taskTableData{Paging: newPager(len(s.Tasks), v.PageNo)}
	if t.Paging.Count > 0 {
		t.Rows = s.Tasks[t.Paging.First-1 : t.Paging.Last]
	}
	return t
}

// memFraction is the memory a worker uses against its limit: the memory limit it reports,
// or else what it uses plus what its host has free.
func memFraction(w monitor.WorkerRow) float64 {
	limit := memLimit(w)
	if limit == 0 {
		return 0
	}
	return float64(w.Agent.RSS+w.ProcRSS) / float64(limit)
}

func memLimit(w monitor.WorkerRow) uint64 {
	if w.MemLimit != 0 {
		return w.MemLimit
	}
	return w.Agent.RSS + w.ProcRSS + w.RSSFree
}

// queueFraction is the share of the worker's queue slots that hold assigned tasks.
func queueFraction(w monitor.WorkerRow) float64 {
	if w.Sent+w.Free == 0 {
		return 0
	}
	return float64(w.Sent) / float64(w.Sent+w.Free)
}

// Formatting helpers used by the templates.

func percent(perMille uint32) string { return monitor.FormatCPU(perMille) }

// cpuGauge turns tenths of a percent into a gauge level (0–100).
func cpuGauge(perMille uint32) float64 { return min(float64(perMille)/10, 100) }

// fractionGauge turns a fraction into a gauge level (0–100).
func fractionGauge(f float64) float64 { return min(max(f*100, 0), 100) }

// barClass sizes a gauge bar in 5 % steps and colours it by load.
func barClass(pct float64) string {
	step := int(math.Round(min(max(pct, 0), 100)/5)) * 5
	level := "lvl-ok"
	switch {
	case pct > 90:
		level = "lvl-bad"
	case pct > 70:
		level = "lvl-warn"
	}
	return "w" + strconv.Itoa(step) + " " + level
}

func fractionText(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) + "%" }

func bytesText(n uint64) string { return monitor.FormatBytes(n) }

// count prints a count (never negative) with thousands separators.
func count[T ~int | ~uint32 | ~uint64 | ~uint16 | ~uint8](n T) string {
	return monitor.FormatCount(uint64(max(n, 0)))
}

// plural prints "1 worker", "2 workers".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return count(n) + " " + word + "s"
}

func ageText(d time.Duration) string { return monitor.FormatAge(max(d, 0)) }

func secondsAge(s uint16) string { return monitor.FormatAge(time.Duration(s) * time.Second) }

func lagText(us uint64) string { return monitor.FormatLag(us) }

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("15:04:05")
}

// durationText prints a task duration compactly: 850ms, 12.3s, 4m05s.
func durationText(d time.Duration) string {
	switch {
	case d < 0:
		return ""
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	default:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// taskDuration is the profiled run time of a finished task, or how long an unfinished one
// has been running at now; ok is false when nothing is known.
func taskDuration(t monitor.TaskInfo, now time.Time) (time.Duration, bool) {
	switch {
	case t.HasProfile:
		return time.Duration(float64(t.Profile.DurationS) * float64(time.Second)), true
	case t.Done() && !t.Started.IsZero():
		return t.Finished.Sub(t.Started), true
	case !t.Done() && !t.Started.IsZero():
		return now.Sub(t.Started), true
	}
	return 0, false
}

// taskTime is when the task started, or was first seen.
func taskTime(t monitor.TaskInfo) time.Time {
	if !t.Started.IsZero() {
		return t.Started
	}
	return t.FirstSeen
}

// stateClass colours a task state: success, running-like (amber) or failed-like (red).
func stateClass(t monitor.TaskInfo) string {
	switch {
	case t.State == protocol.StateSuccess:
		return "st-ok"
	case !t.Done():
		return "st-live"
	default:
		return "st-bad"
	}
}

func shortID(id string) string { return monitor.ShortenMiddle(id, 14) }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// connState names the monitor link's state at now for the badge and /healthz: connecting
// (never connected), down, waiting (connected, no status yet), stale or live.
func connState(s *Snapshot, now time.Time) string {
	switch {
	case !s.Connected && s.ConnChange.IsZero():
		return "connecting"
	case !s.Connected:
		return "down"
	case !s.HasStatus:
		return "waiting"
	case s.Stale(now):
		return "stale"
	}
	return "live"
}

func ariaSort(v view, col string) string {
	switch {
	case v.Sort != col:
		return "none"
	case v.Desc:
		return "descending"
	}
	return "ascending"
}

// messageRows joins the scheduler's received and sent counters by message type, by name.
func messageRows(s *Snapshot) []monitor.MessageCount {
	rows := monitor.MessageCounts(s.Sent, s.Received)
	slices.SortFunc(rows, func(a, b monitor.MessageCount) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// capacity is the geometry of a manager's workers bar, in percent of its width.
type capacity struct {
	Connected, Pending float64
	Title              string
}

// newCapacity scales the bar to the maximum concurrency, or to the desired workers when
// the manager reports no maximum or already exceeds it.
func newCapacity(m ManagerView) capacity {
	scale := float64(max(int(m.MaxTaskConcurrency), m.Desired(), 1))
	return capacity{
		Connected: 100 * float64(m.Connected) / scale,
		Pending:   100 * float64(m.PendingWorkers) / scale,
		Title: fmt.Sprintf("%d connected + %d pending = %d desired, max concurrency %d",
			m.Connected, m.PendingWorkers, m.Desired(), m.MaxTaskConcurrency),
	}
}

// clientTasks sums the tasks of all clients.
func clientTasks(s *Snapshot) uint64 {
	var n uint64
	for _, c := range s.Clients {
		n += uint64(c.Tasks)
	}
	return n
}

// shareClass sizes a bar like barClass, in a neutral colour: a large share is no alarm.
func shareClass(f float64) string {
	return strings.Fields(barClass(fractionGauge(f)))[0] + " lvl-info"
}

// share is part/total, 0 when total is 0.
func share(part uint32, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return float64(part) / float64(total)
}
