// Package scheduler is the OpenGRIS Scaler scheduler: a pure, single-goroutine state machine
// (State) fed with decoded events, and the server loop (Server) that feeds it from the
// network and carries out its effects.
//
// State never touches sockets or clocks: every handler takes the current time, and every
// output goes through the Effects interface, so tests drive it with events and assert the
// messages it emits (spec/protocol.md §6–§8).
package scheduler

import (
	"log/slog"
	"time"

	"github.com/scaler-go/scaler/core/policy"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// Effects is everything the state machine does to the outside world. Calls never block.
type Effects interface {
	// Send delivers an already encoded Message to a peer of the main socket.
	Send(peer string, data []byte)
	// Publish sends an encoded Message to monitor subscribers.
	Publish(data []byte)
	// MonitorActive reports whether anyone may be listening to the monitor, so per-task
	// monitor messages are only built when useful.
	MonitorActive() bool
	// DeleteObjects removes objects from object storage (fire and forget).
	DeleteObjects(ids []protocol.ObjectID)
	// DuplicateObject makes dst refer to src's content in object storage.
	DuplicateObject(dst, src protocol.ObjectID)
	// SetObject stores data in object storage (used for failures the scheduler makes itself).
	SetObject(id protocol.ObjectID, data []byte)
	// Shutdown asks the server to stop after this event (accepted cluster shutdown).
	Shutdown()
	// Resources returns the scheduler process CPU/memory and the host's free memory for the
	// status report.
	Resources() (protocol.Resource, uint64)
	// ReleaseMemory returns freed memory to the operating system (after a burst).
	ReleaseMemory()
}

// Config is the behaviour of the scheduler (spec/features.md §1.4).
type Config struct {
	// Protected refuses client shutdown requests.
	Protected bool
	// MaxTasksWaiting caps the scheduler's queue of tasks no worker can take yet; beyond it
	// new tasks fail at once. Negative means unlimited.
	MaxTasksWaiting int
	// ClientTimeout, WorkerTimeout and ManagerTimeout evict silent peers.
	ClientTimeout, WorkerTimeout, ManagerTimeout time.Duration
	// ObjectRetention is how long objects announced for an absent client are kept before
	// they are deleted (the client may still register and adopt them).
	ObjectRetention time.Duration
	// ReconnectGrace is how long a peer whose connection was reset may take to come back
	// before it is treated as gone (an orderly close is treated as gone at once).
	ReconnectGrace time.Duration
	// LoadBalanceInterval is the balancing period; zero or negative disables balancing.
	LoadBalanceInterval time.Duration
	// LoadBalanceTriggerTimes is how many extra identical advices must be seen before acting.
	LoadBalanceTriggerTimes int
	// StatusReportInterval is the StateScheduler period.
	StatusReportInterval time.Duration
	// Engine is the parsed policy (allocation, balancing, scaling).
	Engine *policy.Engine
	// ObjectStorage is the address advertised in heartbeat echoes.
	ObjectStorage protocol.ObjectStorageAddress
	// Logger receives the scheduler's logs.
	Logger *slog.Logger
}

// DefaultConfig returns the reference defaults.
func DefaultConfig() Config {
	e, _ := policy.ParseEngine(policy.EngineSimple, policy.DefaultPolicyContent)
	return Config{
		MaxTasksWaiting:         -1,
		ClientTimeout:           60 * time.Second,
		WorkerTimeout:           60 * time.Second,
		ManagerTimeout:          10 * time.Second,
		ObjectRetention:         60 * time.Second,
		ReconnectGrace:          10 * time.Second,
		LoadBalanceInterval:     time.Second,
		LoadBalanceTriggerTimes: 2,
		StatusReportInterval:    time.Second,
		Engine:                  e,
	}
}

// State is the scheduler's whole in-memory state. It is owned by one goroutine.
type State struct {
	cfg   Config
	fx    Effects
	log   *slog.Logger
	alloc policy.Allocator
	scale policy.Scaler

	tasks      map[protocol.TaskID]*taskEntry
	unassigned taskQueue
	clients    map[string]*clientEntry
	workers    map[string]*workerEntry
	managers   map[string]*managerEntry // by connection identity
	managerIDs map[string]string        // logical manager id → connection identity
	objects    objectTable
	graphs     map[protocol.TaskID]*graphEntry
	// graphOf maps every subtask id (and the umbrella id) of a live graph to its graph.
	graphOf map[protocol.TaskID]*graphEntry
	groups  map[string]*policy.TaskGroup // capability-name set → tasks needing it

	stateCounts [protocol.NumTaskStates]uint32
	received    counters
	sent        counters

	lastHousekeeping time.Time
	lastStatus       time.Time
	lastBalance      time.Time
	balanceAdvice    map[string][]protocol.TaskID
	balanceSame      int
	shuttingDown     bool
	taskSeq          uint64
	// peakTasks is the largest task table since the last compaction.
	peakTasks int
	// events are task changes waiting for the monitor stream.
	events taskEvents
}

// New returns an empty scheduler state.
func New(cfg Config, fx Effects) *State {
	if cfg.Engine == nil {
		cfg.Engine = DefaultConfig().Engine
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &State{
		cfg:        cfg,
		fx:         fx,
		log:        cfg.Logger,
		alloc:      cfg.Engine.NewAllocator(),
		scale:      cfg.Engine.NewScaler(),
		tasks:      map[protocol.TaskID]*taskEntry{},
		clients:    map[string]*clientEntry{},
		workers:    map[string]*workerEntry{},
		managers:   map[string]*managerEntry{},
		managerIDs: map[string]string{},
		objects:    newObjectTable(),
		graphs:     map[protocol.TaskID]*graphEntry{},
		graphOf:    map[protocol.TaskID]*graphEntry{},
		groups:     map[string]*policy.TaskGroup{},
	}
}

// counters count messages per kind, in first-seen order, as BinderStatus reports them.
type counters struct {
	n     [32]uint32
	order []protocol.Kind
}

func (c *counters) add(k protocol.Kind) {
	if int(k) >= len(c.n) {
		return
	}
	if c.n[k] == 0 {
		c.order = append(c.order, k)
	}
	c.n[k]++
}

func (c *counters) list() []protocol.Counter {
	out := make([]protocol.Counter, 0, len(c.order))
	for _, k := range c.order {
		out = append(out, protocol.Counter{Name: k.String(), Number: c.n[k]})
	}
	return out
}

// send encodes m for peer and counts it.
func (s *State) send(peer string, m protocol.Message) {
	b, err := protocol.Encode(m)
	if err != nil {
		s.log.Error("cannot encode message", "kind", m.Kind(), "peer", peer, "err", err)
		return
	}
	s.sent.add(m.Kind())
	s.fx.Send(peer, b)
}

// sendRaw forwards bytes that already hold a Message of kind k.
func (s *State) sendRaw(peer string, k protocol.Kind, raw []byte) {
	s.sent.add(k)
	s.fx.Send(peer, raw)
}

func (s *State) publish(m protocol.Message) {
	b, err := protocol.Encode(m)
	if err != nil {
		s.log.Error("cannot encode monitor message", "kind", m.Kind(), "err", err)
		return
	}
	s.fx.Publish(b)
}

// HandleMessage processes one message received from peer on the main socket.
func (s *State) HandleMessage(now time.Time, peer string, raw []byte) {
	m, err := protocol.Decode(raw)
	if err != nil {
		s.log.Warn("dropping malformed message", "peer", peer, "bytes", len(raw), "err", err)
		return
	}
	s.received.add(m.Kind())
	if protocol.IsClientID(peer) {
		if c, ok := s.clients[peer]; ok {
			c.seen(now)
		}
	}
	switch m := m.(type) {
	case *protocol.ClientHeartbeat:
		s.onClientHeartbeat(now, peer, m)
	case *protocol.ClientDisconnect:
		s.onClientDisconnect(now, peer, m)
	case *protocol.Task:
		s.onTask(now, peer, m, raw)
	case *protocol.GraphTask:
		s.onGraphTask(now, peer, m)
	case *protocol.TaskCancel:
		s.onTaskCancel(now, peer, m)
	case *protocol.TaskCancelConfirm:
		s.onTaskCancelConfirm(now, peer, m)
	case *protocol.TaskResult:
		s.onTaskResult(now, peer, m, raw)
	case *protocol.TaskLog:
		s.onTaskLog(peer, m, raw)
	case *protocol.WorkerHeartbeat:
		s.onWorkerHeartbeat(now, peer, m)
	case *protocol.DisconnectRequest:
		s.onDisconnectRequest(now, peer, m)
	case *protocol.ObjectInstruction:
		s.onObjectInstruction(now, peer, m)
	case *protocol.WorkerManagerHeartbeat:
		s.onManagerHeartbeat(now, peer, m)
	case *protocol.InformationRequest:
		s.onInformationRequest(now, peer, m)
	default:
		s.log.Warn("dropping unexpected message", "peer", peer, "kind", m.Kind())
	}
}

// HandlePeerEvent processes a transport event about peer (YMQ only).
func (s *State) HandlePeerEvent(now time.Time, peer string, kind transport.EventKind) {
	switch kind {
	case transport.EventConnected:
		if c, ok := s.clients[peer]; ok {
			c.detachedAt = time.Time{}
		}
		if w, ok := s.workers[peer]; ok {
			w.detachedAt = time.Time{}
		}
	case transport.EventClosed:
		// An orderly close means the peer is gone for good: a YMQ connector never
		// reconnects after a FIN.
		s.peerGone(now, peer, "connection closed")
	case transport.EventAborted:
		if c, ok := s.clients[peer]; ok && c.detachedAt.IsZero() {
			c.detachedAt = now
		}
		if w, ok := s.workers[peer]; ok && w.detachedAt.IsZero() {
			w.detachedAt = now
		}
	}
}

func (s *State) peerGone(now time.Time, peer, why string) {
	if _, ok := s.clients[peer]; ok {
		s.disconnectClient(now, peer, why)
	}
	if _, ok := s.workers[peer]; ok {
		s.disconnectWorker(now, peer, why)
	}
	if m, ok := s.managers[peer]; ok {
		s.log.Info("worker manager left", "manager", m.id, "identity", peer, "reason", why)
		s.removeManager(peer)
	}
}

// Tick runs the periodic routines that are due; call it often (every 100 ms or so).
func (s *State) Tick(now time.Time) {
	if now.Sub(s.lastHousekeeping) >= time.Second {
		s.lastHousekeeping = now
		s.expireClients(now)
		s.expireWorkers(now)
		s.expireManagers(now)
		s.objects.expireOrphans(now, s.cfg.ObjectRetention)
		s.flushDeletes()
		s.compact()
	}
	if s.cfg.LoadBalanceInterval > 0 && now.Sub(s.lastBalance) >= s.cfg.LoadBalanceInterval {
		s.lastBalance = now
		s.balance(now)
	}
	s.flushTaskEvents(true)
	if len(s.events.shown) > len(s.tasks) {
		// Nothing is pending now: a shown task that is gone left without a terminal event.
		for id := range s.events.shown {
			if _, live := s.tasks[id]; !live {
				delete(s.events.shown, id)
			}
		}
	}
	if s.cfg.StatusReportInterval > 0 && now.Sub(s.lastStatus) >= s.cfg.StatusReportInterval {
		s.lastStatus = now
		if s.fx.MonitorActive() {
			s.publish(s.Status(now))
		} else if s.events.shown != nil {
			// Nobody listens: a later subscriber starts from a clean slate.
			s.resetTaskEvents()
		}
	}
}

// ShuttingDown reports whether an accepted shutdown ended the scheduler.
func (s *State) ShuttingDown() bool { return s.shuttingDown }

// Counts are numbers for tests and benchmarks.
type Counts struct {
	Tasks, Queued, Clients, Workers, Objects, Managers, Graphs int
}

// Counts returns the sizes of the scheduler's tables.
func (s *State) Counts() Counts {
	return Counts{
		Tasks:    len(s.tasks),
		Queued:   s.unassigned.len(),
		Clients:  len(s.clients),
		Workers:  len(s.workers),
		Objects:  s.objects.len(),
		Managers: len(s.managers),
		Graphs:   len(s.graphs),
	}
}

// compact gives memory back after a burst: Go maps never shrink, so tables that grew large
// and are now empty are replaced, and the freed memory is returned to the OS, so a scheduler
// that ran millions of tasks goes back to its idle footprint.
func (s *State) compact() {
	const big = 4096
	if len(s.tasks) != 0 || s.peakTasks < big {
		return
	}
	s.tasks = map[protocol.TaskID]*taskEntry{}
	s.peakTasks = 0
	s.unassigned = taskQueue{}
	s.groups = map[string]*policy.TaskGroup{}
	s.alloc.Compact()
	for _, c := range s.clients {
		c.tasks = map[protocol.TaskID]struct{}{}
	}
	s.objects.compact()
	s.fx.ReleaseMemory()
}
