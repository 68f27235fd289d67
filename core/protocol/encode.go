package protocol

import (
	"fmt"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/scaler-go/scaler/core/protocol/wire"
)

// Encode serializes m as a single-segment, unpacked Message. Fields are written in ordinal
// order, each allocated when it is set, which reproduces the reference encoder's layout.
func Encode(m Message) ([]byte, error) {
	if b, ok := fastEncode(m); ok {
		return b, nil
	}
	return encodeGenerated(m)
}

// encodeGenerated encodes with the generated code, the reference for the fast paths.
func encodeGenerated(m Message) ([]byte, error) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", m.Kind(), err)
	}
	root, err := wire.NewRootMessage(seg)
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", m.Kind(), err)
	}
	e := encoder{seg: seg}
	e.message(root, m)
	if e.err != nil {
		return nil, fmt.Errorf("encode %v: %w", m.Kind(), e.err)
	}
	b, err := msg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode %v: %w", m.Kind(), err)
	}
	return b, nil
}

// MustEncode is Encode for messages built by our own code, whose encoding can only fail on
// a bug (or a message beyond capnp's 4 GiB segment size).
func MustEncode(m Message) []byte {
	b, err := Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

type encoder struct {
	seg *capnp.Segment
	err error
}

func (e *encoder) check(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

func (e *encoder) dataList(b [][]byte, newList func(int32) (capnp.DataList, error)) {
	l, err := newList(int32(len(b)))
	e.check(err)
	if err != nil {
		return
	}
	for i, v := range b {
		e.check(l.Set(i, v))
	}
}

func (e *encoder) capabilities(c []Capability, newList func(int32) (wire.TaskCapability_List, error)) {
	l, err := newList(int32(len(c)))
	e.check(err)
	if err != nil {
		return
	}
	for i, v := range c {
		x := l.At(i)
		e.check(x.SetName(v.Name))
		x.SetValue(v.Value)
	}
}

func (e *encoder) resource(r Resource, newRes func() (wire.Resource, error)) {
	x, err := newRes()
	e.check(err)
	x.SetCpu(r.CPU)
	x.SetRss(r.RSS)
}

func (e *encoder) ossAddress(a ObjectStorageAddress, newAddr func() (wire.ObjectStorageAddress, error)) {
	x, err := newAddr()
	e.check(err)
	e.check(x.SetHost(a.Host))
	x.SetPort(a.Port)
	e.check(x.SetScheme(a.Scheme))
}

func (e *encoder) processors(p []ProcessorStatus, newList func(int32) (wire.ProcessorStatus_List, error)) {
	l, err := newList(int32(len(p)))
	e.check(err)
	if err != nil {
		return
	}
	for i, v := range p {
		x := l.At(i)
		x.SetPid(v.PID)
		x.SetInitialized(v.Initialized)
		x.SetHasTask(v.HasTask)
		x.SetSuspended(v.Suspended)
		e.resource(v.Resource, x.NewResource)
	}
}

func (e *encoder) task(x wire.Task, t *Task) {
	e.check(x.SetTaskId(t.TaskID))
	e.check(x.SetSource(t.Source))
	e.check(x.SetMetadata(t.Metadata))
	e.check(x.SetFuncObjectId(t.FuncObjectID))
	args, err := x.NewFunctionArgs(int32(len(t.Args)))
	e.check(err)
	for i := 0; err == nil && i < len(t.Args); i++ {
		a := args.At(i)
		a.SetType(wire.Task_Argument_ArgumentType(t.Args[i].Type))
		e.check(a.SetData(t.Args[i].Data))
	}
	e.capabilities(t.Capabilities, x.NewCapabilities)
}

func (e *encoder) message(root wire.Message, m Message) {
	var err error
	switch m := m.(type) {
	case *Task:
		var x wire.Task
		x, err = root.NewTask()
		e.task(x, m)
	case *TaskCancel:
		var x wire.TaskCancel
		x, err = root.NewTaskCancel()
		e.check(x.SetTaskId(m.TaskID))
		f, ferr := x.NewFlags()
		e.check(ferr)
		f.SetForce(m.Force)
	case *TaskCancelConfirm:
		var x wire.TaskCancelConfirm
		x, err = root.NewTaskCancelConfirm()
		e.check(x.SetTaskId(m.TaskID))
		x.SetCancelConfirmType(wire.TaskCancelConfirmType(m.Type))
	case *TaskResult:
		var x wire.TaskResult
		x, err = root.NewTaskResult()
		e.check(x.SetTaskId(m.TaskID))
		x.SetResultType(wire.TaskResultType(m.Type))
		e.check(x.SetMetadata(m.Metadata))
		e.dataList(m.Results, x.NewResults)
	case *TaskLog:
		var x wire.TaskLog
		x, err = root.NewTaskLog()
		e.check(x.SetTaskId(m.TaskID))
		x.SetLogType(wire.TaskLog_LogType(m.Type))
		e.check(x.SetContent(m.Content))
	case *GraphTask:
		var x wire.GraphTask
		x, err = root.NewGraphTask()
		e.check(x.SetTaskId(m.TaskID))
		e.check(x.SetSource(m.Source))
		e.dataList(m.Targets, x.NewTargets)
		g, gerr := x.NewGraph(int32(len(m.Graph)))
		e.check(gerr)
		for i := 0; gerr == nil && i < len(m.Graph); i++ {
			e.task(g.At(i), &m.Graph[i])
		}
	case *ObjectInstruction:
		var x wire.ObjectInstruction
		x, err = root.NewObjectInstruction()
		x.SetInstructionType(wire.ObjectInstruction_ObjectInstructionType(m.Type))
		e.check(x.SetObjectUser(m.User))
		md, merr := x.NewObjectMetadata()
		e.check(merr)
		if merr == nil {
			// Deletes carry only ids; the reference leaves the other two lists unset.
			e.dataList(m.IDs, md.NewObjectIds)
			if len(m.Types) > 0 || m.Type == InstructionCreate {
				types, terr := md.NewObjectTypes(int32(len(m.Types)))
				e.check(terr)
				for i := 0; terr == nil && i < len(m.Types); i++ {
					types.Set(i, wire.ObjectMetadata_ObjectContentType(m.Types[i]))
				}
			}
			if len(m.Names) > 0 || m.Type == InstructionCreate {
				e.dataList(m.Names, md.NewObjectNames)
			}
		}
	case *ClientHeartbeat:
		var x wire.ClientHeartbeat
		x, err = root.NewClientHeartbeat()
		e.resource(m.Resource, x.NewResource)
		x.SetLatencyUS(m.LatencyUS)
	case *ClientHeartbeatEcho:
		var x wire.ClientHeartbeatEcho
		x, err = root.NewClientHeartbeatEcho()
		e.ossAddress(m.ObjectStorage, x.NewObjectStorageAddress)
	case *WorkerHeartbeat:
		var x wire.WorkerHeartbeat
		x, err = root.NewWorkerHeartbeat()
		e.resource(m.Agent, x.NewAgent)
		x.SetRssFree(m.RSSFree)
		x.SetQueueSize(m.QueueSize)
		x.SetQueuedTasks(m.QueuedTasks)
		x.SetLatencyUS(m.LatencyUS)
		x.SetTaskLock(m.TaskLock)
		e.processors(m.Processors, x.NewProcessors)
		e.capabilities(m.Capabilities, x.NewCapabilities)
		e.check(x.SetWorkerManagerID(m.WorkerManagerID))
		x.SetMemLimit(m.MemLimit)
	case *WorkerHeartbeatEcho:
		var x wire.WorkerHeartbeatEcho
		x, err = root.NewWorkerHeartbeatEcho()
		e.ossAddress(m.ObjectStorage, x.NewObjectStorageAddress)
	case *DisconnectRequest:
		var x wire.DisconnectRequest
		x, err = root.NewDisconnectRequest()
		e.check(x.SetWorker(m.Worker))
	case *DisconnectResponse:
		var x wire.DisconnectResponse
		x, err = root.NewDisconnectResponse()
		e.check(x.SetWorker(m.Worker))
	case *StateClient:
		_, err = root.NewStateClient()
	case *StateObject:
		_, err = root.NewStateObject()
	case *StateBalanceAdvice:
		var x wire.StateBalanceAdvice
		x, err = root.NewStateBalanceAdvice()
		e.check(x.SetWorkerId(m.WorkerID))
		e.dataList(m.TaskIDs, x.NewTaskIds)
	case *StateScheduler:
		var x wire.StateScheduler
		x, err = root.NewStateScheduler()
		if err == nil {
			e.stateScheduler(x, m)
		}
	case *StateWorker:
		var x wire.StateWorker
		x, err = root.NewStateWorker()
		e.check(x.SetWorkerId(m.WorkerID))
		x.SetState(wire.WorkerState(m.State))
		e.capabilities(m.Capabilities, x.NewCapabilities)
	case *StateTask:
		var x wire.StateTask
		x, err = root.NewStateTask()
		e.check(x.SetTaskId(m.TaskID))
		e.check(x.SetFunctionName(m.FunctionName))
		x.SetState(wire.TaskState(m.State))
		e.check(x.SetWorker(m.Worker))
		e.capabilities(m.Capabilities, x.NewCapabilities)
		e.check(x.SetMetadata(m.Metadata))
	case *StateGraphTask:
		var x wire.StateGraphTask
		x, err = root.NewStateGraphTask()
		e.check(x.SetGraphTaskId(m.GraphTaskID))
		e.check(x.SetTaskId(m.TaskID))
		x.SetNodeTaskType(wire.StateGraphTask_NodeTaskType(m.NodeType))
		e.dataList(m.ParentTaskIDs, x.NewParentTaskIds)
	case *ClientDisconnect:
		var x wire.ClientDisconnect
		x, err = root.NewClientDisconnect()
		x.SetDisconnectType(wire.ClientDisconnect_DisconnectType(m.Type))
	case *ClientShutdownResponse:
		var x wire.ClientShutdownResponse
		x, err = root.NewClientShutdownResponse()
		x.SetAccepted(m.Accepted)
	case *ProcessorInitialized:
		_, err = root.NewProcessorInitialized()
	case *InformationRequest:
		var x wire.InformationRequest
		x, err = root.NewInformationRequest()
		e.check(x.SetRequest(m.Request))
	case *InformationResponse:
		var x wire.InformationResponse
		x, err = root.NewInformationResponse()
		e.check(x.SetResponse(m.Response))
	case *WorkerManagerHeartbeat:
		var x wire.WorkerManagerHeartbeat
		x, err = root.NewWorkerManagerHeartbeat()
		x.SetMaxTaskConcurrency(m.MaxTaskConcurrency)
		e.capabilities(m.Capabilities, x.NewCapabilities)
		e.check(x.SetWorkerManagerID(m.WorkerManagerID))
	case *WorkerManagerHeartbeatEcho:
		_, err = root.NewWorkerManagerHeartbeatEcho()
	case *WorkerManagerCommand:
		var x wire.WorkerManagerCommand
		x, err = root.NewWorkerManagerCommand()
		l, lerr := x.NewSetDesiredTaskConcurrencyRequests(int32(len(m.Requests)))
		e.check(lerr)
		for i := 0; lerr == nil && i < len(m.Requests); i++ {
			r := l.At(i)
			r.SetTaskConcurrency(m.Requests[i].TaskConcurrency)
			e.capabilities(m.Requests[i].Capabilities, r.NewCapabilities)
		}
	default:
		err = fmt.Errorf("cannot encode %T", m)
	}
	e.check(err)
}

func (e *encoder) stateScheduler(x wire.StateScheduler, m *StateScheduler) {
	counters := func(c []Counter, newList func(int32) (wire.BinderStatus_Pair_List, error)) {
		l, err := newList(int32(len(c)))
		e.check(err)
		for i := 0; err == nil && i < len(c); i++ {
			p := l.At(i)
			e.check(p.SetClient(c[i].Name))
			p.SetNumber(c[i].Number)
		}
	}
	b, err := x.NewBinder()
	e.check(err)
	counters(m.Received, b.NewReceived)
	counters(m.Sent, b.NewSent)
	e.resource(m.Scheduler, x.NewScheduler)
	x.SetRssFree(m.RSSFree)

	cm, err := x.NewClientManager()
	e.check(err)
	cl, err := cm.NewClientToNumOfTask(int32(len(m.Clients)))
	e.check(err)
	for i := 0; err == nil && i < len(m.Clients); i++ {
		p := cl.At(i)
		e.check(p.SetClient(m.Clients[i].Client))
		p.SetNumTask(m.Clients[i].NumTask)
	}

	om, err := x.NewObjectManager()
	e.check(err)
	om.SetNumberOfObjects(m.NumberOfObjects)

	tm, err := x.NewTaskManager()
	e.check(err)
	tl, err := tm.NewStateToCount(int32(len(m.TaskStates)))
	e.check(err)
	for i := 0; err == nil && i < len(m.TaskStates); i++ {
		p := tl.At(i)
		p.SetState(m.TaskStates[i].State)
		p.SetCount(m.TaskStates[i].Count)
	}

	wm, err := x.NewWorkerManager()
	e.check(err)
	wl, err := wm.NewWorkers(int32(len(m.Workers)))
	e.check(err)
	for i := 0; err == nil && i < len(m.Workers); i++ {
		w := &m.Workers[i]
		ws := wl.At(i)
		e.check(ws.SetWorkerId(w.WorkerID))
		e.resource(w.Agent, ws.NewAgent)
		ws.SetRssFree(w.RSSFree)
		ws.SetFree(w.Free)
		ws.SetSent(w.Sent)
		ws.SetQueued(w.Queued)
		ws.SetSuspended(w.Suspended)
		ws.SetLagUS(w.LagUS)
		ws.SetLastS(w.LastS)
		e.check(ws.SetItl(w.ITL))
		e.processors(w.Processors, ws.NewProcessorStatuses)
		ws.SetMemLimit(w.MemLimit)
	}

	sm, err := x.NewScalingManager()
	e.check(err)
	pl, err := sm.NewManagedWorkers(int32(len(m.ManagedWorkers)))
	e.check(err)
	for i := 0; err == nil && i < len(m.ManagedWorkers); i++ {
		p := pl.At(i)
		e.check(p.SetWorkerManagerID(m.ManagedWorkers[i].WorkerManagerID))
		e.dataList(m.ManagedWorkers[i].WorkerIDs, p.NewWorkerIDs)
	}
	dl, err := sm.NewWorkerManagerDetails(int32(len(m.Managers)))
	e.check(err)
	for i := 0; err == nil && i < len(m.Managers); i++ {
		md := &m.Managers[i]
		d := dl.At(i)
		e.check(d.SetWorkerManagerID(md.WorkerManagerID))
		e.check(d.SetIdentity(md.Identity))
		d.SetLastSeenS(md.LastSeenS)
		d.SetMaxTaskConcurrency(md.MaxTaskConcurrency)
		e.check(d.SetCapabilities(md.Capabilities))
		d.SetPendingWorkers(md.PendingWorkers)
	}
}
