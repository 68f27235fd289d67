package applets

import (
	"runtime"
	"time"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/worker"
)

// workerOptions is the worker group shared by scaler_worker and every worker manager
// (spec/features.md §1.6.1).
type workerOptions struct {
	Capabilities      map[string]int
	QueueSize         int
	HeartbeatInterval int
	TaskTimeout       int
	DeathTimeout      int
	GCInterval        int
	TrimThreshold     int64
	HardSuspend       bool
	IOThreads         int
	EventLoop         string
	Preload           string
	Python            string
}

func workerGroup(o *workerOptions) *config.Group {
	return config.NewGroup("Worker",
		config.Capabilities(&o.Capabilities, "per-worker-capabilities", "pwc",
			"capabilities every worker advertises: name[=quantity],... (a bare name means any quantity)"),
		config.Int(&o.QueueSize, "per-worker-task-queue-size", "wtqs", 1000, "tasks the scheduler may assign to one worker").Check(config.Positive[int]),
		config.Int(&o.HeartbeatInterval, "heartbeat-interval-seconds", "his", 2, "heartbeat period").Check(config.Positive[int]),
		config.Int(&o.TaskTimeout, "task-timeout-seconds", "tts", 0, "fail a task running longer than this (0 = no limit)").Check(config.NonNegative[int]),
		config.Int(&o.DeathTimeout, "death-timeout-seconds", "dts", 300, "a worker without an answer from the scheduler for this long exits").Check(config.Positive[int]),
		config.Int(&o.GCInterval, "garbage-collect-interval-seconds", "gc", 30, "Python processors run gc.collect() this often").Check(config.Positive[int]),
		config.Int64(&o.TrimThreshold, "trim-memory-threshold-bytes", "tm", 1<<30, "Python processors call malloc_trim above this RSS").Check(config.NonNegative[int64]),
		config.Bool(&o.HardSuspend, "hard-processor-suspend", "hps", "suspend preempted Python processors with SIGSTOP instead of cooperatively"),
		config.Int(&o.IOThreads, "io-threads", "it", 1, "accepted for compatibility: the Go runtime schedules I/O itself").Check(config.Positive[int]),
		config.Enum(&o.EventLoop, "event-loop", "el", "builtin", []string{"builtin", "uvloop"}, "accepted for compatibility: Go has one runtime"),
		config.String(&o.Preload, "preload", "", "",
			"run once in every worker before it takes tasks: a registered Go preload name, or a Python 'module.path:func(args)' for Python processors"),
		config.String(&o.Python, "python", "", "python3", "Python interpreter for Python tasks (needs cloudpickle; tblib recommended)"),
	)
}

// apply copies the group into a worker configuration.
func (o *workerOptions) apply(c *worker.Config) {
	c.Capabilities = capabilities(o.Capabilities)
	c.QueueSize = o.QueueSize
	c.HeartbeatInterval = time.Duration(o.HeartbeatInterval) * time.Second
	c.TaskTimeout = time.Duration(o.TaskTimeout) * time.Second
	c.DeathTimeout = time.Duration(o.DeathTimeout) * time.Second
	c.Preload = o.Preload
	c.Python.Interpreter = o.Python
	c.Python.GCInterval = time.Duration(o.GCInterval) * time.Second
	c.Python.TrimThreshold = o.TrimThreshold
	c.Python.HardSuspend = o.HardSuspend
}

func defaultConcurrency() int { return runtime.NumCPU() }
