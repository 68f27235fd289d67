package topview

import (
	"strconv"

	"github.com/scaler-go/scaler/core/monitor"
)

// Width bounds of the identity columns. Worker ids are long ("Worker|FIX|<32 hex>|<32
// hex>"); they are shortened in the middle, keeping the kind and both ends readable.
const (
	minWorkerWidth  = 16
	maxManagerWidth = 24
	// narrowManagerWidth is what the manager column gives up to when the table must scroll.
	narrowManagerWidth = 10
	maxClientWidth     = 40
	clientTitle        = "client_manager"
	noWorkers          = "No workers"
	// minSharedTable is the smallest table area that gives clients below the workers a
	// share when the workers alone overflow it.
	minSharedTable = 12
)

// tableShown tells the totals line what the table area showed.
type tableShown struct {
	first, last   int // worker rows [first, last) of the filtered list
	clientsHidden int
}

// drawTables lays out the worker table and the client table in rows [y, y+avail): clients to
// the right as in the Python dashboard when there is room, else below the workers.
func (v *View) drawTables(c *canvas, f frame, y, avail int) tableShown {
	// Widths from the headers alone decide where the clients go; values widen them below.
	var numW [numColumns]int
	numTotal := 0
	for col := ColAgentCPU; col < numColumns; col++ {
		numW[col] = max(columns[col].min, width(v.header(col)))
		numTotal += 1 + numW[col]
	}
	mgrW := width(v.header(ColManager))
	wkW := width(v.header(ColWorker))
	for _, r := range f.rows {
		mgrW = max(mgrW, width(r.Manager))
		wkW = max(wkW, width(r.Worker))
	}
	mgrW = min(mgrW, maxManagerWidth)

	clientW, countW := width(clientTitle), 0
	for _, cl := range f.clients {
		clientW = max(clientW, min(maxClientWidth, width(string(cl.Client))))
		countW = max(countW, width(strconv.FormatUint(uint64(cl.NumTask), 10)))
	}
	clientTable := clientW
	if countW > 0 {
		clientTable += 1 + countW
	}
	tw := c.w
	right := c.w-clientTable-width(bandSep) >= mgrW+1+minWorkerWidth+numTotal
	if right {
		tw = c.w - clientTable - width(bandSep)
	} else {
		clientW = min(clientW, max(width(clientTitle), c.w-1-countW))
	}

	// Rows: the workers first; clients below get what is left, or a quarter when workers
	// overflow a table tall enough to share (on a small terminal the totals line counts the
	// clients instead).
	clientLines := 0
	if !right && len(f.clients) > 0 {
		want := 1 + len(f.clients)
		workerLines := 1 + max(1, len(f.rows))
		if workerLines+want <= avail {
			clientLines = want
		} else if avail >= minSharedTable {
			clientLines = min(want, max(2, avail/4))
		}
	}
	page := max(1, avail-clientLines-1)
	v.page = page
	v.top = max(0, min(v.top, len(f.rows)-page))
	shown := tableShown{first: v.top, last: min(len(f.rows), v.top+page)}
	visible := f.rows[shown.first:shown.last]

	// Format only what is shown: a thousand workers must not cost a thousand rows of text.
	if cap(v.cells) < len(visible) {
		v.cells = make([][numColumns]string, len(visible))
	}
	v.cells = v.cells[:len(visible)]
	for i, r := range visible {
		for col := ColAgentCPU; col < numColumns; col++ {
			s := columns[col].cell(r)
			v.cells[i][col] = s
			if w := width(s); w > numW[col] {
				numTotal += w - numW[col]
				numW[col] = w
			}
		}
	}

	// Identity columns take what the numbers leave, down to a floor; below that the
	// number columns scroll sideways (←/→) behind the frozen identities.
	if mgrW+1+wkW+numTotal > tw {
		wkW = max(minWorkerWidth, tw-mgrW-1-numTotal)
	}
	if mgrW+1+wkW+numTotal > tw {
		mgrW = max(width(v.header(ColManager)), min(mgrW, narrowManagerWidth))
		wkW = max(minWorkerWidth, tw-mgrW-1-numTotal)
	}
	frozen := mgrW + 1 + wkW
	first, last := v.scrollColumns(numW, frozen, tw)

	// Header.
	c.text(0, y, v.header(ColManager), styleBold, mgrW)
	c.text(mgrW+1, y, v.header(ColWorker), styleBold, wkW)
	x := frozen
	for col := first; col < last; col++ {
		c.right(x+1, y, numW[col], v.header(col), styleBold)
		x += 1 + numW[col]
	}
	if first > ColAgentCPU {
		c.text(frozen, y, "◀", styleBold, 1)
	}
	if last < numColumns {
		c.text(tw-1, y, "▶", styleBold, 1)
	}
	end := x // the clients sit right after the last column, as in the Python dashboard

	// Rows.
	if len(visible) == 0 {
		msg := noWorkers
		if flt := v.Filter(); flt != "" && f.workers > 0 {
			msg = "No workers match \"" + flt + "\""
		}
		c.text(0, y+1, msg, styleDim, tw)
	}
	for i, r := range visible {
		ry := y + 1 + i
		c.text(0, ry, monitor.ShortenID(r.Manager, mgrW), styleNormal, mgrW)
		c.text(mgrW+1, ry, monitor.ShortenID(r.Worker, wkW), styleNormal, wkW)
		x := frozen
		for col := first; col < last; col++ {
			st := styleNormal
			if col == ColLag && r.LastS > staleHeartbeat {
				st = styleWarn
			}
			c.right(x+1, ry, numW[col], v.cells[i][col], st)
			x += 1 + numW[col]
		}
	}

	// Clients.
	lines := 1 + max(1, len(visible))
	// Below the workers, one blank line after the last row (or at the bottom when full).
	cx, cy, rows := 0, min(y+1+page, y+lines+1), clientLines-1
	if right {
		cx, cy, rows = end+width(bandSep), y, page
		if countW > 0 {
			clientW = min(clientW, c.w-cx-1-countW)
		}
		for r := 0; r < max(lines, min(page+1, 1+len(f.clients))); r++ {
			c.text(end, y+r, bandSep, styleDim, width(bandSep))
		}
	} else if clientLines == 0 {
		shown.clientsHidden = len(f.clients)
		return shown
	}
	c.text(cx, cy, clientTitle, styleBold, clientW)
	for i, cl := range f.clients {
		if i >= rows {
			break
		}
		if i == rows-1 && len(f.clients) > rows {
			c.text(cx, cy+1+i, "+"+strconv.Itoa(len(f.clients)-i)+" more", styleDim, clientW)
			shown.clientsHidden = len(f.clients) - i
			break
		}
		c.text(cx, cy+1+i, monitor.ShortenID(string(cl.Client), clientW), styleNormal, clientW)
		if countW > 0 {
			c.right(cx+clientW+1, cy+1+i, countW, strconv.FormatUint(uint64(cl.NumTask), 10), styleNormal)
		}
	}
	return shown
}

// header is a column's title, in brackets when the table is sorted by it (as the Python
// dashboard marks it).
func (v *View) header(col Column) string {
	if col == v.sort {
		return "[" + columns[col].name + "]"
	}
	return columns[col].name
}

// scrollColumns picks the number columns [first, last) that fit beside the frozen identity
// columns, starting at the user's horizontal scroll position and keeping the sort column in
// view right after a sort key.
func (v *View) scrollColumns(numW [numColumns]int, frozen, tw int) (first, last Column) {
	fits := func(from Column) Column {
		x := frozen
		col := from
		for ; col < numColumns; col++ {
			room := tw - x
			if col+1 < numColumns {
				room-- // keep a cell for the ▶ marker
			}
			if 1+numW[col] > room {
				break
			}
			x += 1 + numW[col]
		}
		return col
	}
	// The furthest scroll position that still fills the screen.
	maxLeft := ColAgentCPU
	for maxLeft < numColumns-1 && fits(maxLeft) < numColumns {
		maxLeft++
	}
	left := ColAgentCPU + Column(max(0, v.left))
	left = min(left, maxLeft)
	if v.reveal && v.sort >= ColAgentCPU {
		if v.sort < left {
			left = v.sort
		}
		for left < maxLeft && fits(left) <= v.sort {
			left++
		}
	}
	v.reveal = false
	v.left = int(left - ColAgentCPU)
	return left, max(left, fits(left))
}
