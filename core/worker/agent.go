// Package worker is the Go worker: the agent that talks to the scheduler and object storage,
// and executors that run tasks — registered Go functions in-process (Register), and Python
// functions in Python processor children.
//
// One goroutine (the agent loop) owns every piece of task state. Fetching inputs, running a
// function and storing its result happen on other goroutines that report back to the loop
// with events; a concurrency slot is held only while a function runs, so I/O never idles
// the executors.
package worker

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/sysinfo"
	"github.com/scaler-go/scaler/core/taskctx"
	"github.com/scaler-go/scaler/core/transport"
)

// Config configures a worker (spec/features.md §1.6.1 worker group).
type Config struct {
	// SchedulerAddress is where the worker connects.
	SchedulerAddress address.Address
	// ObjectStorageAddress overrides the address the scheduler advertises.
	ObjectStorageAddress address.Address
	// Name is the middle part of the identity "Worker|NAME|hex32"; empty means "GO|hex32".
	Name string
	// ExactIdentity uses Name as the whole identity.
	ExactIdentity bool
	// Capabilities are advertised in heartbeats.
	Capabilities []protocol.Capability
	// QueueSize is how many tasks the scheduler may assign to this worker.
	QueueSize int
	// MaxTaskConcurrency is how many tasks run at once; 0 means the number of CPUs.
	MaxTaskConcurrency int
	// HeartbeatInterval is the heartbeat period.
	HeartbeatInterval time.Duration
	// TaskTimeout fails a task that runs longer; 0 means no limit.
	TaskTimeout time.Duration
	// DeathTimeout ends the worker when the scheduler has not echoed for that long.
	DeathTimeout time.Duration
	// Preload names a registered preload function, optionally with literal arguments:
	// "name" or "name(1, 'x')"; a "module.path:" prefix is accepted and ignored when the
	// full string is not registered.
	Preload string
	// WorkerManagerID is stamped into heartbeats.
	WorkerManagerID string
	// Backend is the scheduler transport; nil means SCALER_NETWORK_BACKEND.
	Backend transport.Backend
	// CacheBytes bounds the object cache; 0 means 512 MiB.
	CacheBytes int64
	// Python configures the Python processors that run Python tasks.
	Python PythonConfig
	// AdaptiveThreads runs the process's Go code on one thread while at most one short Go
	// task runs at a time (see threadScaler), and restores GOMAXPROCS when Run ends. It changes GOMAXPROCS for the whole process, so
	// only a process that is just a worker (the scaler_worker command) should set it; an
	// explicit GOMAXPROCS in the environment turns it off.
	AdaptiveThreads bool
	// Executor, when set, runs every task elsewhere (see Executor).
	Executor Executor
	// Status, when set, receives "tasks N" lines as the number of tasks the worker holds
	// changes: a local worker manager reads them to stop idle workers first.
	Status io.Writer
	// Logger receives the worker's logs.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 1000
	}
	if c.MaxTaskConcurrency <= 0 {
		c.MaxTaskConcurrency = runtime.NumCPU()
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 2 * time.Second
	}
	if c.DeathTimeout <= 0 {
		c.DeathTimeout = 300 * time.Second
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 512 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ErrNeverConnected is returned when the scheduler closed the connection before the worker
// ever got an echo.
var ErrNeverConnected = errors.New("scheduler closed the connection before accepting this worker")

// Agent is one worker process's agent.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	identity string

	conn   transport.Connector
	oss    *objstore.Client
	events chan event
	done   chan struct{} // closed when the loop ends

	tasks   map[protocol.TaskID]*task
	ready   readyHeap
	running int
	// lent counts running tasks whose slot a higher-priority task borrowed.
	lent int
	// lendable counts running tasks per priority whose slot could still be lent.
	lendable    map[int32]int
	backendName string
	runCtx      context.Context
	// goJobs hands Go tasks to idle runner goroutines (unbuffered: a send succeeds only
	// when one waits).
	goJobs chan goJob
	// info is taskInfo's cache, valid for the object storage client infoOSS.
	info    taskctx.Info
	infoOSS *objstore.Client
	seq     uint64
	cache   *objectCache
	// waiters lists, per object being fetched, the tasks that need it.
	waiters map[protocol.ObjectID][]*task
	// unstored failures wait for object storage to be connected.
	unstored []*task
	python   *pythonPool
	threads  *threadScaler // nil unless Config.AdaptiveThreads

	// finished tasks whose results are stored, reported in one batch per loop turn.
	report []*task

	echoed        bool
	hbOutstanding bool
	hbSentAt      time.Time
	lastEcho      time.Time
	latency       time.Duration
	ossDialing    bool
	cpu           *sysinfo.CPUSampler
	pid           string
	leaving       bool
	exit          error
	exitSet       bool
	// lastStatus is the task count last written to cfg.Status (-1 before the first).
	lastStatus   int
	lastStatusAt time.Time
	ossLostAt    time.Time
	ossLostErr   error
}

// New returns an agent; call Run.
func New(cfg Config) *Agent {
	cfg.defaults()
	name := cfg.Name
	if name == "" {
		name = "GO|" + protocol.NewTaskID().String()
	}
	id := protocol.NewWorkerID(name)
	if cfg.ExactIdentity {
		id = cfg.Name
	}
	return &Agent{
		cfg:        cfg,
		log:        cfg.Logger.With("worker", id),
		identity:   id,
		events:     make(chan event, 4096),
		goJobs:     make(chan goJob),
		done:       make(chan struct{}),
		tasks:      map[protocol.TaskID]*task{},
		cache:      newObjectCache(cfg.CacheBytes),
		waiters:    map[protocol.ObjectID][]*task{},
		lendable:   map[int32]int{},
		cpu:        sysinfo.NewCPUSampler("self"),
		lastStatus: -1,
		pid:        strconv.Itoa(os.Getpid()),
	}
}

// Identity is the worker's identity on the wire.
func (a *Agent) Identity() string { return a.identity }

// Run connects and serves until the scheduler says goodbye, ctx ends (then it leaves
// gracefully), or a fatal error.
func (a *Agent) Run(ctx context.Context) error {
	backend := a.cfg.Backend
	if backend == nil {
		var err error
		if backend, err = transport.FromEnv(); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.runCtx = runCtx
	conn, err := backend.Connect(ctx, a.cfg.SchedulerAddress, transport.Options{Identity: a.identity, Logger: a.log})
	if err != nil {
		return fmt.Errorf("connect to scheduler %s: %w", a.cfg.SchedulerAddress, err)
	}
	a.conn = conn
	a.backendName = backend.Name()
	defer conn.Close()
	if err := a.runPreload(runCtx); err != nil {
		return err
	}
	if a.cfg.AdaptiveThreads {
		a.threads = newThreadScaler()
		defer a.threads.stop()
	}
	a.python = newPythonPool(a, runCtx)
	defer a.python.close()
	if !a.cfg.ObjectStorageAddress.IsZero() {
		a.dialOSS(runCtx, a.cfg.ObjectStorageAddress)
	}
	defer func() {
		if a.oss != nil {
			a.oss.Close()
		}
	}()
	a.log.Info("worker started", "scheduler", a.cfg.SchedulerAddress, "concurrency", a.cfg.MaxTaskConcurrency,
		"queue_size", a.cfg.QueueSize, "manager", a.cfg.WorkerManagerID)
	return a.loop(ctx, runCtx)
}

func (a *Agent) stop(err error) {
	if !a.exitSet {
		a.exit, a.exitSet = err, true
	}
}

func (a *Agent) loop(ctx, runCtx context.Context) error {
	hb := time.NewTicker(a.cfg.HeartbeatInterval)
	defer hb.Stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	a.lastEcho = time.Now()
	a.sendHeartbeat(time.Now())
	msgs := a.conn.Messages()
	var leaveDeadline <-chan time.Time
	done := ctx.Done()
	for !a.exitSet {
		select {
		case <-done:
			done = nil
			a.leave()
			leaveDeadline = time.After(5 * time.Second)
		case <-leaveDeadline:
			a.log.Warn("scheduler did not confirm the disconnect; leaving anyway")
			a.stop(nil)
		case raw, ok := <-msgs:
			if !ok {
				a.connectionEnded()
				break
			}
			a.handle(runCtx, raw)
		case ev := <-a.events:
			ev.apply(a, runCtx)
		drain:
			for i := 0; i < 256; i++ {
				select {
				case ev := <-a.events:
					ev.apply(a, runCtx)
				default:
					break drain
				}
			}
		case now := <-hb.C:
			if !a.hbOutstanding {
				a.sendHeartbeat(now)
			}
		case now := <-check.C:
			a.threads.settle()
			if !a.ossLostAt.IsZero() && now.Sub(a.ossLostAt) > time.Second {
				a.stop(ossError{a.ossLostErr})
			}
			if now.Sub(a.lastEcho) > a.cfg.DeathTimeout {
				a.stop(fmt.Errorf("no heartbeat echo from the scheduler for %s (death timeout)", a.cfg.DeathTimeout.Round(time.Second)))
			}
		}
		a.flushReports()
		a.writeStatus()
	}
	for _, t := range a.tasks {
		if t.cancel != nil {
			t.cancel()
		}
	}
	close(a.done)
	return a.exit
}

func (a *Agent) connectionEnded() {
	err := a.conn.Err()
	switch {
	case a.leaving:
		a.stop(nil)
	case errors.Is(err, transport.ErrClosedByPeer) && a.echoed:
		a.log.Info("scheduler closed the connection; exiting")
		a.stop(nil)
	case errors.Is(err, transport.ErrClosedByPeer):
		a.stop(ErrNeverConnected)
	default:
		a.stop(fmt.Errorf("scheduler connection: %w", err))
	}
}

// leave asks the scheduler to take our tasks back (spec/protocol.md §7.9).
func (a *Agent) leave() {
	if a.leaving {
		return
	}
	a.leaving = true
	a.log.Info("leaving the cluster")
	a.send(&protocol.DisconnectRequest{Worker: []byte(a.identity)})
}

func (a *Agent) send(m protocol.Message) {
	b, err := protocol.Encode(m)
	if err != nil {
		a.log.Error("cannot encode", "kind", m.Kind(), "err", err)
		return
	}
	if err := a.conn.Send(b); err != nil {
		a.log.Debug("send failed", "kind", m.Kind(), "err", err)
	}
}

func (a *Agent) handle(ctx context.Context, raw []byte) {
	m, err := protocol.Decode(raw)
	if err != nil {
		a.log.Warn("dropping malformed message from the scheduler", "err", err)
		return
	}
	switch m := m.(type) {
	case *protocol.WorkerHeartbeatEcho:
		a.onEcho(ctx, m)
	case *protocol.Task:
		a.onTask(ctx, m)
	case *protocol.TaskCancel:
		a.onCancel(m)
	case *protocol.ObjectInstruction:
		if m.Type == protocol.InstructionDelete {
			for _, raw := range m.IDs {
				if id, ok := protocol.ObjectIDFromBytes(raw); ok {
					a.cache.evict(id)
				}
			}
			a.python.evict(m)
		}
	case *protocol.ClientDisconnect:
		if m.Type == protocol.DisconnectShutdown {
			a.log.Info("cluster shutdown requested by the scheduler")
			a.stop(nil)
		}
	case *protocol.DisconnectResponse:
		a.stop(nil)
	default:
		a.log.Warn("dropping unexpected message", "kind", m.Kind())
	}
}

func (a *Agent) onEcho(ctx context.Context, m *protocol.WorkerHeartbeatEcho) {
	now := time.Now()
	if a.hbOutstanding {
		a.latency = now.Sub(a.hbSentAt) / 2
		a.hbOutstanding = false
	}
	a.lastEcho = now
	if !a.echoed {
		a.echoed = true
		a.log.Info("connected to the scheduler")
	}
	if a.oss == nil && !a.ossDialing {
		addr := address.Address{Scheme: address.Scheme(m.ObjectStorage.Scheme), Host: m.ObjectStorage.Host, Port: int(m.ObjectStorage.Port)}
		if addr.Scheme == "" || addr.Host == "" || addr.Port == 0 {
			a.stop(fmt.Errorf("the scheduler advertises no usable object storage address (%+v); give --object-storage-address", m.ObjectStorage))
			return
		}
		a.dialOSS(ctx, addr)
	}
}

func (a *Agent) dialOSS(ctx context.Context, addr address.Address) {
	a.ossDialing = true
	go func() {
		c, err := objstore.Dial(ctx, objstore.ClientOptions{Address: addr, Identity: a.identity, Logger: a.log})
		a.post(ossReady{client: c, addr: addr, err: err})
	}()
}

// post hands an event to the loop; events from goroutines that outlive the loop are dropped.
func (a *Agent) post(ev event) {
	select {
	case a.events <- ev:
	case <-a.done:
	}
}

func (a *Agent) sendHeartbeat(now time.Time) {
	avail, limit := sysinfo.Memory()
	res := protocol.Resource{CPU: a.cpu.Sample(), RSS: sysinfo.ProcessMemory(a.pid)}
	queued := a.ready.Len()
	for _, t := range a.tasks {
		if t.phase == phaseFetching {
			queued++
		}
	}
	hb := &protocol.WorkerHeartbeat{
		Agent:           res,
		RSSFree:         avail,
		MemLimit:        limit,
		QueueSize:       uint32(a.cfg.QueueSize),
		QueuedTasks:     uint32(queued),
		LatencyUS:       uint32(a.latency.Microseconds()),
		Capabilities:    a.cfg.Capabilities,
		WorkerManagerID: []byte(a.cfg.WorkerManagerID),
		Processors:      append([]protocol.ProcessorStatus{{PID: uint32(os.Getpid()), Initialized: a.oss != nil, HasTask: a.running > 0, Resource: res}}, a.python.statuses()...),
		// Workers that hand tasks to another system report "cannot accept" in the task lock
		// bit, as the reference's adapter workers do (spec/protocol.md §9.11).
		// An executor whose remote system is unreachable reports the lock too.
		TaskLock: a.cfg.Executor != nil && (a.running >= a.cfg.MaxTaskConcurrency || !executorAccepting(a.cfg.Executor)),
	}
	a.hbSentAt = now
	a.hbOutstanding = true
	a.send(hb)
}

// readyHeap orders runnable tasks by priority (higher first), then arrival.
type readyHeap []*task

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].heapIndex = i; h[j].heapIndex = j }
func (h *readyHeap) Push(x any) {
	t := x.(*task)
	t.heapIndex = len(*h)
	*h = append(*h, t)
}
func (h *readyHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.heapIndex = -1
	return t
}

func (a *Agent) removeReady(t *task) {
	if t.heapIndex >= 0 && t.heapIndex < len(a.ready) && a.ready[t.heapIndex] == t {
		heap.Remove(&a.ready, t.heapIndex)
	}
}

// writeStatus reports how many tasks the worker holds: at once when it turns idle or busy,
// otherwise at most a few times a second.
func (a *Agent) writeStatus() {
	if a.cfg.Status == nil {
		return
	}
	n := len(a.tasks)
	if n == a.lastStatus {
		return
	}
	now := time.Now()
	if (n == 0) == (a.lastStatus == 0) && a.lastStatus >= 0 && now.Sub(a.lastStatusAt) < 200*time.Millisecond {
		return
	}
	a.lastStatus, a.lastStatusAt = n, now
	if _, err := fmt.Fprintf(a.cfg.Status, "tasks %d\n", n); err != nil {
		a.cfg.Status = nil
	}
}
