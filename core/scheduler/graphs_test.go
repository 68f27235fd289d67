package scheduler

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

type gnode struct {
	n      int
	deps   []int
	target bool
}

func (h *harness) graph(client string, gid int, nodes ...gnode) *protocol.GraphTask {
	g := &protocol.GraphTask{Source: []byte(client)}
	id := taskID(gid)
	g.TaskID = id[:]
	fn := protocol.NewObjectID([]byte(client))
	for _, nd := range nodes {
		tid := taskID(nd.n)
		task := protocol.Task{TaskID: append([]byte(nil), tid[:]...), Source: []byte(client), FuncObjectID: fn[:]}
		for _, d := range nd.deps {
			did := taskID(d)
			task.Args = append(task.Args, protocol.Argument{Type: protocol.ArgTask, Data: append([]byte(nil), did[:]...)})
		}
		if len(nd.deps) == 0 {
			data := protocol.NewObjectID([]byte(client))
			task.Args = append(task.Args, protocol.Argument{Type: protocol.ArgObjectID, Data: data[:]})
		}
		g.Graph = append(g.Graph, task)
		if nd.target {
			g.Targets = append(g.Targets, append([]byte(nil), tid[:]...))
		}
	}
	h.recv(client, g)
	return g
}

func (h *harness) announce(client string, ids ...protocol.ObjectID) {
	var raw [][]byte
	for _, id := range ids {
		raw = append(raw, append([]byte(nil), id[:]...))
	}
	h.recv(w1, &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(client), IDs: raw})
}

func TestGraphRunsInDependencyOrder(t *testing.T) {
	h := newCluster(t, 10)
	// c (not a target) feeds d (target).
	h.graph(cA, 100, gnode{n: 1}, gnode{n: 2, deps: []int{1}, target: true})
	if got := h.published(protocol.KindStateGraphTask); len(got) != 2 {
		t.Fatalf("StateGraphTask %d", len(got))
	}
	c := h.take(w1, protocol.KindTask).msg.(*protocol.Task)
	if c.TaskID[0] != 1 {
		t.Fatalf("first dispatched %d", c.TaskID[0])
	}
	h.none(w1, protocol.KindTask)
	cres := protocol.NewObjectID([]byte(cA))
	h.announce(cA, cres)
	h.result(w1, 1, protocol.ResultSuccess, cres)
	if r := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult); r.TaskID[0] != 1 {
		t.Fatal("subtask result not forwarded")
	}
	d := h.take(w1, protocol.KindTask).msg.(*protocol.Task)
	if d.TaskID[0] != 2 || d.Args[0].Type != protocol.ArgObjectID || !bytes.Equal(d.Args[0].Data, cres[:]) {
		t.Fatalf("dependent task %+v", d)
	}
	dres := protocol.NewObjectID([]byte(cA))
	h.announce(cA, dres)
	h.result(w1, 2, protocol.ResultSuccess, dres)
	h.take(cA, protocol.KindTaskResult) // d
	g := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult)
	if g.TaskID[0] != 100 || g.Type != protocol.ResultSuccess || len(g.Results) != 0 {
		t.Fatalf("graph result %+v", g)
	}
	h.advance(time.Second)
	if len(h.fx.deleted) != 1 || h.fx.deleted[0] != cres {
		t.Fatalf("intermediate result not freed (deleted %v)", h.fx.deleted)
	}
	if c := h.s.Counts(); c.Graphs != 0 || c.Tasks != 0 || c.Objects != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestGraphFailureAbortsAndCancelsRunningSiblings(t *testing.T) {
	h := newCluster(t, 10)
	// x and y run in parallel; z needs both.
	h.graph(cA, 100, gnode{n: 1}, gnode{n: 2}, gnode{n: 3, deps: []int{1, 2}, target: true})
	h.take(w1, protocol.KindTask)
	h.take(w1, protocol.KindTask)
	fail := protocol.NewObjectID([]byte(cA))
	h.announce(cA, fail)
	h.result(w1, 1, protocol.ResultFailed, fail)
	results := map[byte]*protocol.TaskResult{}
	for i := 0; i < 4; i++ {
		r := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult)
		results[r.TaskID[0]] = r
	}
	for _, n := range []byte{1, 2, 3, 100} {
		if r := results[n]; r == nil || r.Type != protocol.ResultFailed {
			t.Fatalf("node %d result %+v", n, r)
		}
	}
	if len(results[100].Results) != 0 || len(results[2].Results) != 1 || len(results[3].Results) != 1 {
		t.Fatal("wrong result objects")
	}
	if len(h.fx.dups) != 2 || h.fx.dups[0][1] != fail {
		t.Fatalf("duplicates %v", h.fx.dups)
	}
	// The running sibling is stopped on the worker (the reference leaves it running).
	c := h.take(w1, protocol.KindTaskCancel).msg.(*protocol.TaskCancel)
	if c.TaskID[0] != 2 || !c.Force {
		t.Fatalf("cancel %+v", c)
	}
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: c.TaskID, Type: protocol.CancelConfirmCanceled})
	h.none(cA, protocol.KindTaskCancelConfirm)
	h.none(w1, protocol.KindTask)
	h.drained()
}

func TestGraphCancel(t *testing.T) {
	h := newCluster(t, 10)
	h.graph(cA, 100, gnode{n: 1}, gnode{n: 2, deps: []int{1}, target: true})
	h.take(w1, protocol.KindTask)
	id := taskID(2) // cancelling any node cancels the graph
	h.recv(cA, &protocol.TaskCancel{TaskID: id[:], Force: true})
	if c := h.take(cA, protocol.KindTaskCancelConfirm).msg.(*protocol.TaskCancelConfirm); c.TaskID[0] != 2 {
		t.Fatalf("pending node confirm %+v", c)
	}
	c := h.take(w1, protocol.KindTaskCancel).msg.(*protocol.TaskCancel)
	h.none(cA, protocol.KindTaskCancelConfirm)
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: c.TaskID, Type: protocol.CancelConfirmCanceled})
	if c := h.take(cA, protocol.KindTaskCancelConfirm).msg.(*protocol.TaskCancelConfirm); c.TaskID[0] != 1 {
		t.Fatalf("running node confirm %+v", c)
	}
	if c := h.take(cA, protocol.KindTaskCancelConfirm).msg.(*protocol.TaskCancelConfirm); c.TaskID[0] != 100 {
		t.Fatalf("graph confirm %+v", c)
	}
	h.drained()
}

func TestInvalidGraphIsRejected(t *testing.T) {
	h := newCluster(t, 10)
	h.graph(cA, 100, gnode{n: 1, deps: []int{2}}, gnode{n: 2, deps: []int{1}, target: true})
	h.none(w1, protocol.KindTask)
	var graphRes *protocol.TaskResult
	for i := 0; i < 3; i++ {
		r := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult)
		if r.Type != protocol.ResultFailed {
			t.Fatalf("result %+v", r)
		}
		if r.TaskID[0] == 100 {
			graphRes = r
		}
	}
	oid, _ := protocol.ObjectIDFromBytes(graphRes.Results[0])
	e, err := protocol.ParsePickledException(h.fx.sets[oid])
	if err != nil || e.Name != "ValueError" || !strings.Contains(e.Message, "cycle") {
		t.Fatalf("reason %+v %v", e, err)
	}
	h.drained()
}

func TestGraphSurvivesWorkerDeath(t *testing.T) {
	h := newCluster(t, 10)
	h.worker(w2, 10)
	h.graph(cA, 100, gnode{n: 1, target: true})
	first := h.fx.sent[len(h.fx.sent)-1].peer
	other := w2
	if first == w2 {
		other = w1
	}
	h.s.disconnectWorker(h.now, first, "test")
	h.take(other, protocol.KindTask)
	h.result(other, 1, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	h.take(cA, protocol.KindTaskResult)
	if r := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult); r.TaskID[0] != 100 || r.Type != protocol.ResultSuccess {
		t.Fatalf("graph result %+v", r)
	}
}

// A worker that returns a graph subtask's value inline (clients do not ask for that, but a
// worker must not be able to break a graph) gets it stored as an object, which the
// dependent task then reads like any other result.
func TestGraphInlineResultIsStored(t *testing.T) {
	h := newCluster(t, 10)
	h.graph(cA, 100, gnode{n: 1}, gnode{n: 2, deps: []int{1}, target: true})
	h.take(w1, protocol.KindTask)
	id := taskID(1)
	h.recv(w1, &protocol.TaskResult{TaskID: id[:], Type: protocol.ResultSuccess,
		Metadata: protocol.ProfileResult{DurationS: 0.1, Inline: true}.Encode(), Results: [][]byte{[]byte("value")}})
	r := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult)
	p, _, err := protocol.DecodeProfileResult(r.Metadata)
	if err != nil || p.Inline || len(r.Results) != 1 || len(r.Results[0]) != 32 {
		t.Fatalf("forwarded result %+v (%+v, %v)", r, p, err)
	}
	oid := protocol.ObjectID(r.Results[0])
	if string(h.fx.sets[oid]) != "value" {
		t.Fatalf("object storage got %q", h.fx.sets[oid])
	}
	d := h.take(w1, protocol.KindTask).msg.(*protocol.Task)
	if d.Args[0].Type != protocol.ArgObjectID || !bytes.Equal(d.Args[0].Data, oid[:]) {
		t.Fatalf("dependent task %+v", d)
	}
	for _, m := range h.published(protocol.KindStateTask) {
		if md := m.(*protocol.StateTask).Metadata; len(md) > 16 {
			t.Fatalf("monitor got %d bytes of metadata", len(md))
		}
	}
}

// Monitors written for the Python project unpack exactly 16 bytes of task metadata: the
// Go extension byte never reaches them.
func TestMonitorGetsStandardProfile(t *testing.T) {
	h := newCluster(t, 10)
	h.submit(cA, 1)
	h.take(w1, protocol.KindTask)
	id := taskID(1)
	h.recv(w1, &protocol.TaskResult{TaskID: id[:], Type: protocol.ResultSuccess,
		Metadata: protocol.ProfileResult{DurationS: 0.1, Inline: true}.Encode(), Results: [][]byte{[]byte("v")}})
	r := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult)
	if string(r.Results[0]) != "v" || len(r.Metadata) != 17 {
		t.Fatalf("client got %+v", r)
	}
	var seen bool
	for _, m := range h.published(protocol.KindStateTask) {
		st := m.(*protocol.StateTask)
		if st.State == protocol.StateSuccess {
			seen = true
			if len(st.Metadata) != 16 {
				t.Fatalf("monitor metadata of %d bytes", len(st.Metadata))
			}
		}
	}
	if !seen {
		t.Fatal("no success published")
	}
}
