package applets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	_ "github.com/scaler-go/scaler/core/transport/zmq"
	"github.com/scaler-go/scaler/internal/testbin"
)

var backends = []string{"ymq", "zmq"}

func backendEnv(b string) []string { return []string{"SCALER_NETWORK_BACKEND=" + b} }

func dial(t *testing.T, backend, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]client.Option{client.WithBackend(backend), client.WithLogger(quiet())}, opts...)
	c, err := client.Connect(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stateFollower keeps the latest StateScheduler and counts terminal StateTasks per task.
type stateFollower struct {
	mu     sync.Mutex
	latest *protocol.StateScheduler
	done   map[protocol.TaskID]int
}

func follow(t *testing.T, backend, monitorAddr string) *stateFollower {
	t.Helper()
	b, err := transport.Lookup(backend)
	if err != nil {
		t.Fatal(err)
	}
	f := &stateFollower{done: map[protocol.TaskID]int{}}
	onMonitor(t, b, monitorAddr, func(u monitor.Update) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch m := u.Msg.(type) {
		case *protocol.StateScheduler:
			f.latest = m
		case *protocol.StateTask:
			if m.State == protocol.StateSuccess || m.State == protocol.StateFailed {
				if id, ok := protocol.TaskIDFromBytes(m.TaskID); ok {
					f.done[id]++
				}
			}
		}
	})
	return f
}

func (f *stateFollower) snapshot() *protocol.StateScheduler {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest
}

// TestTasksEndToEnd runs the client API against real scheduler and worker processes, on both
// transport backends.
func TestTasksEndToEnd(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 0, "--max-number-of-tasks-waiting", "50")
			for i := 0; i < 2; i++ {
				c.AddWorker(t, "--per-worker-task-queue-size", "2", "--max-task-concurrency", "2")
			}
			// The rejection count below assumes both workers take their share.
			c.WaitWorkers(t, 2, 30*time.Second)
			cl := dial(t, backend, c.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			if v, err := cl.Submit("sqrt", 16.0).Result(ctx); err != nil || v != 4.0 {
				t.Fatalf("sqrt = %v, %v", v, err)
			}
			if out, err := cl.Map(ctx, "inc", []any{1, 2, 3}); err != nil || fmt.Sprint(out) != "[2 3 4]" {
				t.Fatalf("map = %v, %v", out, err)
			}
			if out, err := cl.Starmap(ctx, "add", [][]any{{1, 2}, {3, 4}}); err != nil || fmt.Sprint(out) != "[3 7]" {
				t.Fatalf("starmap = %v, %v", out, err)
			}
			ref, err := cl.SendObject(ctx, []int{1, 2, 3}, "numbers")
			if err != nil {
				t.Fatal(err)
			}
			if v, err := cl.Submit("echo", ref).Result(ctx); err != nil || fmt.Sprint(v) != "[1 2 3]" {
				t.Fatalf("echo(ref) = %v, %v", v, err)
			}
			var re *client.RemoteError
			if _, err := cl.Submit("error", "boom").Result(ctx); !errors.As(err, &re) || re.Message != "boom" {
				t.Fatalf("failure = %v", err)
			}
			if _, err := cl.Submit("nope").Result(ctx); !errors.As(err, &re) || !strings.Contains(re.Message, "function nope is not registered on worker") {
				t.Fatalf("unregistered = %v", err)
			}
			res, err := cl.Get(ctx, client.Graph{"a": 2, "b": 3, "c": client.Call("add", "a", "b"), "d": client.Call("inc", "c")}, "c", "d")
			if err != nil || res["c"] != int64(5) || res["d"] != int64(6) {
				t.Fatalf("graph = %v, %v", res, err)
			}
			// 4 tasks on the workers, 50 may wait at the scheduler; the rest fail at once with the reason.
			var fs []*client.Future
			for i := 0; i < 4+50+10; i++ {
				fs = append(fs, cl.Submit("sleep", 0.5))
			}
			rejected := 0
			for _, f := range fs {
				if err := f.Err(ctx); err != nil {
					if !strings.Contains(err.Error(), "max_number_of_tasks_waiting") {
						t.Fatalf("unexpected failure: %v", err)
					}
					rejected++
				}
			}
			if rejected == 0 || rejected > 10 {
				t.Fatalf("%d tasks rejected, want 1..10", rejected)
			}
		})
	}
}

func TestTaskTimeout(t *testing.T) {
	c := testbin.StartCluster(t, nil, 0)
	c.AddWorker(t, "--task-timeout-seconds", "1", "--max-task-concurrency", "1")
	cl := dial(t, "ymq", c.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var re *client.RemoteError
	if _, err := cl.Submit("sleep", 10.0).Result(ctx); !errors.As(err, &re) || re.Kind != "timeout" {
		t.Fatalf("timeout = %v", err)
	}
	if v, err := cl.Submit("echo", "next").Result(ctx); err != nil || v != "next" {
		t.Fatalf("worker did not recover: %v %v", v, err)
	}
}

// A worker killed with SIGKILL in the middle of 10,000 tasks: every task still completes and
// the scheduler reports each exactly once.
func TestWorkerKilledMidRun(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			// ZMQ reports no disconnects: the scheduler notices through the worker timeout.
			c := testbin.StartCluster(t, backendEnv(backend), 2, "--worker-timeout-seconds", "3")
			st := follow(t, backend, c.Monitor())
			cl := dial(t, backend, c.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			const n = 10000
			fs := make([]*client.Future, n)
			for i := range fs {
				fs[i] = cl.Submit("sleep", 0.0005)
			}
			if err := fs[n/10].Err(ctx); err != nil {
				t.Fatal(err)
			}
			c.Workers[0].Cmd.Process.Kill()
			for i, f := range fs {
				if err := f.Err(ctx); err != nil {
					t.Fatalf("task %d: %v", i, err)
				}
			}
			// The scheduler counts each task done once, and the tasks the monitor stream shows
			// (a sample, under this load) finish once each.
			testbin.Eventually(t, 10*time.Second, func() error {
				s := st.snapshot()
				if s == nil {
					return fmt.Errorf("no status yet")
				}
				if got := monitor.StateCount(s, protocol.StateSuccess); got != n {
					return fmt.Errorf("scheduler counts %d successful tasks, want %d", got, n)
				}
				return nil
			})
			st.mu.Lock()
			defer st.mu.Unlock()
			shown := 0
			for _, f := range fs {
				k := st.done[f.ID()]
				if k > 1 {
					t.Fatalf("task %s reported done %d times", f.ID(), k)
				}
				shown += k
			}
			if shown == 0 {
				t.Fatal("the monitor stream showed none of the tasks finishing")
			}
		})
	}
}

// A client killed mid-run: its queued tasks are cancelled, its objects deleted, and the
// scheduler's task and object counts return to zero.
func TestClientKilledMidRun(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 1, "--client-timeout-seconds", "3")
			st := follow(t, backend, c.Monitor())
			bench := testbin.Start(t, backendEnv(backend), "scaler_bench", "--scheduler", c.Address(), "-f", "noop", "-n", "2000000",
				"--latency-samples", "1", "--window", "5000")
			testbin.Eventually(t, 30*time.Second, func() error {
				s := st.snapshot()
				if s == nil || monitor.StateCount(s, protocol.StateSuccess) < 1000 || s.NumberOfObjects == 0 {
					return fmt.Errorf("the load has not started yet")
				}
				return nil
			})
			bench.Cmd.Process.Signal(syscall.SIGKILL)
			testbin.Eventually(t, 30*time.Second, func() error {
				s := st.snapshot()
				tasks := 0
				for _, p := range s.TaskStates {
					if !protocol.TaskState(p.State).Terminal() {
						tasks += int(p.Count)
					}
				}
				if tasks != 0 || s.NumberOfObjects != 0 || len(s.Clients) != 0 {
					return fmt.Errorf("tasks %d objects %d clients %d", tasks, s.NumberOfObjects, len(s.Clients))
				}
				return nil
			})
		})
	}
}

// The scheduler survives garbage from a peer and keeps serving everyone else.
func TestSchedulerSurvivesGarbage(t *testing.T) {
	c := testbin.StartCluster(t, nil, 1)
	b, _ := transport.Lookup("ymq")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := b.Connect(ctx, address.MustParse(c.Address()), transport.Options{Identity: "Client|garbage0000000000000000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range [][]byte{[]byte("not capnp"), {0, 0, 0, 0, 1, 0, 0, 0}, make([]byte, 100)} {
		conn.Send(g)
	}
	conn.Close()
	cl := dial(t, "ymq", c.Address())
	if v, err := cl.Submit("echo", "still here").Result(ctx); err != nil || v != "still here" {
		t.Fatalf("after garbage: %v %v", v, err)
	}
	c.Scheduler.WaitOutput(t, "dropping malformed message", 5*time.Second)
}
