// Package baremetal is the baremetal_native worker manager: worker processes on this host,
// each a re-execution of this binary as scaler_worker (spec/features.md §3.3).
//
// In dynamic mode the scheduler's commands decide how many run (through core/manager); in
// fixed mode exactly the configured number run and a worker that dies is replaced. Workers
// report how many tasks they hold on a pipe, so scale-down stops idle workers first.
package baremetal

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/proc"
	"github.com/scaler-go/scaler/core/protocol"
)

// Config configures the native manager's workers.
type Config struct {
	// SchedulerAddress is given to the workers.
	SchedulerAddress address.Address
	// ObjectStorageAddress, when set, is given to the workers.
	ObjectStorageAddress address.Address
	// ManagerID is stamped into the workers' heartbeats.
	ManagerID string
	// WorkerType prefixes worker names: "<type>|<hex32>" (default NAT dynamic, FIX fixed).
	WorkerType string
	// WorkerArgs are extra scaler_worker flags (worker options, logging).
	WorkerArgs []string
	// Env is extra environment for the workers.
	Env []string
	// StopGrace is how long a worker has to leave after SIGTERM before SIGKILL (default 10 s).
	StopGrace time.Duration
	// Logger receives the manager's logs.
	Logger *slog.Logger
}

type unit struct {
	name     string
	cmd      *exec.Cmd
	done     chan struct{}
	tasks    atomic.Int64
	started  time.Time
	stopping bool
}

// Native runs worker processes. Its methods are safe for concurrent use: the reconciler,
// the exit watchers and Close share the unit table under a mutex.
type Native struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	units   map[*unit]struct{}
	closed  bool
	exited  chan *unit // exits, for fixed mode
	watches sync.WaitGroup
}

// NewNative returns a native provisioner.
func NewNative(cfg Config) *Native {
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.WorkerType == "" {
		cfg.WorkerType = "NAT"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Native{cfg: cfg, log: cfg.Logger, units: map[*unit]struct{}{}, exited: make(chan *unit, 64)}
}

// Units is the number of workers running and not being stopped.
func (n *Native) Units() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for u := range n.units {
		if !u.stopping {
			c++
		}
	}
	return c
}

// Busy returns how many workers hold at least one task.
func (n *Native) Busy() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for u := range n.units {
		if !u.stopping && u.tasks.Load() > 0 {
			c++
		}
	}
	return c
}

// StartUnits starts k workers.
func (n *Native) StartUnits(ctx context.Context, k int) error {
	for i := 0; i < k; i++ {
		if err := n.start(); err != nil {
			return err
		}
	}
	return nil
}

func (n *Native) start() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return fmt.Errorf("manager is stopping")
	}
	n.mu.Unlock()
	name := n.cfg.WorkerType + "|" + protocol.NewTaskID().String()
	args := []string{n.cfg.SchedulerAddress.String(), "--worker-name", name, "--worker-manager-id", n.cfg.ManagerID,
		"--max-task-concurrency", "1", "--status-fd", "3"}
	if !n.cfg.ObjectStorageAddress.IsZero() {
		args = append(args, "--object-storage-address", n.cfg.ObjectStorageAddress.String())
	}
	args = append(args, n.cfg.WorkerArgs...)
	cmd, err := proc.Command("scaler_worker", args...)
	if err != nil {
		return err
	}
	cmd.Env = append(os.Environ(), n.cfg.Env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("status pipe: %w", err)
	}
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	w.Close()
	u := &unit{name: name, cmd: cmd, done: make(chan struct{}), started: time.Now()}
	n.mu.Lock()
	n.units[u] = struct{}{}
	n.mu.Unlock()
	n.log.Info("worker started", "worker_name", name, "pid", cmd.Process.Pid)
	n.watches.Add(2)
	go func() {
		defer n.watches.Done()
		// The worker writes "tasks N" lines; the pipe closes when it exits.
		s := bufio.NewScanner(r)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "tasks "); ok {
				if c, err := strconv.ParseInt(v, 10, 64); err == nil {
					u.tasks.Store(c)
				}
			}
		}
		r.Close()
	}()
	go func() {
		defer n.watches.Done()
		err := cmd.Wait()
		close(u.done)
		n.mu.Lock()
		delete(n.units, u)
		stopping, closed := u.stopping, n.closed
		n.mu.Unlock()
		if stopping || closed {
			n.log.Info("worker stopped", "worker_name", u.name, "status", exitText(err))
			return
		}
		level := slog.LevelWarn
		if err == nil {
			level = slog.LevelInfo
		}
		n.log.Log(context.Background(), level, "worker exited on its own", "worker_name", u.name, "status", exitText(err), "held_tasks", u.tasks.Load())
		select {
		case n.exited <- u:
		default:
		}
	}()
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit %d", ee.ExitCode())
	}
	return err.Error()
}

// StopUnits stops k workers: idle ones first, then the least busy, oldest first among equals.
func (n *Native) StopUnits(ctx context.Context, k int) error {
	n.mu.Lock()
	var live []*unit
	for u := range n.units {
		if !u.stopping {
			live = append(live, u)
		}
	}
	sort.Slice(live, func(i, j int) bool {
		ti, tj := live[i].tasks.Load(), live[j].tasks.Load()
		if ti != tj {
			return ti < tj
		}
		return live[i].started.Before(live[j].started)
	})
	if k > len(live) {
		k = len(live)
	}
	victims := live[:k]
	for _, u := range victims {
		u.stopping = true
	}
	n.mu.Unlock()
	for _, u := range victims {
		n.log.Info("stopping worker", "worker_name", u.name, "held_tasks", u.tasks.Load())
		n.stop(u)
	}
	return nil
}

// stop sends SIGTERM (the worker leaves gracefully: the scheduler re-queues what it held),
// then SIGKILL after the grace period, without blocking the caller.
func (n *Native) stop(u *unit) {
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	n.watches.Add(1)
	go func() {
		defer n.watches.Done()
		t := time.NewTimer(n.cfg.StopGrace)
		defer t.Stop()
		select {
		case <-u.done:
		case <-t.C:
			n.log.Warn("worker did not stop in time; killing it", "worker_name", u.name)
			_ = syscall.Kill(-u.cmd.Process.Pid, syscall.SIGKILL)
			_ = u.cmd.Process.Kill()
		}
	}()
}

// Close stops every worker and waits for them.
func (n *Native) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	var all []*unit
	for u := range n.units {
		if !u.stopping {
			u.stopping = true
			all = append(all, u)
		}
	}
	n.mu.Unlock()
	for _, u := range all {
		n.stop(u)
	}
	done := make(chan struct{})
	go func() {
		n.watches.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		n.mu.Lock()
		for u := range n.units {
			_ = u.cmd.Process.Kill()
		}
		n.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// RunFixed keeps exactly count workers running until ctx ends: a worker that exits is
// replaced (after a growing pause when workers keep dying at once, so a broken setup does
// not spin).
func (n *Native) RunFixed(ctx context.Context, count int) error {
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), n.cfg.StopGrace+5*time.Second)
		defer cancel()
		n.Close(cctx)
	}()
	if err := n.StartUnits(ctx, count); err != nil {
		return err
	}
	n.log.Info("fixed worker manager running", "workers", count)
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case u := <-n.exited:
			if time.Since(u.started) < 5*time.Second {
				backoff = min(max(backoff*2, 500*time.Millisecond), 30*time.Second)
			} else {
				backoff = 0
			}
			if backoff > 0 {
				n.log.Warn("worker died soon after starting; pausing before replacing it", "pause", backoff)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(backoff):
				}
			}
			if missing := count - n.Units(); missing > 0 {
				if err := n.StartUnits(ctx, missing); err != nil {
					n.log.Error("replacing a worker failed", "err", err)
				}
			}
		}
	}
}
