// Package manager is the worker-manager runtime shared by every adapter: it heartbeats to the
// scheduler (maximum concurrency, capabilities, manager id), turns the scheduler's
// declarative WorkerManagerCommands into a desired number of units, and reconciles an
// adapter's units toward it (spec/protocol.md §7.12, spec/features.md §2.1, §3.1).
//
// An adapter implements Provisioner: start and stop units (a local worker process, a cloud
// task, a batch unit...). Reconciliation runs on its own goroutine, so a slow cloud API never
// delays heartbeats; changes that arrive while it works are coalesced.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/policy"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// Provisioner starts and stops an adapter's units.
type Provisioner interface {
	// Units is how many units exist or are starting.
	Units() int
	// StartUnits starts n more units.
	StartUnits(ctx context.Context, n int) error
	// StopUnits stops n units, idle ones first.
	StopUnits(ctx context.Context, n int) error
	// Close stops every unit; it is called once when the manager ends.
	Close(ctx context.Context) error
}

// Unlimited is the maximum-concurrency value meaning "no cap". The wire field is unsigned, so
// -1 (the configuration's "unlimited") is sent as the largest value, which every policy then
// treats as no cap (the reference cannot encode -1 at all, spec/protocol.md §7.12).
const Unlimited = -1

// Config configures a Runner.
type Config struct {
	// SchedulerAddress is where the manager connects.
	SchedulerAddress address.Address
	// ManagerID is the logical id in every heartbeat; workers carry it too.
	ManagerID string
	// Role names the manager in its connection identity ("worker_manager_native").
	Role string
	// MaxTaskConcurrency is the most workers the manager will run (Unlimited for no cap).
	MaxTaskConcurrency int
	// WorkersPerUnit is how many workers one unit provides (a cloud instance with 4 vCPUs
	// runs 4); 0 means 1.
	WorkersPerUnit int
	// Capabilities are what its workers advertise.
	Capabilities []protocol.Capability
	// HeartbeatInterval is the heartbeat period (default 2 s).
	HeartbeatInterval time.Duration
	// EchoTimeout ends the manager when the scheduler stops echoing (default 30 s); without
	// any echo it means the scheduler refused the manager id.
	EchoTimeout time.Duration
	// Backend is the scheduler transport; nil means SCALER_NETWORK_BACKEND.
	Backend transport.Backend
	// Logger receives the manager's logs.
	Logger *slog.Logger
}

// ErrRefused means the scheduler never acknowledged the manager (most likely another
// manager already uses the same id).
var ErrRefused = errors.New("the scheduler did not accept this worker manager")

// Runner is a running worker manager.
type Runner struct {
	cfg  Config
	prov Provisioner
	log  *slog.Logger

	mu      sync.Mutex
	desired int
	wake    chan struct{}
}

// NewRunner returns a runner for prov.
func NewRunner(cfg Config, prov Provisioner) *Runner {
	if cfg.WorkersPerUnit <= 0 {
		cfg.WorkersPerUnit = 1
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.EchoTimeout <= 0 {
		cfg.EchoTimeout = 30 * time.Second
	}
	if cfg.Role == "" {
		cfg.Role = "worker_manager"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{cfg: cfg, prov: prov, log: cfg.Logger.With("worker_manager_id", cfg.ManagerID), wake: make(chan struct{}, 1)}
}

// maxUnits is the cap on units, -1 for none.
func (r *Runner) maxUnits() int {
	if r.cfg.MaxTaskConcurrency < 0 {
		return -1
	}
	return ceilDiv(r.cfg.MaxTaskConcurrency, r.cfg.WorkersPerUnit)
}

// heartbeatMax is the maxTaskConcurrency field: max units × workers per unit.
func (r *Runner) heartbeatMax() uint32 {
	mu := r.maxUnits()
	if mu < 0 || uint64(mu)*uint64(r.cfg.WorkersPerUnit) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(mu * r.cfg.WorkersPerUnit)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// UnitsFor turns a desired worker count into units, capped by the maximum.
func (r *Runner) UnitsFor(desiredWorkers int) int {
	u := ceilDiv(max(0, desiredWorkers), r.cfg.WorkersPerUnit)
	if mu := r.maxUnits(); mu >= 0 && u > mu {
		u = mu
	}
	return u
}

// Run connects, heartbeats and reconciles until ctx ends or the scheduler goes away; then it
// stops every unit.
func (r *Runner) Run(ctx context.Context) error {
	b := r.cfg.Backend
	if b == nil {
		var err error
		if b, err = transport.FromEnv(); err != nil {
			return err
		}
	}
	identity := protocol.NewProcessIdentity(os.Getpid(), r.cfg.Role)
	conn, err := b.Connect(ctx, r.cfg.SchedulerAddress, transport.Options{Identity: identity, Logger: r.log})
	if err != nil {
		return fmt.Errorf("connect to scheduler %s: %w", r.cfg.SchedulerAddress, err)
	}
	defer conn.Close()
	rctx, stopReconcile := context.WithCancel(context.Background())
	reconciled := make(chan struct{})
	go func() {
		defer close(reconciled)
		r.reconcileLoop(rctx)
	}()
	defer func() {
		stopReconcile()
		<-reconciled
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := r.prov.Close(cctx); err != nil {
			r.log.Error("stopping units failed", "err", err)
		}
	}()
	r.log.Info("worker manager started", "scheduler", r.cfg.SchedulerAddress, "max_task_concurrency", r.cfg.MaxTaskConcurrency,
		"workers_per_unit", r.cfg.WorkersPerUnit, "identity", identity)
	return r.loop(ctx, conn)
}

func (r *Runner) loop(ctx context.Context, conn transport.Connector) error {
	hb := &protocol.WorkerManagerHeartbeat{MaxTaskConcurrency: r.heartbeatMax(), Capabilities: r.cfg.Capabilities, WorkerManagerID: []byte(r.cfg.ManagerID)}
	raw, err := protocol.Encode(hb)
	if err != nil {
		return err
	}
	send := func() { _ = conn.Send(append([]byte(nil), raw...)) }
	send()
	tick := time.NewTicker(r.cfg.HeartbeatInterval)
	defer tick.Stop()
	start := time.Now()
	var lastEcho time.Time
	for {
		select {
		case <-ctx.Done():
			r.log.Info("worker manager stopping")
			return nil
		case now := <-tick.C:
			switch {
			case lastEcho.IsZero() && now.Sub(start) > r.cfg.EchoTimeout:
				return fmt.Errorf("%w: no echo to manager id %q for %s (is another manager using the same id?)",
					ErrRefused, r.cfg.ManagerID, r.cfg.EchoTimeout)
			case !lastEcho.IsZero() && now.Sub(lastEcho) > r.cfg.EchoTimeout:
				return fmt.Errorf("the scheduler stopped answering for %s", now.Sub(lastEcho).Round(time.Second))
			}
			send()
		case msg, ok := <-conn.Messages():
			if !ok {
				if errors.Is(conn.Err(), transport.ErrClosedByPeer) {
					r.log.Info("the scheduler closed the connection")
					return nil
				}
				return fmt.Errorf("scheduler connection: %w", conn.Err())
			}
			m, err := protocol.Decode(msg)
			if err != nil {
				r.log.Warn("dropping malformed message from the scheduler", "err", err)
				continue
			}
			switch m := m.(type) {
			case *protocol.WorkerManagerHeartbeatEcho:
				if lastEcho.IsZero() {
					r.log.Info("scheduler accepted the worker manager")
				}
				lastEcho = time.Now()
			case *protocol.WorkerManagerCommand:
				r.setDesired(policy.DesiredFromCommand(m, r.cfg.Capabilities))
			default:
				r.log.Debug("ignoring message", "kind", m.Kind())
			}
		}
	}
}

// setDesired records the scheduler's latest wish (in workers) and wakes the reconciler.
func (r *Runner) setDesired(workers int) {
	units := r.UnitsFor(workers)
	r.mu.Lock()
	changed := r.desired != units
	r.desired = units
	r.mu.Unlock()
	if changed {
		r.log.Info("desired units changed", "desired_workers", workers, "units", units)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// reconcileLoop converges the units toward the desired count whenever it changes (or a unit
// went away on its own), one adapter call at a time.
func (r *Runner) reconcileLoop(ctx context.Context) {
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-retry.C:
		}
		r.mu.Lock()
		want := r.desired
		r.mu.Unlock()
		have := r.prov.Units()
		var err error
		switch {
		case want > have:
			err = r.prov.StartUnits(ctx, want-have)
		case want < have:
			err = r.prov.StopUnits(ctx, have-want)
		}
		if err != nil && ctx.Err() == nil {
			r.log.Error("reconciling units failed; will retry", "have", have, "want", want, "err", err)
		}
	}
}
