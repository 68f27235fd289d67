package symphony_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/adapters/symphony"
	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

// memResult is what a task of the in-memory Symphony produces.
type memResult struct {
	out    []byte
	errMsg string
}

type memTask struct {
	tag     string
	done    bool
	fetched bool
	res     memResult
}

// memBackend is Symphony in memory: sessions of tasks that finish at once (or when
// released), with scripted failures per call.
type memBackend struct {
	mu        sync.Mutex
	sessions  map[string]map[string]*memTask
	nextSess  int
	nextTask  int
	hold      bool
	results   map[string]memResult // by tag; default: wrapped success with the tag as payload
	openErrs  []error
	subErrs   []error
	fetchErrs []error
	// rejectTag refuses (KindRejected) every submission holding a task with this tag.
	rejectTag string
	calls     []string
	order     []string // tags in submission order
	// openHook, when set, decides OpenSession's error; submitGate, when set, holds every
	// submission until it is closed.
	openHook   func() error
	submitGate chan struct{}
	inFlight   int
	maxFlight  int
	closed     []string
	changed    chan struct{}
}

func newMem() *memBackend {
	return &memBackend{sessions: map[string]map[string]*memTask{}, results: map[string]memResult{}, changed: make(chan struct{}, 1)}
}

func (b *memBackend) note(call string) {
	b.calls = append(b.calls, call)
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (b *memBackend) OpenSession(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.note("open")
	if err := pop(&b.openErrs); err != nil {
		return "", err
	}
	if b.openHook != nil {
		if err := b.openHook(); err != nil {
			return "", err
		}
	}
	b.nextSess++
	id := "s" + strconv.Itoa(b.nextSess)
	b.sessions[id] = map[string]*memTask{}
	return id, nil
}

func (b *memBackend) Submit(ctx context.Context, session string, tasks []symphony.TaskInput) ([]string, error) {
	b.mu.Lock()
	gate := b.submitGate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.note(fmt.Sprintf("submit %d", len(tasks)))
	if err := pop(&b.subErrs); err != nil {
		return nil, err
	}
	ss := b.sessions[session]
	if ss == nil {
		return nil, &symphony.Error{Kind: symphony.KindSessionLost, Op: "submit", Message: "session " + session + " is gone"}
	}
	for _, t := range tasks {
		if t.Tag == b.rejectTag {
			return nil, &symphony.Error{Kind: symphony.KindRejected, Op: "submit", Message: "input too large"}
		}
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		b.nextTask++
		id := strconv.Itoa(b.nextTask)
		res, ok := b.results[t.Tag]
		if !ok {
			res = memResult{out: pickledBytes(append([]byte{0}, t.Tag...))}
		}
		ss[id] = &memTask{tag: t.Tag, done: !b.hold, res: res}
		ids[i] = id
		b.order = append(b.order, t.Tag)
	}
	b.inFlight += len(tasks)
	b.maxFlight = max(b.maxFlight, b.inFlight)
	return ids, nil
}

func (b *memBackend) Fetch(ctx context.Context, session string, ids []string) ([]symphony.TaskOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := pop(&b.fetchErrs); err != nil {
		b.note("fetch error")
		return nil, err
	}
	ss := b.sessions[session]
	if ss == nil {
		b.note("fetch lost")
		return nil, &symphony.Error{Kind: symphony.KindSessionLost, Op: "fetch", Message: "session " + session + " is gone"}
	}
	var out []symphony.TaskOutput
	for _, id := range ids {
		if t := ss[id]; t != nil && t.done {
			out = append(out, symphony.TaskOutput{ID: id, Data: t.res.out, Error: t.res.errMsg})
			if !t.fetched {
				t.fetched = true
				b.inFlight--
			}
		}
	}
	if len(out) > 0 {
		b.note(fmt.Sprintf("fetched %d", len(out)))
	}
	return out, nil
}

func (b *memBackend) CloseSession(ctx context.Context, session string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.note("close " + session)
	b.closed = append(b.closed, session)
	delete(b.sessions, session)
	return nil
}

func (b *memBackend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = false
	for _, ss := range b.sessions {
		for _, t := range ss {
			t.done = true
		}
	}
}

func (b *memBackend) loseSessions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions = map[string]map[string]*memTask{}
	b.inFlight = 0
}

func (b *memBackend) snapshot() (calls []string, maxFlight, submitted int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ss := range b.sessions {
		submitted += len(ss)
	}
	return append([]string(nil), b.calls...), b.maxFlight, submitted
}

// waitSubmitted waits until n tasks are in the sessions of b.
func (b *memBackend) waitSubmitted(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d tasks in Symphony", n), func() bool { _, _, got := b.snapshot(); return got == n })
}

// waitFor polls cond (under no lock) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pickledBytes is what cloudpickle.dumps(b) writes for a short bytes object.
func pickledBytes(b []byte) []byte {
	out := []byte{0x80, 5, 'B'}
	out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
	return append(append(out, b...), 0x94, '.')
}

var defaultSerializer = []byte("\x80\x05\x95=\x00\x00\x00\x00\x00\x00\x00\x8c scaler.client.serializer.default\x94\x8c\x11DefaultSerializer\x94\x93\x94)\x81\x94.")

func pyTask(tag string) worker.ExecTask {
	var id protocol.TaskID
	copy(id[:], tag)
	return worker.ExecTask{ID: id, Python: true, Serializer: defaultSerializer, Function: []byte("fn"), Args: [][]byte{[]byte("arg")}}
}

func newExec(t *testing.T, b symphony.Backend, cfg symphony.ExecutorConfig) *symphony.Executor {
	t.Helper()
	cfg.PollInterval = time.Millisecond
	cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	cfg.Application, cfg.ManagerID, cfg.Logger = "ScalerService", "wm-test", quiet()
	e := symphony.NewExecutor(b, cfg)
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// oneSlot returns an executor with room for one task in Symphony, over an in-memory
// Symphony that holds tasks until released, and a unit.
func oneSlot(t *testing.T) (*memBackend, *symphony.Executor, *symphony.Unit) {
	t.Helper()
	b := newMem()
	b.hold = true
	e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 1})
	return b, e, e.NewUnit("u")
}

// run starts Execute on its own goroutine, as the agent does.
func run(ctx context.Context, u *symphony.Unit, task worker.ExecTask) <-chan worker.ExecResult {
	ch := make(chan worker.ExecResult, 1)
	go func() { ch <- u.Execute(ctx, task) }()
	return ch
}

func result(t *testing.T, ch <-chan worker.ExecResult) worker.ExecResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
		return worker.ExecResult{}
	}
}

func failureText(t *testing.T, r worker.ExecResult) string {
	t.Helper()
	if !r.Failed {
		t.Fatalf("not a failure: %q", r.Payload)
	}
	e, err := protocol.ParsePickledException(r.Payload)
	if err != nil {
		t.Fatalf("failure payload %q: %v", r.Payload, err)
	}
	return e.Name + ": " + e.Message
}

// Outputs become results: the cases differ only in what Symphony answers.
func TestExecutorResults(t *testing.T) {
	cases := []struct {
		name    string
		mode    symphony.PayloadMode
		res     *memResult
		task    func(worker.ExecTask) worker.ExecTask
		payload string // success payload, or
		failure string // substring of the failure
		raw     bool   // failure payload passed through as is
	}{
		{name: "success", payload: "t-success"},
		{name: "wrapped failure keeps the pickled exception", res: &memResult{out: pickledBytes([]byte("\x01PICKLED-EXC"))}, payload: "PICKLED-EXC", raw: true},
		{name: "symphony error", res: &memResult{errMsg: "Traceback...\nZeroDivisionError: division by zero"},
			failure: `RuntimeError: Symphony task 1 (session s1, application "ScalerService") failed: Traceback...` + "\n" + "ZeroDivisionError: division by zero"},
		{name: "output not from the wrapper", res: &memResult{out: []byte("junk")}, failure: "does not produce"},
		{name: "empty output", res: &memResult{}, failure: "does not produce"},
		{name: "plain passes the output through", mode: symphony.PayloadPlain, res: &memResult{out: []byte("\x80\x05K\x04.")}, payload: "\x80\x05K\x04."},
		{name: "plain output not a pickle", mode: symphony.PayloadPlain, res: &memResult{out: []byte("text")}, failure: "not a pickle"},
		{name: "plain needs the default serializer", mode: symphony.PayloadPlain,
			task:    func(x worker.ExecTask) worker.ExecTask { x.Serializer = []byte("\x80\x05custom"); return x },
			failure: "cannot be sent to Symphony: plain Symphony payloads need the client's default serializer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newMem()
			tag := "t-success"
			task := pyTask(tag)
			if c.task != nil {
				task = c.task(task)
			}
			if c.res != nil {
				b.results[task.ID.String()] = *c.res
			} else {
				b.results[task.ID.String()] = memResult{out: pickledBytes(append([]byte{0}, tag...))}
			}
			e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 2, Payload: c.mode})
			r := result(t, run(context.Background(), e.NewUnit("u1"), task))
			switch {
			case c.raw:
				if !r.Failed || string(r.Payload) != c.payload {
					t.Fatalf("got %+v", r)
				}
			case c.failure != "":
				if got := failureText(t, r); !strings.Contains(got, c.failure) {
					t.Fatalf("failure %q\nwant %q", got, c.failure)
				}
			default:
				if r.Failed || string(r.Payload) != c.payload {
					t.Fatalf("got failed=%v %q, want %q", r.Failed, r.Payload, c.payload)
				}
			}
		})
	}
}

func TestExecutorRefusesGoTasks(t *testing.T) {
	b := newMem()
	e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 1})
	task := worker.ExecTask{Python: false, FunctionName: "add", Serializer: gocodec.Serializer, Function: gocodec.EncodeFunction("add")}
	r := result(t, run(context.Background(), e.NewUnit("SYM|1"), task))
	f, err := gocodec.DecodeFailure(r.Payload)
	if !r.Failed || err != nil {
		t.Fatalf("%+v %v", r, err)
	}
	if !strings.Contains(f.Message, `Go task add cannot run on Symphony worker manager "wm-test"`) || !strings.Contains(f.Message, `"python" capability`) ||
		strings.Contains(f.Message, "\n") {
		t.Fatalf("message %q", f.Message)
	}
	if calls, _, _ := b.snapshot(); strings.Contains(strings.Join(calls, ","), "submit") {
		t.Fatalf("a Go task reached Symphony: %v", calls)
	}
}

// At most MaxInFlight tasks are in Symphony, whatever the number of units and tasks.
func TestExecutorConcurrencyBound(t *testing.T) {
	b := newMem()
	b.hold = true
	e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 3, SubmitBatch: 2, FetchBatch: 2})
	units := []*symphony.Unit{e.NewUnit("a"), e.NewUnit("b")}
	var chans []<-chan worker.ExecResult
	for i := 0; i < 10; i++ {
		chans = append(chans, run(context.Background(), units[i%2], pyTask(fmt.Sprintf("task-%02d", i))))
	}
	b.waitSubmitted(t, 3)
	if n := units[0].InSymphony() + units[1].InSymphony(); n != 3 {
		t.Fatalf("units report %d tasks in Symphony", n)
	}
	b.release()
	for i, ch := range chans {
		r := result(t, ch)
		if r.Failed || string(r.Payload) != pyTask(fmt.Sprintf("task-%02d", i)).ID.String() {
			t.Fatalf("task %d: %+v", i, r)
		}
	}
	if _, maxFlight, _ := b.snapshot(); maxFlight > 3 {
		t.Fatalf("%d tasks were in Symphony at once, bound 3", maxFlight)
	}
	if units[0].InSymphony()+units[1].InSymphony() != 0 {
		t.Fatal("units still report tasks in Symphony")
	}
}

// Higher-priority tasks leave the executor's queue first.
func TestExecutorPriority(t *testing.T) {
	b, e, u := oneSlot(t)
	first := run(context.Background(), u, pyTask("first"))
	b.waitSubmitted(t, 1)
	high := pyTask("high")
	high.Flags.Priority = 5
	low := run(context.Background(), u, pyTask("low"))
	waitFor(t, "low queued", func() bool { return e.Queued() == 1 })
	hi := run(context.Background(), u, high)
	waitFor(t, "both queued", func() bool { return e.Queued() == 2 })
	b.release()
	for _, ch := range []<-chan worker.ExecResult{first, hi, low} {
		if r := result(t, ch); r.Failed {
			t.Fatalf("%q", failureText(t, r))
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	want := []string{pyTask("first").ID.String(), high.ID.String(), pyTask("low").ID.String()}
	if strings.Join(b.order, ",") != strings.Join(want, ",") {
		t.Fatalf("submission order %v, want %v", b.order, want)
	}
}

// Cancel: a task waiting in the executor is withdrawn and never reaches Symphony; a task in
// Symphony cannot be aborted, so its cancel is refused and its result still comes.
func TestExecutorCancel(t *testing.T) {
	b, e, u := oneSlot(t)
	running := pyTask("running")
	queued := pyTask("queued")
	rch := run(context.Background(), u, running)
	b.waitSubmitted(t, 1)
	qctx, qcancel := context.WithCancel(context.Background())
	qch := run(qctx, u, queued)
	waitFor(t, "a task queued", func() bool { return e.Queued() == 1 })

	for _, force := range []bool{false, true} {
		err := u.CancelTask(running.ID, force)
		if err == nil || !strings.Contains(err.Error(), "cannot abort") || !strings.Contains(err.Error(), "result will be delivered") {
			t.Fatalf("cancel of a running task (force=%v): %v", force, err)
		}
	}
	if err := u.CancelTask(queued.ID, false); err != nil {
		t.Fatalf("cancel of a queued task: %v", err)
	}
	qcancel() // the agent ends Execute's ctx after a successful cancel
	result(t, qch)

	if e.Queued() != 0 {
		t.Fatal("the cancelled task is still queued")
	}
	b.release()
	if r := result(t, rch); r.Failed {
		t.Fatalf("the running task's result: %+v", r)
	}
	if _, _, n := b.snapshot(); n != 1 {
		t.Fatalf("%d tasks reached Symphony, want only the running one", n)
	}
	// A cancel that arrives before Execute registered the task makes Execute give up.
	late := pyTask("late")
	if err := u.CancelTask(late.ID, true); err != nil {
		t.Fatal(err)
	}
	if r := result(t, run(context.Background(), u, late)); !r.Failed {
		t.Fatal("a cancelled task ran")
	}
	if _, _, n := b.snapshot(); n != 1 {
		t.Fatal("the cancelled task reached Symphony")
	}
}

// Execute ending early (unit leaving) while the task is in Symphony: the slot stays taken
// until Symphony finishes it, then its result is dropped.
func TestExecutorAbandonedTask(t *testing.T) {
	b, e, u := oneSlot(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch := run(ctx, u, pyTask("gone"))
	b.waitSubmitted(t, 1)
	cancel()
	result(t, ch)
	if u.InSymphony() != 0 {
		t.Fatal("an abandoned task still counts for its unit")
	}
	next := run(context.Background(), e.NewUnit("v"), pyTask("next"))
	waitFor(t, "next queued", func() bool { return e.Queued() == 1 })
	if _, _, n := b.snapshot(); n != 1 {
		t.Fatal("the bound ignored a task still running in Symphony")
	}
	b.release()
	if r := result(t, next); r.Failed || string(r.Payload) != pyTask("next").ID.String() {
		t.Fatalf("%+v", r)
	}
}

// A lost session fails the tasks that were in it, with the reason, and a new session
// serves the next tasks; tasks not yet submitted are not lost.
func TestExecutorSessionLoss(t *testing.T) {
	b, _, u := oneSlot(t)
	inSession := run(context.Background(), u, pyTask("in-session"))
	b.waitSubmitted(t, 1)
	waiting := run(context.Background(), u, pyTask("waiting"))
	b.loseSessions()
	msg := failureText(t, result(t, inSession))
	for _, w := range []string{"RuntimeError: Symphony session s1", "was lost", "submit it again"} {
		if !strings.Contains(msg, w) {
			t.Fatalf("%q does not say %q", msg, w)
		}
	}
	b.release()
	if r := result(t, waiting); r.Failed {
		t.Fatalf("the waiting task: %q", failureText(t, r))
	}
	calls, _, _ := b.snapshot()
	if n := strings.Count(strings.Join(calls, ","), "open"); n != 2 {
		t.Fatalf("%d sessions opened: %v", n, calls)
	}
	// A submission that finds the session gone is sent again to the next session.
	b.loseSessions()
	b.subErrs = nil
	if r := result(t, run(context.Background(), u, pyTask("resent"))); r.Failed {
		t.Fatalf("resent: %q", failureText(t, r))
	}
}

// Symphony unavailable (credentials refused, then unreachable): the executor reports it,
// retries with backoff, and the waiting tasks run once Symphony is back.
func TestExecutorUnavailableThenBack(t *testing.T) {
	b := newMem()
	authErr := &symphony.Error{Kind: symphony.KindAuth, Op: "login", Message: `SYMREST refused user "alice"`}
	down := &symphony.Error{Kind: symphony.KindUnreachable, Op: "submit", Message: "unreachable"}
	gate := make(chan struct{})
	b.openHook = func() error {
		select {
		case <-gate:
			return nil
		default:
			return authErr
		}
	}
	b.subErrs = []error{down}
	b.fetchErrs = []error{down}
	e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 4})
	u := e.NewUnit("u")
	waitFor(t, "two failed attempts", func() bool { calls, _, _ := b.snapshot(); return len(calls) >= 2 })
	if st, err := e.State(); st != symphony.StateUnavailable || symphony.KindOf(err) != symphony.KindAuth || u.Accepting() {
		t.Fatalf("state %v (%v), accepting %v", st, err, u.Accepting())
	}
	ch := run(context.Background(), u, pyTask("patient"))
	waitFor(t, "queued", func() bool { return e.Queued() == 1 })
	close(gate)
	if r := result(t, ch); r.Failed {
		t.Fatalf("%q", failureText(t, r))
	}
	if st, _ := e.State(); st != symphony.StateReady || !u.Accepting() {
		t.Fatalf("state %v", st)
	}
	calls, _, _ := b.snapshot()
	got := strings.Join(calls, ",")
	if !strings.HasSuffix(got, "open,submit 1,submit 1,fetch error,fetched 1") {
		t.Fatalf("calls %s", got)
	}
}

// A refused batch is split so only the task Symphony refuses fails; an answer that cannot
// be understood fails the batch instead of submitting it twice.
func TestExecutorRejectedAndProtocolErrors(t *testing.T) {
	b := newMem()
	gate := make(chan struct{})
	b.submitGate = gate
	e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 10})
	u := e.NewUnit("u")
	first := run(context.Background(), u, pyTask("first"))
	waitFor(t, "first in a submission", func() bool { return u.InSymphony() == 1 })
	bad := pyTask("bad")
	b.mu.Lock()
	b.rejectTag = bad.ID.String()
	b.mu.Unlock()
	chans := []<-chan worker.ExecResult{run(context.Background(), u, pyTask("ok-1")), run(context.Background(), u, bad), run(context.Background(), u, pyTask("ok-2"))}
	waitFor(t, "three queued", func() bool { return e.Queued() == 3 })
	close(gate)
	result(t, first)
	for i, ch := range chans {
		r := result(t, ch)
		if (i == 1) != r.Failed {
			t.Fatalf("task %d: failed=%v", i, r.Failed)
		}
		if i == 1 && !strings.Contains(failureText(t, r), "Symphony did not accept task") {
			t.Fatalf("%q", failureText(t, r))
		}
	}
	calls, _, _ := b.snapshot()
	var submits []string
	for _, c := range calls {
		if strings.HasPrefix(c, "submit") {
			submits = append(submits, c)
		}
	}
	if got := strings.Join(submits, ","); got != "submit 1,submit 3,submit 1,submit 1,submit 1" {
		t.Fatalf("submissions %s (calls %v)", got, calls)
	}
	b.mu.Lock()
	b.subErrs = []error{&symphony.Error{Kind: symphony.KindProtocol, Op: "submit", Message: "1 task ids for 2 tasks"}}
	b.mu.Unlock()
	r := result(t, run(context.Background(), u, pyTask("unlucky")))
	if !strings.Contains(failureText(t, r), "1 task ids for 2 tasks") {
		t.Fatal("protocol error not reported")
	}
	if _, _, n := b.snapshot(); n != 3 {
		t.Fatalf("%d tasks in Symphony, want 3 (first, ok-1, ok-2)", n)
	}
}

func TestExecutorCloseClosesSession(t *testing.T) {
	b := newMem()
	b.hold = true
	e := symphony.NewExecutor(b, symphony.ExecutorConfig{MaxInFlight: 1, PollInterval: time.Millisecond, Logger: quiet()})
	u := e.NewUnit("u")
	inFlight := run(context.Background(), u, pyTask("a"))
	queued := run(context.Background(), u, pyTask("b"))
	b.waitSubmitted(t, 1)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan worker.ExecResult{inFlight, queued} {
		if !strings.Contains(failureText(t, result(t, ch)), "stopping") {
			t.Fatal("pending task not failed on close")
		}
	}
	if len(b.closed) != 1 || b.closed[0] != "s1" {
		t.Fatalf("closed sessions %v", b.closed)
	}
	if r := u.Execute(context.Background(), pyTask("late")); !strings.Contains(failureText(t, r), "stopping") {
		t.Fatal("a task after Close ran")
	}
	if st, _ := e.State(); st != symphony.StateClosed {
		t.Fatalf("state %v", st)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal("second Close:", err)
	}
}

// Symphony failing while the manager goes idle (the waiting task was cancelled): the
// executor still finds out when Symphony is back, by probing with a new session, so units
// can start again.
func TestExecutorProbesWhenIdleAndUnavailable(t *testing.T) {
	b := newMem()
	down := &symphony.Error{Kind: symphony.KindUnreachable, Op: "submit", Message: "unreachable"}
	for i := 0; i < 100000; i++ {
		b.subErrs = append(b.subErrs, down)
	}
	e := newExec(t, b, symphony.ExecutorConfig{MaxInFlight: 1})
	u := e.NewUnit("u")
	task := pyTask("doomed")
	ctx, cancel := context.WithCancel(context.Background())
	ch := run(ctx, u, task)
	waitFor(t, "unavailable", func() bool { st, _ := e.State(); return st == symphony.StateUnavailable })
	if err := u.CancelTask(task.ID, true); err != nil {
		t.Fatal(err)
	}
	cancel()
	result(t, ch)
	waitFor(t, "a probe that finds Symphony back", func() bool { st, _ := e.State(); return st == symphony.StateReady })
	calls, _, _ := b.snapshot()
	if n := strings.Count(strings.Join(calls, ","), "open"); n < 2 {
		t.Fatalf("no probe: %v", calls)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.closed) == 0 {
		t.Fatal("the idle session was not closed")
	}
}
