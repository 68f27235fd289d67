package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/policy"
	"github.com/scaler-go/scaler/core/protocol"
)

type taskEntry struct {
	id    protocol.TaskID
	state protocol.TaskState
	// raw is the encoded Task forwarded to workers; task aliases it.
	raw  []byte
	task *protocol.Task
	// client receives results and confirmations (Task.source, or the canceling client).
	client string
	worker string
	seq    uint64
	queued bool
	capKey string
	// group counts t among the tasks needing its capability names, which it holds.
	group *policy.TaskGroup
	graph *graphEntry
	// silent tasks were already answered to the client (graph abort or cancel); whatever
	// the worker says later is only bookkeeping.
	silent bool
}

// transitions is the task state machine of spec/protocol.md §8.1 (plus the extra edges this
// scheduler takes on purpose, commented where they are used).
func allowed(from, to protocol.TaskState) bool {
	switch from {
	case protocol.StateInactive:
		return to == protocol.StateRunning || to == protocol.StateCanceled || to == protocol.StateFailed
	case protocol.StateRunning:
		switch to {
		case protocol.StateSuccess, protocol.StateFailed, protocol.StateFailedWorkerDied,
			protocol.StateCanceling, protocol.StateBalanceCanceling, protocol.StateWorkerDisconnecting:
			return true
		}
	case protocol.StateCanceling:
		switch to {
		case protocol.StateCanceled, protocol.StateRunning, protocol.StateCanceledNotFound,
			// A result that beats the cancel to the worker is delivered (the work is done).
			protocol.StateSuccess, protocol.StateFailed, protocol.StateFailedWorkerDied:
			return true
		}
	case protocol.StateBalanceCanceling:
		switch to {
		case protocol.StateSuccess, protocol.StateFailed, protocol.StateFailedWorkerDied,
			protocol.StateCanceling, protocol.StateInactive, protocol.StateRunning, protocol.StateWorkerDisconnecting:
			return true
		}
	case protocol.StateWorkerDisconnecting:
		return to == protocol.StateInactive || to == protocol.StateFailedWorkerDied
	}
	return false
}

// setState moves t and keeps the per-state counters: transient states count the current
// population, terminal ones are cumulative (spec/protocol.md §8.1).
func (s *State) setState(t *taskEntry, to protocol.TaskState) bool {
	if !allowed(t.state, to) {
		s.log.Debug("refused task transition", "task", t.id, "from", t.state, "to", to)
		return false
	}
	if !t.state.Terminal() && s.stateCounts[t.state] > 0 {
		s.stateCounts[t.state]--
	}
	t.state = to
	s.stateCounts[to]++
	return true
}

func (s *State) onTask(now time.Time, peer string, m *protocol.Task, raw []byte) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		s.log.Warn("dropping task with a malformed id", "peer", peer, "id_bytes", len(m.TaskID))
		return
	}
	if _, dup := s.tasks[id]; dup {
		s.log.Warn("dropping duplicate task", "peer", peer, "task", id)
		return
	}
	if _, inGraph := s.graphOf[id]; inGraph {
		s.log.Warn("dropping task whose id belongs to a live graph", "peer", peer, "task", id)
		return
	}
	t := s.newTask(id, m, raw, sourceOf(m.Source, peer))
	s.admit(now, t)
}

// sourceOf is the client a message from peer acts for: source when set, else peer. Most
// tasks name their sender, and comparing first spares a string allocation per task.
func sourceOf(source []byte, peer string) string {
	if len(source) == 0 || string(source) == peer {
		return peer
	}
	return string(source)
}

func (s *State) newTask(id protocol.TaskID, m *protocol.Task, raw []byte, client string) *taskEntry {
	s.taskSeq++
	t := &taskEntry{id: id, state: protocol.StateInactive, raw: raw, task: m, client: client, seq: s.taskSeq}
	names := protocol.CapabilityNames(m.Capabilities)
	t.capKey = strings.Join(names, "\x00")
	s.tasks[id] = t
	s.peakTasks = max(s.peakTasks, len(s.tasks))
	s.stateCounts[protocol.StateInactive]++
	if c := s.clients[client]; c != nil {
		c.tasks[id] = struct{}{}
	}
	g := s.groups[t.capKey]
	if g == nil {
		g = &policy.TaskGroup{Names: names, Caps: m.Capabilities}
		s.groups[t.capKey] = g
	}
	g.Count++
	t.group = g
	s.objects.markInput(m.FuncObjectID)
	for _, a := range m.Args {
		if a.Type == protocol.ArgObjectID {
			s.objects.markInput(a.Data)
		}
	}
	return t
}

// admit places a new (or re-admitted) task: straight to a worker when one has room, else
// into the waiting queue, unless that queue is full.
func (s *State) admit(now time.Time, t *taskEntry) {
	if w, ok := s.alloc.Assign(t.id, t.group.Names); ok {
		s.dispatch(t, w)
		return
	}
	if limit := s.cfg.MaxTasksWaiting; limit >= 0 && s.unassigned.len() >= limit {
		s.failTask(t, "builtins", "RuntimeError", fmt.Sprintf(
			"scheduler refused task %s: %d tasks are already waiting for a worker (max_number_of_tasks_waiting = %d)",
			t.id, s.unassigned.len(), limit))
		return
	}
	s.unassigned.push(t)
	s.publishTask(t, "", nil)
}

func (s *State) dispatch(t *taskEntry, w string) {
	if !s.setState(t, protocol.StateRunning) {
		s.alloc.Release(t.id)
		return
	}
	t.worker = w
	s.sendRaw(w, protocol.KindTask, t.raw)
	s.publishTask(t, w, nil)
}

// drainQueue places waiting tasks while workers have room (spec/protocol.md §7.3 step 4),
// per capability group so a task no worker can run does not block the others.
func (s *State) drainQueue() {
	s.unassigned.drain(func(t *taskEntry) bool {
		w, ok := s.alloc.Assign(t.id, t.group.Names)
		if !ok {
			return false
		}
		s.dispatch(t, w)
		return true
	})
}

// failTask ends a task the scheduler itself cannot run, with a pickled exception the Python
// client raises (and the Go client understands).
func (s *State) failTask(t *taskEntry, module, name, message string) {
	s.log.Warn("failing task", "task", t.id, "client", t.client, "reason", message)
	oid := protocol.NewObjectID([]byte(t.client))
	s.fx.SetObject(oid, protocol.PickleException(module, name, message))
	s.objects.create(oid, t.client, protocol.ObjectObject, nil, s.clients[t.client] != nil, time.Time{})
	if t.queued {
		s.unassigned.remove(t)
	}
	s.alloc.Release(t.id)
	s.setState(t, protocol.StateFailed)
	s.toClient(t.client, &protocol.TaskResult{TaskID: t.id[:], Type: protocol.ResultFailed, Results: [][]byte{oid[:]}})
	s.publishTask(t, "", nil)
	s.forget(t)
}

func (s *State) toClient(client string, m protocol.Message) {
	if _, ok := s.clients[client]; !ok {
		s.log.Debug("dropping message for a departed client", "client", client, "kind", m.Kind())
		return
	}
	s.send(client, m)
}

func (s *State) rawToClient(client string, k protocol.Kind, raw []byte) {
	if _, ok := s.clients[client]; !ok {
		s.log.Debug("dropping message for a departed client", "client", client, "kind", k)
		return
	}
	s.sendRaw(client, k, raw)
}

// forget drops a finished task from every table.
func (s *State) forget(t *taskEntry) {
	delete(s.tasks, t.id)
	if c := s.clients[t.client]; c != nil {
		delete(c.tasks, t.id)
	}
	// string(...) inline in the comparison and the index: a variable would copy the id
	// to the heap for every task.
	if string(t.task.Source) != t.client {
		if c := s.clients[string(t.task.Source)]; c != nil {
			delete(c.tasks, t.id)
		}
	}
	if t.group.Count--; t.group.Count <= 0 {
		delete(s.groups, t.capKey)
	}
}

func resultState(r protocol.TaskResultType) protocol.TaskState {
	switch r {
	case protocol.ResultSuccess:
		return protocol.StateSuccess
	case protocol.ResultFailedWorkerDied:
		return protocol.StateFailedWorkerDied
	}
	return protocol.StateFailed
}

func (s *State) onTaskResult(now time.Time, peer string, m *protocol.TaskResult, raw []byte) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		s.log.Warn("dropping task result with a malformed id", "peer", peer)
		return
	}
	t := s.tasks[id]
	if t == nil {
		// Late duplicates (a task re-run after its first worker was presumed dead) end here:
		// the client sees each result once.
		s.log.Debug("dropping result of an unknown task", "peer", peer, "task", id)
		return
	}
	to := resultState(m.Type)
	if !allowed(t.state, to) {
		s.log.Warn("dropping task result", "peer", peer, "task", id, "state", t.state)
		return
	}
	assigned, _ := s.alloc.Release(id)
	if assigned != "" && assigned != peer {
		// The task was re-dispatched while its first worker was presumed gone; the first
		// run won, so stop the second.
		// m.TaskID, not id[:]: slicing id would move it to the heap on every result.
		s.send(assigned, &protocol.TaskCancel{TaskID: m.TaskID, Force: true})
	}
	s.setState(t, to)
	if t.graph != nil {
		s.graphSubtaskDone(now, t, m, raw)
	} else if !t.silent {
		s.rawToClient(t.client, protocol.KindTaskResult, raw)
	}
	s.publishTask(t, "", m.Metadata)
	s.forget(t)
	s.drainQueue()
}

func (s *State) onTaskLog(peer string, m *protocol.TaskLog, raw []byte) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		return
	}
	if t := s.tasks[id]; t != nil && !t.silent {
		s.rawToClient(t.client, protocol.KindTaskLog, raw)
	}
}

func (s *State) onTaskCancel(now time.Time, peer string, m *protocol.TaskCancel) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		s.log.Warn("dropping cancel with a malformed id", "peer", peer)
		return
	}
	if g := s.graphOf[id]; g != nil {
		s.cancelGraph(now, g, peer)
		return
	}
	t := s.tasks[id]
	if t == nil {
		s.send(peer, &protocol.TaskCancelConfirm{TaskID: m.TaskID, Type: protocol.CancelConfirmNotFound})
		return
	}
	if _, isClient := s.clients[peer]; isClient {
		t.client = peer
	}
	s.cancelTask(t, m.Force, true)
}

// cancelTask cancels t; confirm says whether the client wants a confirmation.
func (s *State) cancelTask(t *taskEntry, force, confirm bool) {
	if !confirm {
		t.silent = true
	}
	switch t.state {
	case protocol.StateInactive:
		s.unassigned.remove(t)
		s.setState(t, protocol.StateCanceled)
		if confirm {
			s.toClient(t.client, &protocol.TaskCancelConfirm{TaskID: t.id[:], Type: protocol.CancelConfirmCanceled})
		}
		s.publishTask(t, "", nil)
		s.forget(t)
	case protocol.StateRunning:
		if !s.alloc.HasWorker(t.worker) {
			s.setState(t, protocol.StateCanceling)
			s.setState(t, protocol.StateCanceledNotFound)
			if confirm {
				s.toClient(t.client, &protocol.TaskCancelConfirm{TaskID: t.id[:], Type: protocol.CancelConfirmNotFound})
			}
			s.publishTask(t, "", nil)
			s.forget(t)
			return
		}
		s.setState(t, protocol.StateCanceling)
		s.send(t.worker, &protocol.TaskCancel{TaskID: t.id[:], Force: force})
		s.publishTask(t, t.worker, nil)
	case protocol.StateBalanceCanceling, protocol.StateCanceling:
		// A cancel is already in flight; a forced one still has to reach the worker, since
		// the balancer's cancel does not stop a running task.
		s.setState(t, protocol.StateCanceling)
		if force {
			s.send(t.worker, &protocol.TaskCancel{TaskID: t.id[:], Force: true})
		}
	}
}

func (s *State) onTaskCancelConfirm(now time.Time, peer string, m *protocol.TaskCancelConfirm) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		return
	}
	t := s.tasks[id]
	if t == nil {
		s.log.Debug("cancel confirmation for an unknown task", "peer", peer, "task", id)
		return
	}
	switch t.state {
	case protocol.StateCanceling:
		switch m.Type {
		case protocol.CancelConfirmCanceled, protocol.CancelConfirmNotFound:
			// Either way the worker no longer holds the task, so its slot is free (the
			// reference leaks the slot on cancelNotFound, spec §12 item 13).
			s.alloc.Release(id)
			to := protocol.StateCanceled
			if m.Type == protocol.CancelConfirmNotFound {
				to = protocol.StateCanceledNotFound
			}
			s.setState(t, to)
			if t.graph != nil {
				s.graphSubtaskCanceled(now, t)
			} else if !t.silent {
				s.toClient(t.client, &protocol.TaskCancelConfirm{TaskID: m.TaskID, Type: m.Type})
			}
			s.publishTask(t, "", nil)
			s.forget(t)
			s.drainQueue()
		case protocol.CancelConfirmFailed:
			s.setState(t, protocol.StateRunning)
		}
	case protocol.StateBalanceCanceling:
		switch m.Type {
		case protocol.CancelConfirmCanceled, protocol.CancelConfirmNotFound:
			s.alloc.Release(id)
			s.setState(t, protocol.StateInactive)
			t.worker = ""
			if w, ok := s.alloc.Assign(id, t.group.Names); ok {
				s.dispatch(t, w)
			} else {
				s.unassigned.pushFront(t)
				s.publishTask(t, "", nil)
			}
		case protocol.CancelConfirmFailed:
			s.setState(t, protocol.StateRunning)
		}
	}
}
