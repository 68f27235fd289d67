// Package proc starts helper processes of this same binary (workers, a benchmark's scheduler)
// the way Nomad re-executes itself: the child runs `<this executable> <command> args...`,
// which the multicall dispatch routes to the command.
//
// Children die with their parent (Linux parent-death signal), so a killed launcher or
// manager never leaves orphan workers behind.
package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

var selfPath = sync.OnceValues(os.Executable)

// Self returns the path of the running executable.
func Self() (string, error) {
	p, err := selfPath()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	return p, nil
}

// Command returns a command running this binary's command name with args. The child gets
// SIGKILL if this process dies, and its own process group so terminal signals reach the
// parent first and the parent decides how children stop.
func Command(command string, args ...string) (*exec.Cmd, error) {
	self, err := Self()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{command}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd, nil
}

// Stop asks a process to stop with sig, waits up to grace for done to close, then kills it
// (and its process group) and waits for done.
func Stop(cmd *exec.Cmd, done <-chan struct{}, sig syscall.Signal, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
	<-done
}

// RunWithContext starts cmd and returns a channel closed when it exits (its error, if any,
// is sent first); when ctx ends the process gets sig, then SIGKILL after grace.
func RunWithContext(ctx context.Context, cmd *exec.Cmd, sig syscall.Signal, grace time.Duration) (<-chan error, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		result <- err
		close(exited)
	}()
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
			Stop(cmd, exited, sig, grace)
		}
	}()
	return result, nil
}
