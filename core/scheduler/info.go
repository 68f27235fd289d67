package scheduler

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// Info builds the document of InformationResponse.
func (s *State) Info(now time.Time) *protocol.ClusterInfo {
	st := s.Status(now)
	info := &protocol.ClusterInfo{
		Time:          now.UTC(),
		SchedulerCPU:  float64(st.Scheduler.CPU) / 10,
		SchedulerRSS:  st.Scheduler.RSS,
		HostFree:      st.RSSFree,
		Tasks:         map[string]int64{},
		QueuedTasks:   s.unassigned.len(),
		Objects:       s.objects.len(),
		Graphs:        len(s.graphs),
		MessagesIn:    map[string]int64{},
		MessagesOut:   map[string]int64{},
		Allocation:    s.cfg.Engine.Allocate,
		Scaling:       s.cfg.Engine.Scaling,
		ObjectStorage: s.cfg.ObjectStorage.Scheme + "://" + s.cfg.ObjectStorage.Host + ":" + strconv.Itoa(int(s.cfg.ObjectStorage.Port)),
		Clients:       []protocol.InfoClient{},
		Workers:       []protocol.InfoWorker{},
		Managers:      []protocol.InfoManager{},
	}
	for _, p := range st.TaskStates {
		info.Tasks[protocol.TaskState(p.State).String()] = int64(p.Count)
	}
	for _, c := range st.Received {
		info.MessagesIn[c.Name] = int64(c.Number)
	}
	for _, c := range st.Sent {
		info.MessagesOut[c.Name] = int64(c.Number)
	}
	for _, c := range st.Clients {
		info.Clients = append(info.Clients, protocol.InfoClient{ID: string(c.Client), Tasks: int(c.NumTask)})
	}
	for _, w := range st.Workers {
		e := s.workers[string(w.WorkerID)]
		iw := protocol.InfoWorker{ID: string(w.WorkerID), Assigned: int(w.Sent), Free: int(w.Free), Queued: w.Queued,
			Processors: len(w.Processors), CPU: float64(w.Agent.CPU) / 10, RSS: w.Agent.RSS, LatencyUS: uint32(w.LagUS)}
		if e != nil {
			iw.Manager = e.managerID
			iw.LastSeenS = now.Sub(e.lastSeen).Seconds()
			if e.hb != nil && len(e.hb.Capabilities) > 0 {
				iw.Capabilities = map[string]int64{}
				for _, c := range e.hb.Capabilities {
					iw.Capabilities[c.Name] = c.Value
				}
			}
		}
		info.Workers = append(info.Workers, iw)
	}
	// Status lists ManagedWorkers and Managers in the same order.
	for i, m := range st.Managers {
		info.Managers = append(info.Managers, protocol.InfoManager{ID: string(m.WorkerManagerID), Identity: m.Identity,
			MaxTaskConcurrency: m.MaxTaskConcurrency, Pending: m.PendingWorkers, Capabilities: m.Capabilities,
			LastSeenS: float64(m.LastSeenS), Workers: len(st.ManagedWorkers[i].WorkerIDs)})
	}
	return info
}

func (s *State) onInformationRequest(now time.Time, peer string, m *protocol.InformationRequest) {
	var doc any = s.Info(now)
	if string(m.Request) == protocol.FeaturesRequest {
		doc = protocol.Features{Implementation: "scaler-go", Inline: true}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		s.log.Error("cannot encode the information document", "err", err)
		return
	}
	s.send(peer, &protocol.InformationResponse{Response: b})
}
