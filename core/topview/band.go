package topview

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

// The upper band holds the scheduler's figures as small key/value tables side by side, as
// in the Python dashboard: scheduler | object_manager | task_manager | scheduler_sent |
// scheduler_received. When the terminal is too narrow for that (it needs about 125
// columns), scheduler and object_manager move to one line above the band and the two
// message tables merge into one with a sent and a received column.

// bandSep separates tables side by side.
const bandSep = " | "

// minMessageName is the narrowest the message-type column of the merged table gets before
// the terminal counts as too small; shorter names would be unrecognisable.
const minMessageName = 10

// maxBandRowsSmall caps the message tables on terminals under bigTerminal rows: the task
// table has 11 rows and the band should not grow past it there, or the worker table would
// lose its room. Taller terminals show up to maxBandRows.
const (
	maxBandRowsSmall = int(protocol.NumTaskStates)
	maxBandRows      = 24
	bigTerminal      = 40
)

// kvTable is one key/value table of the band: a title right-aligned over the keys, keys
// right-aligned, values right-aligned.
type kvTable struct {
	title      string
	keys, vals []string
	kw, vw     int
}

func newKV(title string) *kvTable { return &kvTable{title: title, kw: width(title)} }

func (t *kvTable) add(k, v string) {
	t.keys = append(t.keys, k)
	t.vals = append(t.vals, v)
	t.kw = max(t.kw, width(k))
	t.vw = max(t.vw, width(v))
}

func (t *kvTable) width() int  { return t.kw + 1 + t.vw }
func (t *kvTable) height() int { return 1 + len(t.keys) }

func (t *kvTable) draw(c *canvas, x, y int) {
	c.right(x, y, t.kw, t.title, styleBold)
	for i := range t.keys {
		c.right(x, y+1+i, t.kw, t.keys[i], styleNormal)
		c.right(x+t.kw+1, y+1+i, t.vw, t.vals[i], styleNormal)
	}
}

// taskStateOrder lists every task state, alphabetically as the Python dashboard does.
var taskStateOrder = func() []protocol.TaskState {
	out := make([]protocol.TaskState, 0, protocol.NumTaskStates)
	for s := protocol.TaskState(0); s < protocol.NumTaskStates; s++ {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b protocol.TaskState) int { return cmp.Compare(a.String(), b.String()) })
	return out
}()

func schedulerTable(st *protocol.StateScheduler) *kvTable {
	t := newKV("scheduler")
	t.add("cpu", monitor.FormatCPU(uint32(st.Scheduler.CPU)))
	t.add("rss", monitor.FormatBytes(st.Scheduler.RSS))
	t.add("rss_free", monitor.FormatBytes(st.RSSFree))
	return t
}

func objectTable(st *protocol.StateScheduler) *kvTable {
	t := newKV("object_manager")
	t.add("num_of_objs", monitor.FormatCount(uint64(st.NumberOfObjects)))
	return t
}

func taskTable(st *protocol.StateScheduler) *kvTable {
	t := newKV("task_manager")
	for _, s := range taskStateOrder {
		t.add(s.String(), monitor.FormatCount(uint64(monitor.StateCount(st, s))))
	}
	return t
}

// counterTable lists message counters in the scheduler's order; beyond limit rows it keeps
// the busiest types and says how many it left out.
func counterTable(title string, counters []protocol.Counter, limit int) *kvTable {
	t := newKV(title)
	keep := counters
	if len(counters) > limit {
		byCount := slices.Clone(counters)
		slices.SortStableFunc(byCount, func(a, b protocol.Counter) int { return cmp.Compare(b.Number, a.Number) })
		chosen := map[string]bool{}
		for _, c := range byCount[:limit-1] {
			chosen[c.Name] = true
		}
		keep = keep[:0:0]
		for _, c := range counters {
			if chosen[c.Name] {
				keep = append(keep, c)
			}
		}
	}
	for _, c := range keep {
		t.add(c.Name, monitor.FormatCount(uint64(c.Number)))
	}
	if n := len(counters) - len(keep); n > 0 {
		t.add("+"+strconv.Itoa(n)+" more", "")
	}
	return t
}

// msgTable is the narrow layout's merged sent/received table.
type msgTable struct {
	names      []string
	sent, recv []string
	nw, sw, rw int
	more       int
}

const (
	msgTitle = "messages"
	msgSent  = "sent"
	msgRecv  = "recv"
)

func newMsgTable(st *protocol.StateScheduler, limit int) *msgTable {
	rows := monitor.MessageCounts(st.Sent, st.Received)
	t := &msgTable{nw: width(msgTitle), sw: width(msgSent), rw: width(msgRecv)}
	if len(rows) > limit {
		slices.SortStableFunc(rows, func(a, b monitor.MessageCount) int {
			return cmp.Compare(uint64(b.Sent)+uint64(b.Received), uint64(a.Sent)+uint64(a.Received))
		})
		t.more = len(rows) - (limit - 1)
		rows = rows[:limit-1]
	}
	slices.SortFunc(rows, func(a, b monitor.MessageCount) int { return cmp.Compare(a.Name, b.Name) })
	for _, r := range rows {
		s, v := monitor.FormatCount(uint64(r.Sent)), monitor.FormatCount(uint64(r.Received))
		t.names = append(t.names, r.Name)
		t.sent = append(t.sent, s)
		t.recv = append(t.recv, v)
		t.nw = max(t.nw, width(r.Name))
		t.sw = max(t.sw, width(s))
		t.rw = max(t.rw, width(v))
	}
	if t.more > 0 {
		t.names = append(t.names, "+"+strconv.Itoa(t.more)+" more")
		t.sent = append(t.sent, "")
		t.recv = append(t.recv, "")
	}
	return t
}

func (t *msgTable) minWidth() int { return minMessageName + 1 + t.sw + 1 + t.rw }
func (t *msgTable) width() int    { return t.nw + 1 + t.sw + 1 + t.rw }
func (t *msgTable) height() int   { return 1 + len(t.names) }

// fit narrows the name column so the table takes at most w cells.
func (t *msgTable) fit(w int) {
	t.nw = max(minMessageName, min(t.nw, w-(1+t.sw+1+t.rw)))
}

func (t *msgTable) draw(c *canvas, x, y int) {
	c.right(x, y, t.nw, msgTitle, styleBold)
	c.right(x+t.nw+1, y, t.sw, msgSent, styleBold)
	c.right(x+t.nw+1+t.sw+1, y, t.rw, msgRecv, styleBold)
	for i, n := range t.names {
		c.right(x, y+1+i, t.nw, monitor.ShortenMiddle(n, t.nw), styleNormal)
		c.right(x+t.nw+1, y+1+i, t.sw, t.sent[i], styleNormal)
		c.right(x+t.nw+1+t.sw+1, y+1+i, t.rw, t.recv[i], styleNormal)
	}
}

// band is the laid-out upper band.
type band struct {
	wide   bool
	tables []*kvTable // wide: all five; narrow: scheduler, object_manager (on the info line), task_manager
	msgs   *msgTable  // narrow only
	w, h   int        // size of the side-by-side part
}

// planBand picks the wide layout when it fits in w columns with margin to spare, else the
// narrow one; ok is false when not even the narrow one fits.
func planBand(st *protocol.StateScheduler, w, screenH, margin int) (b band, ok bool) {
	limit := maxBandRowsSmall
	if screenH >= bigTerminal {
		limit = maxBandRows
	}
	sched, objs, tasks := schedulerTable(st), objectTable(st), taskTable(st)
	sent := counterTable("scheduler_sent", st.Sent, limit)
	recv := counterTable("scheduler_received", st.Received, limit)
	wide := []*kvTable{sched, objs, tasks, sent, recv}
	total := width(bandSep) * (len(wide) - 1)
	h := 0
	for _, t := range wide {
		total += t.width()
		h = max(h, t.height())
	}
	if total+margin <= w {
		return band{wide: true, tables: wide, w: total, h: h}, true
	}
	msgs := newMsgTable(st, limit)
	room := w - tasks.width() - width(bandSep)
	if room < msgs.minWidth() {
		return band{msgs: msgs, w: tasks.width() + width(bandSep) + msgs.minWidth()}, false
	}
	msgs.fit(room)
	return band{tables: []*kvTable{sched, objs, tasks}, msgs: msgs,
		w: tasks.width() + width(bandSep) + msgs.width(), h: max(tasks.height(), msgs.height())}, true
}

// infoLines is how many lines the band takes above its side-by-side part.
func (b *band) infoLines() int {
	if b.wide {
		return 0
	}
	return 1
}

// draw paints the band from row y (its info line first, when narrow).
func (b *band) draw(c *canvas, y int) {
	if !b.wide {
		x := 0
		for i, t := range b.tables[:2] {
			if i > 0 {
				x += c.text(x, y, bandSep, styleDim, c.w-x)
			}
			x += c.text(x, y, t.title, styleBold, c.w-x)
			for j := range t.keys {
				x += c.text(x, y, " "+t.keys[j]+" ", styleNormal, c.w-x)
				x += c.text(x, y, t.vals[j], styleBold, c.w-x)
			}
		}
		y++
	}
	parts := b.tables
	if !b.wide {
		parts = b.tables[2:]
	}
	x := 0
	for i, t := range parts {
		if i > 0 {
			b.separator(c, x, y)
			x += width(bandSep)
		}
		t.draw(c, x, y)
		x += t.width()
	}
	if b.msgs != nil && !b.wide {
		b.separator(c, x, y)
		b.msgs.draw(c, x+width(bandSep), y)
	}
}

func (b *band) separator(c *canvas, x, y int) {
	for r := 0; r < b.h; r++ {
		c.text(x, y+r, bandSep, styleDim, width(bandSep))
	}
}
