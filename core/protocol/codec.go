package protocol

import (
	"errors"
	"fmt"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/scaler-go/scaler/core/protocol/wire"
)

// ErrMalformed is wrapped by every decode error.
var ErrMalformed = errors.New("malformed message")

// ErrUnknownKind is wrapped when the union tag is not one we know; the message is otherwise
// well formed (spec/protocol.md §1.7: log and drop).
var ErrUnknownKind = errors.New("unknown message kind")

// Decode parses one serialized Message. Byte-slice fields of the result alias b.
func Decode(b []byte) (Message, error) {
	if m, ok := fastDecode(b); ok {
		return m, nil
	}
	return decodeGenerated(b)
}

// decodeGenerated decodes with the generated code, the reference for the fast paths.
func decodeGenerated(b []byte) (Message, error) {
	msg, err := capnp.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// capnp's default traversal limit (64 MiB) would refuse legitimate large messages, and
	// no limit would let a small hostile message make us walk (and allocate) gigabytes by
	// pointing many pointers at the same bytes. Each byte of a well-formed message is read
	// about once, so a small multiple of the size is both safe and sufficient.
	msg.ResetReadLimit(readLimit(len(b)))
	root, err := wire.ReadRootMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	d := decoder{maxElems: len(b)/8 + 1}
	m := d.message(root)
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

func readLimit(n int) uint64 { return uint64(n)*4 + 1<<16 }

// decoder collects the first error so conversion code stays linear.
type decoder struct {
	err error
	// maxElems bounds list lengths: an honest encoder spends at least a word per element, so
	// a longer list is an attack (capnp allows zero-sized elements) that would make us
	// allocate far more than the message size.
	maxElems int
}

func (d *decoder) count(n int) int {
	if n > d.maxElems {
		d.fail("list", fmt.Errorf("%d elements in a %d-word message", n, d.maxElems))
		return 0
	}
	return n
}

func (d *decoder) fail(what string, err error) {
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
}

func (d *decoder) data(b []byte, err error) []byte {
	d.fail("data field", err)
	return b
}

func (d *decoder) text(s string, err error) string {
	d.fail("text field", err)
	return s
}

func (d *decoder) dataList(l capnp.DataList, err error) [][]byte {
	const what = "data list"
	d.fail(what, err)
	if err != nil || l.Len() == 0 {
		return nil
	}
	out := make([][]byte, d.count(l.Len()))
	for i := range out {
		out[i], err = l.At(i)
		d.fail(what, err)
	}
	return out
}

func (d *decoder) capabilities(l wire.TaskCapability_List, err error) []Capability {
	d.fail("capabilities", err)
	if err != nil || l.Len() == 0 {
		return nil
	}
	out := make([]Capability, d.count(l.Len()))
	for i := range out {
		c := l.At(i)
		out[i] = Capability{Name: d.text(c.Name()), Value: c.Value()}
	}
	return out
}

func (d *decoder) resource(r wire.Resource, err error) Resource {
	d.fail("resource", err)
	return Resource{CPU: r.Cpu(), RSS: r.Rss()}
}

func (d *decoder) ossAddress(a wire.ObjectStorageAddress, err error) ObjectStorageAddress {
	d.fail("objectStorageAddress", err)
	return ObjectStorageAddress{
		Host:   d.text(a.Host()),
		Port:   a.Port(),
		Scheme: d.text(a.Scheme()),
	}
}

func (d *decoder) processors(l wire.ProcessorStatus_List, err error) []ProcessorStatus {
	d.fail("processors", err)
	if err != nil || l.Len() == 0 {
		return nil
	}
	out := make([]ProcessorStatus, d.count(l.Len()))
	for i := range out {
		p := l.At(i)
		out[i] = ProcessorStatus{
			PID:         p.Pid(),
			Initialized: p.Initialized(),
			HasTask:     p.HasTask(),
			Suspended:   p.Suspended(),
			Resource:    d.resource(p.Resource()),
		}
	}
	return out
}

func (d *decoder) task(t wire.Task) Task {
	out := Task{
		TaskID:       d.data(t.TaskId()),
		Source:       d.data(t.Source()),
		Metadata:     d.data(t.Metadata()),
		FuncObjectID: d.data(t.FuncObjectId()),
		Capabilities: d.capabilities(t.Capabilities()),
	}
	args, err := t.FunctionArgs()
	d.fail("functionArgs", err)
	if err == nil && args.Len() > 0 {
		out.Args = make([]Argument, d.count(args.Len()))
		for i := range out.Args {
			a := args.At(i)
			out.Args[i] = Argument{Type: ArgumentType(a.Type()), Data: d.data(a.Data())}
		}
	}
	return out
}

func (d *decoder) message(root wire.Message) Message {
	switch root.Which() {
	case wire.Message_Which_task:
		t, err := root.Task()
		d.fail("task", err)
		m := d.task(t)
		return &m
	case wire.Message_Which_taskCancel:
		t, err := root.TaskCancel()
		d.fail("taskCancel", err)
		m := &TaskCancel{TaskID: d.data(t.TaskId())}
		if t.HasFlags() {
			f, err := t.Flags()
			d.fail("flags", err)
			m.Force = f.Force()
		}
		return m
	case wire.Message_Which_taskCancelConfirm:
		t, err := root.TaskCancelConfirm()
		d.fail("taskCancelConfirm", err)
		return &TaskCancelConfirm{TaskID: d.data(t.TaskId()), Type: CancelConfirmType(t.CancelConfirmType())}
	case wire.Message_Which_taskResult:
		t, err := root.TaskResult()
		d.fail("taskResult", err)
		return &TaskResult{
			TaskID:   d.data(t.TaskId()),
			Type:     TaskResultType(t.ResultType()),
			Metadata: d.data(t.Metadata()),
			Results:  d.dataList(t.Results()),
		}
	case wire.Message_Which_taskLog:
		t, err := root.TaskLog()
		d.fail("taskLog", err)
		return &TaskLog{TaskID: d.data(t.TaskId()), Type: LogType(t.LogType()), Content: d.text(t.Content())}
	case wire.Message_Which_graphTask:
		g, err := root.GraphTask()
		d.fail("graphTask", err)
		m := &GraphTask{
			TaskID:  d.data(g.TaskId()),
			Source:  d.data(g.Source()),
			Targets: d.dataList(g.Targets()),
		}
		graph, err := g.Graph()
		d.fail("graph", err)
		if err == nil && graph.Len() > 0 {
			m.Graph = make([]Task, d.count(graph.Len()))
			for i := range m.Graph {
				m.Graph[i] = d.task(graph.At(i))
			}
		}
		return m
	case wire.Message_Which_objectInstruction:
		o, err := root.ObjectInstruction()
		d.fail("objectInstruction", err)
		m := &ObjectInstruction{Type: InstructionType(o.InstructionType()), User: d.data(o.ObjectUser())}
		if o.HasObjectMetadata() {
			md, err := o.ObjectMetadata()
			d.fail("objectMetadata", err)
			m.IDs = d.dataList(md.ObjectIds())
			m.Names = d.dataList(md.ObjectNames())
			types, err := md.ObjectTypes()
			d.fail("objectTypes", err)
			if err == nil && types.Len() > 0 {
				m.Types = make([]ObjectContentType, d.count(types.Len()))
				for i := range m.Types {
					m.Types[i] = ObjectContentType(types.At(i))
				}
			}
		}
		return m
	case wire.Message_Which_clientHeartbeat:
		h, err := root.ClientHeartbeat()
		d.fail("clientHeartbeat", err)
		return &ClientHeartbeat{Resource: d.resource(h.Resource()), LatencyUS: h.LatencyUS()}
	case wire.Message_Which_clientHeartbeatEcho:
		e, err := root.ClientHeartbeatEcho()
		d.fail("clientHeartbeatEcho", err)
		return &ClientHeartbeatEcho{ObjectStorage: d.ossAddress(e.ObjectStorageAddress())}
	case wire.Message_Which_workerHeartbeat:
		h, err := root.WorkerHeartbeat()
		d.fail("workerHeartbeat", err)
		return &WorkerHeartbeat{
			Agent:           d.resource(h.Agent()),
			RSSFree:         h.RssFree(),
			QueueSize:       h.QueueSize(),
			QueuedTasks:     h.QueuedTasks(),
			LatencyUS:       h.LatencyUS(),
			TaskLock:        h.TaskLock(),
			Processors:      d.processors(h.Processors()),
			Capabilities:    d.capabilities(h.Capabilities()),
			WorkerManagerID: d.data(h.WorkerManagerID()),
			MemLimit:        h.MemLimit(),
		}
	case wire.Message_Which_workerHeartbeatEcho:
		e, err := root.WorkerHeartbeatEcho()
		d.fail("workerHeartbeatEcho", err)
		return &WorkerHeartbeatEcho{ObjectStorage: d.ossAddress(e.ObjectStorageAddress())}
	case wire.Message_Which_disconnectRequest:
		r, err := root.DisconnectRequest()
		d.fail("disconnectRequest", err)
		return &DisconnectRequest{Worker: d.data(r.Worker())}
	case wire.Message_Which_disconnectResponse:
		r, err := root.DisconnectResponse()
		d.fail("disconnectResponse", err)
		return &DisconnectResponse{Worker: d.data(r.Worker())}
	case wire.Message_Which_stateClient:
		return &StateClient{}
	case wire.Message_Which_stateObject:
		return &StateObject{}
	case wire.Message_Which_stateBalanceAdvice:
		a, err := root.StateBalanceAdvice()
		d.fail("stateBalanceAdvice", err)
		return &StateBalanceAdvice{WorkerID: d.data(a.WorkerId()), TaskIDs: d.dataList(a.TaskIds())}
	case wire.Message_Which_stateScheduler:
		s, err := root.StateScheduler()
		d.fail("stateScheduler", err)
		return d.stateScheduler(s)
	case wire.Message_Which_stateWorker:
		w, err := root.StateWorker()
		d.fail("stateWorker", err)
		return &StateWorker{
			WorkerID:     d.data(w.WorkerId()),
			State:        WorkerState(w.State()),
			Capabilities: d.capabilities(w.Capabilities()),
		}
	case wire.Message_Which_stateTask:
		t, err := root.StateTask()
		d.fail("stateTask", err)
		return &StateTask{
			TaskID:       d.data(t.TaskId()),
			FunctionName: d.data(t.FunctionName()),
			State:        TaskState(t.State()),
			Worker:       d.data(t.Worker()),
			Capabilities: d.capabilities(t.Capabilities()),
			Metadata:     d.data(t.Metadata()),
		}
	case wire.Message_Which_stateGraphTask:
		g, err := root.StateGraphTask()
		d.fail("stateGraphTask", err)
		return &StateGraphTask{
			GraphTaskID:   d.data(g.GraphTaskId()),
			TaskID:        d.data(g.TaskId()),
			NodeType:      NodeTaskType(g.NodeTaskType()),
			ParentTaskIDs: d.dataList(g.ParentTaskIds()),
		}
	case wire.Message_Which_clientDisconnect:
		c, err := root.ClientDisconnect()
		d.fail("clientDisconnect", err)
		return &ClientDisconnect{Type: DisconnectType(c.DisconnectType())}
	case wire.Message_Which_clientShutdownResponse:
		c, err := root.ClientShutdownResponse()
		d.fail("clientShutdownResponse", err)
		return &ClientShutdownResponse{Accepted: c.Accepted()}
	case wire.Message_Which_processorInitialized:
		return &ProcessorInitialized{}
	case wire.Message_Which_informationRequest:
		r, err := root.InformationRequest()
		d.fail("informationRequest", err)
		return &InformationRequest{Request: d.data(r.Request())}
	case wire.Message_Which_informationResponse:
		r, err := root.InformationResponse()
		d.fail("informationResponse", err)
		return &InformationResponse{Response: d.data(r.Response())}
	case wire.Message_Which_workerManagerHeartbeat:
		h, err := root.WorkerManagerHeartbeat()
		d.fail("workerManagerHeartbeat", err)
		return &WorkerManagerHeartbeat{
			MaxTaskConcurrency: h.MaxTaskConcurrency(),
			Capabilities:       d.capabilities(h.Capabilities()),
			WorkerManagerID:    d.data(h.WorkerManagerID()),
		}
	case wire.Message_Which_workerManagerHeartbeatEcho:
		return &WorkerManagerHeartbeatEcho{}
	case wire.Message_Which_workerManagerCommand:
		c, err := root.WorkerManagerCommand()
		d.fail("workerManagerCommand", err)
		reqs, err := c.SetDesiredTaskConcurrencyRequests()
		d.fail("setDesiredTaskConcurrencyRequests", err)
		m := &WorkerManagerCommand{}
		if err == nil && reqs.Len() > 0 {
			m.Requests = make([]DesiredConcurrency, d.count(reqs.Len()))
			for i := range m.Requests {
				r := reqs.At(i)
				m.Requests[i] = DesiredConcurrency{
					TaskConcurrency: r.TaskConcurrency(),
					Capabilities:    d.capabilities(r.Capabilities()),
				}
			}
		}
		return m
	}
	if d.err == nil {
		d.err = fmt.Errorf("%w: tag %d", ErrUnknownKind, uint16(root.Which()))
	}
	return nil
}

func (d *decoder) stateScheduler(s wire.StateScheduler) *StateScheduler {
	m := &StateScheduler{Scheduler: d.resource(s.Scheduler()), RSSFree: s.RssFree()}
	counters := func(l wire.BinderStatus_Pair_List, err error) []Counter {
		d.fail("binder", err)
		if err != nil || l.Len() == 0 {
			return nil
		}
		out := make([]Counter, d.count(l.Len()))
		for i := range out {
			p := l.At(i)
			out[i] = Counter{Name: d.text(p.Client()), Number: p.Number()}
		}
		return out
	}
	if s.HasBinder() {
		b, err := s.Binder()
		d.fail("binder", err)
		m.Received = counters(b.Received())
		m.Sent = counters(b.Sent())
	}
	if s.HasClientManager() {
		c, err := s.ClientManager()
		d.fail("clientManager", err)
		l, err := c.ClientToNumOfTask()
		d.fail("clientToNumOfTask", err)
		for i := 0; err == nil && i < d.count(l.Len()); i++ {
			p := l.At(i)
			m.Clients = append(m.Clients, ClientTasks{Client: d.data(p.Client()), NumTask: p.NumTask()})
		}
	}
	if s.HasObjectManager() {
		o, err := s.ObjectManager()
		d.fail("objectManager", err)
		m.NumberOfObjects = o.NumberOfObjects()
	}
	if s.HasTaskManager() {
		t, err := s.TaskManager()
		d.fail("taskManager", err)
		l, err := t.StateToCount()
		d.fail("stateToCount", err)
		for i := 0; err == nil && i < d.count(l.Len()); i++ {
			p := l.At(i)
			m.TaskStates = append(m.TaskStates, StateCount{State: p.State(), Count: p.Count()})
		}
	}
	if s.HasWorkerManager() {
		w, err := s.WorkerManager()
		d.fail("workerManager", err)
		l, err := w.Workers()
		d.fail("workers", err)
		for i := 0; err == nil && i < d.count(l.Len()); i++ {
			ws := l.At(i)
			m.Workers = append(m.Workers, WorkerStatus{
				WorkerID:   d.data(ws.WorkerId()),
				Agent:      d.resource(ws.Agent()),
				RSSFree:    ws.RssFree(),
				Free:       ws.Free(),
				Sent:       ws.Sent(),
				Queued:     ws.Queued(),
				Suspended:  ws.Suspended(),
				LagUS:      ws.LagUS(),
				LastS:      ws.LastS(),
				ITL:        d.text(ws.Itl()),
				Processors: d.processors(ws.ProcessorStatuses()),
				MemLimit:   ws.MemLimit(),
			})
		}
	}
	if s.HasScalingManager() {
		sc, err := s.ScalingManager()
		d.fail("scalingManager", err)
		pairs, err := sc.ManagedWorkers()
		d.fail("managedWorkers", err)
		for i := 0; err == nil && i < d.count(pairs.Len()); i++ {
			p := pairs.At(i)
			m.ManagedWorkers = append(m.ManagedWorkers, ManagedWorkers{
				WorkerManagerID: d.data(p.WorkerManagerID()),
				WorkerIDs:       d.dataList(p.WorkerIDs()),
			})
		}
		details, err := sc.WorkerManagerDetails()
		d.fail("workerManagerDetails", err)
		for i := 0; err == nil && i < d.count(details.Len()); i++ {
			w := details.At(i)
			m.Managers = append(m.Managers, ManagerDetail{
				WorkerManagerID:    d.data(w.WorkerManagerID()),
				Identity:           d.text(w.Identity()),
				LastSeenS:          w.LastSeenS(),
				MaxTaskConcurrency: w.MaxTaskConcurrency(),
				Capabilities:       d.text(w.Capabilities()),
				PendingWorkers:     w.PendingWorkers(),
			})
		}
	}
	return m
}
