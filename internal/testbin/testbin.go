// Package testbin builds the real scaler binary once per test process and starts its
// commands as processes on random loopback ports, for integration tests.
package testbin

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/proc"
	"github.com/scaler-go/scaler/internal/freeport"
	"github.com/scaler-go/scaler/internal/syncbuf"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// RepoRoot is the module root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary returns the path of a freshly built scaler binary (built once per process, in a
// temporary directory that lives until the process ends).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scaler-testbin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "scaler")
		cmd := exec.Command("go", "build", "-o", buildPath, ".")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// FreePorts returns p such that p..p+n-1 are free on 127.0.0.1 (the scheduler uses its
// port + 1 and + 2).
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	p, err := freeport.Run(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Proc is a running command of the binary.
type Proc struct {
	Cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

// Start runs `scaler <command> args...` (command may be "" for the launcher) with extra
// environment entries. The process is stopped (SIGTERM, then SIGKILL) when the test ends.
func Start(t testing.TB, env []string, command string, args ...string) *Proc {
	t.Helper()
	var argv []string
	if command != "" {
		argv = append(argv, command)
	}
	argv = append(argv, args...)
	cmd := exec.Command(Binary(t), argv...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", command, args, p.Output())
		}
	})
	return p
}

// Output is everything the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process exits.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (after Done).
func (p *Proc) Err() error { return p.err }

// ExitCode is the exit status (after Done), -1 when killed by a signal.
func (p *Proc) ExitCode() int { return p.Cmd.ProcessState.ExitCode() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits up to grace, then kills the process group.
func (p *Proc) Stop(grace time.Duration) { proc.Stop(p.Cmd, p.done, syscall.SIGTERM, grace) }

// Wait waits for the process to exit within d.
func (p *Proc) Wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("process %v did not exit within %s; output:\n%s", p.Cmd.Args, d, p.Output())
	}
}

// WaitOutput polls the output until it contains s.
func (p *Proc) WaitOutput(t testing.TB, s string, d time.Duration) {
	t.Helper()
	Eventually(t, d, func() error {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		return fmt.Errorf("output does not contain %q yet", s)
	})
}

// Eventually polls fn until it returns nil or d passes.
func Eventually(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cluster is a scheduler (with object storage at port + 1, monitor at + 2) and workers.
type Cluster struct {
	Scheduler *Proc
	Workers   []*Proc
	Port      int
	Env       []string
}

// Address is the scheduler address.
func (c *Cluster) Address() string { return "tcp://127.0.0.1:" + strconv.Itoa(c.Port) }

// Monitor is the monitor address.
func (c *Cluster) Monitor() string { return "tcp://127.0.0.1:" + strconv.Itoa(c.Port+2) }

// ObjectStorage is the object storage address.
func (c *Cluster) ObjectStorage() string { return "tcp://127.0.0.1:" + strconv.Itoa(c.Port+1) }

// StartCluster starts a scheduler (extra scheduler args appended) and n workers.
func StartCluster(t testing.TB, env []string, workers int, schedArgs ...string) *Cluster {
	t.Helper()
	c := &Cluster{Port: FreePorts(t, 3), Env: env}
	c.Scheduler = Start(t, env, "scaler_scheduler", append([]string{c.Address(), "--logging-level", "DEBUG"}, schedArgs...)...)
	c.Scheduler.WaitOutput(t, "scheduler started", 20*time.Second)
	for i := 0; i < workers; i++ {
		c.AddWorker(t)
	}
	return c
}

// AddWorker starts one more worker process.
func (c *Cluster) AddWorker(t testing.TB, args ...string) *Proc {
	t.Helper()
	w := Start(t, c.Env, "scaler_worker", append([]string{c.Address(), "--heartbeat-interval-seconds", "1"}, args...)...)
	c.Workers = append(c.Workers, w)
	return w
}

// WaitWorkers waits until the scheduler logged n worker connections.
func (c *Cluster) WaitWorkers(t testing.TB, n int, d time.Duration) {
	t.Helper()
	Eventually(t, d, func() error {
		got := strings.Count(c.Scheduler.Output(), "worker connected")
		if got >= n {
			return nil
		}
		return fmt.Errorf("%d of %d workers connected", got, n)
	})
}

// Lines returns the non-empty lines of s.
func Lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
