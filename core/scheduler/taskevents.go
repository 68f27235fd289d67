package scheduler

import "github.com/scaler-go/scaler/core/protocol"

// Task state changes reach the monitor stream (StateTask, spec/protocol.md §7.13) without
// costing the task path: a change is recorded as a small struct, and the messages are
// encoded and published at the next tick (every 100 ms, or earlier when many are waiting).
// Under load only a sample of tasks is shown: each tick admits at most taskEventBudget
// tasks not seen before, and every later change of an admitted task is published, so a
// dashboard never sees a task start and then never finish. The totals that throughput and
// counters come from are in StateScheduler and stay exact.
const (
	taskEventBudget   = 250  // new tasks per tick (100 ms): 2,500 tasks/s, more than a person can follow
	taskEventFlushMax = 8192 // pending changes that trigger a flush before the tick
)

type taskEvent struct {
	id       protocol.TaskID
	state    protocol.TaskState
	worker   string
	fn       []byte // function object id, named at flush time
	caps     []protocol.Capability
	metadata []byte
}

// taskEvents is the State's buffer of unpublished task changes.
type taskEvents struct {
	pending []taskEvent
	// shown holds tasks the monitor has seen in a non-terminal state: all their changes are
	// published until the terminal one.
	shown map[protocol.TaskID]struct{}
	// admitted are the tasks first recorded in this tick, at most taskEventBudget.
	admitted map[protocol.TaskID]struct{}
}

// publishTask records a change of t for the monitor. The decision is taken here, so a task
// outside the sample costs two map lookups and nothing else.
func (s *State) publishTask(t *taskEntry, worker string, metadata []byte) {
	if !s.fx.MonitorActive() {
		return
	}
	e := &s.events
	if e.shown == nil {
		e.shown = map[protocol.TaskID]struct{}{}
		e.admitted = map[protocol.TaskID]struct{}{}
	}
	if _, ok := e.shown[t.id]; !ok {
		if _, ok := e.admitted[t.id]; !ok {
			if len(e.admitted) >= taskEventBudget {
				return
			}
			e.admitted[t.id] = struct{}{}
		}
	}
	e.pending = append(e.pending, taskEvent{id: t.id, state: t.state, worker: worker, fn: t.task.FuncObjectID,
		caps: t.task.Capabilities, metadata: protocol.StandardProfile(metadata)})
	if len(e.pending) >= taskEventFlushMax {
		s.flushTaskEvents(false)
	}
}

// flushTaskEvents publishes the recorded changes in order; tick starts a new budget.
func (s *State) flushTaskEvents(tick bool) {
	e := &s.events
	if tick {
		clear(e.admitted)
	}
	if len(e.pending) == 0 {
		return
	}
	active := s.fx.MonitorActive()
	for i := range e.pending {
		ev := &e.pending[i]
		if ev.state.Terminal() {
			delete(e.shown, ev.id)
		} else {
			e.shown[ev.id] = struct{}{}
		}
		if !active {
			continue
		}
		// Names follow the reference: the function's object name for queue/run/result
		// events, empty for cancel events.
		var name []byte
		switch ev.state {
		case protocol.StateCanceling, protocol.StateCanceled, protocol.StateBalanceCanceling, protocol.StateCanceledNotFound:
		default:
			name = s.objects.name(ev.fn)
		}
		s.publish(&protocol.StateTask{
			TaskID:       append([]byte(nil), ev.id[:]...),
			FunctionName: name,
			State:        ev.state,
			Worker:       []byte(ev.worker),
			Capabilities: ev.caps,
			Metadata:     ev.metadata,
		})
	}
	clear(e.pending)
	e.pending = e.pending[:0]
	if cap(e.pending) > 4*taskEventFlushMax {
		e.pending = nil
	}
}

// resetTaskEvents forgets which tasks the monitor was shown, once nobody listens.
func (s *State) resetTaskEvents() {
	s.events = taskEvents{}
}
