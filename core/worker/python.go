package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/sysinfo"
	"github.com/scaler-go/scaler/core/worker/pyproc"
)

// PythonConfig configures the Python processors that run Python tasks.
type PythonConfig struct {
	// Interpreter is the python3 to run; empty means "python3" on PATH.
	Interpreter string
	// GCInterval and TrimThreshold tune the processors' memory housekeeping.
	GCInterval    time.Duration
	TrimThreshold int64
	// HardSuspend stops (SIGSTOP) a processor whose slot a higher-priority task borrowed.
	HardSuspend bool
}

// pyProc is one python3 child running processor.py.
type pyProc struct {
	cmd       *exec.Cmd
	frames    chan []byte // to the processor's fd 3, written by a writer goroutine
	pid       int
	ready     bool
	task      *task
	suspended bool
	killed    bool
	closed    bool // frames closed
	cpu       *sysinfo.CPUSampler
}

func (proc *pyProc) closeFrames() {
	if !proc.closed {
		proc.closed = true
		close(proc.frames)
	}
}

// pythonPool runs Python tasks in processor children; the agent loop owns it. Processors
// start when the first Python task arrives, one per running Python task, and idle ones are
// kept for the next tasks.
type pythonPool struct {
	a    *Agent
	ctx  context.Context
	live map[*pyProc]struct{}
	idle []*pyProc
	// waiting are tasks whose processor is still starting.
	waiting map[*pyProc]*task
	// broken is why Python tasks cannot run here (no interpreter, no cloudpickle, a failing
	// preload); every Python task then fails with it at once.
	broken   string
	reported bool
}

func newPythonPool(a *Agent, ctx context.Context) *pythonPool {
	return &pythonPool{a: a, ctx: ctx, live: map[*pyProc]struct{}{}, waiting: map[*pyProc]*task{}}
}

// interpreter is the python3 to run.
func (c PythonConfig) interpreter() string {
	if c.Interpreter != "" {
		return c.Interpreter
	}
	return "python3"
}

// initFrame is the INIT frame a processor reads first.
func (c PythonConfig) initFrame(preload string) []byte {
	initMsg, _ := json.Marshal(map[string]any{
		"preload":        preload,
		"gc_interval":    max(c.GCInterval.Seconds(), 1),
		"trim_threshold": c.TrimThreshold,
	})
	return frame(pyproc.Init, initMsg)
}

// startProcessor starts the python3 at path running processor.py; w writes to its fd 3 and
// r reads its fd 4.
func startProcessor(path string) (cmd *exec.Cmd, w, r *os.File, err error) {
	toChild, w, err := os.Pipe() // child reads toChild
	if err != nil {
		return nil, nil, nil, err
	}
	r, toAgent, err := os.Pipe() // child writes toAgent
	if err != nil {
		toChild.Close()
		w.Close()
		return nil, nil, nil, err
	}
	cmd = exec.Command(path, "-c", string(pyproc.Script))
	cmd.ExtraFiles = []*os.File{toChild, toAgent} // fds 3 and 4
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	toChild.Close()
	toAgent.Close()
	if err != nil {
		w.Close()
		r.Close()
		return nil, nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return cmd, w, r, nil
}

// run hands a Python task to an idle processor, starting one when none is idle.
func (p *pythonPool) run(ctx context.Context, t *task) {
	if p.broken != "" {
		p.failTask(t, "RuntimeError", p.broken)
		return
	}
	for len(p.idle) > 0 {
		proc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if _, ok := p.live[proc]; ok && !proc.killed {
			p.dispatch(proc, t)
			return
		}
	}
	proc, err := p.spawn()
	if err != nil {
		p.broken = err.Error()
		p.failTask(t, "RuntimeError", p.broken)
		return
	}
	p.waiting[proc] = t
}

// failTask reports a Python task as failed without running it (a pickled builtins
// exception, which every Python client can load).
func (p *pythonPool) failTask(t *task, exc, msg string) {
	a := p.a
	if !p.reported {
		p.reported = true
		a.log.Error("Python tasks cannot run on this worker", "reason", msg)
	}
	go func() {
		a.post(finished{t: t})
		a.storeResult(p.ctx, t, protocol.PickleException("builtins", exc, msg), protocol.ResultFailed, protocol.ProfileResult{})
	}()
}

func (p *pythonPool) spawn() (*pyProc, error) {
	interp := p.a.cfg.Python.interpreter()
	path, err := exec.LookPath(interp)
	if err != nil {
		return nil, fmt.Errorf("Python tasks need %s, which is not installed here: install python3 with cloudpickle (Debian: python3-cloudpickle python3-tblib) or pass --python", interp)
	}
	cmd, fromAgent, fromChild, err := startProcessor(path)
	if err != nil {
		return nil, err
	}
	proc := &pyProc{cmd: cmd, frames: make(chan []byte, 64), pid: cmd.Process.Pid, cpu: sysinfo.NewCPUSampler(strconv.Itoa(cmd.Process.Pid))}
	p.live[proc] = struct{}{}
	proc.frames <- p.a.cfg.Python.initFrame(p.a.cfg.Preload)
	a := p.a
	go func() { // writer: frames may be large; never block the agent loop on a pipe
		defer fromAgent.Close()
		for f := range proc.frames {
			if _, err := fromAgent.Write(f); err != nil {
				return
			}
		}
	}()
	go func() { // reader, then reaper
		r := bufio.NewReaderSize(fromChild, 64<<10)
		for {
			kind, body, err := readFrame(r)
			if err != nil {
				break
			}
			a.post(pyFrame{proc: proc, kind: kind, body: body})
		}
		fromChild.Close()
		err := cmd.Wait()
		a.post(pyExited{proc: proc, err: err})
	}()
	return proc, nil
}

func frame(kind byte, body []byte) []byte {
	f := make([]byte, 5, 5+len(body))
	binary.LittleEndian.PutUint32(f, uint32(len(body)+1))
	f[4] = kind
	return append(f, body...)
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n == 0 {
		return 0, nil, errors.New("empty frame")
	}
	size := int64(n) - 1
	if size <= frameChunk {
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, nil, err
		}
		return hdr[4], body, nil
	}
	// A large frame grows as its bytes arrive, so a corrupt length costs nothing until
	// the data is really there.
	var buf bytes.Buffer
	buf.Grow(frameChunk)
	if _, err := io.CopyN(&buf, r, size); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[4], buf.Bytes(), nil
}

// frameChunk is the largest frame body allocated before it is read.
const frameChunk = 1 << 20

func appendItem(b, item []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(item)))
	return append(b, item...)
}

// taskBody is a TASK frame's body: task id, flags, then (object id, bytes) for the
// serializer, the function and each argument.
func taskBody(id protocol.TaskID, stream bool, ids []protocol.ObjectID, payloads [][]byte) []byte {
	size := 17
	for _, pl := range payloads {
		size += 4 + 32 + 4 + len(pl)
	}
	body := make([]byte, 0, size)
	body = append(body, id[:]...)
	var flags byte
	if stream {
		flags |= 1
	}
	body = append(body, flags)
	for i, pl := range payloads {
		var oid []byte
		if i < len(ids) {
			oid = ids[i][:]
		}
		body = appendItem(body, oid)
		body = appendItem(body, pl)
	}
	return body
}

func (p *pythonPool) dispatch(proc *pyProc, t *task) {
	proc.task = t
	if !proc.closed {
		proc.frames <- frame(pyproc.Task, taskBody(t.id, t.flags.StreamOutput, t.needed, t.payloads))
	}
}

// pyFrame is a frame a processor sent.
type pyFrame struct {
	proc *pyProc
	kind byte
	body []byte
}

func (ev pyFrame) apply(a *Agent, ctx context.Context) { a.python.onFrame(ev) }

func (p *pythonPool) onFrame(ev pyFrame) {
	proc, a := ev.proc, p.a
	switch ev.kind {
	case pyproc.Ready:
		proc.ready = true
		a.log.Info("Python processor ready", "pid", proc.pid, "info", string(ev.body))
		if t := p.waiting[proc]; t != nil {
			delete(p.waiting, proc)
			if a.tasks[t.id] == t && !t.abandoned && t.phase == phaseRunning {
				p.dispatch(proc, t)
				return
			}
		}
		p.park(proc)
	case pyproc.InitFailed:
		p.broken = string(ev.body)
		if t := p.waiting[proc]; t != nil {
			delete(p.waiting, proc)
			p.failTask(t, "RuntimeError", p.broken)
		}
	case pyproc.Result:
		if len(ev.body) < 16+1+16 {
			return
		}
		t := proc.task
		proc.task = nil
		if t == nil || [16]byte(ev.body[:16]) != t.id {
			p.park(proc)
			return
		}
		ok := ev.body[16] == 1
		cpu := math.Float64frombits(binary.LittleEndian.Uint64(ev.body[17:]))
		peak := binary.LittleEndian.Uint64(ev.body[25:])
		payload := ev.body[33:]
		p.park(proc)
		if t.abandoned {
			return
		}
		dur := time.Since(t.started)
		typ := protocol.ResultSuccess
		if !ok {
			typ = protocol.ResultFailed
		}
		a.post(finished{t: t, duration: dur})
		go a.storeResult(p.ctx, t, payload, typ, protocol.ProfileResult{DurationS: float32(dur.Seconds()), MemoryPeak: peak, CPUTimeS: float32(cpu)})
	case pyproc.Log:
		if len(ev.body) < 17 {
			return
		}
		t := proc.task
		if t == nil || [16]byte(ev.body[:16]) != t.id || a.tasks[t.id] != t {
			return
		}
		typ := protocol.LogStdout
		if ev.body[16] == 1 {
			typ = protocol.LogStderr
		}
		a.send(&protocol.TaskLog{TaskID: t.id[:], Type: typ, Content: string(ev.body[17:])})
	}
}

// park returns an idle processor to the pool, or stops it when enough are idle.
func (p *pythonPool) park(proc *pyProc) {
	if proc.killed {
		return
	}
	if len(p.idle) >= p.a.cfg.MaxTaskConcurrency {
		p.terminate(proc)
		return
	}
	p.idle = append(p.idle, proc)
}

type pyExited struct {
	proc *pyProc
	err  error
}

func (ev pyExited) apply(a *Agent, ctx context.Context) { a.python.onExit(ev) }

func (p *pythonPool) onExit(ev pyExited) {
	proc, a := ev.proc, p.a
	delete(p.live, proc)
	proc.closeFrames()
	for i, q := range p.idle {
		if q == proc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	if t := p.waiting[proc]; t != nil {
		delete(p.waiting, proc)
		if p.broken == "" {
			p.broken = fmt.Sprintf("the Python processor exited while starting (%s)", exitStatus(ev.err))
		}
		p.failTask(t, "RuntimeError", p.broken)
		return
	}
	t := proc.task
	if t == nil || t.abandoned || proc.killed || a.tasks[t.id] != t {
		return
	}
	// The processor died under a task (crash, os._exit, OOM): the task fails, as in the
	// reference, with ProcessorDiedError; the next task gets a fresh processor.
	msg, payload := processorDied(ev.err)
	a.log.Warn("Python processor died during a task", "task", t.id, "pid", proc.pid, "status", msg)
	dur := time.Since(t.started)
	a.post(finished{t: t, duration: dur})
	go a.storeResult(p.ctx, t, payload, protocol.ResultFailed, protocol.ProfileResult{DurationS: float32(dur.Seconds())})
}

// processorDied describes a processor's exit as the reference does and pickles the
// ProcessorDiedError its task fails with.
func processorDied(err error) (msg string, payload []byte) {
	msg = fmt.Sprintf("process_status=%s exitcode=%s", exitStatus(err), exitCode(err))
	return msg, protocol.PickleException("scaler.utility.exceptions", "ProcessorDiedError", msg)
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return "exited"
	}
	if err == nil {
		return "exited"
	}
	return err.Error()
}

func exitCode(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return strconv.Itoa(-int(ws.Signal()))
		}
		return strconv.Itoa(ee.ExitCode())
	}
	return "0"
}

// kill stops the processor running t (force cancel, timeout): its task is abandoned and the
// next task gets a fresh processor.
func (p *pythonPool) kill(t *task) {
	for proc := range p.live {
		if proc.task == t {
			proc.task = nil
			p.terminate(proc)
		}
	}
	for proc, w := range p.waiting {
		if w == t {
			delete(p.waiting, proc)
			p.park(proc)
		}
	}
}

// terminate stops a processor: SIGTERM, then SIGKILL a second later (user code may ignore
// SIGTERM).
func (p *pythonPool) terminate(proc *pyProc) {
	if proc.killed {
		return
	}
	proc.killed = true
	if proc.suspended {
		_ = proc.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = proc.cmd.Process.Signal(syscall.SIGTERM)
	pid := proc.cmd.Process
	time.AfterFunc(time.Second, func() { _ = pid.Kill() })
}

// suspend and resume implement --hard-processor-suspend for a lending task.
func (p *pythonPool) suspend(t *task) {
	if !p.a.cfg.Python.HardSuspend {
		return
	}
	for proc := range p.live {
		if proc.task == t && !proc.suspended {
			proc.suspended = true
			_ = proc.cmd.Process.Signal(syscall.SIGSTOP)
		}
	}
}

func (p *pythonPool) resume(t *task) {
	for proc := range p.live {
		if proc.task == t && proc.suspended {
			proc.suspended = false
			_ = proc.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
}

func (p *pythonPool) evict(m *protocol.ObjectInstruction) {
	if len(p.live) == 0 {
		return
	}
	body := make([]byte, 0, 32*len(m.IDs))
	for _, id := range m.IDs {
		if len(id) == 32 {
			body = append(body, id...)
		}
	}
	if len(body) == 0 {
		return
	}
	f := frame(pyproc.Evict, body)
	for proc := range p.live {
		if proc.ready && !proc.killed && !proc.closed {
			select {
			case proc.frames <- f:
			default: // a busy processor catches up on its cache later; eviction is advisory
			}
		}
	}
}

func (p *pythonPool) statuses() []protocol.ProcessorStatus {
	out := make([]protocol.ProcessorStatus, 0, len(p.live))
	for proc := range p.live {
		pid := strconv.Itoa(proc.pid)
		out = append(out, protocol.ProcessorStatus{
			PID: uint32(proc.pid), Initialized: proc.ready, HasTask: proc.task != nil, Suspended: proc.suspended,
			Resource: protocol.Resource{CPU: proc.cpu.Sample(), RSS: sysinfo.ProcessMemory(pid)},
		})
	}
	return out
}

func (p *pythonPool) close() {
	for proc := range p.live {
		p.terminate(proc)
		proc.closeFrames()
	}
}
