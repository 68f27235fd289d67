package scheduler

import (
	"sort"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

func capped16(v float64) uint16 {
	if v > 65535 {
		return 65535
	}
	if v < 0 {
		return 0
	}
	return uint16(v)
}

// Status builds the StateScheduler snapshot of spec/protocol.md §8.9.
func (s *State) Status(now time.Time) *protocol.StateScheduler {
	res, free := s.fx.Resources()
	st := &protocol.StateScheduler{
		Received:        s.received.list(),
		Sent:            s.sent.list(),
		Scheduler:       res,
		RSSFree:         free,
		NumberOfObjects: uint32(s.objects.len()),
	}
	for _, id := range sortedKeys(s.clients) {
		st.Clients = append(st.Clients, protocol.ClientTasks{Client: []byte(id), NumTask: uint32(len(s.clients[id].tasks))})
	}
	for i := range s.stateCounts {
		st.TaskStates = append(st.TaskStates, protocol.StateCount{State: uint8(i), Count: s.stateCounts[i]})
	}
	byManager := map[string][][]byte{}
	for _, id := range s.sortedWorkers() {
		w, wid := s.workers[id], []byte(id)
		byManager[w.managerID] = append(byManager[w.managerID], wid)
		assigned, freeSlots := s.alloc.Load(id)
		ws := protocol.WorkerStatus{
			WorkerID: wid,
			Free:     uint32(freeSlots),
			Sent:     uint32(assigned),
			LastS:    capped16(now.Sub(w.lastSeen).Seconds()),
		}
		if hb := w.hb; hb != nil {
			ws.Agent = hb.Agent
			ws.RSSFree = hb.RSSFree
			ws.Queued = hb.QueuedTasks
			ws.LagUS = uint64(hb.LatencyUS)
			ws.Processors = hb.Processors
			ws.MemLimit = hb.MemLimit
			suspended := 0
			var active *protocol.ProcessorStatus
			for i := range hb.Processors {
				if hb.Processors[i].Suspended {
					suspended++
				} else if active == nil {
					active = &hb.Processors[i]
				}
			}
			ws.Suspended = uint8(min(suspended, 255))
			ws.ITL = "00"
			if active != nil {
				ws.ITL = string([]byte{bit(active.Initialized), bit(active.HasTask)})
			}
			ws.ITL += string(bit(hb.TaskLock))
		} else {
			ws.ITL = "000"
		}
		st.Workers = append(st.Workers, ws)
	}
	for _, ident := range sortedKeys(s.managers) {
		mg := s.managers[ident]
		workers := byManager[mg.id]
		st.ManagedWorkers = append(st.ManagedWorkers, protocol.ManagedWorkers{WorkerManagerID: []byte(mg.id), WorkerIDs: workers})
		pending := int(mg.asked) - len(workers)
		st.Managers = append(st.Managers, protocol.ManagerDetail{
			WorkerManagerID:    []byte(mg.id),
			Identity:           ident,
			LastSeenS:          capped16(now.Sub(mg.lastSeen).Seconds()),
			MaxTaskConcurrency: mg.hb.MaxTaskConcurrency,
			Capabilities:       strings.Join(protocol.CapabilityNames(mg.hb.Capabilities), " "),
			PendingWorkers:     uint32(max(0, pending)),
		})
	}
	return st
}

func bit(b bool) byte {
	if b {
		return '1'
	}
	return '0'
}

// balance runs the balancing routine (spec/protocol.md §7.11): act once the same advice has
// been seen LoadBalanceTriggerTimes more times in a row.
func (s *State) balance(now time.Time) {
	advice := s.alloc.Balance()
	if len(advice) == 0 {
		s.balanceAdvice, s.balanceSame = nil, 0
		return
	}
	if sameAdvice(advice, s.balanceAdvice) {
		s.balanceSame++
	} else {
		s.balanceSame = 0
	}
	s.balanceAdvice = advice
	if s.balanceSame != s.cfg.LoadBalanceTriggerTimes {
		return
	}
	workers := make([]string, 0, len(advice))
	for w := range advice {
		workers = append(workers, w)
	}
	sort.Strings(workers)
	moved := 0
	for _, w := range workers {
		ids := advice[w]
		if s.fx.MonitorActive() {
			raw := make([][]byte, len(ids))
			for i := range ids {
				raw[i] = append([]byte(nil), ids[i][:]...)
			}
			s.publish(&protocol.StateBalanceAdvice{WorkerID: []byte(w), TaskIDs: raw})
		}
		for _, id := range ids {
			t := s.tasks[id]
			if t == nil || t.state != protocol.StateRunning || t.worker != w {
				continue
			}
			s.setState(t, protocol.StateBalanceCanceling)
			s.send(w, &protocol.TaskCancel{TaskID: id[:], Force: false})
			s.publishTask(t, w, nil)
			moved++
		}
	}
	s.log.Info("balancing: moving queued tasks", "workers", len(workers), "tasks", moved)
}

// sameAdvice says whether two advices move tasks away from the same workers. The tasks
// themselves differ from one round to the next whenever queued tasks finish in between
// (tasks as long as the balancing period would otherwise never be balanced: the new worker
// stays idle while another works through its queue); what the trigger count guards against
// is acting on a passing imbalance, and that is the set of overloaded workers.
func sameAdvice(a, b map[string][]protocol.TaskID) bool {
	if len(a) != len(b) {
		return false
	}
	for w := range a {
		if _, ok := b[w]; !ok {
			return false
		}
	}
	return true
}
