package monitor

import (
	"cmp"
	"slices"
	"strings"
)

// The By functions order worker rows by one figure, ascending, for both dashboards' worker
// tables. They compare the raw figures, not the formatted text: "2.0M" sorts above "900K".

// ByWorker orders worker rows by worker id.
func ByWorker(a, b *WorkerRow) int { return strings.Compare(a.Worker, b.Worker) }

// ByManager orders worker rows by manager id.
func ByManager(a, b *WorkerRow) int { return strings.Compare(a.Manager, b.Manager) }

// ByAgentCPU orders worker rows by the agent's CPU.
func ByAgentCPU(a, b *WorkerRow) int { return cmp.Compare(a.Agent.CPU, b.Agent.CPU) }

// ByAgentRSS orders worker rows by the agent's memory.
func ByAgentRSS(a, b *WorkerRow) int { return cmp.Compare(a.Agent.RSS, b.Agent.RSS) }

// ByCPU orders worker rows by the CPU summed over the processors.
func ByCPU(a, b *WorkerRow) int { return cmp.Compare(a.ProcCPU, b.ProcCPU) }

// ByRSS orders worker rows by the memory summed over the processors.
func ByRSS(a, b *WorkerRow) int { return cmp.Compare(a.ProcRSS, b.ProcRSS) }

// ByRSSFree orders worker rows by the free memory the worker sees.
func ByRSSFree(a, b *WorkerRow) int { return cmp.Compare(a.RSSFree, b.RSSFree) }

// ByFree orders worker rows by free queue slots.
func ByFree(a, b *WorkerRow) int { return cmp.Compare(a.Free, b.Free) }

// BySent orders worker rows by tasks assigned.
func BySent(a, b *WorkerRow) int { return cmp.Compare(a.Sent, b.Sent) }

// ByQueued orders worker rows by tasks queued inside the worker.
func ByQueued(a, b *WorkerRow) int { return cmp.Compare(a.Queued, b.Queued) }

// BySuspended orders worker rows by suspended processors.
func BySuspended(a, b *WorkerRow) int { return cmp.Compare(a.Suspended, b.Suspended) }

// ByLag orders worker rows by heartbeat latency.
func ByLag(a, b *WorkerRow) int { return cmp.Compare(a.LagUS, b.LagUS) }

// ByITL orders worker rows by the ITL (Initialized, has Task, task Lock) flags.
func ByITL(a, b *WorkerRow) int { return strings.Compare(a.ITL, b.ITL) }

// ByLastSeen orders worker rows by heartbeat age.
func ByLastSeen(a, b *WorkerRow) int { return cmp.Compare(a.LastS, b.LastS) }

// SelectWorkers appends to dst the rows whose worker or manager id contains filter, ignoring
// case, sorted by by (descending when desc). Rows that by finds equal are ordered by worker
// id, so they do not trade places from one snapshot to the next. The result points into
// rows; passing dst[:0] lets a caller that redraws often reuse its slice.
func SelectWorkers(dst []*WorkerRow, rows []WorkerRow, filter string, by func(a, b *WorkerRow) int, desc bool) []*WorkerRow {
	needle := strings.ToLower(filter)
	start := len(dst)
	for i := range rows {
		if r := &rows[i]; r.matches(needle) {
			dst = append(dst, r)
		}
	}
	slices.SortFunc(dst[start:], func(a, b *WorkerRow) int {
		d := by(a, b)
		if desc {
			d = -d
		}
		if d == 0 {
			d = ByWorker(a, b)
		}
		return d
	})
	return dst
}
