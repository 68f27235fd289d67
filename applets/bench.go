package applets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/proc"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/sysinfo"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/freeport"
)

func init() {
	Register(Applet{Name: "scaler_bench", Summary: "load generator: push no-op tasks through a cluster and report throughput and latency", Run: runBench})
}

type benchOptions struct {
	Tasks       int
	Workers     int
	Scheduler   address.Address
	Function    string
	Latency     int
	LatThreads  int
	Window      int
	Concurrency int
	Backend     string
	WithMonitor bool
	Launcher    bool
	Logging     config.Logging
}

func benchCommand(o *benchOptions) *config.Command {
	return &config.Command{
		Name:    "scaler_bench",
		Usage:   "push no-op tasks through a cluster (its own, or --scheduler) and report tasks/s and latency",
		Section: "bench",
		Groups: []*config.Group{
			config.NewGroup("Load",
				config.Int(&o.Tasks, "tasks", "n", 100000, "tasks to push through").Check(config.Positive[int]),
				config.Int(&o.Workers, "workers", "w", 2, "worker processes to start with the benchmark's own scheduler").Check(config.Positive[int]),
				config.Address(&o.Scheduler, "scheduler", "s", "use the running cluster at this scheduler address instead of starting one"),
				config.String(&o.Function, "function", "f", "noop", "registered function to call (without arguments)"),
				config.Int(&o.Latency, "latency-samples", "ls", 2000, "sequential single-task round trips for the latency figures").Check(config.Positive[int]),
				config.Int(&o.LatThreads, "latency-threads", "", 1, "threads that run the benchmark's own Go code during the latency loop (GOMAXPROCS; 0 keeps the process's, as does a GOMAXPROCS in the environment unless this is given): the loop waits on one task at a time, like a sequential client, and one thread spares it the runtime's thread wake-ups").Check(config.NonNegative[int]),
				config.Int(&o.Window, "window", "", 20000, "tasks in flight at once").Check(config.Positive[int]),
				config.Int(&o.Concurrency, "max-task-concurrency", "mtc", defaultConcurrency(), "task slots of each started worker").Check(config.Positive[int]),
				config.Bool(&o.WithMonitor, "with-monitor", "", "keep a monitor subscriber (what scaler_top and scaler_gui do) on the scheduler during the run, to measure what it costs"),
				config.Bool(&o.Launcher, "via-launcher", "", "start the cluster with the launcher (`scaler FILE.toml`: scheduler and a dynamic baremetal_native manager of --workers workers) instead of starting workers by hand, and report the scale-up time"),
				config.NetworkBackend(&o.Backend),
			),
			config.LoggingGroup(&o.Logging),
		},
	}
}

func runBench(ctx context.Context, env Env, args []string) error {
	var o benchOptions
	res, err := parse(benchCommand(&o), env, args)
	if err != nil {
		return err
	}
	if !res.IsSet("logging-level") {
		o.Logging.Level = "WARNING"
	}
	log, closeLogs, err := newLogger(o.Logging, "bench", env, res)
	if err != nil {
		return err
	}
	defer closeLogs()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	b, err := backend(o.Backend)
	if err != nil {
		return err
	}

	addr := o.Scheduler
	var schedPID int
	what := "scheduler"
	if addr.IsZero() {
		port, err := freeport.Run(3)
		if err != nil {
			return err
		}
		addr = address.MustParse("tcp://127.0.0.1:" + strconv.Itoa(port))
	}
	monAddr := addr.WithPort(addr.Port + 2)
	if o.Scheduler.IsZero() && o.Launcher {
		var stop func()
		schedPID, stop, err = startLauncherStack(ctx, env, o, addr)
		if err != nil {
			return err
		}
		defer stop()
		what = "launcher (scheduler and manager)"
	} else if o.Scheduler.IsZero() {
		common := []string{"--logging-level", "WARNING", "--network-backend", o.Backend}
		cmd, schedDone, err := startCommand(ctx, env, "scheduler", 5*time.Second, "scaler_scheduler", append([]string{addr.String()}, common...)...)
		if err != nil {
			return err
		}
		schedPID = cmd.Process.Pid
		wctx, stopWorkers := context.WithCancel(ctx)
		defer stopWorkers()
		var workers []<-chan error
		for i := 0; i < o.Workers; i++ {
			_, wdone, err := startCommand(wctx, env, "worker", 5*time.Second, "scaler_worker",
				append([]string{addr.String(), "--max-task-concurrency", strconv.Itoa(o.Concurrency)}, common...)...)
			if err != nil {
				return err
			}
			workers = append(workers, wdone)
		}
		// Workers leave first, then the scheduler stops.
		defer func() {
			stopWorkers()
			for _, c := range workers {
				<-c
			}
			cancel()
			<-schedDone
		}()
		if err := waitForWorkers(ctx, monAddr, b, o.Workers); err != nil {
			return err
		}
	}
	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	c, err := client.Connect(cctx, addr.String(), client.WithLogger(log), client.WithBackend(o.Backend))
	ccancel()
	if err != nil {
		return err
	}

	var scaleUp time.Duration
	if o.Launcher && o.Scheduler.IsZero() {
		if scaleUp, err = measureScaleUp(ctx, c, monAddr, b, o.Workers, log); err != nil {
			c.Close()
			return err
		}
	}
	var mon *benchMonitor
	if o.WithMonitor {
		if mon, err = watchMonitor(ctx, monAddr, b, log); err != nil {
			c.Close()
			return err
		}
		defer mon.stop()
	}

	// Warm up: the first tasks size tables and pools; idle memory is read after them.
	warm := max(100, o.Tasks/100)
	if _, err := pushTasks(ctx, c, o.Function, warm, o.Window); err != nil {
		c.Close()
		return err
	}
	var rssIdle uint64
	if schedPID != 0 {
		rssIdle = settledRSS(ctx, schedPID, 2*time.Second)
	}

	if os.Getenv("GOMAXPROCS") != "" && !res.IsSet("latency-threads") {
		o.LatThreads = 0 // the user's GOMAXPROCS wins over the default
	}
	lat, err := measureLatency(ctx, c, o.Function, o.Latency, o.LatThreads)
	if err != nil {
		c.Close()
		return err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]

	var cpu0 float64
	if schedPID != 0 {
		cpu0, _ = sysinfo.ProcessCPUSeconds(strconv.Itoa(schedPID))
	}
	elapsed, err := pushTasks(ctx, c, o.Function, o.Tasks, o.Window)
	var schedCPU float64
	if schedPID != 0 {
		cpu1, _ := sysinfo.ProcessCPUSeconds(strconv.Itoa(schedPID))
		schedCPU = cpu1 - cpu0
	}
	c.Close()
	if err != nil {
		return err
	}
	rate := float64(o.Tasks) / elapsed.Seconds()
	fmt.Fprintf(env.Stdout, "pushed %d %s tasks through %s in %s (window %d)\n", o.Tasks, o.Function, addr, elapsed.Round(time.Millisecond), o.Window)
	fmt.Fprintf(env.Stdout, "latency over %d sequential tasks: p50 %s p99 %s\n", len(lat), p50, p99)
	line := fmt.Sprintf("tasks_per_s=%d p50_us=%d p99_us=%d", int64(rate), p50.Microseconds(), p99.Microseconds())
	if scaleUp > 0 {
		fmt.Fprintf(env.Stdout, "scale-up: %d workers busy %s after the first task was submitted\n", o.Workers, scaleUp.Round(time.Millisecond))
		line += fmt.Sprintf(" scale_up_ms=%d", scaleUp.Milliseconds())
	}
	if mon != nil {
		n, models := mon.stop()
		fmt.Fprintf(env.Stdout, "monitor subscriber: %d messages, %d status reports folded into the dashboard model\n", n, models)
		line += fmt.Sprintf(" monitor_msgs=%d", n)
	}
	if schedPID != 0 {
		// CPU time is steadier than wall time on a shared machine: what the scheduler process
		// (with its object storage) spent per task of the throughput run.
		fmt.Fprintf(env.Stdout, "%s CPU: %.1f µs per task\n", what, schedCPU*1e6/float64(o.Tasks))
		line += fmt.Sprintf(" sched_cpu_us_per_task=%.1f", schedCPU*1e6/float64(o.Tasks))
		rssAfter := settledRSS(ctx, schedPID, 5*time.Second)
		fmt.Fprintf(env.Stdout, "%s RSS: idle %d KiB, after the run %d KiB (%.1f%%)\n", what, rssIdle>>10, rssAfter>>10,
			100*float64(rssAfter)/float64(max(rssIdle, 1)))
		line += fmt.Sprintf(" sched_rss_idle_kib=%d sched_rss_after_kib=%d", rssIdle>>10, rssAfter>>10)
	}
	fmt.Fprintln(env.Stdout, line)
	return nil
}

// pushTasks keeps up to window tasks in flight until n have finished.
func pushTasks(ctx context.Context, c *client.Client, fn string, n, window int) (time.Duration, error) {
	start := time.Now()
	inflight := make([]*client.Future, 0, window)
	for submitted := 0; submitted < n || len(inflight) > 0; {
		for submitted < n && len(inflight) < window {
			inflight = append(inflight, c.Submit(fn))
			submitted++
		}
		f := inflight[0]
		inflight = inflight[1:]
		if err := f.Err(ctx); err != nil {
			return 0, fmt.Errorf("task failed: %w", err)
		}
	}
	return time.Since(start), nil
}

// measureLatency times n sequential round trips of fn. threads > 0 runs the process's Go
// code on that many threads meanwhile (the throughput phase gets them all back).
func measureLatency(ctx context.Context, c *client.Client, fn string, n, threads int) ([]time.Duration, error) {
	if threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := c.Submit(fn).Err(ctx); err != nil {
			return nil, fmt.Errorf("latency task: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// settledRSS waits up to d for the process's RSS to stop shrinking and returns it.
func settledRSS(ctx context.Context, pid int, d time.Duration) uint64 {
	p := strconv.Itoa(pid)
	last := sysinfo.ProcessRSS(p)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
		cur := sysinfo.ProcessRSS(p)
		if cur >= last && time.Until(deadline) < d/2 {
			return cur
		}
		last = cur
	}
	return last
}

// startCommand runs `scaler command args...` with its output on env.Stderr; when ctx ends
// it gets SIGTERM, then SIGKILL after grace. what names it in the error.
func startCommand(ctx context.Context, env Env, what string, grace time.Duration, command string, args ...string) (*exec.Cmd, <-chan error, error) {
	cmd, err := proc.Command(command, args...)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	done, err := proc.RunWithContext(ctx, cmd, syscall.SIGTERM, grace)
	if err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", what, err)
	}
	return cmd, done, nil
}

// waitForWorkers watches the monitor stream until the scheduler reports want workers.
func waitForWorkers(ctx context.Context, monitor address.Address, b transport.Backend, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sub, err := b.Subscribe(ctx, monitor, transport.Options{Identity: protocol.NewProcessIdentity(0, "bench")})
	if err != nil {
		return fmt.Errorf("watch the scheduler monitor: %w", err)
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("workers did not connect in time: %w", ctx.Err())
		case raw, ok := <-sub.Messages():
			if !ok {
				return fmt.Errorf("monitor stream ended: %w", sub.Err())
			}
			m, err := protocol.Decode(raw)
			if err != nil {
				continue
			}
			if st, ok := m.(*protocol.StateScheduler); ok && len(st.Workers) >= want {
				return nil
			}
		}
	}
}

// startLauncherStack runs `scaler FILE.toml` with a scheduler at addr and a dynamic
// baremetal_native manager of o.Workers workers, the stack a user gets from the launcher.
func startLauncherStack(ctx context.Context, env Env, o benchOptions, addr address.Address) (int, func(), error) {
	dir, err := os.MkdirTemp("", "scaler-bench-")
	if err != nil {
		return 0, nil, err
	}
	file := filepath.Join(dir, "bench.toml")
	toml := fmt.Sprintf(`[scheduler]
scheduler_address = %[1]q
network_backend = %[3]q
logging_level = "WARNING"

[[worker_manager]]
type = "baremetal_native"
scheduler_address = %[1]q
network_backend = %[3]q
worker_manager_id = "wm-bench"
mode = "dynamic"
max_task_concurrency = %[2]d
logging_level = "WARNING"
`, addr.String(), o.Workers, o.Backend)
	if err := os.WriteFile(file, []byte(toml), 0o644); err != nil {
		os.RemoveAll(dir)
		return 0, nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	cmd, done, err := startCommand(lctx, env, "the launcher", 10*time.Second, "scaler", file)
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return 0, nil, err
	}
	stop := func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
	return cmd.Process.Pid, stop, nil
}

// measureScaleUp submits enough one-second tasks for the dynamic manager to start all its
// workers and returns the time from the first submission until every worker has started
// one (seen on the monitor stream), then waits for the tasks to finish.
func measureScaleUp(ctx context.Context, c *client.Client, monAddr address.Address, b transport.Backend, workers int, log *slog.Logger) (time.Duration, error) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := monitor.Subscribe(sctx, monitor.StreamConfig{Address: monAddr, Backend: b, Role: "bench", Logger: log})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	// The vanilla policy adds a worker while there are more than 10 tasks per worker.
	n := 11*workers + 1
	start := time.Now()
	fs := make([]*client.Future, n)
	for i := range fs {
		fs[i] = c.Submit("sleep", 1.0)
	}
	busy := map[string]bool{}
	var took time.Duration
	for took == 0 {
		select {
		case <-sctx.Done():
			return 0, fmt.Errorf("scale-up: %d of %d workers busy after %s", len(busy), workers, time.Since(start).Round(time.Second))
		case u, ok := <-s.Updates():
			if !ok {
				return 0, errors.New("scale-up: monitor stream ended")
			}
			if st, ok := u.Msg.(*protocol.StateTask); ok && st.State == protocol.StateRunning && len(st.Worker) > 0 {
				busy[string(st.Worker)] = true
				if len(busy) >= workers {
					took = time.Since(start)
				}
			}
		}
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			return 0, fmt.Errorf("scale-up task: %w", err)
		}
	}
	return took, nil
}

// benchMonitor is a monitor subscriber like scaler_top's: it decodes every message and
// folds it into the dashboards' model.
type benchMonitor struct {
	cancel context.CancelFunc
	done   chan struct{}
	msgs   int
	status int
}

func watchMonitor(ctx context.Context, addr address.Address, b transport.Backend, log *slog.Logger) (*benchMonitor, error) {
	mctx, cancel := context.WithCancel(ctx)
	s, err := monitor.Subscribe(mctx, monitor.StreamConfig{Address: addr, Backend: b, Role: "bench", Logger: log})
	if err != nil {
		cancel()
		return nil, err
	}
	m := &benchMonitor{cancel: cancel, done: make(chan struct{})}
	model := monitor.NewModel(monitor.ModelConfig{})
	first := make(chan struct{})
	go func() {
		defer close(m.done)
		defer s.Close()
		for u := range s.Updates() {
			model.Apply(u)
			if u.Msg == nil {
				continue
			}
			m.msgs++
			if _, ok := u.Msg.(*protocol.StateScheduler); ok {
				if m.status == 0 {
					close(first)
				}
				m.status++
			}
		}
	}()
	// The subscription is live once the first status report arrives (one per second).
	select {
	case <-first:
	case <-m.done:
	case <-time.After(10 * time.Second):
	}
	return m, nil
}

// stop ends the subscription and returns what it received.
func (m *benchMonitor) stop() (msgs, status int) {
	if m.cancel != nil {
		m.cancel()
		<-m.done
		m.cancel = nil
	}
	return m.msgs, m.status
}
