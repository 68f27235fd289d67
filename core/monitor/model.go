package monitor

import (
	"sort"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// maxGraphs bounds Model.Graphs.
const maxGraphs = 1000

// Sample is one point of a time series.
type Sample struct {
	At    time.Time
	Value float64
}

// TaskInfo is what the monitor stream told about one task.
type TaskInfo struct {
	ID           protocol.TaskID
	Function     string
	State        protocol.TaskState
	Worker       string
	Capabilities []protocol.Capability
	FirstSeen    time.Time
	Started      time.Time // first seen running
	Finished     time.Time // reached a terminal state
	Profile      protocol.ProfileResult
	HasProfile   bool
}

// Done reports whether the task reached a terminal state.
func (t *TaskInfo) Done() bool { return t.State.Terminal() }

// WorkerEvent is a worker connecting or leaving.
type WorkerEvent struct {
	At           time.Time
	Worker       string
	Connected    bool
	Capabilities []protocol.Capability
}

// WorkerRow is one worker of the latest status snapshot, joined with its manager.
type WorkerRow struct {
	// WorkerStatus is the worker's row of the snapshot (Agent.CPU in tenths of a percent).
	protocol.WorkerStatus
	Manager string
	Worker  string
	ProcCPU uint32 // sum over processors, tenths of a percent
	ProcRSS uint64
	// Capabilities come from the worker's connect event, when seen.
	Capabilities []protocol.Capability
}

// matches reports whether the worker's id or its manager's contains needle, which must be
// lower case: the dashboards' worker filter ignores case.
func (w *WorkerRow) matches(needle string) bool {
	return needle == "" || strings.Contains(strings.ToLower(w.Worker), needle) || strings.Contains(strings.ToLower(w.Manager), needle)
}

// ManagerRow is one worker manager, live or recently gone.
type ManagerRow struct {
	ID                 string
	Identity           string
	LastSeenS          uint16
	MaxTaskConcurrency uint32
	Capabilities       string
	PendingWorkers     uint32
	Workers            []string
	// GoneAt is when the manager vanished from the snapshots (zero while live).
	GoneAt time.Time
}

// ModelConfig bounds what a Model keeps.
type ModelConfig struct {
	// History is how long time series and the task stream are kept (default 30 min).
	History time.Duration
	// TaskLog is how many finished tasks are kept (default 500).
	TaskLog int
	// ManagerGrace keeps vanished managers listed this long (default 120 s).
	ManagerGrace time.Duration
	// StaleAfter is how long without a snapshot scaler_gui calls the scheduler stale (default 5 s).
	StaleAfter time.Duration
}

// Model is the monitor's view of the cluster. It is owned by one goroutine.
type Model struct {
	cfg ModelConfig

	// Latest is the most recent StateScheduler (nil before the first).
	Latest   *protocol.StateScheduler
	LatestAt time.Time
	// Snapshots counts StateScheduler messages received.
	Snapshots int
	// Connected tracks the monitor connection.
	Connected  bool
	LastChange time.Time
	LastError  error

	// Throughput is finished tasks per second between consecutive snapshots.
	Throughput []Sample
	// Running and Queued are task populations per snapshot.
	Running, Queued []Sample

	tasks    map[protocol.TaskID]*TaskInfo
	finished []*TaskInfo // oldest first, capped at cfg.TaskLog
	// TotalFinished counts finished tasks seen on the stream.
	TotalFinished int
	// WorkerEvents are recent connect/disconnect events, oldest first.
	WorkerEvents []WorkerEvent
	workerCaps   map[string][]protocol.Capability
	managers     map[string]*ManagerRow
	// BalanceAdvices are recent balancing actions.
	BalanceAdvices []protocol.StateBalanceAdvice
	// Graphs maps the ids of the latest maxGraphs graphs to their node count.
	Graphs map[protocol.TaskID]int
	// graphOrder is Graphs' keys, oldest first, so the oldest can be dropped: a dashboard
	// runs for weeks and sees every graph, and the stream never says a graph is gone.
	graphOrder []protocol.TaskID

	prevDone   uint64
	prevDoneAt time.Time
}

// WithDefaults returns c with its unset fields at their defaults.
func (c ModelConfig) WithDefaults() ModelConfig {
	if c.History <= 0 {
		c.History = 30 * time.Minute
	}
	if c.TaskLog <= 0 {
		c.TaskLog = 500
	}
	if c.ManagerGrace <= 0 {
		c.ManagerGrace = 120 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 5 * time.Second
	}
	return c
}

// NewModel returns an empty model.
func NewModel(cfg ModelConfig) *Model {
	return &Model{
		cfg:        cfg.WithDefaults(),
		tasks:      map[protocol.TaskID]*TaskInfo{},
		workerCaps: map[string][]protocol.Capability{},
		managers:   map[string]*ManagerRow{},
		Graphs:     map[protocol.TaskID]int{},
	}
}

// Apply folds one update into the model.
func (m *Model) Apply(u Update) {
	if u.Msg == nil {
		m.Connected = u.Connected
		m.LastChange = u.At
		if !u.Connected {
			m.LastError = u.Err
		}
		return
	}
	switch msg := u.Msg.(type) {
	case *protocol.StateScheduler:
		m.applyScheduler(u.At, msg)
	case *protocol.StateTask:
		m.applyTask(u.At, msg)
	case *protocol.StateWorker:
		ev := WorkerEvent{At: u.At, Worker: string(msg.WorkerID), Connected: msg.State == protocol.WorkerConnected, Capabilities: msg.Capabilities}
		m.WorkerEvents = append(m.WorkerEvents, ev)
		if ev.Connected {
			m.workerCaps[ev.Worker] = msg.Capabilities
		} else {
			delete(m.workerCaps, ev.Worker)
		}
		m.trimEvents(u.At)
	case *protocol.StateBalanceAdvice:
		m.BalanceAdvices = append(m.BalanceAdvices, *msg)
		if len(m.BalanceAdvices) > 100 {
			m.BalanceAdvices = m.BalanceAdvices[len(m.BalanceAdvices)-100:]
		}
	case *protocol.StateGraphTask:
		if id, ok := protocol.TaskIDFromBytes(msg.GraphTaskID); ok {
			if _, seen := m.Graphs[id]; !seen {
				m.graphOrder = append(m.graphOrder, id)
				if len(m.graphOrder) > maxGraphs {
					delete(m.Graphs, m.graphOrder[0])
					m.graphOrder = m.graphOrder[1:]
				}
			}
			m.Graphs[id]++
		}
	}
}

func (m *Model) trimEvents(now time.Time) {
	cut := 0
	for cut < len(m.WorkerEvents) && now.Sub(m.WorkerEvents[cut].At) > m.cfg.History {
		cut++
	}
	m.WorkerEvents = m.WorkerEvents[cut:]
}

// doneCount sums the terminal task counters, which the scheduler never decrements.
func doneCount(st *protocol.StateScheduler) uint64 {
	var n uint64
	for _, p := range st.TaskStates {
		if protocol.TaskState(p.State).Terminal() {
			n += uint64(p.Count)
		}
	}
	return n
}

// StateCount returns the counter of one task state in a snapshot.
func StateCount(st *protocol.StateScheduler, s protocol.TaskState) uint32 {
	if st == nil {
		return 0
	}
	for _, p := range st.TaskStates {
		if protocol.TaskState(p.State) == s {
			return p.Count
		}
	}
	return 0
}

// MessageCount is one message type with the scheduler's sent and received counters.
type MessageCount struct {
	Name           string
	Sent, Received uint32
}

// MessageCounts joins a snapshot's sent and received counters by message type, in the order
// the types first appear (the sent ones first).
func MessageCounts(sent, received []protocol.Counter) []MessageCount {
	idx := map[string]int{}
	var rows []MessageCount
	at := func(name string) *MessageCount {
		i, ok := idx[name]
		if !ok {
			i = len(rows)
			idx[name] = i
			rows = append(rows, MessageCount{Name: name})
		}
		return &rows[i]
	}
	for _, c := range sent {
		at(c.Name).Sent = c.Number
	}
	for _, c := range received {
		at(c.Name).Received = c.Number
	}
	return rows
}

func (m *Model) applyScheduler(at time.Time, st *protocol.StateScheduler) {
	m.Latest, m.LatestAt = st, at
	m.Snapshots++
	done := doneCount(st)
	if !m.prevDoneAt.IsZero() && done >= m.prevDone {
		if dt := at.Sub(m.prevDoneAt).Seconds(); dt > 0 {
			m.Throughput = appendSample(m.Throughput, Sample{At: at, Value: float64(done-m.prevDone) / dt}, at, m.cfg.History)
		}
	}
	m.prevDone, m.prevDoneAt = done, at
	m.Running = appendSample(m.Running, Sample{At: at, Value: float64(StateCount(st, protocol.StateRunning))}, at, m.cfg.History)
	m.Queued = appendSample(m.Queued, Sample{At: at, Value: float64(StateCount(st, protocol.StateInactive))}, at, m.cfg.History)

	live := map[string]bool{}
	for _, d := range st.Managers {
		id := string(d.WorkerManagerID)
		live[id] = true
		row := m.managers[id]
		if row == nil {
			row = &ManagerRow{ID: id}
			m.managers[id] = row
		}
		row.Identity, row.LastSeenS, row.MaxTaskConcurrency = d.Identity, d.LastSeenS, d.MaxTaskConcurrency
		row.Capabilities, row.PendingWorkers, row.GoneAt = d.Capabilities, d.PendingWorkers, time.Time{}
		row.Workers = nil
	}
	for _, p := range st.ManagedWorkers {
		if row := m.managers[string(p.WorkerManagerID)]; row != nil {
			for _, w := range p.WorkerIDs {
				row.Workers = append(row.Workers, string(w))
			}
		}
	}
	for id, row := range m.managers {
		if live[id] {
			continue
		}
		if row.GoneAt.IsZero() {
			row.GoneAt = at
			row.Workers = nil
		} else if at.Sub(row.GoneAt) > m.cfg.ManagerGrace {
			delete(m.managers, id)
		}
	}
	// Forget unfinished tasks older than the history: the stream samples task events under
	// load, so their end may never come. (Finished tasks have left m.tasks already.)
	for id, t := range m.tasks {
		if at.Sub(t.FirstSeen) > m.cfg.History {
			delete(m.tasks, id)
		}
	}
}

func appendSample(s []Sample, v Sample, now time.Time, keep time.Duration) []Sample {
	s = append(s, v)
	cut := 0
	for cut < len(s) && now.Sub(s[cut].At) > keep {
		cut++
	}
	if cut > 0 {
		s = append(s[:0], s[cut:]...)
	}
	return s
}

func (m *Model) applyTask(at time.Time, st *protocol.StateTask) {
	id, ok := protocol.TaskIDFromBytes(st.TaskID)
	if !ok {
		return
	}
	t := m.tasks[id]
	if t == nil {
		t = &TaskInfo{ID: id, FirstSeen: at, Capabilities: st.Capabilities}
		m.tasks[id] = t
	}
	t.State = st.State
	if len(st.FunctionName) > 0 {
		t.Function = string(st.FunctionName)
	}
	if len(st.Worker) > 0 {
		t.Worker = string(st.Worker)
	}
	if st.State == protocol.StateRunning && t.Started.IsZero() {
		t.Started = at
	}
	if p, ok, _ := protocol.DecodeProfileResult(st.Metadata); ok {
		t.Profile, t.HasProfile = p, true
	}
	if st.State.Terminal() {
		t.Finished = at
		if t.Started.IsZero() && t.HasProfile {
			// Seen only at the end: place its run from the profiled duration.
			t.Started = at.Add(-time.Duration(float64(t.Profile.DurationS) * float64(time.Second)))
		}
		delete(m.tasks, id)
		m.finished = append(m.finished, t)
		m.TotalFinished++
		if len(m.finished) > m.cfg.TaskLog {
			m.finished = append(m.finished[:0], m.finished[len(m.finished)-m.cfg.TaskLog:]...)
		}
	}
}

// Silence is how long no snapshot has arrived (since the connection changed if none ever).
func (m *Model) Silence(now time.Time) time.Duration {
	if m.Latest == nil {
		if m.LastChange.IsZero() {
			return 0
		}
		return now.Sub(m.LastChange)
	}
	return now.Sub(m.LatestAt)
}

// ActiveTasks returns tasks not finished yet, newest first.
func (m *Model) ActiveTasks() []*TaskInfo {
	out := make([]*TaskInfo, 0, len(m.tasks))
	for _, t := range m.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FirstSeen.After(out[j].FirstSeen) })
	return out
}

// FinishedTasks returns the kept finished tasks, newest first.
func (m *Model) FinishedTasks() []*TaskInfo {
	out := make([]*TaskInfo, len(m.finished))
	for i, t := range m.finished {
		out[len(out)-1-i] = t
	}
	return out
}

// Managers returns managers (live first, then recently gone), by id.
func (m *Model) Managers() []ManagerRow {
	out := make([]ManagerRow, 0, len(m.managers))
	for _, r := range m.managers {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GoneAt.IsZero() != out[j].GoneAt.IsZero() {
			return out[i].GoneAt.IsZero()
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Workers returns the workers of the latest snapshot with their managers.
func (m *Model) Workers() []WorkerRow {
	if m.Latest == nil {
		return nil
	}
	managerOf := map[string]string{}
	for _, p := range m.Latest.ManagedWorkers {
		for _, w := range p.WorkerIDs {
			managerOf[string(w)] = string(p.WorkerManagerID)
		}
	}
	out := make([]WorkerRow, 0, len(m.Latest.Workers))
	for _, w := range m.Latest.Workers {
		id := string(w.WorkerID)
		row := WorkerRow{WorkerStatus: w, Manager: managerOf[id], Worker: id, Capabilities: m.workerCaps[id]}
		for _, p := range w.Processors {
			row.ProcCPU += uint32(p.Resource.CPU)
			row.ProcRSS += p.Resource.RSS
		}
		out = append(out, row)
	}
	return out
}

// Clients returns the clients of the latest snapshot and their task counts.
func (m *Model) Clients() []protocol.ClientTasks {
	if m.Latest == nil {
		return nil
	}
	return m.Latest.Clients
}

// CapabilityNames joins capability names for display.
func CapabilityNames(caps []protocol.Capability) string {
	return strings.Join(protocol.CapabilityNames(caps), " ")
}
