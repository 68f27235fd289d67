// Package policy holds the scheduler's pluggable decisions: which worker gets a task
// (allocation), which queued tasks to move (balancing), and how many workers each worker
// manager should run (scaling) — spec/protocol.md §8.5–§8.7, spec/features.md §2.
//
// Everything here is pure, single-goroutine logic owned by the scheduler's state machine.
package policy

import (
	"container/heap"
	"sort"
	"strings"

	"github.com/scaler-go/scaler/core/protocol"
)

// TaskID is a task's 16-byte id.
type TaskID = protocol.TaskID

// Allocator assigns tasks to workers with bounded per-worker queues.
type Allocator interface {
	// AddWorker registers w (idempotent); it reports whether w is new.
	AddWorker(w string, caps []protocol.Capability, queueSize int) bool
	// RemoveWorker forgets w and returns the tasks assigned to it, oldest first.
	RemoveWorker(w string) []TaskID
	// Assign picks a worker with a free slot able to run a task needing the capability
	// names need (the caller keeps them per capability set, so they are not rebuilt per
	// task; duplicates are harmless).
	Assign(t TaskID, need []string) (string, bool)
	// Release frees t's slot and returns the worker it was on.
	Release(t TaskID) (string, bool)
	// WorkerOf returns the worker t is assigned to.
	WorkerOf(t TaskID) (string, bool)
	// Load returns how many tasks w holds and how many more it may take.
	Load(w string) (assigned, free int)
	// Tasks returns the tasks assigned to w, oldest first.
	Tasks(w string) []TaskID
	// HasWorker reports whether w is registered.
	HasWorker(w string) bool
	// NumWorkers is the number of registered workers.
	NumWorkers() int
	// Balance returns, per overloaded worker, the queued tasks to move (§8.6); nil when none.
	Balance() map[string][]TaskID
	// Compact rebuilds internal tables that grew and are now empty, to free their memory.
	Compact()
}

// NewAllocator returns the allocation policy called name ("even_load" or "capability").
func NewAllocator(name string) (Allocator, bool) {
	switch name {
	case "even_load":
		return newAllocator(false), true
	case "capability":
		return newAllocator(true), true
	}
	return nil, false
}

type workerEntry struct {
	id        string
	caps      map[string]bool
	queueSize int
	// tasks maps each assigned task to its assignment sequence number, so balancing can
	// pick the most recently assigned ones.
	tasks map[TaskID]uint64
	// heap position inside its group, and insertion order for round-robin tie breaking.
	index int
	seq   uint64
	group *group
}

// group holds workers with the same capability-name set in a min-heap by load.
type group struct {
	key     string
	workers workerHeap
}

type workerHeap []*workerEntry

func (h workerHeap) Len() int { return len(h) }
func (h workerHeap) Less(i, j int) bool {
	if len(h[i].tasks) != len(h[j].tasks) {
		return len(h[i].tasks) < len(h[j].tasks)
	}
	return h[i].seq < h[j].seq
}
func (h workerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *workerHeap) Push(x any) {
	w := x.(*workerEntry)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *workerHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// allocator implements both policies: even_load puts every worker in one group and ignores
// capabilities; capability groups workers by capability-name set and only offers a task to
// groups covering its required names. Picking the least loaded worker is a heap peek per
// eligible group, so allocation stays O(groups · log workers) for big fleets.
type allocator struct {
	useCaps bool
	workers map[string]*workerEntry
	groups  map[string]*group
	tasks   map[TaskID]*workerEntry
	// taskNeeds remembers the capability names of assigned tasks that need any, for
	// capability balancing.
	taskNeeds map[TaskID][]string
	seq       uint64
	// assignSeq orders assignments for balancing.
	assignSeq uint64
}

func newAllocator(useCaps bool) *allocator {
	return &allocator{
		useCaps:   useCaps,
		workers:   map[string]*workerEntry{},
		groups:    map[string]*group{},
		tasks:     map[TaskID]*workerEntry{},
		taskNeeds: map[TaskID][]string{},
	}
}

func (a *allocator) AddWorker(w string, caps []protocol.Capability, queueSize int) bool {
	if _, ok := a.workers[w]; ok {
		return false
	}
	if queueSize <= 0 {
		queueSize = 1
	}
	e := &workerEntry{id: w, queueSize: queueSize, tasks: map[TaskID]uint64{}, caps: map[string]bool{}}
	var names []string
	if a.useCaps {
		names = protocol.CapabilityNames(caps)
		for _, n := range names {
			e.caps[n] = true
		}
	}
	key := strings.Join(names, "\x00")
	g := a.groups[key]
	if g == nil {
		g = &group{key: key}
		a.groups[key] = g
	}
	a.seq++
	e.seq = a.seq
	e.group = g
	heap.Push(&g.workers, e)
	a.workers[w] = e
	return true
}

func (a *allocator) RemoveWorker(w string) []TaskID {
	e, ok := a.workers[w]
	if !ok {
		return nil
	}
	delete(a.workers, w)
	g := e.group
	heap.Remove(&g.workers, e.index)
	if g.workers.Len() == 0 {
		delete(a.groups, g.key)
	}
	out := sortedTasks(e.tasks, false)
	for _, t := range out {
		delete(a.tasks, t)
		delete(a.taskNeeds, t)
	}
	return out
}

// sortedTasks returns the tasks by assignment order (newest first when newestFirst).
func sortedTasks(m map[TaskID]uint64, newestFirst bool) []TaskID {
	out := make([]TaskID, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if newestFirst {
			return m[out[i]] > m[out[j]]
		}
		return m[out[i]] < m[out[j]]
	})
	return out
}

func (a *allocator) eligible(g *group, need []string) bool {
	if !a.useCaps {
		return true
	}
	w := g.workers[0]
	for _, n := range need {
		if !w.caps[n] {
			return false
		}
	}
	return true
}

func (a *allocator) Assign(t TaskID, need []string) (string, bool) {
	if e, ok := a.tasks[t]; ok {
		return e.id, true
	}
	if !a.useCaps {
		need = nil
	}
	var best *workerEntry
	for _, g := range a.groups {
		if g.workers.Len() == 0 || !a.eligible(g, need) {
			continue
		}
		w := g.workers[0]
		if len(w.tasks) >= w.queueSize {
			continue
		}
		if best == nil || len(w.tasks) < len(best.tasks) || (len(w.tasks) == len(best.tasks) && w.seq < best.seq) {
			best = w
		}
	}
	if best == nil {
		return "", false
	}
	a.assignSeq++
	best.tasks[t] = a.assignSeq
	a.tasks[t] = best
	if len(need) > 0 {
		a.taskNeeds[t] = need
	}
	// Re-inserting the chosen worker behind its equally loaded peers gives round-robin.
	a.seq++
	best.seq = a.seq
	heap.Fix(&best.group.workers, best.index)
	return best.id, true
}

func (a *allocator) Release(t TaskID) (string, bool) {
	e, ok := a.tasks[t]
	if !ok {
		return "", false
	}
	delete(a.tasks, t)
	delete(a.taskNeeds, t)
	delete(e.tasks, t)
	heap.Fix(&e.group.workers, e.index)
	return e.id, true
}

func (a *allocator) WorkerOf(t TaskID) (string, bool) {
	e, ok := a.tasks[t]
	if !ok {
		return "", false
	}
	return e.id, true
}

func (a *allocator) Load(w string) (int, int) {
	e, ok := a.workers[w]
	if !ok {
		return 0, 0
	}
	return len(e.tasks), max(0, e.queueSize-len(e.tasks))
}

func (a *allocator) Tasks(w string) []TaskID {
	e, ok := a.workers[w]
	if !ok {
		return nil
	}
	return sortedTasks(e.tasks, false)
}

func (a *allocator) HasWorker(w string) bool { _, ok := a.workers[w]; return ok }

func (a *allocator) NumWorkers() int { return len(a.workers) }

func (a *allocator) sortedWorkers() []*workerEntry {
	ws := make([]*workerEntry, 0, len(a.workers))
	for _, w := range a.workers {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].id < ws[j].id })
	return ws
}

func (a *allocator) Balance() map[string][]TaskID {
	if a.useCaps {
		return a.balanceCapability()
	}
	return a.balanceEvenLoad()
}

// balanceEvenLoad: spec/protocol.md §8.6 "even_load".
func (a *allocator) balanceEvenLoad() map[string][]TaskID {
	ws := a.sortedWorkers()
	if len(ws) == 0 {
		return nil
	}
	queued := make([]int, len(ws))
	total, idle := 0, 0
	for i, w := range ws {
		queued[i] = max(0, len(w.tasks)-1)
		total += queued[i]
		if len(w.tasks) == 0 {
			idle++
		}
	}
	if total == 0 || idle == 0 {
		return nil
	}
	mean := (total + len(ws) - 1) / len(ws)
	move := make([]int, len(ws))
	sum := 0
	for i := range ws {
		move[i] = max(0, queued[i]-mean)
		sum += move[i]
	}
	if want := min(idle, total); sum < want {
		for i := range ws {
			for move[i] < queued[i] && sum < want {
				move[i]++
				sum++
			}
		}
	}
	out := map[string][]TaskID{}
	for i, w := range ws {
		if move[i] == 0 {
			continue
		}
		out[w.id] = sortedTasks(w.tasks, true)[:move[i]]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// balanceCapability: spec/protocol.md §8.6 "capability", simulated on copies.
func (a *allocator) balanceCapability() map[string][]TaskID {
	ws := a.sortedWorkers()
	if len(ws) == 0 {
		return nil
	}
	hasIdle := false
	total := 0
	for _, w := range ws {
		if len(w.tasks) == 0 {
			hasIdle = true
		}
		total += len(w.tasks)
	}
	if !hasIdle {
		return nil
	}
	target := max(float64(total)/float64(len(ws)), 1.0)
	type sim struct {
		w     *workerEntry
		load  int
		tasks []TaskID // youngest first, minus moved ones
	}
	sims := make([]*sim, len(ws))
	for i, w := range ws {
		sims[i] = &sim{w: w, load: len(w.tasks), tasks: sortedTasks(w.tasks, true)}
	}
	out := map[string][]TaskID{}
	skipped := map[TaskID]bool{}
	for iter := 0; iter < total+len(ws); iter++ {
		sort.SliceStable(sims, func(i, j int) bool { return sims[i].load > sims[j].load })
		src := sims[0]
		if float64(src.load)-target < 1 {
			break
		}
		moved := false
		for k, t := range src.tasks {
			if skipped[t] {
				continue
			}
			need := a.taskNeeds[t]
			var dst *sim
			for j := len(sims) - 1; j > 0; j-- {
				s := sims[j]
				if float64(s.load) >= target || s == src {
					continue
				}
				ok := true
				for _, n := range need {
					if !s.w.caps[n] {
						ok = false
						break
					}
				}
				if ok {
					dst = s
					break
				}
			}
			if dst == nil {
				skipped[t] = true
				continue
			}
			out[src.w.id] = append(out[src.w.id], t)
			src.tasks = append(src.tasks[:k:k], src.tasks[k+1:]...)
			src.load--
			dst.load++
			moved = true
			break
		}
		if !moved {
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (a *allocator) Compact() {
	if len(a.tasks) != 0 {
		return
	}
	a.tasks = map[TaskID]*workerEntry{}
	a.taskNeeds = map[TaskID][]string{}
	for _, w := range a.workers {
		w.tasks = map[TaskID]uint64{}
	}
}
