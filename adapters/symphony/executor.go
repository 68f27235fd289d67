package symphony

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

// PythonCapability is the capability the manager's units advertise: Python tasks asking for
// it (capabilities={"python": -1}) are routed to Symphony by the capability allocator.
const PythonCapability = "python"

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	// MaxInFlight bounds the Symphony tasks submitted and not finished; 0 or less means no
	// bound.
	MaxInFlight int
	// Payload is the task input format (default PayloadWrapped).
	Payload PayloadMode
	// SubmitBatch bounds the tasks sent in one submission (default 100).
	SubmitBatch int
	// FetchBatch bounds the task ids asked for in one result poll (default 100).
	FetchBatch int
	// PollInterval is the pause between polling rounds that found nothing (default 500 ms).
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the retry pauses while Symphony is unavailable
	// (default 1 s and 60 s).
	MinBackoff, MaxBackoff time.Duration
	// Application and ManagerID appear in messages.
	Application, ManagerID string
	// Logger receives the executor's logs.
	Logger *slog.Logger
}

func (c *ExecutorConfig) defaults() {
	if c.Payload == "" {
		c.Payload = PayloadWrapped
	}
	if c.SubmitBatch <= 0 {
		c.SubmitBatch = 100
	}
	if c.FetchBatch <= 0 {
		c.FetchBatch = 100
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(60*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// State is the executor's link to Symphony.
type State int

// The states.
const (
	// StateConnecting: no session yet (starting, or the last one was lost).
	StateConnecting State = iota
	// StateReady: a session is open and the last call to Symphony worked.
	StateReady
	// StateUnavailable: the last call failed; the executor retries with backoff.
	StateUnavailable
	// StateClosed: Close was called.
	StateClosed
)

var stateNames = [...]string{"connecting", "ready", "unavailable", "closed"}

func (s State) String() string { return stateNames[s] }

type jobState uint8

const (
	jobQueued     jobState = iota // waiting in the executor; cancellable
	jobSubmitting                 // in a submission request
	jobSubmitted                  // in Symphony
	jobDone
)

type jobKey struct {
	unit *Unit
	id   protocol.TaskID
}

type job struct {
	key       jobKey
	input     []byte
	priority  int32
	seq       uint64
	heapIndex int
	state     jobState
	// solo: submit alone, because a batch holding it was refused.
	solo bool
	// abandoned: Execute returned (cancel, unit stopping) while the task was being
	// submitted or in Symphony; its result is dropped when it comes.
	abandoned bool
	// counted: the job counts in its unit's InSymphony.
	counted bool
	symID   string
	session string
	gen     uint64
	done    chan worker.ExecResult
}

// Executor runs Python tasks as Symphony tasks for any number of units (worker agents).
// It keeps one session open, submits queued tasks in batches while fewer than MaxInFlight
// are in Symphony, and polls the results of those in flight from one goroutine.
//
// Its state sits under one mutex, not in an owner goroutine, because the agents ask
// CancelTask from their own loops and need the answer at once; no call to Symphony is
// ever made with the mutex held.
type Executor struct {
	cfg ExecutorConfig
	be  Backend
	log *slog.Logger

	ctx       context.Context // ends the background goroutines
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	kick      chan struct{} // wakes the dispatcher
	pollKick  chan struct{} // wakes the poller
	closeOnce sync.Once
	closeErr  error

	mu         sync.Mutex
	queue      jobQueue
	jobs       map[jobKey]*job // queued or in Symphony and not abandoned, for cancels
	inflight   map[string]*job // by Symphony id: submitted (abandoned ones too)
	submitting int
	owned      map[*Unit]int
	// recent remembers keys of jobs that just finished or were cancelled before Execute
	// saw them (see CancelTask).
	recent       map[jobKey]recentKey
	recentPruned time.Time
	session      string
	gen          uint64
	state        State
	lastErr      error
	lastLog      string
	lastLogAt    time.Time
	seq          uint64
	closed       bool
}

type recentKey struct {
	at       time.Time
	finished bool // else: cancelled before Execute registered it
}

// recentTTL bounds how long recent keys are kept: the races they cover last microseconds.
const recentTTL = 5 * time.Second

// NewExecutor returns an executor over be and starts its goroutines (one opens the session
// and submits, one polls results); Close stops them.
func NewExecutor(be Backend, cfg ExecutorConfig) *Executor {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Executor{
		cfg: cfg, be: be, log: cfg.Logger,
		ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), pollKick: make(chan struct{}, 1),
		jobs: map[jobKey]*job{}, inflight: map[string]*job{}, owned: map[*Unit]int{},
		recent: map[jobKey]recentKey{},
	}
	e.wg.Add(2)
	go e.dispatchLoop()
	go e.pollLoop()
	return e
}

// Unit is one worker agent's handle on the executor: a worker.Executor that can refuse
// cancels (worker.ExecutorCanceler) and report Symphony's availability
// (worker.ExecutorAvailability).
type Unit struct {
	e    *Executor
	name string
	// draining (under e.mu): the unit is leaving the scheduler, which gives its tasks to
	// other workers, so its queued tasks must not reach Symphony any more.
	draining bool
}

// Drain stops submitting this unit's queued tasks; call it when the unit starts leaving.
func (u *Unit) Drain() {
	u.e.mu.Lock()
	defer u.e.mu.Unlock()
	u.draining = true
}

// NewUnit returns a handle for one worker agent; name appears in Go task failures.
func (e *Executor) NewUnit(name string) *Unit { return &Unit{e: e, name: name} }

// Execute runs t as a Symphony task and waits for its result (see worker.Executor).
func (u *Unit) Execute(ctx context.Context, t worker.ExecTask) worker.ExecResult {
	return u.e.execute(ctx, u, t)
}

// CancelTask withdraws a task still waiting in the executor; a task being submitted or in
// Symphony cannot be stopped (SYMREST has no abort), so its cancel is refused.
func (u *Unit) CancelTask(id protocol.TaskID, force bool) error { return u.e.cancelTask(u, id) }

// Accepting reports whether Symphony is usable (else heartbeats carry the task lock).
func (u *Unit) Accepting() bool { return u.e.Accepting() }

// InSymphony is how many of this unit's tasks are being submitted or run in Symphony.
func (u *Unit) InSymphony() int {
	u.e.mu.Lock()
	defer u.e.mu.Unlock()
	return u.e.owned[u]
}

// Queued is how many tasks wait in the executor for a free Symphony slot (or a session).
func (e *Executor) Queued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queue.Len()
}

// Accepting reports whether Symphony is usable: false after a failed call, until one works.
func (e *Executor) Accepting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state != StateUnavailable && e.state != StateClosed
}

// State returns the link's state and, when unavailable, why.
func (e *Executor) State() (State, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, e.lastErr
}

// noAbort explains a refused cancel.
const noAbort = "Symphony's REST API cannot abort a task, so the cancel is refused and the task's result will be delivered"

func (e *Executor) failure(t worker.ExecTask, unit, msg string) worker.ExecResult {
	return worker.ExecResult{Payload: worker.FailurePayload(t, unit, msg), Failed: true}
}

func (e *Executor) execute(ctx context.Context, u *Unit, t worker.ExecTask) worker.ExecResult {
	if !t.Python {
		msg := fmt.Sprintf("Go task %s cannot run on Symphony worker manager %q, whose Symphony service runs Python functions only: "+
			"send Go tasks to Go workers (Python tasks reach Symphony by asking for the %q capability)", t.FunctionName, e.cfg.ManagerID, PythonCapability)
		e.log.Warn("refusing a Go task", "task", t.ID, "function", t.FunctionName)
		return e.failure(t, u.name, msg)
	}
	input, err := BuildInput(e.cfg.Payload, t.Serializer, t.Function, t.Args)
	if err != nil {
		return e.failure(t, u.name, fmt.Sprintf("task %s cannot be sent to Symphony: %v", t.ID, err))
	}
	j := &job{key: jobKey{u, t.ID}, input: input, priority: t.Flags.Priority,
		heapIndex: -1, done: make(chan worker.ExecResult, 1)}
	e.mu.Lock()
	if r, ok := e.recent[j.key]; (ok && !r.finished) || ctx.Err() != nil {
		delete(e.recent, j.key)
		e.mu.Unlock()
		return e.failure(t, u.name, "cancelled")
	}
	if e.closed {
		e.mu.Unlock()
		return e.failure(t, u.name, "the Symphony worker manager is stopping")
	}
	delete(e.recent, j.key)
	e.seq++
	j.seq = e.seq
	heap.Push(&e.queue, j)
	e.jobs[j.key] = j
	e.mu.Unlock()
	wake(e.kick)
	select {
	case r := <-j.done:
		return r
	case <-ctx.Done():
		e.abandon(j)
		return e.failure(t, u.name, "cancelled") // the agent discards it
	}
}

// abandon forgets a job whose Execute returned early.
func (e *Executor) abandon(j *job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch j.state {
	case jobQueued:
		e.removeQueued(j)
		j.state = jobDone
	case jobSubmitting, jobSubmitted:
		if !j.abandoned {
			j.abandoned = true
			e.uncount(j)
			if e.jobs[j.key] == j {
				delete(e.jobs, j.key)
			}
		}
	}
}

func (e *Executor) removeQueued(j *job) {
	if j.heapIndex >= 0 && j.heapIndex < len(e.queue) && e.queue[j.heapIndex] == j {
		heap.Remove(&e.queue, j.heapIndex)
	}
	if e.jobs[j.key] == j {
		delete(e.jobs, j.key)
	}
}

func (e *Executor) uncount(j *job) {
	if j.counted {
		j.counted = false
		if e.owned[j.key.unit]--; e.owned[j.key.unit] <= 0 {
			delete(e.owned, j.key.unit)
		}
	}
}

func (e *Executor) cancelTask(u *Unit, id protocol.TaskID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := jobKey{u, id}
	now := time.Now()
	e.pruneRecentLocked(now)
	j := e.jobs[key]
	if j == nil {
		if r, ok := e.recent[key]; ok && r.finished {
			// Execute is returning the result right now; it is delivered.
			return fmt.Errorf("task %s already finished in Symphony; its result is on its way", id)
		}
		// The agent started the task but Execute has not registered it yet: make Execute
		// give up when it does.
		e.recent[key] = recentKey{at: now}
		return nil
	}
	switch j.state {
	case jobQueued:
		e.removeQueued(j)
		j.state = jobDone
		j.done <- worker.ExecResult{Failed: true} // Execute returns; the agent discards it
		e.log.Debug("cancelled a task before it reached Symphony", "task", id)
		return nil
	case jobSubmitting:
		return fmt.Errorf("task %s is being submitted to Symphony; %s", id, noAbort)
	default:
		return fmt.Errorf("task %s runs in Symphony (task %s of session %s); %s", id, j.symID, j.session, noAbort)
	}
}

// finishLocked completes a job (or drops it when abandoned).
func (e *Executor) finishLocked(j *job, r worker.ExecResult) {
	if j.state == jobDone {
		return
	}
	if j.symID != "" && e.inflight[j.symID] == j {
		delete(e.inflight, j.symID)
	}
	e.uncount(j)
	j.state = jobDone
	if j.abandoned {
		return
	}
	if e.jobs[j.key] == j {
		delete(e.jobs, j.key)
	}
	now := time.Now()
	e.pruneRecentLocked(now)
	e.recent[j.key] = recentKey{at: now, finished: true}
	j.done <- r
}

// pruneRecentLocked drops recent keys older than recentTTL, at most once a second.
func (e *Executor) pruneRecentLocked(now time.Time) {
	if now.Sub(e.recentPruned) < time.Second {
		return
	}
	e.recentPruned = now
	for k, r := range e.recent {
		if now.Sub(r.at) > recentTTL {
			delete(e.recent, k)
		}
	}
}

// pythonFailure is a failure pickled for a Python client.
func pythonFailure(msg string) worker.ExecResult {
	return worker.ExecResult{Payload: protocol.PickleException("builtins", "RuntimeError", msg), Failed: true}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sleep waits d unless the executor is closing; it reports whether to go on.
func (e *Executor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		return false
	}
}

// backOff waits *backoff after a failed call and doubles it up to MaxBackoff; it reports
// whether to go on.
func (e *Executor) backOff(backoff *time.Duration) bool {
	if !e.sleep(*backoff) {
		return false
	}
	*backoff = min(2**backoff, e.cfg.MaxBackoff)
	return true
}

// retryAfter records a failed call (see unavailableLocked), then backs off.
func (e *Executor) retryAfter(err error, backoff *time.Duration) bool {
	e.mu.Lock()
	e.unavailableLocked(err, *backoff)
	e.mu.Unlock()
	return e.backOff(backoff)
}

// unavailableLocked records a failed call and logs it: at once when the reason changes,
// else at most once a minute, so a long outage does not flood the log.
func (e *Executor) unavailableLocked(err error, retryIn time.Duration) {
	e.state, e.lastErr = StateUnavailable, err
	msg := err.Error()
	if msg != e.lastLog || time.Since(e.lastLogAt) >= time.Minute {
		e.lastLog, e.lastLogAt = msg, time.Now()
		e.log.Error("Symphony unavailable, retrying: "+msg, "retry_in", retryIn.String(), "kind", KindOf(err).String())
	}
}

// availableLocked records an answer from Symphony (a call that worked, or one that found
// the session gone).
func (e *Executor) availableLocked() {
	if e.state == StateClosed {
		return
	}
	if e.state == StateUnavailable {
		e.log.Info("Symphony reachable again")
	}
	e.lastErr, e.lastLog = nil, ""
	if e.session != "" {
		e.state = StateReady
	} else {
		e.state = StateConnecting
	}
}

// dispatchLoop opens the session (again after a loss) and submits queued tasks.
func (e *Executor) dispatchLoop() {
	defer e.wg.Done()
	backoff := e.cfg.MinBackoff
	for e.ctx.Err() == nil {
		e.mu.Lock()
		session, gen := e.session, e.gen
		e.mu.Unlock()
		if session == "" {
			id, err := e.be.OpenSession(e.ctx)
			if e.ctx.Err() != nil {
				if err == nil {
					e.closeQuietly(id)
				}
				return
			}
			if err != nil {
				if !e.retryAfter(err, &backoff) {
					return
				}
				continue
			}
			backoff = e.cfg.MinBackoff
			e.mu.Lock()
			e.session, e.gen = id, e.gen+1
			e.availableLocked()
			e.mu.Unlock()
			e.log.Info("Symphony session opened", "session", id, "application", e.cfg.Application)
			continue
		}
		batch := e.takeBatch()
		if len(batch) == 0 {
			if !e.waitIdle(gen, backoff) {
				return
			}
			continue
		}
		inputs := make([]TaskInput, len(batch))
		for i, j := range batch {
			inputs[i] = TaskInput{Tag: j.key.id.String(), Data: j.input}
		}
		ids, err := e.be.Submit(e.ctx, session, inputs)
		if e.afterSubmit(session, gen, batch, ids, err, backoff) {
			if !e.backOff(&backoff) {
				return
			}
		} else if err == nil {
			backoff = e.cfg.MinBackoff
		}
	}
}

// waitIdle waits for work. While Symphony is unavailable and nothing is queued or in
// flight, no call would ever find out that it is back (and no unit starts meanwhile), so
// after backoff the idle session is dropped and the open loop probes Symphony instead.
func (e *Executor) waitIdle(gen uint64, backoff time.Duration) bool {
	e.mu.Lock()
	idleDown := e.idleUnavailableLocked()
	e.mu.Unlock()
	var probe <-chan time.Time
	if idleDown {
		t := time.NewTimer(backoff)
		defer t.Stop()
		probe = t.C
	}
	select {
	case <-e.kick:
	case <-probe:
		e.mu.Lock()
		old := ""
		if gen == e.gen && e.idleUnavailableLocked() {
			old, e.session = e.session, ""
		}
		e.mu.Unlock()
		if old != "" {
			e.log.Debug("probing Symphony with a new session", "old_session", old)
			e.closeQuietly(old) // most likely fails too; the session is empty anyway
		}
	case <-e.ctx.Done():
		return false
	}
	return true
}

func (e *Executor) idleUnavailableLocked() bool {
	return e.state == StateUnavailable && e.session != "" && e.queue.Len() == 0 && e.submitting == 0 && len(e.inflight) == 0
}

// closeQuietly closes a session that will not be used, ignoring failures.
func (e *Executor) closeQuietly(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.be.CloseSession(ctx, id)
}

// takeBatch moves queued jobs (by priority) to submitting, within the in-flight bound.
func (e *Executor) takeBatch() []*job {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.session == "" || e.closed {
		return nil
	}
	n := min(e.queue.Len(), e.cfg.SubmitBatch)
	if e.cfg.MaxInFlight > 0 {
		n = min(n, e.cfg.MaxInFlight-len(e.inflight)-e.submitting)
	}
	var batch, skipped []*job
	for len(batch) < n && e.queue.Len() > 0 {
		j := heap.Pop(&e.queue).(*job)
		if j.key.unit.draining {
			skipped = append(skipped, j)
			continue
		}
		if j.solo && len(batch) > 0 {
			heap.Push(&e.queue, j)
			break
		}
		j.state = jobSubmitting
		j.counted = true
		e.owned[j.key.unit]++
		batch = append(batch, j)
		if j.solo {
			break
		}
	}
	for _, j := range skipped {
		heap.Push(&e.queue, j)
	}
	e.submitting += len(batch)
	return batch
}

// afterSubmit settles a submission; it reports whether to pause before the next one.
func (e *Executor) afterSubmit(session string, gen uint64, batch []*job, ids []string, err error, backoff time.Duration) (pause bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.submitting -= len(batch)
	if err == nil {
		if gen != e.gen || e.session != session {
			// The session was lost while this submission ran: the tasks are in a dead session.
			for i, j := range batch {
				j.symID, j.session = ids[i], session
				e.finishLocked(j, pythonFailure(e.lostMessage(j, session, errors.New("lost during submission"))))
			}
			return false
		}
		for i, j := range batch {
			j.state, j.symID, j.session, j.gen = jobSubmitted, ids[i], session, gen
			j.input = nil // never sent again: a task of a lost session fails instead
			e.inflight[ids[i]] = j
		}
		e.availableLocked()
		e.log.Debug("submitted tasks to Symphony", "count", len(batch), "session", session, "in_flight", len(e.inflight))
		wake(e.pollKick)
		return false
	}
	requeue := func(solo bool) {
		for _, j := range batch {
			e.uncount(j)
			if j.abandoned {
				j.state = jobDone // never reached Symphony
				continue
			}
			j.state = jobQueued
			j.solo = j.solo || solo
			heap.Push(&e.queue, j)
		}
		wake(e.kick)
	}
	switch kind := KindOf(err); {
	case e.ctx.Err() != nil:
		requeue(false)
	case kind == KindSessionLost:
		requeue(false)
		e.loseSessionLocked(gen, err)
	case kind == KindRejected && len(batch) > 1:
		e.log.Warn("Symphony refused a batch of tasks; sending them one by one", "count", len(batch), "err", err)
		requeue(true)
	case kind == KindRejected || kind == KindProtocol:
		e.log.Error("Symphony refused tasks; failing them", "count", len(batch), "err", err)
		for _, j := range batch {
			e.finishLocked(j, pythonFailure(fmt.Sprintf("Symphony did not accept task %s: %v", j.key.id, err)))
		}
	default:
		requeue(false)
		e.unavailableLocked(err, backoff)
		return true
	}
	return false
}

func (e *Executor) lostMessage(j *job, session string, err error) string {
	return fmt.Sprintf("Symphony session %s of application %q was lost while task %s was in it as Symphony task %s (%v); "+
		"it may or may not have run: submit it again", session, e.cfg.Application, j.key.id, j.symID, err)
}

// loseSessionLocked fails the tasks of a lost session and lets the dispatcher open another.
func (e *Executor) loseSessionLocked(gen uint64, err error) {
	if gen != e.gen || e.session == "" {
		return // already handled
	}
	lost := e.session
	e.session = ""
	e.availableLocked() // Symphony answered; the state becomes connecting
	n := 0
	for _, j := range e.inflight {
		if j.gen == gen {
			if !j.abandoned {
				n++
			}
			e.finishLocked(j, pythonFailure(e.lostMessage(j, lost, err)))
		}
	}
	e.log.Error("Symphony session lost; its tasks fail and a new session is opened", "session", lost, "failed_tasks", n, "err", err)
	wake(e.kick)
}

// loseSession is loseSessionLocked for callers without the lock.
func (e *Executor) loseSession(gen uint64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loseSessionLocked(gen, err)
}

// pollTargets lists the in-flight Symphony ids of the current session, oldest first.
func (e *Executor) pollTargets() (string, uint64, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.session == "" {
		return "", 0, nil
	}
	js := make([]*job, 0, len(e.inflight))
	for _, j := range e.inflight {
		if j.gen == e.gen {
			js = append(js, j)
		}
	}
	sort.Slice(js, func(a, b int) bool { return js[a].seq < js[b].seq })
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.symID
	}
	return e.session, e.gen, ids
}

// pollLoop fetches the results of in-flight tasks: rounds over all of them in batches of
// FetchBatch, pausing PollInterval after a round that found nothing.
func (e *Executor) pollLoop() {
	defer e.wg.Done()
	backoff := e.cfg.MinBackoff
	for e.ctx.Err() == nil {
		session, gen, ids := e.pollTargets()
		if len(ids) == 0 {
			select {
			case <-e.pollKick:
			case <-e.ctx.Done():
				return
			}
			continue
		}
		found, failed := false, false
		for chunk := range slices.Chunk(ids, e.cfg.FetchBatch) {
			outs, err := e.be.Fetch(e.ctx, session, chunk)
			if e.ctx.Err() != nil {
				return
			}
			if err != nil {
				failed = true
				if KindOf(err) == KindSessionLost {
					e.loseSession(gen, err)
				} else if !e.retryAfter(err, &backoff) {
					return
				}
				break
			}
			backoff = e.cfg.MinBackoff
			if e.deliver(gen, outs) {
				found = true
			}
		}
		if failed {
			continue
		}
		pause := e.cfg.PollInterval
		if found {
			// More results are likely; poll again soon without spinning.
			pause = max(e.cfg.PollInterval/10, time.Millisecond)
		}
		if !e.sleep(pause) {
			return
		}
	}
}

// deliver completes the jobs whose outputs arrived; it reports whether any did.
func (e *Executor) deliver(gen uint64, outs []TaskOutput) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.availableLocked()
	got := false
	for _, o := range outs {
		j := e.inflight[o.ID]
		if j == nil || j.gen != gen {
			continue // already delivered, or from a session given up
		}
		got = true
		if j.abandoned {
			e.log.Debug("dropping the result of an abandoned task", "task", j.key.id, "symphony_task", o.ID)
			e.finishLocked(j, worker.ExecResult{})
			continue
		}
		e.finishLocked(j, e.resultOf(j, o))
	}
	if got {
		wake(e.kick) // slots freed
	}
	return got
}

// resultOf turns a Symphony output into the task's result.
func (e *Executor) resultOf(j *job, o TaskOutput) worker.ExecResult {
	where := fmt.Sprintf("Symphony task %s (session %s, application %q)", o.ID, j.session, e.cfg.Application)
	if o.Error != "" {
		return pythonFailure(where + " failed: " + o.Error)
	}
	if e.cfg.Payload == PayloadPlain {
		if !protocol.IsPickle(o.Data) {
			return pythonFailure(fmt.Sprintf("%s returned %d bytes that are not a pickle: the service must return cloudpickle.dumps(fn(*args))", where, len(o.Data)))
		}
		return worker.ExecResult{Payload: o.Data}
	}
	payload, failed, err := DecodeWrappedOutput(o.Data)
	if err != nil {
		return pythonFailure(fmt.Sprintf("%s returned an output the Scaler wrapper does not produce (%v, %d bytes): the service must return cloudpickle.dumps(fn(*args))", where, err, len(o.Data)))
	}
	return worker.ExecResult{Payload: payload, Failed: failed}
}

// Close stops the goroutines, fails what is left, and closes the session.
func (e *Executor) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.cancel()
		e.wg.Wait()
		e.mu.Lock()
		e.closed = true
		e.state = StateClosed
		session := e.session
		e.session = ""
		stopping := pythonFailure("the Symphony worker manager is stopping")
		for e.queue.Len() > 0 {
			j := heap.Pop(&e.queue).(*job)
			e.finishLocked(j, stopping)
		}
		for _, j := range e.inflight {
			e.finishLocked(j, stopping)
		}
		e.mu.Unlock()
		if c, ok := e.be.(io.Closer); ok {
			defer c.Close()
		}
		if session == "" {
			return
		}
		if err := e.be.CloseSession(ctx, session); err != nil {
			e.closeErr = fmt.Errorf("close Symphony session %s: %w", session, err)
			e.log.Warn("closing the Symphony session failed", "session", session, "err", err)
			return
		}
		e.log.Info("Symphony session closed", "session", session)
	})
	return e.closeErr
}

// jobQueue orders queued jobs: higher priority first, then arrival.
type jobQueue []*job

func (q jobQueue) Len() int { return len(q) }
func (q jobQueue) Less(a, b int) bool {
	if q[a].priority != q[b].priority {
		return q[a].priority > q[b].priority
	}
	return q[a].seq < q[b].seq
}
func (q jobQueue) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].heapIndex, q[b].heapIndex = a, b
}
func (q *jobQueue) Push(x any) {
	j := x.(*job)
	j.heapIndex = len(*q)
	*q = append(*q, j)
}
func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	j.heapIndex = -1
	return j
}
