package web

import (
	"sort"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
)

// Snapshot is an immutable picture of the cluster as the monitor stream last described it.
// The hub's owner goroutine builds one per broadcast tick; HTTP handlers only read them, so
// any number of browsers share one monitor subscription and never touch the Model.
type Snapshot struct {
	// Version increases with every published snapshot.
	Version uint64
	// At is when the snapshot was built; ages on the pages are relative to it.
	At time.Time
	// Monitor is the scheduler monitor address the GUI subscribes to.
	Monitor string

	// Connected tells whether the monitor subscription is up; ConnChange is when that last
	// changed and ConnErr why it went down (or why connecting failed).
	Connected  bool
	ConnChange time.Time
	ConnErr    string

	// HasStatus is false until the first StateScheduler arrives; StatusAt is when the latest did.
	HasStatus bool
	StatusAt  time.Time
	// Snapshots counts StateScheduler messages received.
	Snapshots int
	// StaleAfter is how long without a status report marks the scheduler stale.
	StaleAfter time.Duration

	Scheduler SchedulerStatus
	// States has one row per task state, active states first, then terminal ones.
	States []StateRow
	// Received and Sent are the scheduler's message counters by type, sorted by name.
	Received, Sent []protocol.Counter

	// Workers are the live workers, sorted by name.
	Workers []monitor.WorkerRow
	// Managers are live managers first, then vanished ones (kept 120 s), each with the sums of
	// its workers.
	Managers []ManagerView
	// Clients are the connected clients, most tasks first.
	Clients []ClientRow

	// Tasks are the unfinished tasks (newest first, at most maxActiveShown) followed by the
	// kept finished ones, newest first.
	Tasks []monitor.TaskInfo
	// ActiveTasks is the number of unfinished tasks the stream told about (may exceed the
	// ones listed in Tasks).
	ActiveTasks int
	// FinishedTasks is how many finished tasks the stream reported since the GUI started;
	// TaskLogMax is how many of them are kept.
	FinishedTasks, TaskLogMax int

	// Throughput is finished tasks per second; Running and Queued are task populations.
	Throughput, Running, Queued []monitor.Sample
	// Events are recent worker connects and disconnects, newest first.
	Events []monitor.WorkerEvent

	// memo caches rendered fragments of this snapshot by region and view, so browsers that
	// look at the same view cost one rendering per tick between them.
	memo sync.Map
}

// SchedulerStatus is the scheduler's own load from the latest status report.
type SchedulerStatus struct {
	CPU     uint16 // tenths of a percent
	RSS     uint64
	RSSFree uint64
	Objects uint32
}

// StateRow is one task state and its counter (cumulative for terminal states, current for
// the others, as the scheduler reports them).
type StateRow struct {
	State    protocol.TaskState
	Count    uint64
	Terminal bool
}

// ClientRow is one connected client and the number of its tasks in the scheduler.
type ClientRow struct {
	ID    string
	Tasks uint32
}

// ManagerView is a worker manager with the sums over its connected workers.
type ManagerView struct {
	monitor.ManagerRow
	// Connected is the number of workers connected for this manager.
	Connected int
	// CPU sums agents and processors, in tenths of a percent.
	CPU                           uint32
	RSS                           uint64
	Free, Sent, Queued, Suspended uint64
	// Gone marks a manager that stopped heartbeating GoneFor ago.
	Gone    bool
	GoneFor time.Duration
}

// Desired is the number of workers the manager is working towards: the connected ones plus
// the ones it has started that have not connected yet.
func (m ManagerView) Desired() int { return m.Connected + int(m.PendingWorkers) }

// maxActiveShown bounds the unfinished tasks copied into a snapshot: a queue of a million
// tasks must not cost a million copies per tick. The count is still exact.
const maxActiveShown = 1000

// maxEventsShown is how many worker connect/disconnect events the overview lists.
const maxEventsShown = 50

// activeStates and terminalStates order the task state table: the life of a task first,
// then its outcomes.
var (
	activeStates = []protocol.TaskState{protocol.StateInactive, protocol.StateRunning, protocol.StateCanceling,
		protocol.StateBalanceCanceling, protocol.StateWorkerDisconnecting}
	terminalStates = []protocol.TaskState{protocol.StateSuccess, protocol.StateFailed, protocol.StateFailedWorkerDied,
		protocol.StateCanceled, protocol.StateCanceledNotFound, protocol.StateBalanceCanceled}
)

// buildSnapshot copies what the pages show out of m. It runs on the goroutine that owns m;
// nothing in the result aliases memory that m changes later.
func buildSnapshot(m *monitor.Model, now time.Time, version uint64, cfg HubConfig) *Snapshot {
	s := &Snapshot{
		Version:       version,
		At:            now,
		Monitor:       cfg.Monitor,
		Connected:     m.Connected,
		ConnChange:    m.LastChange,
		Snapshots:     m.Snapshots,
		StaleAfter:    cfg.Model.StaleAfter,
		FinishedTasks: m.TotalFinished,
		TaskLogMax:    cfg.Model.TaskLog,
		Throughput:    append([]monitor.Sample(nil), m.Throughput...),
		Running:       append([]monitor.Sample(nil), m.Running...),
		Queued:        append([]monitor.Sample(nil), m.Queued...),
	}
	if m.LastError != nil {
		s.ConnErr = m.LastError.Error()
	}
	if st := m.Latest; st != nil {
		s.HasStatus, s.StatusAt = true, m.LatestAt
		s.Scheduler = SchedulerStatus{CPU: st.Scheduler.CPU, RSS: st.Scheduler.RSS, RSSFree: st.RSSFree, Objects: st.NumberOfObjects}
		s.Received = sortedCounters(st.Received)
		s.Sent = sortedCounters(st.Sent)
		for _, c := range st.Clients {
			s.Clients = append(s.Clients, ClientRow{ID: string(c.Client), Tasks: c.NumTask})
		}
		sort.Slice(s.Clients, func(i, j int) bool {
			if s.Clients[i].Tasks != s.Clients[j].Tasks {
				return s.Clients[i].Tasks > s.Clients[j].Tasks
			}
			return s.Clients[i].ID < s.Clients[j].ID
		})
	}
	for _, list := range [][]protocol.TaskState{activeStates, terminalStates} {
		for _, st := range list {
			s.States = append(s.States, StateRow{State: st, Count: uint64(monitor.StateCount(m.Latest, st)), Terminal: st.Terminal()})
		}
	}

	s.Workers = m.Workers()
	sort.Slice(s.Workers, func(i, j int) bool { return s.Workers[i].Worker < s.Workers[j].Worker })
	s.Managers = managerViews(m.Managers(), s.Workers, now)

	active := m.ActiveTasks()
	s.ActiveTasks = len(active)
	if len(active) > maxActiveShown {
		active = active[:maxActiveShown]
	}
	finished := m.FinishedTasks()
	s.Tasks = make([]monitor.TaskInfo, 0, len(active)+len(finished))
	for _, t := range active {
		s.Tasks = append(s.Tasks, *t)
	}
	for _, t := range finished {
		s.Tasks = append(s.Tasks, *t)
	}

	n := min(len(m.WorkerEvents), maxEventsShown)
	s.Events = make([]monitor.WorkerEvent, n)
	for i := range n {
		s.Events[i] = m.WorkerEvents[len(m.WorkerEvents)-1-i]
	}
	return s
}

func sortedCounters(in []protocol.Counter) []protocol.Counter {
	out := append([]protocol.Counter(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func managerViews(rows []monitor.ManagerRow, workers []monitor.WorkerRow, now time.Time) []ManagerView {
	byManager := map[string][]*monitor.WorkerRow{}
	for i := range workers {
		w := &workers[i]
		if w.Manager != "" {
			byManager[w.Manager] = append(byManager[w.Manager], w)
		}
	}
	out := make([]ManagerView, 0, len(rows))
	for _, r := range rows {
		r.Workers = append([]string(nil), r.Workers...)
		v := ManagerView{ManagerRow: r, Gone: !r.GoneAt.IsZero()}
		if v.Gone {
			v.GoneFor = now.Sub(r.GoneAt)
		}
		v.Connected = len(r.Workers)
		for _, w := range byManager[r.ID] {
			v.CPU += uint32(w.Agent.CPU) + w.ProcCPU
			v.RSS += w.Agent.RSS + w.ProcRSS
			v.Free += uint64(w.Free)
			v.Sent += uint64(w.Sent)
			v.Queued += uint64(w.Queued)
			v.Suspended += uint64(w.Suspended)
		}
		out = append(out, v)
	}
	return out
}

// Stale reports whether the scheduler has been silent for longer than StaleAfter at now.
func (s *Snapshot) Stale(now time.Time) bool {
	return !s.HasStatus || now.Sub(s.StatusAt) > s.StaleAfter
}

// StatusAge is how old the latest status report is at now.
func (s *Snapshot) StatusAge(now time.Time) time.Duration {
	if !s.HasStatus {
		return 0
	}
	return max(now.Sub(s.StatusAt), 0)
}

// PendingWorkers sums the workers that live managers have started but that have not
// connected yet.
func (s *Snapshot) PendingWorkers() int {
	n := 0
	for _, m := range s.Managers {
		if !m.Gone {
			n += int(m.PendingWorkers)
		}
	}
	return n
}

// LiveManagers counts managers that still heartbeat.
func (s *Snapshot) LiveManagers() int {
	n := 0
	for _, m := range s.Managers {
		if !m.Gone {
			n++
		}
	}
	return n
}

// UnmanagedWorkers counts workers that report no heartbeating manager (fixed workers).
func (s *Snapshot) UnmanagedWorkers() int {
	n := 0
	for _, w := range s.Workers {
		if w.Manager == "" {
			n++
		}
	}
	return n
}
