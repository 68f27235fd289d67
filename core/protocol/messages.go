// Package protocol is the OpenGRIS Scaler wire protocol in plain Go values: one struct per
// member of the Cap'n Proto root union Message (spec/protocol.md §3), identifiers and the
// opaque byte formats carried inside fields (§4), and the rigid object storage headers (§5).
//
// Decode and Encode convert between these structs and the Cap'n Proto bytes; the schema and
// its generated code live in core/protocol/schema and core/protocol/wire. Byte-slice fields
// of decoded messages alias the input buffer: decoding copies nothing.
package protocol

import (
	"fmt"
	"slices"
)

// Kind is the union tag of a Message (spec/protocol.md §3.5).
type Kind uint16

// Message kinds, in union order.
const (
	KindTask Kind = iota
	KindTaskCancel
	KindTaskCancelConfirm
	KindTaskResult
	KindTaskLog
	KindGraphTask
	KindObjectInstruction
	KindClientHeartbeat
	KindClientHeartbeatEcho
	KindWorkerHeartbeat
	KindWorkerHeartbeatEcho
	KindDisconnectRequest
	KindDisconnectResponse
	KindStateClient
	KindStateObject
	KindStateBalanceAdvice
	KindStateScheduler
	KindStateWorker
	KindStateTask
	KindStateGraphTask
	KindClientDisconnect
	KindClientShutdownResponse
	KindProcessorInitialized
	KindInformationRequest
	KindInformationResponse
	KindWorkerManagerHeartbeat
	KindWorkerManagerHeartbeatEcho
	KindWorkerManagerCommand
	numKinds
)

var kindNames = [numKinds]string{
	"Task", "TaskCancel", "TaskCancelConfirm", "TaskResult", "TaskLog", "GraphTask",
	"ObjectInstruction", "ClientHeartbeat", "ClientHeartbeatEcho", "WorkerHeartbeat",
	"WorkerHeartbeatEcho", "DisconnectRequest", "DisconnectResponse", "StateClient",
	"StateObject", "StateBalanceAdvice", "StateScheduler", "StateWorker", "StateTask",
	"StateGraphTask", "ClientDisconnect", "ClientShutdownResponse", "ProcessorInitialized",
	"InformationRequest", "InformationResponse", "WorkerManagerHeartbeat",
	"WorkerManagerHeartbeatEcho", "WorkerManagerCommand",
}

// String is the message class name, as the Python scheduler counts it in BinderStatus.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint16(k))
}

// Message is any member of the union.
type Message interface{ Kind() Kind }

// TaskResultType is the outcome of a task.
type TaskResultType uint16

// Task outcomes.
const (
	ResultSuccess TaskResultType = iota
	ResultFailed
	ResultFailedWorkerDied
)

func (t TaskResultType) String() string {
	return enumName(uint16(t), "success", "failed", "failedWorkerDied")
}

// CancelConfirmType is the outcome of a cancel.
type CancelConfirmType uint16

// Cancel outcomes.
const (
	CancelConfirmCanceled CancelConfirmType = iota
	CancelConfirmFailed
	CancelConfirmNotFound
)

func (t CancelConfirmType) String() string {
	return enumName(uint16(t), "canceled", "cancelFailed", "cancelNotFound")
}

// TaskState is the scheduler-side state of a task (spec/protocol.md §8.1).
type TaskState uint16

// Task states, in wire order.
const (
	StateInactive TaskState = iota
	StateRunning
	StateCanceling
	StateBalanceCanceling
	StateSuccess
	StateFailed
	StateFailedWorkerDied
	StateCanceled
	StateCanceledNotFound
	StateBalanceCanceled
	StateWorkerDisconnecting
	NumTaskStates
)

func (s TaskState) String() string {
	return enumName(uint16(s), "inactive", "running", "canceling", "balanceCanceling", "success",
		"failed", "failedWorkerDied", "canceled", "canceledNotFound", "balanceCanceled", "workerDisconnecting")
}

// Terminal reports whether no further transition can leave s.
func (s TaskState) Terminal() bool {
	switch s {
	case StateSuccess, StateFailed, StateFailedWorkerDied, StateCanceled, StateCanceledNotFound, StateBalanceCanceled:
		return true
	}
	return false
}

// WorkerState is published in StateWorker.
type WorkerState uint16

// Worker states.
const (
	WorkerConnected WorkerState = iota
	WorkerDisconnected
)

func (s WorkerState) String() string { return enumName(uint16(s), "connected", "disconnected") }

// ObjectContentType tells a serializer object from an ordinary one.
type ObjectContentType uint16

// Object content types.
const (
	ObjectSerializer ObjectContentType = iota
	ObjectObject
)

func (t ObjectContentType) String() string { return enumName(uint16(t), "serializer", "object") }

// ArgumentType says what Argument.Data holds.
type ArgumentType uint16

// Argument types.
const (
	ArgTask     ArgumentType = iota // 16-byte id of another subtask of the same graph
	ArgObjectID                     // 32-byte object id
	// ArgInline is a Go extension: Data is the argument's encoded value itself, at most
	// InlineLimit bytes. Only Go clients send it, only for Go tasks, and only to a scheduler
	// that announced the "inline" feature (see Features); the Python schema has no such
	// value, so Python peers never see it.
	ArgInline
)

func (t ArgumentType) String() string { return enumName(uint16(t), "task", "objectID", "inline") }

// LogType is the stream a TaskLog came from.
type LogType uint16

// Log streams.
const (
	LogStdout LogType = iota
	LogStderr
)

func (t LogType) String() string { return enumName(uint16(t), "stdout", "stderr") }

// InstructionType is the verb of an ObjectInstruction.
type InstructionType uint16

// Object instruction verbs.
const (
	InstructionCreate InstructionType = iota
	InstructionDelete
	InstructionClear
)

func (t InstructionType) String() string { return enumName(uint16(t), "create", "delete", "clear") }

// DisconnectType says whether a client leaves or stops the cluster.
type DisconnectType uint16

// Client disconnect kinds.
const (
	DisconnectLeave DisconnectType = iota
	DisconnectShutdown
)

func (t DisconnectType) String() string { return enumName(uint16(t), "disconnect", "shutdown") }

// NodeTaskType marks graph targets.
type NodeTaskType uint16

// Graph node kinds.
const (
	NodeNormal NodeTaskType = iota
	NodeTarget
)

func (t NodeTaskType) String() string { return enumName(uint16(t), "normal", "target") }

func enumName(v uint16, names ...string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%d", v)
}

// Capability is a TaskCapability: a name and a quantity (-1 = present, no quantity).
type Capability struct {
	Name  string
	Value int64
}

// CapabilityNames returns the distinct names of caps, sorted (nil when there are none):
// the form in which the scheduler groups tasks and workers and the dashboards show them.
func CapabilityNames(caps []Capability) []string {
	if len(caps) == 0 {
		return nil
	}
	names := make([]string, 0, len(caps))
	for _, c := range caps {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Resource is a process's CPU (percent × 10) and memory in bytes.
type Resource struct {
	CPU uint16
	RSS uint64
}

// ObjectStorageAddress is the object storage address advertised in heartbeat echoes.
type ObjectStorageAddress struct {
	Host   string
	Port   uint16
	Scheme string
}

// Argument is one positional argument of a Task.
type Argument struct {
	Type ArgumentType
	Data []byte
}

// Task asks for fn(*args) to run (spec/protocol.md §3.4, §7.3).
type Task struct {
	TaskID       []byte
	Source       []byte
	Metadata     []byte
	FuncObjectID []byte
	Args         []Argument
	Capabilities []Capability
}

// TaskCancel asks to cancel a task or a whole graph.
type TaskCancel struct {
	TaskID []byte
	Force  bool
}

// TaskCancelConfirm answers a TaskCancel.
type TaskCancelConfirm struct {
	TaskID []byte
	Type   CancelConfirmType
}

// TaskResult reports a task's outcome and the objects holding its result.
type TaskResult struct {
	TaskID   []byte
	Type     TaskResultType
	Metadata []byte
	Results  [][]byte
}

// TaskLog carries one write of a task to stdout or stderr.
type TaskLog struct {
	TaskID  []byte
	Type    LogType
	Content string
}

// GraphTask submits a DAG of tasks; Targets are the subtask ids the client wants.
type GraphTask struct {
	TaskID  []byte
	Source  []byte
	Targets [][]byte
	Graph   []Task
}

// ObjectInstruction tells the scheduler about objects (create/delete) or a worker to evict
// them. IDs, Types and Names are parallel; deletes fill only IDs.
type ObjectInstruction struct {
	Type  InstructionType
	User  []byte
	IDs   [][]byte
	Types []ObjectContentType
	Names [][]byte
}

// ClientHeartbeat is the client's liveness signal.
type ClientHeartbeat struct {
	Resource  Resource
	LatencyUS uint32
}

// ClientHeartbeatEcho answers a client heartbeat.
type ClientHeartbeatEcho struct{ ObjectStorage ObjectStorageAddress }

// ProcessorStatus describes one worker processor.
type ProcessorStatus struct {
	PID         uint32
	Initialized bool
	HasTask     bool
	Suspended   bool
	Resource    Resource
}

// WorkerHeartbeat is the worker's liveness and load report (spec/protocol.md §9.3).
type WorkerHeartbeat struct {
	Agent           Resource
	RSSFree         uint64
	QueueSize       uint32
	QueuedTasks     uint32
	LatencyUS       uint32
	TaskLock        bool
	Processors      []ProcessorStatus
	Capabilities    []Capability
	WorkerManagerID []byte
	MemLimit        uint64
}

// WorkerHeartbeatEcho answers a worker heartbeat.
type WorkerHeartbeatEcho struct{ ObjectStorage ObjectStorageAddress }

// WorkerManagerHeartbeat is a worker manager's liveness and capacity report.
type WorkerManagerHeartbeat struct {
	MaxTaskConcurrency uint32
	Capabilities       []Capability
	WorkerManagerID    []byte
}

// WorkerManagerHeartbeatEcho answers a manager heartbeat.
type WorkerManagerHeartbeatEcho struct{}

// DesiredConcurrency is one declarative scaling target: this many workers with these
// capabilities (empty = any).
type DesiredConcurrency struct {
	TaskConcurrency uint32
	Capabilities    []Capability
}

// WorkerManagerCommand carries the scheduler's scaling targets for one manager.
type WorkerManagerCommand struct{ Requests []DesiredConcurrency }

// DisconnectRequest is a worker's graceful leave.
type DisconnectRequest struct{ Worker []byte }

// DisconnectResponse confirms a DisconnectRequest.
type DisconnectResponse struct{ Worker []byte }

// ClientDisconnect is a client leaving, or asking to stop the cluster.
type ClientDisconnect struct{ Type DisconnectType }

// ClientShutdownResponse answers a shutdown request.
type ClientShutdownResponse struct{ Accepted bool }

// StateClient is declared by the protocol but never sent.
type StateClient struct{}

// StateObject is declared by the protocol but never sent.
type StateObject struct{}

// StateBalanceAdvice names tasks the scheduler moves away from a worker.
type StateBalanceAdvice struct {
	WorkerID []byte
	TaskIDs  [][]byte
}

// Counter is one BinderStatus pair: a message type name and a count.
type Counter struct {
	Name   string
	Number uint32
}

// ClientTasks is one ClientManagerStatus pair.
type ClientTasks struct {
	Client  []byte
	NumTask uint32
}

// StateCount is one TaskManagerStatus pair (State is a TaskState ordinal).
type StateCount struct {
	State uint8
	Count uint32
}

// WorkerStatus is one worker row of StateScheduler.
type WorkerStatus struct {
	WorkerID   []byte
	Agent      Resource
	RSSFree    uint64
	Free       uint32
	Sent       uint32
	Queued     uint32
	Suspended  uint8
	LagUS      uint64
	LastS      uint16
	ITL        string
	Processors []ProcessorStatus
	MemLimit   uint64
}

// ManagedWorkers lists the workers connected for one manager id.
type ManagedWorkers struct {
	WorkerManagerID []byte
	WorkerIDs       [][]byte
}

// ManagerDetail describes one live worker manager.
type ManagerDetail struct {
	WorkerManagerID    []byte
	Identity           string
	LastSeenS          uint16
	MaxTaskConcurrency uint32
	Capabilities       string
	PendingWorkers     uint32
}

// StateScheduler is the periodic status snapshot on the monitor stream (§8.9).
type StateScheduler struct {
	Received        []Counter
	Sent            []Counter
	Scheduler       Resource
	RSSFree         uint64
	Clients         []ClientTasks
	NumberOfObjects uint32
	TaskStates      []StateCount
	Workers         []WorkerStatus
	ManagedWorkers  []ManagedWorkers
	Managers        []ManagerDetail
}

// StateWorker announces a worker connecting or leaving.
type StateWorker struct {
	WorkerID     []byte
	State        WorkerState
	Capabilities []Capability
}

// StateTask announces a task state change.
type StateTask struct {
	TaskID       []byte
	FunctionName []byte
	State        TaskState
	Worker       []byte
	Capabilities []Capability
	Metadata     []byte
}

// StateGraphTask announces one node of an accepted graph.
type StateGraphTask struct {
	GraphTaskID   []byte
	TaskID        []byte
	NodeType      NodeTaskType
	ParentTaskIDs [][]byte
}

// ProcessorInitialized is the internal processor-ready message.
type ProcessorInitialized struct{}

// InformationRequest is reserved; the scheduler ignores it.
type InformationRequest struct{ Request []byte }

// InformationResponse is reserved and never sent.
type InformationResponse struct{ Response []byte }

// Kind implementations.
func (*Task) Kind() Kind                       { return KindTask }
func (*TaskCancel) Kind() Kind                 { return KindTaskCancel }
func (*TaskCancelConfirm) Kind() Kind          { return KindTaskCancelConfirm }
func (*TaskResult) Kind() Kind                 { return KindTaskResult }
func (*TaskLog) Kind() Kind                    { return KindTaskLog }
func (*GraphTask) Kind() Kind                  { return KindGraphTask }
func (*ObjectInstruction) Kind() Kind          { return KindObjectInstruction }
func (*ClientHeartbeat) Kind() Kind            { return KindClientHeartbeat }
func (*ClientHeartbeatEcho) Kind() Kind        { return KindClientHeartbeatEcho }
func (*WorkerHeartbeat) Kind() Kind            { return KindWorkerHeartbeat }
func (*WorkerHeartbeatEcho) Kind() Kind        { return KindWorkerHeartbeatEcho }
func (*DisconnectRequest) Kind() Kind          { return KindDisconnectRequest }
func (*DisconnectResponse) Kind() Kind         { return KindDisconnectResponse }
func (*StateClient) Kind() Kind                { return KindStateClient }
func (*StateObject) Kind() Kind                { return KindStateObject }
func (*StateBalanceAdvice) Kind() Kind         { return KindStateBalanceAdvice }
func (*StateScheduler) Kind() Kind             { return KindStateScheduler }
func (*StateWorker) Kind() Kind                { return KindStateWorker }
func (*StateTask) Kind() Kind                  { return KindStateTask }
func (*StateGraphTask) Kind() Kind             { return KindStateGraphTask }
func (*ClientDisconnect) Kind() Kind           { return KindClientDisconnect }
func (*ClientShutdownResponse) Kind() Kind     { return KindClientShutdownResponse }
func (*ProcessorInitialized) Kind() Kind       { return KindProcessorInitialized }
func (*InformationRequest) Kind() Kind         { return KindInformationRequest }
func (*InformationResponse) Kind() Kind        { return KindInformationResponse }
func (*WorkerManagerHeartbeat) Kind() Kind     { return KindWorkerManagerHeartbeat }
func (*WorkerManagerHeartbeatEcho) Kind() Kind { return KindWorkerManagerHeartbeatEcho }
func (*WorkerManagerCommand) Kind() Kind       { return KindWorkerManagerCommand }
