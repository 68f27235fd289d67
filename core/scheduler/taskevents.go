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
	taskEventBudget   = 1000 // new tasks per tick (100 ms)
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
	// shown holds admitted tasks whose terminal state is not published yet.
	shown map[protocol.TaskID]struct{}
	// admitted and refused are this tick's new tasks, shown or not; a flush forced by a
	// full buffer spends the same tick's budget.
	admitted, refused map[protocol.TaskID]struct{}
}

func (s *State) publishTask(t *taskEntry, worker string, metadata []byte) {
	if !s.fx.MonitorActive() {
		return
	}
	e := &s.events
	e.pending = append(e.pending, taskEvent{id: t.id, state: t.state, worker: worker, fn: t.task.FuncObjectID,
		caps: t.task.Capabilities, metadata: protocol.StandardProfile(metadata)})
	if len(e.pending) >= taskEventFlushMax {
		s.flushTaskEvents(false)
	}
}

// flushTaskEvents publishes the pending changes, in order, within the budget; tick starts
// a new budget afterwards.
func (s *State) flushTaskEvents(tick bool) {
	e := &s.events
	if tick {
		defer func() {
			clear(e.admitted)
			clear(e.refused)
		}()
	}
	if len(e.pending) == 0 {
		return
	}
	if e.shown == nil {
		e.shown = map[protocol.TaskID]struct{}{}
		e.admitted = map[protocol.TaskID]struct{}{}
		e.refused = map[protocol.TaskID]struct{}{}
	}
	active := s.fx.MonitorActive()
	for i := range e.pending {
		ev := &e.pending[i]
		_, shown := e.shown[ev.id]
		if !shown {
			if _, no := e.refused[ev.id]; no {
				continue
			}
			if _, yes := e.admitted[ev.id]; !yes {
				if len(e.admitted) >= taskEventBudget {
					e.refused[ev.id] = struct{}{}
					continue
				}
				e.admitted[ev.id] = struct{}{}
			}
		}
		terminal := ev.state.Terminal()
		switch {
		case terminal:
			delete(e.shown, ev.id)
		case !shown:
			e.shown[ev.id] = struct{}{}
		}
		if !active {
			continue
		}
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
