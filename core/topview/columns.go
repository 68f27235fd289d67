package topview

import (
	"strconv"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
)

// Column is one column of the worker table, in the order the Python dashboard shows them.
type Column int

// The worker table's columns.
const (
	ColManager   Column = iota // id of the heartbeating manager owning the worker
	ColWorker                  // worker identity
	ColAgentCPU                // agent process CPU
	ColAgentRSS                // agent process memory
	ColCPU                     // CPU summed over the worker's processors
	ColRSS                     // memory summed over the worker's processors
	ColRSSFree                 // free memory seen by the worker
	ColFree                    // free queue slots from the allocator
	ColSent                    // tasks assigned to the worker
	ColQueued                  // tasks queued inside the worker
	ColSuspended               // suspended processors
	ColLag                     // heartbeat latency, with the heartbeat age when it is old
	ColITL                     // processor Initialized, has Task, task Lock bit
	numColumns
)

// staleHeartbeat is the heartbeat age from which the lag cell also shows the age, as in the
// Python dashboard.
const staleHeartbeat = 5

// column describes how one column is labelled, sized, printed and sorted.
type column struct {
	name string
	// key is the sort shortcut (spec/features.md §4); 0 when the column has none.
	key rune
	// min is the narrowest width: wide enough for the usual values, so columns keep their
	// place from one snapshot to the next instead of jittering with the numbers.
	min  int
	cell func(r *monitor.WorkerRow) string
	// cmp orders rows by the raw value (not the formatted text), ascending.
	cmp func(a, b *monitor.WorkerRow) int
}

var columns = [numColumns]column{
	ColManager: {name: "manager", key: 'g',
		cell: func(r *monitor.WorkerRow) string { return r.Manager },
		cmp:  monitor.ByManager},
	ColWorker: {name: "worker", key: 'n',
		cell: func(r *monitor.WorkerRow) string { return r.Worker },
		cmp:  monitor.ByWorker},
	ColAgentCPU: {name: "agt_cpu", key: 'C', min: 6,
		cell: func(r *monitor.WorkerRow) string { return monitor.FormatCPU(uint32(r.Agent.CPU)) },
		cmp:  monitor.ByAgentCPU},
	ColAgentRSS: {name: "agt_rss", key: 'M', min: 6,
		cell: func(r *monitor.WorkerRow) string { return monitor.FormatBytes(r.Agent.RSS) },
		cmp:  monitor.ByAgentRSS},
	ColCPU: {name: "cpu", key: 'c', min: 6,
		cell: func(r *monitor.WorkerRow) string { return monitor.FormatCPU(r.ProcCPU) },
		cmp:  monitor.ByCPU},
	ColRSS: {name: "rss", key: 'm', min: 6,
		cell: func(r *monitor.WorkerRow) string { return monitor.FormatBytes(r.ProcRSS) },
		cmp:  monitor.ByRSS},
	ColRSSFree: {name: "os_rss_free", key: 'F', min: 6,
		cell: func(r *monitor.WorkerRow) string { return monitor.FormatBytes(r.RSSFree) },
		cmp:  monitor.ByRSSFree},
	ColFree: {name: "free", key: 'f', min: 4,
		cell: func(r *monitor.WorkerRow) string { return strconv.FormatUint(uint64(r.Free), 10) },
		cmp:  monitor.ByFree},
	ColSent: {name: "sent", key: 'w', min: 4,
		cell: func(r *monitor.WorkerRow) string { return strconv.FormatUint(uint64(r.Sent), 10) },
		cmp:  monitor.BySent},
	ColQueued: {name: "queued", key: 'd', min: 4,
		cell: func(r *monitor.WorkerRow) string { return strconv.FormatUint(uint64(r.Queued), 10) },
		cmp:  monitor.ByQueued},
	ColSuspended: {name: "suspended", key: 's', min: 3,
		cell: func(r *monitor.WorkerRow) string { return strconv.FormatUint(uint64(r.Suspended), 10) },
		cmp:  monitor.BySuspended},
	ColLag: {name: "lag", key: 'l', min: 7,
		cell: lagCell,
		cmp:  monitor.ByLag},
	ColITL: {name: "ITL", min: 3,
		cell: func(r *monitor.WorkerRow) string { return r.ITL },
		cmp:  monitor.ByITL},
}

// lagCell prints the heartbeat latency, prefixed with the heartbeat's age when the worker
// has been silent for a while (a lag figure alone would hide that it is out of date).
func lagCell(r *monitor.WorkerRow) string {
	lag := monitor.FormatLag(r.LagUS)
	if r.LastS > staleHeartbeat {
		return "(" + monitor.FormatAge(time.Duration(r.LastS)*time.Second) + ") " + lag
	}
	return lag
}

// String returns the column's header.
func (c Column) String() string {
	if c < 0 || c >= numColumns {
		return "column(" + strconv.Itoa(int(c)) + ")"
	}
	return columns[c].name
}

// ColumnForKey returns the column a sort shortcut selects.
func ColumnForKey(r rune) (Column, bool) {
	for i := range columns {
		if columns[i].key != 0 && columns[i].key == r {
			return Column(i), true
		}
	}
	return 0, false
}

// shortcuts is the Python dashboard's shortcut list, in its order. The Python one labels F
// "rss_free"; ours uses the column's name, since that is what F sorts.
var shortcuts = []Column{ColManager, ColWorker, ColAgentCPU, ColAgentRSS, ColCPU, ColRSS, ColRSSFree,
	ColFree, ColSent, ColQueued, ColSuspended, ColLag}
