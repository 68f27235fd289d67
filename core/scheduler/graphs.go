package scheduler

import (
	"fmt"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// graphEntry is a live GraphTask (spec/protocol.md §7.8): the scheduler submits each
// subtask once its dependencies are done, substituting their result objects for the
// task-typed arguments, frees intermediate results once their consumers are done, and
// aborts the rest on the first failure — cancelling the subtasks still running, which the
// reference leaves running.
type graphEntry struct {
	id        protocol.TaskID
	client    string
	nodes     map[protocol.TaskID]*graphNode
	order     []*graphNode // topological
	all       []*graphNode // as submitted
	remaining int          // nodes not finished
	canceling bool
	finished  bool
}

type nodeState uint8

const (
	nodePending nodeState = iota
	nodeSubmitted
	nodeDone
)

type graphNode struct {
	id         protocol.TaskID
	task       protocol.Task
	target     bool
	deps       []*graphNode
	dependents []*graphNode
	waiting    int // dependencies not done yet
	consumers  int // dependents not done yet
	results    [][]byte
	state      nodeState
}

func (s *State) onGraphTask(now time.Time, peer string, m *protocol.GraphTask) {
	gid, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		s.log.Warn("dropping graph with a malformed id", "peer", peer)
		return
	}
	if _, dup := s.graphOf[gid]; dup || s.tasks[gid] != nil {
		s.log.Warn("dropping duplicate graph", "peer", peer, "graph", gid)
		return
	}
	client := sourceOf(m.Source, peer)
	g := &graphEntry{id: gid, client: client, nodes: map[protocol.TaskID]*graphNode{}}
	err := g.build(m, s.tasks)
	s.graphs[gid] = g
	s.graphOf[gid] = g
	for id := range g.nodes {
		s.graphOf[id] = g
	}
	if c := s.clients[client]; c != nil {
		c.tasks[gid] = struct{}{}
	}
	if err != nil {
		s.rejectGraph(now, g, "builtins", "ValueError", fmt.Sprintf("invalid graph %s: %v", gid, err))
		return
	}
	if limit := s.cfg.MaxTasksWaiting; limit >= 0 && s.unassigned.len() >= limit && s.alloc.NumWorkers() == 0 {
		s.rejectGraph(now, g, "builtins", "RuntimeError", fmt.Sprintf(
			"scheduler refused graph %s: %d tasks are already waiting for a worker (max_number_of_tasks_waiting = %d)",
			gid, s.unassigned.len(), limit))
		return
	}
	if s.fx.MonitorActive() {
		for _, n := range g.order {
			parents := make([][]byte, len(n.deps))
			for i, d := range n.deps {
				parents[i] = append([]byte(nil), d.id[:]...)
			}
			typ := protocol.NodeNormal
			if n.target {
				typ = protocol.NodeTarget
			}
			s.publish(&protocol.StateGraphTask{GraphTaskID: gid[:], TaskID: append([]byte(nil), n.id[:]...), NodeType: typ, ParentTaskIDs: parents})
		}
	}
	if len(g.order) == 0 {
		s.finishGraph(g, protocol.ResultSuccess)
		return
	}
	for _, n := range g.order {
		if n.waiting == 0 {
			s.submitNode(now, g, n)
		}
	}
}

// build indexes and validates the graph: unique 16-byte ids not already in use, task
// arguments that name subtasks of this graph, targets that exist, no cycles.
func (g *graphEntry) build(m *protocol.GraphTask, live map[protocol.TaskID]*taskEntry) error {
	for i := range m.Graph {
		t := m.Graph[i]
		id, ok := protocol.TaskIDFromBytes(t.TaskID)
		if !ok {
			return fmt.Errorf("subtask %d has a %d-byte id", i, len(t.TaskID))
		}
		if _, dup := g.nodes[id]; dup || live[id] != nil {
			return fmt.Errorf("subtask id %s is used twice", id)
		}
		n := &graphNode{id: id, task: t}
		g.nodes[id] = n
		g.all = append(g.all, n)
	}
	for _, raw := range m.Targets {
		id, ok := protocol.TaskIDFromBytes(raw)
		n := g.nodes[id]
		if !ok || n == nil {
			return fmt.Errorf("target %x is not a subtask of the graph", raw)
		}
		n.target = true
	}
	for _, n := range g.all {
		seen := map[protocol.TaskID]bool{}
		for _, a := range n.task.Args {
			if a.Type != protocol.ArgTask {
				continue
			}
			did, ok := protocol.TaskIDFromBytes(a.Data)
			d := g.nodes[did]
			if !ok || d == nil {
				return fmt.Errorf("subtask %s depends on %x, which is not in the graph", n.id, a.Data)
			}
			if !seen[did] {
				seen[did] = true
				n.deps = append(n.deps, d)
				d.dependents = append(d.dependents, n)
			}
		}
		n.waiting = len(n.deps)
	}
	// Kahn's algorithm, in submission order for determinism.
	waiting := map[*graphNode]int{}
	var ready []*graphNode
	for _, n := range g.all {
		waiting[n] = len(n.deps)
		n.consumers = len(n.dependents)
		if len(n.deps) == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		g.order = append(g.order, n)
		for _, d := range n.dependents {
			if waiting[d]--; waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(g.order) != len(g.nodes) {
		return fmt.Errorf("the graph has a cycle (%d of %d subtasks can never run)", len(g.nodes)-len(g.order), len(g.nodes))
	}
	g.remaining = len(g.nodes)
	return nil
}

// submitNode turns a ready node into an ordinary task whose task-typed arguments name the
// result objects of its dependencies.
func (s *State) submitNode(now time.Time, g *graphEntry, n *graphNode) {
	task := n.task
	task.Source = []byte(g.client)
	task.Args = make([]protocol.Argument, len(n.task.Args))
	for i, a := range n.task.Args {
		if a.Type == protocol.ArgTask {
			did, _ := protocol.TaskIDFromBytes(a.Data)
			d := g.nodes[did]
			if len(d.results) == 0 {
				s.abortGraph(now, g, n, nil, protocol.ResultFailed)
				return
			}
			a = protocol.Argument{Type: protocol.ArgObjectID, Data: d.results[0]}
		}
		task.Args[i] = a
	}
	raw, err := protocol.Encode(&task)
	if err != nil {
		s.log.Error("cannot encode graph subtask", "graph", g.id, "task", n.id, "err", err)
		return
	}
	n.state = nodeSubmitted
	t := s.newTask(n.id, &task, raw, g.client)
	t.graph = g
	if w, ok := s.alloc.Assign(t.id, t.group.Names); ok {
		s.dispatch(t, w)
	} else {
		s.unassigned.push(t)
		s.publishTask(t, "", nil)
	}
}

// graphSubtaskDone is called with a subtask's result, after its state moved to terminal.
func (s *State) graphSubtaskDone(now time.Time, t *taskEntry, m *protocol.TaskResult, raw []byte) {
	g := t.graph
	n := g.nodes[t.id]
	if p, ok, _ := protocol.DecodeProfileResult(m.Metadata); ok && p.Inline {
		// Graph results feed other subtasks, which take object ids: store the value.
		raw = s.materializeInline(now, g.client, m, p)
	}
	if g.finished || n == nil || n.state == nodeDone {
		// Aborted graphs already answered this node; drop the late result's objects.
		s.dropObjects(m.Results)
		return
	}
	if g.canceling {
		// A result that races the cancel counts as its confirmation.
		s.dropObjects(m.Results)
		s.toClient(g.client, &protocol.TaskCancelConfirm{TaskID: t.id[:], Type: protocol.CancelConfirmCanceled})
		s.nodeFinished(g, n)
		s.maybeFinishCancel(g)
		return
	}
	s.rawToClient(g.client, protocol.KindTaskResult, raw)
	if m.Type != protocol.ResultSuccess {
		s.abortGraph(now, g, n, m.Results, m.Type)
		return
	}
	n.results = make([][]byte, len(m.Results))
	for i := range m.Results {
		n.results[i] = append([]byte(nil), m.Results[i]...)
	}
	s.nodeFinished(g, n)
	for _, d := range n.deps {
		if d.consumers--; d.consumers == 0 && !d.target {
			s.dropObjects(d.results)
		}
	}
	if len(n.dependents) == 0 && !n.target {
		s.dropObjects(n.results)
	}
	for _, x := range n.dependents {
		if x.waiting--; x.waiting == 0 && x.state == nodePending {
			s.submitNode(now, g, x)
		}
	}
	if g.remaining == 0 {
		s.finishGraph(g, protocol.ResultSuccess)
	}
}

// materializeInline turns a result whose value came inline into an ordinary result object
// owned by client, and returns the re-encoded message. Go clients do not ask for inline
// results of graph subtasks; this keeps a worker that sends one anyway harmless.
func (s *State) materializeInline(now time.Time, client string, m *protocol.TaskResult, p protocol.ProfileResult) []byte {
	ids := make([][]byte, len(m.Results))
	_, known := s.clients[client]
	for i, value := range m.Results {
		id := protocol.NewObjectID([]byte(client))
		s.fx.SetObject(id, value)
		s.objects.create(id, client, protocol.ObjectObject, nil, known, now)
		ids[i] = id[:]
	}
	p.Inline = false
	m.Results, m.Metadata = ids, p.Encode()
	return protocol.MustEncode(m)
}

func (s *State) nodeFinished(g *graphEntry, n *graphNode) {
	if n.state != nodeDone {
		n.state = nodeDone
		g.remaining--
	}
}

func (s *State) dropObjects(ids [][]byte) {
	for _, raw := range ids {
		if id, ok := protocol.ObjectIDFromBytes(raw); ok {
			s.objects.remove(id)
		}
	}
}

// abortGraph fails every unfinished node with a copy of the failure (failed node excluded:
// its own result went to the client already), cancels the subtasks still running, then
// fails the graph itself.
func (s *State) abortGraph(now time.Time, g *graphEntry, failed *graphNode, failure [][]byte, typ protocol.TaskResultType) {
	s.nodeFinished(g, failed)
	var src protocol.ObjectID
	haveSrc := false
	if len(failure) > 0 {
		src, haveSrc = protocol.ObjectIDFromBytes(failure[0])
	}
	for _, n := range g.order {
		if n.state == nodeDone {
			if !n.target {
				s.dropObjects(n.results)
			}
			continue
		}
		if n.state == nodeSubmitted {
			if t := s.tasks[n.id]; t != nil {
				s.cancelTask(t, true, false)
			}
		}
		res := protocol.TaskResult{TaskID: append([]byte(nil), n.id[:]...), Type: typ}
		dst := protocol.NewObjectID([]byte(g.client))
		if haveSrc {
			s.fx.DuplicateObject(dst, src)
		} else {
			s.fx.SetObject(dst, protocol.PickleException("builtins", "RuntimeError",
				fmt.Sprintf("graph %s aborted: a dependency of subtask %s failed", g.id, n.id)))
		}
		s.objects.create(dst, g.client, protocol.ObjectObject, s.objects.name(failure0(failure)), s.clients[g.client] != nil, now)
		res.Results = [][]byte{dst[:]}
		s.toClient(g.client, &res)
		s.nodeFinished(g, n)
	}
	s.finishGraph(g, typ)
}

func failure0(f [][]byte) []byte {
	if len(f) == 0 {
		return nil
	}
	return f[0]
}

// rejectGraph fails a graph that cannot be run at all.
func (s *State) rejectGraph(now time.Time, g *graphEntry, module, name, message string) {
	s.log.Warn("rejecting graph", "graph", g.id, "client", g.client, "reason", message)
	src := protocol.NewObjectID([]byte(g.client))
	s.fx.SetObject(src, protocol.PickleException(module, name, message))
	s.objects.create(src, g.client, protocol.ObjectObject, nil, s.clients[g.client] != nil, now)
	for _, n := range g.all {
		dst := protocol.NewObjectID([]byte(g.client))
		s.fx.DuplicateObject(dst, src)
		s.objects.create(dst, g.client, protocol.ObjectObject, nil, s.clients[g.client] != nil, now)
		s.toClient(g.client, &protocol.TaskResult{TaskID: append([]byte(nil), n.id[:]...), Type: protocol.ResultFailed, Results: [][]byte{dst[:]}})
	}
	// The graph's own result carries the reason too, so a client that only waits on the
	// graph sees why.
	s.toClient(g.client, &protocol.TaskResult{TaskID: g.id[:], Type: protocol.ResultFailed, Results: [][]byte{src[:]}})
	s.finishGraph(g, 0xffff)
}

// cancelGraph cancels every unfinished subtask (spec/protocol.md §7.8 step 5).
func (s *State) cancelGraph(now time.Time, g *graphEntry, requester string) {
	if g.finished || g.canceling {
		return
	}
	g.canceling = true
	for _, n := range g.order {
		if n.state == nodeDone {
			continue
		}
		if n.state == nodeSubmitted {
			if t := s.tasks[n.id]; t != nil {
				if t.state != protocol.StateInactive {
					s.cancelTask(t, true, true)
					continue
				}
				// Still queued: it goes at once, confirmed below like a pending node.
				s.cancelTask(t, true, false)
			}
		}
		s.toClient(g.client, &protocol.TaskCancelConfirm{TaskID: append([]byte(nil), n.id[:]...), Type: protocol.CancelConfirmCanceled})
		s.nodeFinished(g, n)
	}
	s.maybeFinishCancel(g)
}

// graphSubtaskCanceled is called when a running subtask's cancellation completed.
func (s *State) graphSubtaskCanceled(now time.Time, t *taskEntry) {
	g := t.graph
	n := g.nodes[t.id]
	if g.finished || n == nil || n.state == nodeDone {
		return
	}
	s.toClient(g.client, &protocol.TaskCancelConfirm{TaskID: t.id[:], Type: protocol.CancelConfirmCanceled})
	s.nodeFinished(g, n)
	s.maybeFinishCancel(g)
}

func (s *State) maybeFinishCancel(g *graphEntry) {
	if g.canceling && g.remaining == 0 && !g.finished {
		for _, n := range g.order {
			if !n.target {
				s.dropObjects(n.results)
			}
		}
		s.toClient(g.client, &protocol.TaskCancelConfirm{TaskID: g.id[:], Type: protocol.CancelConfirmCanceled})
		s.finishGraph(g, 0xffff)
	}
}

// finishGraph sends the umbrella result (unless typ is 0xffff: already answered) and forgets
// the graph.
func (s *State) finishGraph(g *graphEntry, typ protocol.TaskResultType) {
	if g.finished {
		return
	}
	g.finished = true
	if typ != 0xffff {
		s.toClient(g.client, &protocol.TaskResult{TaskID: g.id[:], Type: typ})
	}
	delete(s.graphs, g.id)
	if s.graphOf[g.id] == g {
		delete(s.graphOf, g.id)
	}
	for id := range g.nodes {
		if s.graphOf[id] == g {
			delete(s.graphOf, id)
		}
	}
	if c := s.clients[g.client]; c != nil {
		delete(c.tasks, g.id)
	}
}
