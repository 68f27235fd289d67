package scheduler

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

const (
	cA = "Client|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	cB = "Client|bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	w1 = "Worker|NAT|11111111111111111111111111111111"
	w2 = "Worker|NAT|22222222222222222222222222222222"
)

func TestHeartbeatEchoesCarryObjectStorage(t *testing.T) {
	h := newHarness(t)
	h.recv(cA, &protocol.ClientHeartbeat{LatencyUS: 5})
	echo := h.take(cA, protocol.KindClientHeartbeatEcho).msg.(*protocol.ClientHeartbeatEcho)
	if echo.ObjectStorage.Port != 6379 || echo.ObjectStorage.Scheme != "tcp" {
		t.Fatalf("echo %+v", echo)
	}
	h.recv(w1, &protocol.WorkerHeartbeat{QueueSize: 10})
	wecho := h.take(w1, protocol.KindWorkerHeartbeatEcho).msg.(*protocol.WorkerHeartbeatEcho)
	if wecho.ObjectStorage.Host != "127.0.0.1" {
		t.Fatalf("echo %+v", wecho)
	}
	if got := h.published(protocol.KindStateWorker); len(got) != 1 || got[0].(*protocol.StateWorker).State != protocol.WorkerConnected {
		t.Fatalf("StateWorker %v", got)
	}
	// A second heartbeat is echoed too, but the worker is not announced again.
	h.recv(w1, &protocol.WorkerHeartbeat{QueueSize: 10})
	h.take(w1, protocol.KindWorkerHeartbeatEcho)
	if len(h.published(protocol.KindStateWorker)) != 1 {
		t.Fatal("worker announced twice")
	}
}

func TestTaskRunsEndToEnd(t *testing.T) {
	h := newCluster(t, 10)
	task := h.submit(cA, 1)
	got := h.take(w1, protocol.KindTask)
	if !bytes.Equal(got.msg.(*protocol.Task).TaskID, task.TaskID) {
		t.Fatal("wrong task dispatched")
	}
	rid := protocol.NewObjectID([]byte(cA))
	h.recv(w1, &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(cA), IDs: [][]byte{rid[:]},
		Types: []protocol.ObjectContentType{protocol.ObjectObject}, Names: [][]byte{[]byte("<res x>")}})
	raw := h.result(w1, 1, protocol.ResultSuccess, rid)
	fwd := h.take(cA, protocol.KindTaskResult)
	if !bytes.Equal(fwd.raw, raw) {
		t.Fatal("result not forwarded verbatim")
	}
	if c := h.s.Counts(); c.Tasks != 0 || c.Queued != 0 || c.Objects != 1 {
		t.Fatalf("counts %+v", c)
	}
	if n, _ := h.s.alloc.Load(w1); n != 0 {
		t.Fatalf("slot not released: %d", n)
	}
	var states []protocol.TaskState
	for _, m := range h.published(protocol.KindStateTask) {
		states = append(states, m.(*protocol.StateTask).State)
	}
	if len(states) != 2 || states[0] != protocol.StateRunning || states[1] != protocol.StateSuccess {
		t.Fatalf("published states %v", states)
	}
	st := h.s.Status(h.now)
	if st.TaskStates[protocol.StateSuccess].Count != 1 || st.TaskStates[protocol.StateRunning].Count != 0 {
		t.Fatalf("state counts %+v", st.TaskStates)
	}
}

func TestQueuedTasksWaitForWorkers(t *testing.T) {
	h := newHarness(t)
	h.client(cA)
	for i := 0; i < 5; i++ {
		h.submit(cA, i)
	}
	if c := h.s.Counts(); c.Queued != 5 {
		t.Fatalf("queued %d", c.Queued)
	}
	h.worker(w1, 3)
	for i := 0; i < 3; i++ {
		m := h.take(w1, protocol.KindTask).msg.(*protocol.Task)
		if m.TaskID[0] != byte(i) {
			t.Fatalf("dispatch order: got task %d at %d", m.TaskID[0], i)
		}
	}
	h.none(w1, protocol.KindTask)
	h.result(w1, 0, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	if m := h.take(w1, protocol.KindTask).msg.(*protocol.Task); m.TaskID[0] != 3 {
		t.Fatalf("next task %d", m.TaskID[0])
	}
}

func TestMaxTasksWaitingRejects(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTasksWaiting = 2 })
	h.client(cA)
	h.submit(cA, 1)
	h.submit(cA, 2)
	h.none(cA, protocol.KindTaskResult)
	h.submit(cA, 3)
	res := h.take(cA, protocol.KindTaskResult).msg.(*protocol.TaskResult)
	if res.Type != protocol.ResultFailed || res.TaskID[0] != 3 || len(res.Results) != 1 {
		t.Fatalf("rejection %+v", res)
	}
	oid, _ := protocol.ObjectIDFromBytes(res.Results[0])
	e, err := protocol.ParsePickledException(h.fx.sets[oid])
	if err != nil || e.Name != "RuntimeError" || !strings.Contains(e.Message, "max_number_of_tasks_waiting = 2") {
		t.Fatalf("failure object %+v %v", e, err)
	}
	if !oid.OwnedBy([]byte(cA)) {
		t.Fatal("failure object must belong to the client")
	}
	if c := h.s.Counts(); c.Tasks != 2 || c.Queued != 2 {
		t.Fatalf("counts %+v", c)
	}
}

func TestWorkerDeathRequeuesAndResultsAreDeliveredOnce(t *testing.T) {
	h := newCluster(t, 10, func(c *Config) { c.WorkerTimeout = 5 * time.Second })
	h.running(w1, 3)
	h.worker(w2, 10) // w2 keeps heartbeating, w1 goes silent
	for i := 0; i < 3; i++ {
		h.advance(2 * time.Second)
		h.recv(w2, &protocol.WorkerHeartbeat{QueueSize: 10})
	}
	for i := 0; i < 3; i++ {
		if m := h.take(w2, protocol.KindTask).msg.(*protocol.Task); m.TaskID[0] != byte(i) {
			t.Fatalf("requeue order: %d at %d", m.TaskID[0], i)
		}
	}
	var disc bool
	for _, m := range h.published(protocol.KindStateWorker) {
		if sw := m.(*protocol.StateWorker); string(sw.WorkerID) == w1 && sw.State == protocol.WorkerDisconnected {
			disc = true
		}
	}
	if !disc {
		t.Fatal("w1 not reported disconnected")
	}
	// The presumed-dead worker finishes task 0 first: accepted, and w2 is told to drop it.
	h.result(w1, 0, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	h.take(cA, protocol.KindTaskResult)
	if c := h.take(w2, protocol.KindTaskCancel).msg.(*protocol.TaskCancel); c.TaskID[0] != 0 || !c.Force {
		t.Fatalf("cancel %+v", c)
	}
	h.result(w2, 0, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	h.none(cA, protocol.KindTaskResult)
}

func TestPeerClosedIsGoneAtOnce(t *testing.T) {
	h := newCluster(t, 10)
	h.worker(w2, 10)
	h.submit(cA, 1) // w1
	h.take(w1, protocol.KindTask)
	h.s.HandlePeerEvent(h.now, w1, transport.EventClosed)
	h.take(w2, protocol.KindTask)
	if h.s.Counts().Workers != 1 {
		t.Fatal("closed worker still registered")
	}
	// An aborted connection gets a grace period to come back.
	h.s.HandlePeerEvent(h.now, w2, transport.EventAborted)
	h.advance(2 * time.Second)
	h.s.HandlePeerEvent(h.now, w2, transport.EventConnected)
	h.advance(20 * time.Second)
	h.recv(w2, &protocol.WorkerHeartbeat{QueueSize: 10})
	if h.s.Counts().Workers != 1 {
		t.Fatal("worker that came back was dropped")
	}
	h.s.HandlePeerEvent(h.now, w2, transport.EventAborted)
	h.advance(11 * time.Second)
	if h.s.Counts().Workers != 0 {
		t.Fatal("worker that never came back is still registered")
	}
}

func TestClientDisconnectCancelsTasksAndDeletesObjects(t *testing.T) {
	h := newCluster(t, 1)
	running := h.submit(cA, 1)
	h.take(w1, protocol.KindTask)
	h.submit(cA, 2) // queued
	ser := protocol.SerializerObjectID([]byte(cA))
	fn, _ := protocol.ObjectIDFromBytes(running.FuncObjectID)
	h.recv(cA, &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(cA),
		IDs: [][]byte{ser[:], fn[:]}, Types: []protocol.ObjectContentType{protocol.ObjectSerializer, protocol.ObjectObject},
		Names: [][]byte{[]byte("serializer"), []byte("fn")}})
	// fn was announced after the task arrived; mark it as used by a new task.
	h.recv(cA, &protocol.ClientDisconnect{Type: protocol.DisconnectLeave})
	cancel := h.take(w1, protocol.KindTaskCancel).msg.(*protocol.TaskCancel)
	if cancel.TaskID[0] != 1 || !cancel.Force {
		t.Fatalf("cancel %+v", cancel)
	}
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: cancel.TaskID, Type: protocol.CancelConfirmCanceled})
	h.advance(time.Second)
	if c := h.s.Counts(); c.Tasks != 0 || c.Objects != 0 || c.Clients != 0 {
		t.Fatalf("counts %+v", c)
	}
	if len(h.fx.deleted) != 2 {
		t.Fatalf("deleted %v", h.fx.deleted)
	}
	evict := h.take(w1, protocol.KindObjectInstruction).msg.(*protocol.ObjectInstruction)
	if evict.Type != protocol.InstructionDelete || len(evict.IDs) != 1 || !bytes.Equal(evict.IDs[0], ser[:]) {
		t.Fatalf("eviction %+v", evict)
	}
	if n, _ := h.s.alloc.Load(w1); n != 0 {
		t.Fatalf("slot leaked: %d", n)
	}
}

func TestClientTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ClientTimeout = 3 * time.Second })
	h.client(cA)
	h.submit(cA, 1)
	h.advance(2 * time.Second)
	h.recv(cA, &protocol.ClientHeartbeat{}) // any message keeps it alive
	h.advance(2 * time.Second)
	if h.s.Counts().Clients != 1 {
		t.Fatal("live client evicted")
	}
	h.advance(4 * time.Second)
	if c := h.s.Counts(); c.Clients != 0 || c.Tasks != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestCancelFlows(t *testing.T) {
	h := newCluster(t, 1)
	h.submit(cA, 1) // running
	h.take(w1, protocol.KindTask)
	h.submit(cA, 2) // queued

	id2 := taskID(2)
	h.recv(cA, &protocol.TaskCancel{TaskID: id2[:], Force: true})
	if c := h.take(cA, protocol.KindTaskCancelConfirm).msg.(*protocol.TaskCancelConfirm); c.Type != protocol.CancelConfirmCanceled || c.TaskID[0] != 2 {
		t.Fatalf("queued cancel %+v", c)
	}

	id1 := taskID(1)
	h.recv(cA, &protocol.TaskCancel{TaskID: id1[:], Force: false})
	fwd := h.take(w1, protocol.KindTaskCancel).msg.(*protocol.TaskCancel)
	if fwd.Force {
		t.Fatal("force flag not preserved")
	}
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: id1[:], Type: protocol.CancelConfirmFailed})
	h.none(cA, protocol.KindTaskCancelConfirm)
	h.result(w1, 1, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	h.take(cA, protocol.KindTaskResult)

	// Not found at the worker: the client is told and the slot is freed.
	h.submit(cA, 3)
	h.take(w1, protocol.KindTask)
	id3 := taskID(3)
	h.recv(cA, &protocol.TaskCancel{TaskID: id3[:], Force: true})
	h.take(w1, protocol.KindTaskCancel)
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: id3[:], Type: protocol.CancelConfirmNotFound})
	if c := h.take(cA, protocol.KindTaskCancelConfirm).msg.(*protocol.TaskCancelConfirm); c.Type != protocol.CancelConfirmNotFound {
		t.Fatalf("confirm %+v", c)
	}
	if n, _ := h.s.alloc.Load(w1); n != 0 {
		t.Fatalf("cancelNotFound leaked the worker slot (%d)", n)
	}
	// Unknown task.
	id9 := taskID(9)
	h.recv(cA, &protocol.TaskCancel{TaskID: id9[:]})
	if c := h.take(cA, protocol.KindTaskCancelConfirm).msg.(*protocol.TaskCancelConfirm); c.Type != protocol.CancelConfirmNotFound {
		t.Fatalf("unknown %+v", c)
	}
}

func TestObjectRetentionForAbsentOwners(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ObjectRetention = 5 * time.Second })
	early := protocol.NewObjectID([]byte(cA))
	late := protocol.NewObjectID([]byte(cB))
	h.recv(w1, &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(cA), IDs: [][]byte{early[:]}})
	h.recv(w1, &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(cB), IDs: [][]byte{late[:]}})
	h.advance(2 * time.Second)
	h.client(cA) // adopts its object
	h.advance(4 * time.Second)
	if len(h.fx.deleted) != 1 || h.fx.deleted[0] != late {
		t.Fatalf("deleted %v", h.fx.deleted)
	}
	if h.s.Counts().Objects != 1 {
		t.Fatal("adopted object lost")
	}
}

// newBalancing returns a cluster balancing every second, acting once trigger more identical
// advices were seen, where w1 holds tasks 0..n-1 of cA and w2 has just joined idle.
func newBalancing(t *testing.T, trigger, n int) *harness {
	h := newCluster(t, 100, func(c *Config) { c.LoadBalanceInterval = time.Second; c.LoadBalanceTriggerTimes = trigger })
	h.running(w1, n)
	h.worker(w2, 100)
	return h
}

func TestBalancingMovesQueuedTasks(t *testing.T) {
	h := newBalancing(t, 2, 4)
	for i := 0; i < 2; i++ {
		h.advance(time.Second)
		h.recv(w1, &protocol.WorkerHeartbeat{QueueSize: 100})
		h.recv(w2, &protocol.WorkerHeartbeat{QueueSize: 100})
		h.none(w1, protocol.KindTaskCancel)
	}
	h.advance(time.Second) // third identical advice: act
	advice := h.published(protocol.KindStateBalanceAdvice)
	if len(advice) != 1 {
		t.Fatalf("advice %v", advice)
	}
	c1 := h.take(w1, protocol.KindTaskCancel).msg.(*protocol.TaskCancel)
	if c1.Force {
		t.Fatal("balance cancels must not be forced")
	}
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: c1.TaskID, Type: protocol.CancelConfirmCanceled})
	moved := h.take(w2, protocol.KindTask).msg.(*protocol.Task)
	if !bytes.Equal(moved.TaskID, c1.TaskID) {
		t.Fatal("moved task not re-dispatched to the idle worker")
	}
}

// Tasks as long as the balancing period finish between rounds, so each round's advice names
// different tasks; the overloaded worker is the same, and that is what counts.
func TestBalancingWhileQueuedTasksFinish(t *testing.T) {
	h := newBalancing(t, 2, 20)
	for i := 0; i < 2; i++ {
		h.advance(time.Second)
		h.result(w1, i, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
		h.none(w1, protocol.KindTaskCancel)
	}
	h.advance(time.Second)
	if len(h.published(protocol.KindStateBalanceAdvice)) != 1 {
		t.Fatal("no balancing although w1 kept its queue and w2 stayed idle for three rounds")
	}
	h.take(w1, protocol.KindTaskCancel)
}

func TestBalancingLeavesRunningTasks(t *testing.T) {
	h := newBalancing(t, 0, 2)
	h.advance(time.Second)
	c := h.take(w1, protocol.KindTaskCancel).msg.(*protocol.TaskCancel)
	// The worker had already started it: it refuses, and the task stays where it is.
	h.recv(w1, &protocol.TaskCancelConfirm{TaskID: c.TaskID, Type: protocol.CancelConfirmFailed})
	h.none(w2, protocol.KindTask)
	if st := h.s.tasks[protocol.TaskID(c.TaskID)].state; st != protocol.StateRunning {
		t.Fatalf("state %v", st)
	}
	h.result(w1, int(c.TaskID[0]), protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	h.take(cA, protocol.KindTaskResult)
}

func TestShutdown(t *testing.T) {
	h := newCluster(t, 1, func(c *Config) { c.Protected = true })
	h.recv(cA, &protocol.ClientDisconnect{Type: protocol.DisconnectShutdown})
	if r := h.take(cA, protocol.KindClientShutdownResponse).msg.(*protocol.ClientShutdownResponse); r.Accepted {
		t.Fatal("protected scheduler accepted shutdown")
	}
	if h.fx.shutdown {
		t.Fatal("protected scheduler shut down")
	}
	h = newCluster(t, 1)
	h.recv(cA, &protocol.ClientDisconnect{Type: protocol.DisconnectShutdown})
	if r := h.take(cA, protocol.KindClientShutdownResponse).msg.(*protocol.ClientShutdownResponse); !r.Accepted {
		t.Fatal("shutdown refused")
	}
	if d := h.take(w1, protocol.KindClientDisconnect).msg.(*protocol.ClientDisconnect); d.Type != protocol.DisconnectShutdown {
		t.Fatal("worker not told to shut down")
	}
	if !h.fx.shutdown || !h.s.ShuttingDown() {
		t.Fatal("scheduler did not stop")
	}
}

func TestManagers(t *testing.T) {
	h := newHarness(t, withPolicy("simple", "allocate=even_load; scaling=vanilla"))
	const m1, m2 = "1|worker_manager_native|a", "2|worker_manager_native|b"
	h.recv(m1, &protocol.WorkerManagerHeartbeat{MaxTaskConcurrency: 4, WorkerManagerID: []byte("wm")})
	h.take(m1, protocol.KindWorkerManagerHeartbeatEcho)
	cmd := h.take(m1, protocol.KindWorkerManagerCommand).msg.(*protocol.WorkerManagerCommand)
	if len(cmd.Requests) != 1 || cmd.Requests[0].TaskConcurrency != 0 {
		t.Fatalf("idle command %+v", cmd)
	}
	h.client(cA)
	h.submit(cA, 1)
	h.recv(m1, &protocol.WorkerManagerHeartbeat{MaxTaskConcurrency: 4, WorkerManagerID: []byte("wm")})
	h.take(m1, protocol.KindWorkerManagerHeartbeatEcho)
	if cmd := h.take(m1, protocol.KindWorkerManagerCommand).msg.(*protocol.WorkerManagerCommand); cmd.Requests[0].TaskConcurrency != 1 {
		t.Fatalf("scale-up command %+v", cmd)
	}
	// Same id from another connection: ignored, no echo.
	h.recv(m2, &protocol.WorkerManagerHeartbeat{MaxTaskConcurrency: 4, WorkerManagerID: []byte("wm")})
	h.none(m2, protocol.KindWorkerManagerHeartbeatEcho)
	st := h.s.Status(h.now)
	if len(st.Managers) != 1 || st.Managers[0].PendingWorkers != 1 {
		t.Fatalf("managers %+v", st.Managers)
	}
	h.advance(11 * time.Second)
	if h.s.Counts().Managers != 0 {
		t.Fatal("silent manager kept")
	}
}

func TestMalformedMessagesAreDropped(t *testing.T) {
	h := newHarness(t)
	h.client(cA)
	for _, raw := range [][]byte{nil, []byte("garbage"), {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		h.s.HandleMessage(h.now, cA, raw)
	}
	h.recv(cA, &protocol.Task{TaskID: []byte("short"), Source: []byte(cA)})
	h.recv(cA, &protocol.StateTask{})
	if c := h.s.Counts(); c.Tasks != 0 || c.Clients != 1 {
		t.Fatalf("counts %+v", c)
	}
	h.worker(w1, 1)
	h.submit(cA, 1)
	h.take(w1, protocol.KindTask)
}

func TestStatusSnapshot(t *testing.T) {
	h := newHarness(t)
	h.client(cA)
	h.recv(w1, &protocol.WorkerHeartbeat{QueueSize: 4, QueuedTasks: 1, LatencyUS: 77, WorkerManagerID: []byte("wm"),
		Processors: []protocol.ProcessorStatus{{PID: 9, Initialized: true, HasTask: true}}})
	h.submit(cA, 1)
	st := h.s.Status(h.now)
	if len(st.Workers) != 1 || st.Workers[0].Sent != 1 || st.Workers[0].Free != 3 || st.Workers[0].ITL != "110" || st.Workers[0].LagUS != 77 {
		t.Fatalf("worker status %+v", st.Workers)
	}
	if len(st.Clients) != 1 || st.Clients[0].NumTask != 1 || len(st.TaskStates) != int(protocol.NumTaskStates) {
		t.Fatalf("status %+v", st)
	}
	if len(st.Received) == 0 || st.Received[0].Name != "ClientHeartbeat" {
		t.Fatalf("counters %+v", st.Received)
	}
	// The snapshot encodes.
	protocol.MustEncode(st)
}

// After a burst the task tables are rebuilt empty and memory is handed back.
func TestCompactionAfterBurst(t *testing.T) {
	h := newHarness(t)
	h.fx.monitor = false
	h.client(cA)
	h.worker(w1, 10000)
	for i := 0; i < 5000; i++ {
		h.submit(cA, i)
	}
	for i := 0; i < 5000; i++ {
		h.result(w1, i, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	}
	h.fx.sent = nil
	h.advance(2 * time.Second)
	if h.fx.released != 1 || h.s.peakTasks != 0 {
		t.Fatalf("released %d, peak %d", h.fx.released, h.s.peakTasks)
	}
	// Still fully usable.
	h.submit(cA, 1)
	h.take(w1, protocol.KindTask)
}

func TestInformationRequest(t *testing.T) {
	h := newCluster(t, 4)
	h.submit(cA, 1)
	h.recv(cA, &protocol.InformationRequest{})
	r := h.take(cA, protocol.KindInformationResponse).msg.(*protocol.InformationResponse)
	var info protocol.ClusterInfo
	if err := json.Unmarshal(r.Response, &info); err != nil {
		t.Fatal(err)
	}
	if info.Tasks["running"] != 1 || len(info.Workers) != 1 || info.Workers[0].Assigned != 1 || len(info.Clients) != 1 ||
		info.ObjectStorage != "tcp://127.0.0.1:6379" || info.Allocation != "even_load" {
		t.Fatalf("info %+v", info)
	}
}

func TestFeaturesRequest(t *testing.T) {
	h := newHarness(t)
	h.recv("anyone", &protocol.InformationRequest{Request: []byte(protocol.FeaturesRequest)})
	r := h.take("anyone", protocol.KindInformationResponse).msg.(*protocol.InformationResponse)
	var f protocol.Features
	if err := json.Unmarshal(r.Response, &f); err != nil || f.Implementation != "scaler-go" || !f.Inline {
		t.Fatalf("features %s: %v", r.Response, err)
	}
}
