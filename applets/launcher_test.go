package applets_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
	_ "github.com/scaler-go/scaler/core/transport/ymq"
	"github.com/scaler-go/scaler/internal/testbin"
)

// workerWatch follows the monitor stream and keeps per-manager worker counts.
type workerWatch struct {
	mu      sync.Mutex
	total   int
	byMgr   map[string]int
	workers map[string]bool
	history []map[string]int
}

func watchWorkers(t *testing.T, monitorAddr string) *workerWatch {
	t.Helper()
	w := &workerWatch{byMgr: map[string]int{}, workers: map[string]bool{}}
	onMonitor(t, nil, monitorAddr, func(u monitor.Update) {
		st, ok := u.Msg.(*protocol.StateScheduler)
		if !ok {
			return
		}
		by := map[string]int{}
		for _, p := range st.ManagedWorkers {
			by[string(p.WorkerManagerID)] = len(p.WorkerIDs)
		}
		ws := map[string]bool{}
		for _, wk := range st.Workers {
			ws[string(wk.WorkerID)] = true
		}
		w.mu.Lock()
		w.total, w.byMgr, w.workers = len(st.Workers), by, ws
		w.history = append(w.history, by)
		w.mu.Unlock()
	})
	return w
}

func (w *workerWatch) counts() (int, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total, w.byMgr
}

func (w *workerWatch) ids() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.workers
}

// writeConfig writes a launcher file with its ports filled in.
func writeConfig(t *testing.T, text string, port int) string {
	t.Helper()
	r := strings.NewReplacer("PORT0", strconv.Itoa(port), "PORT2", strconv.Itoa(port+2), "PORTGUI", strconv.Itoa(port+3))
	path := filepath.Join(t.TempDir(), "cluster.toml")
	if err := os.WriteFile(path, []byte(r.Replace(text)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startLauncher runs `scaler FILE` on text (see writeConfig) with free ports, then waits
// until the scheduler has accepted that many worker managers. The launcher process runs the
// scheduler, so it stands as the cluster's Scheduler: testbin.Cluster's addresses apply.
func startLauncher(t *testing.T, text string, managers int, env ...string) *testbin.Cluster {
	t.Helper()
	port := testbin.FreePorts(t, 4)
	c := &testbin.Cluster{Scheduler: testbin.Start(t, env, "", writeConfig(t, text, port)), Port: port}
	if managers > 0 {
		testbin.Eventually(t, 30*time.Second, func() error {
			if n := strings.Count(c.Scheduler.Output(), "scheduler accepted the worker manager"); n < managers {
				return fmt.Errorf("%d of %d managers accepted", n, managers)
			}
			return nil
		})
	}
	return c
}

// workerProcesses lists live scaler_worker processes carrying a manager id.
func workerProcesses(managerID string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[1] == "scaler_worker" && strings.Contains(string(b), "\x00"+managerID+"\x00") {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // zombie, already dead
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

const localCluster = `
[scheduler]
scheduler_address = "tcp://127.0.0.1:PORT0"
policy_content = "allocate=even_load; scaling=vanilla"
logging_level = "DEBUG"

[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:PORT0"
worker_manager_id = "wm-local-PORT0"
mode = "dynamic"
max_task_concurrency = 2
heartbeat_interval_seconds = 1
logging_level = "INFO"
`

// The launcher runs the whole stack from one file, the load generator pushes 20,000 tasks
// through it, and stopping the launcher leaves no worker behind.
func TestLauncherRunsLocalClusterAndLeavesNoOrphans(t *testing.T) {
	cl := startLauncher(t, localCluster, 1)
	bench := testbin.Start(t, nil, "scaler_bench", "--scheduler", cl.Address(), "-n", "20000", "--latency-samples", "100")
	bench.Wait(t, 120*time.Second)
	if bench.ExitCode() != 0 || !strings.Contains(bench.Output(), "tasks_per_s=") {
		t.Fatalf("bench failed (%d):\n%s", bench.ExitCode(), bench.Output())
	}
	mgr := "wm-local-" + strconv.Itoa(cl.Port)
	if len(workerProcesses(mgr)) == 0 {
		// The queue may have drained already; make sure workers exist before stopping.
		c := dial(t, "", cl.Address())
		for i := 0; i < 200; i++ {
			c.Submit("sleep", 0.05)
		}
		testbin.Eventually(t, 30*time.Second, func() error {
			if n := len(workerProcesses(mgr)); n == 0 {
				return fmt.Errorf("no workers yet")
			}
			return nil
		})
	}
	cl.Scheduler.Signal(syscall.SIGTERM)
	cl.Scheduler.Wait(t, 30*time.Second)
	testbin.Eventually(t, 10*time.Second, func() error {
		if pids := workerProcesses(mgr); len(pids) > 0 {
			return fmt.Errorf("workers left behind: %v", pids)
		}
		return nil
	})
}

// A dynamic manager grows from 0 to its maximum while tasks wait and shrinks back to 0.
func TestDynamicManagerScalesUpAndDown(t *testing.T) {
	cl := startLauncher(t, localCluster, 1)
	w := watchWorkers(t, cl.Monitor())
	c := dial(t, "", cl.Address())
	var fs []*client.Future
	for i := 0; i < 60; i++ {
		fs = append(fs, c.Submit("sleep", 0.25))
	}
	mgr := "wm-local-" + strconv.Itoa(cl.Port)
	testbin.Eventually(t, 30*time.Second, func() error {
		if _, by := w.counts(); by[mgr] != 2 {
			return fmt.Errorf("manager has %d workers, want 2", by[mgr])
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	testbin.Eventually(t, 30*time.Second, func() error {
		if total, _ := w.counts(); total != 0 {
			return fmt.Errorf("%d workers still connected", total)
		}
		if n := len(workerProcesses(mgr)); n != 0 {
			return fmt.Errorf("%d worker processes still running", n)
		}
		return nil
	})
}

// A fixed manager replaces a worker that was killed.
func TestFixedManagerReplacesKilledWorker(t *testing.T) {
	sched := testbin.StartCluster(t, nil, 0)
	mgr := "wm-fixed-" + strconv.Itoa(sched.Port)
	testbin.Start(t, nil, "scaler_worker_manager", "baremetal_native", sched.Address(), "--worker-manager-id", mgr,
		"--mode", "fixed", "-n", "2", "--heartbeat-interval-seconds", "1")
	w := watchWorkers(t, sched.Monitor())
	testbin.Eventually(t, 30*time.Second, func() error {
		if total, _ := w.counts(); total != 2 {
			return fmt.Errorf("%d workers", total)
		}
		return nil
	})
	before := w.ids()
	pids := workerProcesses(mgr)
	if len(pids) != 2 {
		t.Fatalf("worker processes %v", pids)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	testbin.Eventually(t, 90*time.Second, func() error {
		ids := w.ids()
		fresh := 0
		for id := range ids {
			if !before[id] {
				fresh++
			}
		}
		if len(ids) != 2 || fresh != 1 {
			return fmt.Errorf("%d workers, %d new", len(ids), fresh)
		}
		return nil
	})
}

// waterfall_v1 fills the preferred manager first and drains the other first.
func TestWaterfallPrefersAndDrainsTiers(t *testing.T) {
	cl := startLauncher(t, `
[scheduler]
scheduler_address = "tcp://127.0.0.1:PORT0"
policy_engine_type = "waterfall_v1"
policy_content = """
1, wm-cheap, 2   # preferred tier
2, wm-dear, 2
"""

[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:PORT0"
worker_manager_id = "wm-cheap"
max_task_concurrency = 4
heartbeat_interval_seconds = 1

[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:PORT0"
worker_manager_id = "wm-dear"
max_task_concurrency = 4
heartbeat_interval_seconds = 1
`, 2)
	w := watchWorkers(t, cl.Monitor())
	c := dial(t, "", cl.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// 15 tasks ask for ceil(15/10) = 2 workers: the cheap tier's whole share.
	var small []*client.Future
	for i := 0; i < 15; i++ {
		small = append(small, c.Submit("sleep", 0.4))
	}
	testbin.Eventually(t, 30*time.Second, func() error {
		if _, by := w.counts(); by["wm-cheap"] != 2 {
			return fmt.Errorf("cheap tier has %d workers", by["wm-cheap"])
		}
		return nil
	})
	if _, by := w.counts(); by["wm-dear"] != 0 {
		t.Fatalf("dear tier used while the cheap one had room: %v", by)
	}
	for _, f := range small {
		f.Err(ctx)
	}
	// 60 long tasks ask for 6: the cheap tier stays at its cap of 2, the dear one takes 2.
	var big []*client.Future
	for i := 0; i < 60; i++ {
		big = append(big, c.Submit("sleep", 0.3))
	}
	testbin.Eventually(t, 30*time.Second, func() error {
		if _, by := w.counts(); by["wm-cheap"] != 2 || by["wm-dear"] != 2 {
			return fmt.Errorf("workers %v", by)
		}
		return nil
	})
	for _, f := range big {
		if err := f.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	testbin.Eventually(t, 60*time.Second, func() error {
		if total, _ := w.counts(); total != 0 {
			return fmt.Errorf("%d workers", total)
		}
		return nil
	})
	// While draining, the cheap tier never shrank while the dear one still had workers.
	w.mu.Lock()
	defer w.mu.Unlock()
	peakCheap := 0
	for _, by := range w.history {
		if by["wm-cheap"] < peakCheap && by["wm-dear"] > 0 {
			t.Fatalf("cheap tier drained before the dear one: %v", w.history)
		}
		peakCheap = max(peakCheap, by["wm-cheap"])
	}
}

// Bad launcher files end with one clear line and a non-zero exit.
func TestLauncherBadInput(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"no section", "[nothing]\nx = 1\n", "no recognised section"},
		{"misspelt key", "[scheduler]\nschedular_address = \"tcp://127.0.0.1:PORT0\"\n", "did you mean"},
		{"misspelt section", "[schedular]\nscheduler_address = \"tcp://127.0.0.1:PORT0\"\n[object_storage_server]\nobject_storage_address = \"tcp://127.0.0.1:PORT0\"\n", "did you mean"},
		{"unknown type", "[[worker_manager]]\ntype = \"baremetal\"\nscheduler_address = \"tcp://127.0.0.1:1\"\nworker_manager_id = \"x\"\n", "baremetal_native"},
		{"duplicate ids", "[[worker_manager]]\ntype = \"baremetal_native\"\nscheduler_address = \"tcp://127.0.0.1:1\"\nworker_manager_id = \"x\"\n" +
			"[[worker_manager]]\ntype = \"baremetal_native\"\nscheduler_address = \"tcp://127.0.0.1:1\"\nworker_manager_id = \"x\"\n", "unique"},
		{"bad address", "[scheduler]\nscheduler_address = \"tcp://127.0.0.1\"\n", "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startLauncher(t, tt.text, 0).Scheduler
			p.Wait(t, 20*time.Second)
			lines := testbin.Lines(p.Output())
			if p.ExitCode() == 0 || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], tt.want) {
				t.Fatalf("exit %d, output:\n%s", p.ExitCode(), p.Output())
			}
		})
	}
}

// When a service fails, the launcher stops the rest and names it.
func TestLauncherStopsWhenAServiceFails(t *testing.T) {
	taken := testbin.StartCluster(t, nil, 0)
	p := startLauncher(t, `
[object_storage_server]
object_storage_address = "tcp://127.0.0.1:PORT2"

[scheduler]
scheduler_address = "`+taken.Address()+`"
object_storage_address = "tcp://127.0.0.1:PORT2"
`, 0).Scheduler
	p.Wait(t, 30*time.Second)
	if p.ExitCode() == 0 || !strings.Contains(p.Output(), "scheduler failed") {
		t.Fatalf("exit %d, output:\n%s", p.ExitCode(), p.Output())
	}
}

// SCALER_NETWORK_BACKEND reaches the launcher's sections as it reaches the commands, so the
// scheduler speaks what the workers its managers start will speak.
func TestLauncherSectionsReadEnvironment(t *testing.T) {
	c := startLauncher(t, "[scheduler]\nscheduler_address = \"tcp://127.0.0.1:PORT0\"\n", 0, "SCALER_NETWORK_BACKEND=zmq")
	c.Scheduler.WaitOutput(t, "scheduler started", 20*time.Second)
	if !strings.Contains(c.Scheduler.Output(), "backend=zmq") {
		t.Fatalf("scheduler did not take the backend from the environment:\n%s", c.Scheduler.Output())
	}
}
