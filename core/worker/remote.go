package worker

import (
	"context"
	"time"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
)

// Executor runs tasks outside this process: a batch system or a grid (aws_hpc, symphony).
// With Config.Executor set, the agent still talks to the scheduler, fetches every input
// from object storage and stores every result; the executor only turns inputs into a
// result. Execute is called on its own goroutine per task, at most MaxTaskConcurrency at a
// time, so an executor may batch calls that arrive together.
type Executor interface {
	// Execute runs one task. When ctx ends (the task was force-cancelled or timed out) it
	// must stop the remote work and return promptly; its result is then discarded.
	Execute(ctx context.Context, t ExecTask) ExecResult
}

// ExecutorCanceler is an optional ability of an Executor whose remote system cannot always
// stop a task once it has it (IBM Symphony's REST API has no abort, for example). Without it
// the agent treats every task in Execute as running: a non-forced cancel is refused and a
// forced one ends Execute's ctx.
type ExecutorCanceler interface {
	// CancelTask is called on the agent's loop, so it must not block, when the scheduler
	// cancels a task whose Execute is running (force as in the TaskCancel). A nil result means
	// the executor has withdrawn the task (it was still waiting in the executor): the agent
	// ends Execute's ctx and confirms "canceled". An error refuses the cancel: the agent
	// answers "cancelFailed", logs the error, and delivers the task's result when it comes.
	CancelTask(id protocol.TaskID, force bool) error
}

// ExecutorAvailability is an optional ability of an Executor whose remote system can be
// unreachable: while Accepting reports false the agent's heartbeats set the task lock, so
// monitors show that the worker cannot make progress.
type ExecutorAvailability interface {
	Accepting() bool
}

// executorAccepting reports whether e can take tasks now.
func executorAccepting(e Executor) bool {
	if av, ok := e.(ExecutorAvailability); ok {
		return av.Accepting()
	}
	return true
}

// ExecTask is a task with its inputs fetched.
type ExecTask struct {
	ID     protocol.TaskID
	Source []byte // the client, owner of the result object
	Flags  protocol.TaskFlags
	// Python reports whether the client's serializer is a pickle (a Python client); else the
	// task is a Go task (FunctionName is set).
	Python       bool
	FunctionName string
	SerializerID protocol.ObjectID
	Serializer   []byte
	FunctionID   protocol.ObjectID
	Function     []byte
	ArgIDs       []protocol.ObjectID
	Args         [][]byte
}

// ExecResult is what a task produced: the result in the client's serializer, or a failure
// payload (a pickled exception for Python tasks, see FailurePayload).
type ExecResult struct {
	Payload []byte
	Failed  bool
	Profile protocol.ProfileResult
}

// FailurePayload builds a failure for a client: a pickled builtins.RuntimeError for Python
// tasks, a Go task failure otherwise.
func FailurePayload(t ExecTask, worker, message string) []byte {
	if t.Python {
		return protocol.PickleException("builtins", "RuntimeError", message)
	}
	return gocodec.EncodeFailure(gocodec.Failure{Function: t.FunctionName, Message: message, Worker: worker, Kind: "error"})
}

func (a *Agent) runRemote(ctx context.Context, t *task) {
	et := ExecTask{
		ID: t.id, Source: t.source, Flags: t.flags, Python: t.kind == execPython || protocol.IsPickle(t.payloads[0]),
		FunctionName: t.fnName, SerializerID: t.needed[0], Serializer: t.payloads[0],
		FunctionID: t.needed[1], Function: t.payloads[1],
		ArgIDs: t.needed[2:], Args: t.payloads[2:],
	}
	res := a.cfg.Executor.Execute(ctx, et)
	dur := time.Since(t.started)
	a.post(finished{t: t, duration: dur})
	if ctx.Err() != nil {
		return // cancelled or timed out: the agent already answered for this task
	}
	if res.Profile.DurationS == 0 {
		res.Profile.DurationS = float32(dur.Seconds())
	}
	typ := protocol.ResultSuccess
	if res.Failed {
		typ = protocol.ResultFailed
	}
	a.storeResult(a.runCtx, t, res.Payload, typ, res.Profile)
}
