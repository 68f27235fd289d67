package scheduler

import (
	"sort"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

type clientEntry struct {
	id string
	liveness
	tasks map[protocol.TaskID]struct{}
}

type workerEntry struct {
	id string
	liveness
	hb        *protocol.WorkerHeartbeat
	managerID string
}

// liveness is what evicts a silent or disconnected client or worker.
type liveness struct {
	lastSeen time.Time
	// detachedAt is when the connection was reset (zero while connected).
	detachedAt time.Time
}

// seen records a message from the peer.
func (l *liveness) seen(now time.Time) {
	l.lastSeen = now
	l.detachedAt = time.Time{}
}

// expiry returns why the peer is gone by now — silent (after timeout without a message) or
// "connection lost" (after grace without reconnecting) — or "" while it is not.
func (l *liveness) expiry(now time.Time, timeout, grace time.Duration, silent string) string {
	switch {
	case now.Sub(l.lastSeen) > timeout:
		return silent
	case !l.detachedAt.IsZero() && now.Sub(l.detachedAt) > grace:
		return "connection lost"
	}
	return ""
}

func (s *State) onClientHeartbeat(now time.Time, peer string, m *protocol.ClientHeartbeat) {
	s.send(peer, &protocol.ClientHeartbeatEcho{ObjectStorage: s.cfg.ObjectStorage})
	c := s.clients[peer]
	if c == nil {
		c = &clientEntry{id: peer, tasks: map[protocol.TaskID]struct{}{}}
		s.clients[peer] = c
		// Tasks may have arrived before the first heartbeat; they belong to this client.
		for id, t := range s.tasks {
			if t.client == peer {
				c.tasks[id] = struct{}{}
			}
		}
		adopted := s.objects.adopt(peer)
		s.log.Info("client connected", "client", peer, "adopted_objects", adopted)
	}
	c.seen(now)
}

func (s *State) onClientDisconnect(now time.Time, peer string, m *protocol.ClientDisconnect) {
	if m.Type != protocol.DisconnectShutdown {
		s.disconnectClient(now, peer, "client disconnected")
		return
	}
	if s.cfg.Protected {
		s.log.Warn("refusing shutdown request: scheduler is protected", "client", peer)
		s.send(peer, &protocol.ClientShutdownResponse{Accepted: false})
		return
	}
	s.log.Info("shutdown requested by client", "client", peer)
	s.send(peer, &protocol.ClientShutdownResponse{Accepted: true})
	for _, w := range s.sortedWorkers() {
		s.send(w, &protocol.ClientDisconnect{Type: protocol.DisconnectShutdown})
	}
	for _, w := range s.sortedWorkers() {
		s.disconnectWorker(now, w, "cluster shutdown")
	}
	s.shuttingDown = true
	s.fx.Shutdown()
}

// disconnectClient forgets a client: its tasks are cancelled and its objects deleted. Its
// running tasks are cancelled with force: nobody is left to receive their results (the
// reference lets them run to completion and drops the results, spec §12 item 24).
func (s *State) disconnectClient(now time.Time, client, why string) {
	c := s.clients[client]
	if c == nil {
		return
	}
	delete(s.clients, client)
	ids := make([]protocol.TaskID, 0, len(c.tasks))
	for id := range c.tasks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	for _, id := range ids {
		if g := s.graphOf[id]; g != nil {
			s.cancelGraph(now, g, "")
			continue
		}
		if t := s.tasks[id]; t != nil {
			s.cancelTask(t, true, false)
		}
	}
	for _, g := range s.graphs {
		if g.client == client {
			s.cancelGraph(now, g, "")
		}
	}
	n := s.objects.dropOwner(client)
	s.log.Info("client disconnected", "client", client, "reason", why, "canceled_tasks", len(ids), "deleted_objects", n)
}

func (s *State) expireClients(now time.Time) {
	for _, id := range sortedKeys(s.clients) {
		if why := s.clients[id].expiry(now, s.cfg.ClientTimeout, s.cfg.ReconnectGrace, "client timed out"); why != "" {
			s.disconnectClient(now, id, why)
		}
	}
}

func (s *State) onWorkerHeartbeat(now time.Time, peer string, m *protocol.WorkerHeartbeat) {
	w := s.workers[peer]
	isNew := w == nil
	if isNew {
		w = &workerEntry{id: peer, managerID: string(m.WorkerManagerID)}
		s.workers[peer] = w
		s.alloc.AddWorker(peer, m.Capabilities, int(m.QueueSize))
		if s.fx.MonitorActive() {
			s.publish(&protocol.StateWorker{WorkerID: []byte(peer), State: protocol.WorkerConnected, Capabilities: m.Capabilities})
		}
		s.log.Info("worker connected", "worker", peer, "manager", w.managerID, "queue_size", m.QueueSize, "capabilities", len(m.Capabilities))
	}
	w.seen(now)
	w.hb = m
	s.send(peer, &protocol.WorkerHeartbeatEcho{ObjectStorage: s.cfg.ObjectStorage})
	if isNew {
		s.drainQueue()
	}
}

func (s *State) onDisconnectRequest(now time.Time, peer string, m *protocol.DisconnectRequest) {
	target := string(m.Worker)
	if _, ok := s.workers[target]; !ok {
		target = peer
	}
	s.disconnectWorker(now, target, "worker left")
	s.send(peer, &protocol.DisconnectResponse{Worker: m.Worker})
}

// disconnectWorker removes a worker; its tasks go back to the queue, ahead of newer tasks,
// and run elsewhere (spec/protocol.md §7.9).
func (s *State) disconnectWorker(now time.Time, worker, why string) {
	w := s.workers[worker]
	if w == nil {
		return
	}
	delete(s.workers, worker)
	ids := s.alloc.RemoveWorker(worker)
	if s.fx.MonitorActive() {
		s.publish(&protocol.StateWorker{WorkerID: []byte(worker), State: protocol.WorkerDisconnected})
	}
	requeued := 0
	// Oldest first, each pushed to the front: iterate newest first to keep their order.
	for i := len(ids) - 1; i >= 0; i-- {
		t := s.tasks[ids[i]]
		if t == nil {
			continue
		}
		switch t.state {
		case protocol.StateCanceling:
			s.setState(t, protocol.StateCanceled)
			if t.graph != nil {
				s.graphSubtaskCanceled(now, t)
			} else if !t.silent {
				s.toClient(t.client, &protocol.TaskCancelConfirm{TaskID: t.id[:], Type: protocol.CancelConfirmCanceled})
			}
			s.publishTask(t, "", nil)
			s.forget(t)
		case protocol.StateRunning, protocol.StateBalanceCanceling:
			s.setState(t, protocol.StateWorkerDisconnecting)
			s.setState(t, protocol.StateInactive)
			t.worker = ""
			s.unassigned.pushFront(t)
			requeued++
		}
	}
	s.log.Info("worker disconnected", "worker", worker, "reason", why, "requeued_tasks", requeued)
	s.drainQueue()
}

func (s *State) expireWorkers(now time.Time) {
	for _, id := range s.sortedWorkers() {
		if why := s.workers[id].expiry(now, s.cfg.WorkerTimeout, s.cfg.ReconnectGrace, "worker heartbeat timed out"); why != "" {
			s.disconnectWorker(now, id, why)
		}
	}
}

func (s *State) sortedWorkers() []string { return sortedKeys(s.workers) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
