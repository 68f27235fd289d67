// Package keepawake keeps this process's CPU out of deep idle for a short window after
// network activity, so the reply to a message does not wait for an idle CPU to wake up.
//
// On virtual machines whose hypervisor does no halt polling, a CPU that goes idle costs
// tens of microseconds to wake, and a task crossing four processes pays that on every hop:
// on the 2-core development VM that was most of the end-to-end latency. The keeper is one
// operating-system thread outside the Go scheduler, running at SCHED_IDLE priority: after
// Touch it spins until the window has passed without another Touch, then sleeps. At idle
// priority it never keeps runnable work off a CPU, and it holds no Go P. Dense traffic keeps
// the CPUs awake by itself, so when touches come thick during a spin the keeper steps aside
// for a window instead of spinning in the gaps, where it would only slow the busy threads.
//
// SCALER_IDLE_SPIN_US sets the window in microseconds (default 0, off; 1000 is a good value
// where latency matters more than throughput).
// Builds without cgo, and systems that refuse an idle-priority thread, run without it.
package keepawake

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// EnvWindow names the environment variable that sets the spin window in microseconds.
const EnvWindow = "SCALER_IDLE_SPIN_US"

// DefaultWindow is the spin window when EnvWindow is unset: off. On the development VM a
// 1 ms window cut end-to-end p50 latency by 11-17% at unchanged throughput, but raised p99
// by about half and burns idle CPU, so it is a choice for latency-bound deployments.
const DefaultWindow = 0

// maxWindow bounds the window: beyond a few milliseconds a sleeping thread wakes in time anyway.
const maxWindow = 10 * time.Millisecond

var (
	startOnce sync.Once
	enabled   bool
	// unavailable says why the keeper is off although the window asks for it.
	unavailable error
)

// Window parses EnvWindow's value ("" gives DefaultWindow).
func Window(v string) (time.Duration, error) {
	if v == "" {
		return DefaultWindow, nil
	}
	us, err := strconv.Atoi(v)
	if err != nil || us < 0 {
		return 0, fmt.Errorf("%s=%q: want a whole number of microseconds, 0 or more", EnvWindow, v)
	}
	return min(time.Duration(us)*time.Microsecond, maxWindow), nil
}

// CheckEnv reports a malformed EnvWindow, for commands to refuse at startup.
func CheckEnv() error {
	_, err := Window(os.Getenv(EnvWindow))
	return err
}

// start starts the keeper once, with the window from the environment; a malformed value
// leaves it off (commands report it through CheckEnv).
func start() {
	startOnce.Do(func() {
		w, err := Window(os.Getenv(EnvWindow))
		if err != nil || w == 0 {
			return
		}
		if err := startKeeper(w); err != nil {
			unavailable = err
			return
		}
		enabled = true
	})
}

// Touch records network activity: the keeper spins for the window from now.
func Touch() {
	start()
	if enabled {
		touch()
	}
}

// Enabled reports whether the keeper runs, and if it does not although the window asks
// for it, why.
func Enabled() (bool, error) {
	start()
	return enabled, unavailable
}
