package worker

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/taskctx"
)

type phase uint8

const (
	phaseFetching phase = iota
	phaseReady
	phaseRunning
	phaseStoring
	phaseDone
)

type execKind uint8

const (
	execGo execKind = iota
	execPython
	execRemote
)

type task struct {
	id        protocol.TaskID
	msg       *protocol.Task
	source    []byte
	flags     protocol.TaskFlags
	priority  int32
	seq       uint64
	heapIndex int
	phase     phase
	// objects still being fetched; payloads holds serializer, function, args in order.
	missing  int
	needed   []protocol.ObjectID
	payloads [][]byte
	kind     execKind
	fn       *Func
	fnName   string
	cancel   context.CancelFunc
	timer    *time.Timer
	// abandoned tasks were cancelled or timed out while running: whatever their goroutine
	// produces later is discarded.
	abandoned bool
	started   time.Time
	duration  time.Duration
	result    protocol.ObjectID
	inline    []byte // the result value, when profile.Inline
	typ       protocol.TaskResultType
	profile   protocol.ProfileResult
	// failure, when set before execution, is reported instead of running the task.
	failure *gocodec.Failure
	// lent: this running task's slot was lent to a higher-priority task (its nested one);
	// borrowed: the task whose slot this one runs in.
	lent     bool
	borrowed *task
}

func (a *Agent) onTask(ctx context.Context, m *protocol.Task) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		a.log.Warn("dropping task with a malformed id")
		return
	}
	if _, dup := a.tasks[id]; dup {
		a.log.Warn("dropping duplicate task", "task", id)
		return
	}
	a.seq++
	t := &task{id: id, msg: m, source: m.Source, seq: a.seq, heapIndex: -1}
	a.tasks[id] = t
	flags, err := protocol.DecodeTaskFlags(m.Metadata)
	if err != nil {
		a.failEarly(ctx, t, "bad_arguments", err.Error())
		return
	}
	if flags.Priority < 0 {
		a.failEarly(ctx, t, "bad_arguments", fmt.Sprintf("negative task priority %d", flags.Priority))
		return
	}
	t.flags, t.priority = flags, flags.Priority
	t.needed = append(t.needed, protocol.SerializerObjectID(m.Source))
	fid, ok := protocol.ObjectIDFromBytes(m.FuncObjectID)
	if !ok {
		a.failEarly(ctx, t, "bad_arguments", "malformed function object id")
		return
	}
	t.needed = append(t.needed, fid)
	t.payloads = make([][]byte, len(t.needed), len(t.needed)+len(m.Args))
	for i, arg := range m.Args {
		if arg.Type == protocol.ArgInline && len(arg.Data) <= protocol.InlineLimit {
			// The value came with the task: nothing to fetch. A zero id never matches a
			// fetched object, and a non-nil payload marks the slot filled. The received
			// message is ours and t.msg keeps it anyway, so the value is used in place.
			data := arg.Data
			if data == nil {
				data = []byte{}
			}
			t.needed = append(t.needed, protocol.ObjectID{})
			t.payloads = append(t.payloads, data)
			continue
		}
		oid, ok := protocol.ObjectIDFromBytes(arg.Data)
		if arg.Type != protocol.ArgObjectID || !ok {
			a.failEarly(ctx, t, "bad_arguments", fmt.Sprintf("argument %d is not an object reference", i))
			return
		}
		t.needed = append(t.needed, oid)
		t.payloads = append(t.payloads, nil)
	}
	for i, oid := range t.needed {
		if t.payloads[i] != nil {
			continue
		}
		if data, ok := a.cache.get(oid); ok {
			t.payloads[i] = data
			continue
		}
		t.missing++
		a.fetch(ctx, oid, t)
	}
	if t.missing == 0 {
		a.inputsReady(ctx, t)
	}
}

// fetch starts one object storage get per object, however many tasks wait for it.
func (a *Agent) fetch(ctx context.Context, id protocol.ObjectID, t *task) {
	ws, inFlight := a.waiters[id]
	a.waiters[id] = append(ws, t)
	if inFlight || a.oss == nil {
		// Already being fetched, or started once object storage is connected.
		return
	}
	a.startGet(ctx, id)
}

func (a *Agent) startGet(ctx context.Context, id protocol.ObjectID) {
	oss := a.oss
	go func() {
		data, err := oss.Get(ctx, id)
		a.post(fetched{id: id, data: data, err: err})
	}()
}

func (a *Agent) onFetched(ctx context.Context, ev fetched) {
	waiting := a.waiters[ev.id]
	delete(a.waiters, ev.id)
	if ev.err != nil {
		if errors.Is(ev.err, context.Canceled) {
			return
		}
		a.log.Warn("object storage get failed", "object", ev.id, "err", ev.err)
	} else {
		if ev.data == nil {
			ev.data = []byte{}
		}
		a.cache.put(ev.id, ev.data)
	}
	for _, t := range waiting {
		if t.phase != phaseFetching || t.failure != nil || a.tasks[t.id] != t {
			continue
		}
		for i, oid := range t.needed {
			if oid != ev.id || t.payloads[i] != nil {
				continue
			}
			if ev.err != nil {
				a.failEarly(ctx, t, "bad_arguments", fmt.Sprintf("cannot fetch object %s: %v", oid, ev.err))
				break
			}
			t.payloads[i] = ev.data
			t.missing--
		}
		if t.missing == 0 && t.failure == nil && t.phase == phaseFetching {
			a.inputsReady(ctx, t)
		}
	}
}

// inputsReady picks the executor from the serializer the client stored.
func (a *Agent) inputsReady(ctx context.Context, t *task) {
	ser := t.payloads[0]
	switch {
	case a.cfg.Executor != nil:
		if gocodec.IsGoSerializer(ser) {
			t.fnName, _ = gocodec.DecodeFunction(t.payloads[1])
		}
		t.kind = execRemote
	case gocodec.IsGoSerializer(ser):
		name, err := gocodec.DecodeFunction(t.payloads[1])
		if err != nil {
			a.failEarly(ctx, t, "not_registered", fmt.Sprintf("task %s: %v", t.id, err))
			return
		}
		t.fnName = name
		fn, ok := Lookup(name)
		if !ok {
			a.failEarly(ctx, t, "not_registered", fmt.Sprintf("function %s is not registered on worker %s", name, a.identity))
			return
		}
		t.fn, t.kind = fn, execGo
	case protocol.IsPickle(ser):
		t.kind = execPython
	default:
		a.failEarly(ctx, t, "bad_arguments", fmt.Sprintf("task %s: the client's serializer object is neither a Go nor a Python serializer", t.id))
		return
	}
	t.phase = phaseReady
	heap.Push(&a.ready, t)
	a.schedule(ctx)
}

// schedule starts ready tasks while slots are free. When every slot is busy, a task of
// higher priority borrows the slot of a lower-priority running task: that is a parent
// waiting for its nested tasks (which get parent priority + 1), and without this a worker
// full of parents would wait for children that can never start (spec/protocol.md §9.4).
func (a *Agent) schedule(ctx context.Context) {
	for a.ready.Len() > 0 && !a.leaving {
		top := a.ready[0]
		if a.running-a.lent >= a.cfg.MaxTaskConcurrency {
			lender := a.lenderFor(top.priority)
			if lender == nil {
				return
			}
			lender.lent = true
			a.lent++
			a.lendable[lender.priority]--
			top.borrowed = lender
			if lender.kind == execPython {
				a.python.suspend(lender)
			}
		}
		heap.Pop(&a.ready)
		a.start(ctx, top)
	}
}

// lenderFor finds a running task of lower priority whose slot is not lent yet.
func (a *Agent) lenderFor(priority int32) *task {
	possible := false
	for p, n := range a.lendable {
		if p < priority && n > 0 {
			possible = true
			break
		}
	}
	if !possible {
		return nil
	}
	var best *task
	for _, t := range a.tasks {
		if t.phase == phaseRunning && !t.abandoned && !t.lent && t.priority < priority && (best == nil || t.priority < best.priority) {
			best = t
		}
	}
	return best
}

// releaseSlot frees a running task's slot and settles what it borrowed or lent.
func (a *Agent) releaseSlot(t *task) {
	a.running--
	if t.borrowed != nil {
		if b := t.borrowed; b.lent {
			b.lent = false
			a.lent--
			if b.kind == execPython {
				a.python.resume(b)
			}
			if b.phase == phaseRunning && !b.abandoned {
				a.lendable[b.priority]++
			}
		}
		t.borrowed = nil
	}
	if t.lent {
		t.lent = false
		a.lent--
	} else {
		a.lendable[t.priority]--
	}
}

func (a *Agent) start(ctx context.Context, t *task) {
	t.phase = phaseRunning
	a.running++
	a.lendable[t.priority]++
	tctx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	t.started = time.Now()
	if a.cfg.TaskTimeout > 0 {
		t.timer = time.AfterFunc(a.cfg.TaskTimeout, func() { a.post(timedOut{t: t}) })
	}
	switch t.kind {
	case execGo:
		job := goJob{ctx: tctx, t: t, info: a.taskInfo(t)}
		select {
		case a.goJobs <- job: // an idle runner, whose stack has already grown
		default:
			go a.goRunner(ctx, job)
		}
	case execPython:
		a.python.run(tctx, t)
	case execRemote:
		go a.runRemote(tctx, t)
	}
}

// goJob is a Go task handed to a runner goroutine.
type goJob struct {
	ctx  context.Context
	t    *task
	info taskctx.Info
}

// runnerIdle is how long a runner waits for another task before it ends.
const runnerIdle = 10 * time.Second

// goRunner runs job, then waits for more on a.goJobs. Runners outlive their tasks so a
// task does not pay for a new goroutine and for growing its stack again (reflection and
// CBOR run deep); a runner stuck in a task that ignores cancellation only costs itself,
// as the next task gets a new runner.
func (a *Agent) goRunner(ctx context.Context, job goJob) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		a.runGo(job)
		idle.Reset(runnerIdle)
		select {
		case job = <-a.goJobs:
		case <-idle.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// taskInfo is what taskctx tells t's function about this worker; the addresses are
// formatted once per object storage connection, not per task.
func (a *Agent) taskInfo(t *task) taskctx.Info {
	if a.infoOSS != a.oss || a.info.Scheduler == "" {
		a.infoOSS = a.oss
		a.info = taskctx.Info{Scheduler: a.cfg.SchedulerAddress.String(), Backend: a.backendName}
		if a.oss != nil {
			a.info.ObjectStorage = a.oss.Addr().String()
		}
	}
	info := a.info
	info.Priority = t.priority
	return info
}

// runGo runs a Go function, then stores the result.
func (a *Agent) runGo(job goJob) {
	ctx, t := job.ctx, job.t
	tctx := taskctx.With(withTaskContext(ctx, a, t), job.info)
	a.threads.enter()
	payload, typ := a.call(tctx, t)
	a.threads.exit()
	dur := time.Since(t.started)
	profile := protocol.ProfileResult{DurationS: float32(dur.Seconds())}
	if inlineResult(t, payload) {
		profile.Inline = true
		a.post(finished{t: t, duration: dur, result: &stored{t: t, inline: payload, typ: typ, profile: profile}})
		return
	}
	a.post(finished{t: t, duration: dur})
	a.storeResult(ctx, t, payload, typ, profile)
}

// inlineResult says whether payload goes back inside the TaskResult instead of object
// storage: the client asked for it and the value is small.
func inlineResult(t *task, payload []byte) bool {
	return t.flags.InlineResult && len(payload) <= protocol.InlineLimit
}

// call runs the function; a panic is a task failure, never a dead worker.
func (a *Agent) call(ctx context.Context, t *task) (payload []byte, typ protocol.TaskResultType) {
	defer func() {
		if r := recover(); r != nil {
			payload = gocodec.EncodeFailure(gocodec.Failure{Function: t.fnName, Message: fmt.Sprintf("panic: %v", r),
				Stack: string(debug.Stack()), Worker: a.identity, Kind: "panic"})
			typ = protocol.ResultFailed
		}
	}()
	out, err := t.fn.Call(ctx, t.payloads[2:])
	if err != nil {
		kind := "error"
		var argErr *ArgumentError
		switch {
		case errors.As(err, &argErr):
			kind = "bad_arguments"
		case errors.Is(err, context.DeadlineExceeded):
			kind = "timeout"
		}
		return gocodec.EncodeFailure(gocodec.Failure{Function: t.fnName, Message: err.Error(), Worker: a.identity, Kind: kind}), protocol.ResultFailed
	}
	return out, protocol.ResultSuccess
}

// storeResult writes the result object and reports it to the loop. Each attempt uses a new
// id, so a torn write can never be announced (spec/protocol.md §9.5 step 6).
func (a *Agent) storeResult(ctx context.Context, t *task, payload []byte, typ protocol.TaskResultType, profile protocol.ProfileResult) {
	if inlineResult(t, payload) {
		profile.Inline = true
		a.post(stored{t: t, inline: payload, typ: typ, profile: profile})
		return
	}
	oss := a.oss
	var err error
	for attempt, delay := 0, time.Second; attempt < 4; attempt, delay = attempt+1, delay*2 {
		id := protocol.NewObjectID(t.source)
		if err = oss.Set(ctx, id, payload); err == nil {
			a.post(stored{t: t, id: id, typ: typ, profile: profile})
			return
		}
		if ctx.Err() != nil || errors.Is(err, objstore.ErrClientClosed) {
			break
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	a.post(stored{t: t, err: err})
}

// failEarly reports a task that cannot run (bad input, unknown function) as failed.
func (a *Agent) failEarly(ctx context.Context, t *task, kind, msg string) {
	a.log.Warn("task failed before running", "task", t.id, "reason", msg)
	t.failure = &gocodec.Failure{Function: t.fnName, Message: msg, Worker: a.identity, Kind: kind}
	a.removeReady(t)
	t.phase = phaseStoring
	if a.oss == nil && !t.flags.InlineResult {
		// Object storage is not connected yet; the failure is stored once it is.
		a.unstored = append(a.unstored, t)
		return
	}
	go a.storeResult(ctx, t, a.failurePayload(t, *t.failure), protocol.ResultFailed, protocol.ProfileResult{})
}

// failurePayload encodes a failure in the client's language: CBOR for Go clients, a pickled
// exception for Python clients.
func (a *Agent) failurePayload(t *task, f gocodec.Failure) []byte {
	if len(t.payloads) > 0 && protocol.IsPickle(t.payloads[0]) {
		name := "RuntimeError"
		if f.Kind == "timeout" {
			name = "TimeoutError"
		}
		return protocol.PickleException("builtins", name, f.Message)
	}
	return gocodec.EncodeFailure(f)
}

func (a *Agent) onCancel(m *protocol.TaskCancel) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	confirm := func(typ protocol.CancelConfirmType) {
		a.send(&protocol.TaskCancelConfirm{TaskID: m.TaskID, Type: typ})
	}
	t := a.tasks[id]
	if !ok || t == nil {
		confirm(protocol.CancelConfirmNotFound)
		return
	}
	switch t.phase {
	case phaseFetching, phaseReady:
		a.removeReady(t)
		a.forget(t)
		confirm(protocol.CancelConfirmCanceled)
	case phaseRunning:
		if c, ok := a.cfg.Executor.(ExecutorCanceler); ok && t.kind == execRemote && !t.abandoned {
			if err := c.CancelTask(t.id, m.Force); err != nil {
				a.log.Warn("cancel refused", "task", t.id, "force", m.Force, "reason", err)
				confirm(protocol.CancelConfirmFailed)
				return
			}
		} else if !m.Force {
			confirm(protocol.CancelConfirmFailed)
			return
		}
		a.abandon(t)
		a.forget(t)
		confirm(protocol.CancelConfirmCanceled)
	default:
		// Done already: the result is on its way and will be delivered.
		confirm(protocol.CancelConfirmFailed)
	}
}

// abandon stops waiting for a running task and frees its slot.
func (a *Agent) abandon(t *task) {
	if t.abandoned {
		return
	}
	t.abandoned = true
	if t.cancel != nil {
		t.cancel()
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	if t.phase == phaseRunning {
		a.releaseSlot(t)
		if t.kind == execPython {
			a.python.kill(t)
		}
	}
}

func (a *Agent) forget(t *task) {
	t.phase = phaseDone
	if t.timer != nil {
		t.timer.Stop()
	}
	if cur := a.tasks[t.id]; cur == t {
		delete(a.tasks, t.id)
	}
}

func (a *Agent) onFinished(ctx context.Context, ev finished) {
	t := ev.t
	if t.kind == execGo {
		a.threads.settle()
	}
	if t.abandoned || t.phase != phaseRunning {
		return
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	t.phase = phaseStoring
	t.duration = ev.duration
	a.releaseSlot(t)
	if ev.result != nil {
		a.onStored(ctx, *ev.result)
	}
	a.schedule(ctx)
}

func (a *Agent) onTimedOut(ctx context.Context, ev timedOut) {
	t := ev.t
	if t.abandoned || t.phase != phaseRunning {
		return
	}
	a.log.Warn("task timed out", "task", t.id, "function", t.fnName, "timeout", a.cfg.TaskTimeout)
	a.abandon(t)
	// The task stays known so the timeout failure can be reported.
	t.phase = phaseStoring
	f := gocodec.Failure{Function: t.fnName, Worker: a.identity, Kind: "timeout",
		Message: fmt.Sprintf("task exceeded the task timeout of %s", a.cfg.TaskTimeout)}
	// A fresh task value carries the timeout failure; the original goroutine's result
	// belongs to the abandoned one and is discarded.
	failed := *t
	failed.abandoned, failed.failure = false, &f
	a.tasks[t.id] = &failed
	go a.storeResult(ctx, &failed, a.failurePayload(&failed, f), protocol.ResultFailed,
		protocol.ProfileResult{DurationS: float32(a.cfg.TaskTimeout.Seconds())})
	a.schedule(ctx)
}

func (a *Agent) onStored(ctx context.Context, ev stored) {
	t := ev.t
	if ev.err != nil {
		if errors.Is(ev.err, context.Canceled) {
			return
		}
		a.stop(fmt.Errorf("cannot store the result of task %s in object storage: %w", t.id, ev.err))
		return
	}
	if t.abandoned || a.tasks[t.id] != t {
		if a.oss != nil && !ev.profile.Inline {
			_ = a.oss.DeleteAsync(ev.id)
		}
		return
	}
	t.result, t.inline, t.typ, t.profile = ev.id, ev.inline, ev.typ, ev.profile
	t.phase = phaseDone
	a.report = append(a.report, t)
}

// flushReports announces stored results to the scheduler: one ObjectInstruction per client
// for the whole batch, then each TaskResult (the creation must precede the result). Inline
// results have no object to announce.
func (a *Agent) flushReports() {
	if len(a.report) == 0 {
		return
	}
	bySource := map[string]*protocol.ObjectInstruction{}
	var order []string
	for _, t := range a.report {
		if t.profile.Inline {
			continue
		}
		// Indexing with string(t.source) itself copies the id only for a new client, not
		// for every result.
		oi := bySource[string(t.source)]
		if oi == nil {
			src := string(t.source)
			oi = &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: t.source}
			bySource[src] = oi
			order = append(order, src)
		}
		oi.IDs = append(oi.IDs, t.result[:])
		oi.Types = append(oi.Types, protocol.ObjectObject)
		oi.Names = append(oi.Names, []byte("<res "+t.result.Name()+">"))
	}
	for _, src := range order {
		a.send(bySource[src])
	}
	for _, t := range a.report {
		result := t.result[:]
		if t.profile.Inline {
			result = t.inline
		}
		a.send(&protocol.TaskResult{TaskID: t.id[:], Type: t.typ, Metadata: t.profile.Encode(), Results: [][]byte{result}})
		if a.tasks[t.id] == t {
			delete(a.tasks, t.id)
		}
	}
	a.report = a.report[:0]
}
