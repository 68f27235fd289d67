package scheduler

import (
	"time"

	"github.com/scaler-go/scaler/core/policy"
	"github.com/scaler-go/scaler/core/protocol"
)

type managerEntry struct {
	identity string
	id       string
	lastSeen time.Time
	hb       *protocol.WorkerManagerHeartbeat
	// asked is the total the last command asked of this manager, for pending workers.
	asked uint32
}

func (s *State) onManagerHeartbeat(now time.Time, peer string, m *protocol.WorkerManagerHeartbeat) {
	id := string(m.WorkerManagerID)
	mg := s.managers[peer]
	if mg == nil {
		if other, taken := s.managerIDs[id]; taken && other != peer {
			// No echo: our manager notices and exits with a clear error.
			s.log.Warn("refusing worker manager: duplicate worker_manager_id", "worker_manager_id", id, "identity", peer, "registered_identity", other)
			return
		}
		mg = &managerEntry{identity: peer, id: id}
		s.managers[peer] = mg
		s.managerIDs[id] = peer
		s.log.Info("worker manager connected", "worker_manager_id", id, "identity", peer, "max_task_concurrency", m.MaxTaskConcurrency)
	}
	mg.lastSeen = now
	mg.hb = m
	s.send(peer, &protocol.WorkerManagerHeartbeatEcho{})
	cmd := s.scale.Command(s.scalingInput(mg))
	if cmd == nil {
		return
	}
	mg.asked = uint32(policy.DesiredFromCommand(cmd, m.Capabilities))
	s.send(peer, cmd)
}

func (s *State) scalingInput(mg *managerEntry) policy.ScalingInput {
	workers := map[string]int{} // by manager id
	for _, w := range s.workers {
		workers[w.managerID]++
	}
	info := func(mg *managerEntry) policy.ManagerInfo {
		return policy.ManagerInfo{
			ID:                 mg.id,
			MaxTaskConcurrency: mg.hb.MaxTaskConcurrency,
			Capabilities:       mg.hb.Capabilities,
			Workers:            workers[mg.id],
		}
	}
	in := policy.ScalingInput{Tasks: len(s.tasks), Workers: len(s.workers), Manager: info(mg)}
	for _, k := range sortedKeys(s.groups) {
		in.Groups = append(in.Groups, *s.groups[k])
	}
	for _, ident := range sortedKeys(s.managers) {
		in.Managers = append(in.Managers, info(s.managers[ident]))
	}
	return in
}

func (s *State) removeManager(identity string) {
	mg := s.managers[identity]
	if mg == nil {
		return
	}
	delete(s.managers, identity)
	if s.managerIDs[mg.id] == identity {
		delete(s.managerIDs, mg.id)
	}
}

func (s *State) expireManagers(now time.Time) {
	for _, ident := range sortedKeys(s.managers) {
		if mg := s.managers[ident]; now.Sub(mg.lastSeen) > s.cfg.ManagerTimeout {
			s.log.Info("worker manager timed out", "worker_manager_id", mg.id, "identity", ident)
			s.removeManager(ident)
		}
	}
}
