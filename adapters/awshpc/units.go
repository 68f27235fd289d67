package awshpc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

// Units is the aws_hpc provisioner: each unit is a worker agent running in this process
// with the Backend as its executor, so it takes up to max_concurrent_jobs tasks from the
// scheduler and runs them as Batch jobs. Its methods are safe for concurrent use.
type Units struct {
	template worker.Config
	name     string
	backend  *Backend
	log      *slog.Logger

	mu     sync.Mutex
	units  []*unit // oldest first
	closed bool
	wg     sync.WaitGroup
}

type unit struct {
	name   string
	cancel context.CancelFunc
}

// NewUnits returns the provisioner. template configures every unit's agent (scheduler,
// object storage, concurrency = max_concurrent_jobs, heartbeats...); name overrides the
// worker name, which is otherwise "AWS|<hex>" per unit.
func NewUnits(template worker.Config, name string, backend *Backend, log *slog.Logger) *Units {
	if log == nil {
		log = slog.Default()
	}
	template.Executor = backend
	return &Units{template: template, name: name, backend: backend, log: log}
}

// Units is the number of running units.
func (u *Units) Units() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.units)
}

// StartUnits starts n agents.
func (u *Units) StartUnits(ctx context.Context, n int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return errors.New("the manager is stopping")
	}
	for i := 0; i < n; i++ {
		cfg := u.template
		cfg.Name = u.name
		if cfg.Name == "" {
			cfg.Name = "AWS|" + protocol.NewTaskID().String()
		}
		actx, cancel := context.WithCancel(context.Background())
		un := &unit{name: cfg.Name, cancel: cancel}
		u.units = append(u.units, un)
		a := worker.New(cfg)
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			err := a.Run(actx)
			u.mu.Lock()
			for i, x := range u.units {
				if x == un {
					// It ended on its own (scheduler gone, death timeout): drop it so the
					// reconciler starts another if one is still wanted.
					u.units = append(u.units[:i], u.units[i+1:]...)
					break
				}
			}
			u.mu.Unlock()
			if err != nil && actx.Err() == nil {
				u.log.Warn("aws_hpc unit ended", "worker", a.Identity(), "err", err)
			}
		}()
		u.log.Info("started aws_hpc unit", "worker", a.Identity())
	}
	return nil
}

// StopUnits stops the n oldest units: each leaves the scheduler, which re-queues what it
// held; their jobs still running are terminated as their tasks are cancelled.
func (u *Units) StopUnits(ctx context.Context, n int) error {
	u.mu.Lock()
	n = min(n, len(u.units))
	victims := append([]*unit(nil), u.units[:n]...)
	u.units = u.units[n:]
	u.mu.Unlock()
	for _, v := range victims {
		u.log.Info("stopping aws_hpc unit", "worker", v.name)
		v.cancel()
	}
	return nil
}

// Close stops every unit, then terminates every Batch job still running and deletes their
// inputs.
func (u *Units) Close(ctx context.Context) error {
	u.mu.Lock()
	u.closed = true
	all := u.units
	u.units = nil
	u.mu.Unlock()
	for _, v := range all {
		v.cancel()
	}
	done := make(chan struct{})
	go func() {
		u.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		// An agent that cannot say goodbye to a gone scheduler must not keep its jobs alive.
	}
	return u.backend.Close(ctx)
}
