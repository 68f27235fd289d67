package symphony

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

// ProvisionerConfig configures the manager's units.
type ProvisionerConfig struct {
	// Worker is the template of every unit's agent: scheduler and object storage addresses,
	// manager id, capabilities, queue size, heartbeat and death timeout, backend, logger.
	// Name, Executor and ExactIdentity are set per unit.
	Worker worker.Config
	// NamePrefix starts unit names: "<prefix>|<hex32>" (default SYM, as the Python adapter).
	NamePrefix string
}

type unit struct {
	name     string
	exec     *Unit
	cancel   context.CancelFunc
	stopping bool
}

// Provisioner runs the manager's units (core/manager.Provisioner): each unit is a worker
// agent in this process whose tasks go to the shared Executor. It is safe for concurrent use.
type Provisioner struct {
	cfg  ProvisionerConfig
	exec *Executor
	log  *slog.Logger

	mu     sync.Mutex
	units  []*unit // oldest first
	closed bool
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// NewProvisioner returns a provisioner whose units use exec; Close closes exec too.
func NewProvisioner(cfg ProvisionerConfig, exec *Executor) *Provisioner {
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "SYM"
	}
	if cfg.Worker.Logger == nil {
		cfg.Worker.Logger = slog.Default()
	}
	return &Provisioner{cfg: cfg, exec: exec, log: cfg.Worker.Logger}
}

// Units is the number of units running and not being stopped.
func (p *Provisioner) Units() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, u := range p.units {
		if !u.stopping {
			n++
		}
	}
	return n
}

// StartUnits starts n units. While Symphony is unavailable it starts none: tasks then
// wait in the scheduler (where other managers may take them) instead of in units that
// cannot run them; the executor logs the outage, and the manager's reconciler tries again.
func (p *Provisioner) StartUnits(ctx context.Context, n int) error {
	if st, err := p.exec.State(); st == StateUnavailable {
		p.log.Debug("not starting units while Symphony is unavailable", "wanted", n, "reason", err)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("the Symphony worker manager is stopping")
	}
	for i := 0; i < n; i++ {
		p.startLocked()
	}
	return nil
}

func (p *Provisioner) startLocked() {
	name := p.cfg.NamePrefix + "|" + protocol.NewTaskID().String()
	u := &unit{name: name, exec: p.exec.NewUnit(name)}
	cfg := p.cfg.Worker
	cfg.Name, cfg.ExactIdentity, cfg.Executor = name, false, u.exec
	agent := worker.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	p.units = append(p.units, u)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := agent.Run(ctx)
		cancel()
		p.mu.Lock()
		for i, x := range p.units {
			if x == u {
				p.units = append(p.units[:i], p.units[i+1:]...)
				break
			}
		}
		expected := u.stopping || p.closed
		p.mu.Unlock()
		switch {
		case expected && err == nil:
			p.log.Info("Symphony unit stopped", "unit", name)
		case expected:
			p.log.Info("Symphony unit stopped", "unit", name, "err", err)
		default:
			p.log.Warn("Symphony unit ended on its own; the manager starts another if needed", "unit", name, "err", err)
		}
	}()
	p.log.Info("Symphony unit started", "unit", name, "identity", agent.Identity())
}

// StopUnits stops up to n units, oldest first, among those with no task in Symphony: a
// unit that leaves gives its tasks back to the scheduler, which would run again the ones
// Symphony is running (Symphony cannot abort them). Busy units are left for a later call,
// when their tasks have finished.
func (p *Provisioner) StopUnits(ctx context.Context, n int) error {
	p.mu.Lock()
	var idle, busy []*unit
	for _, u := range p.units {
		if u.stopping {
			continue
		}
		if u.exec.InSymphony() == 0 {
			idle = append(idle, u)
		} else {
			busy = append(busy, u)
		}
	}
	victims := idle[:min(n, len(idle))]
	for _, u := range victims {
		u.stopping = true
	}
	p.mu.Unlock()
	for _, u := range victims {
		p.log.Info("stopping Symphony unit", "unit", u.name)
		u.exec.Drain()
		u.cancel()
	}
	if left := n - len(victims); left > 0 {
		p.log.Info("Symphony units with tasks in Symphony keep running until those finish", "not_stopped", left, "busy_units", len(busy))
	}
	return nil
}

// Close stops every unit (each leaves the scheduler, which takes its tasks back), waits for
// them, then closes the executor and its Symphony session.
func (p *Provisioner) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		for _, u := range p.units {
			u.stopping = true
			u.exec.Drain()
			u.cancel()
		}
		p.mu.Unlock()
		done := make(chan struct{})
		go func() {
			p.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			p.log.Warn("Symphony units did not stop in time", "err", ctx.Err())
		}
		p.closeErr = p.exec.Close(ctx)
		if ctx.Err() != nil {
			<-done // the executor is closed: every Execute has returned, so the agents end
		}
	})
	return p.closeErr
}
