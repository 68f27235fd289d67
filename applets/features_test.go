package applets_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/testbin"
)

// Shutdown stops workers and the scheduler; a protected scheduler refuses and keeps running.
func TestShutdownAndProtectedMode(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			prot := testbin.StartCluster(t, backendEnv(backend), 1, "--protected")
			pc := dial(t, backend, prot.Address())
			if err := pc.Shutdown(ctx); !errors.Is(err, client.ErrProtected) {
				t.Fatalf("protected shutdown = %v", err)
			}
			prot.Scheduler.WaitOutput(t, "refusing shutdown request", 10*time.Second)
			pc2 := dial(t, backend, prot.Address())
			if v, err := pc2.Submit("echo", 1).Result(ctx); err != nil || v != int64(1) {
				t.Fatalf("after refused shutdown: %v %v", v, err)
			}

			c := testbin.StartCluster(t, backendEnv(backend), 2)
			c.WaitWorkers(t, 2, 20*time.Second)
			cl := dial(t, backend, c.Address())
			if err := cl.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown = %v", err)
			}
			c.Scheduler.Wait(t, 20*time.Second)
			for _, w := range c.Workers {
				w.Wait(t, 20*time.Second)
			}
			if c.Scheduler.ExitCode() != 0 {
				t.Fatalf("scheduler exit %d", c.Scheduler.ExitCode())
			}
		})
	}
}

// One worker with a long queue, another joins empty: the balancer moves queued tasks.
func TestBalancingMovesQueuedTasksToNewWorker(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 0, "--load-balance-seconds", "1", "--load-balance-trigger-times", "1")
			c.AddWorker(t, "--max-task-concurrency", "1")
			c.WaitWorkers(t, 1, 20*time.Second)
			st := follow(t, backend, c.Monitor())
			cl := dial(t, backend, c.Address())
			var fs []*client.Future
			for i := 0; i < 10; i++ {
				fs = append(fs, cl.Submit("sleep", 0.5))
			}
			testbin.Eventually(t, 10*time.Second, func() error {
				// Status reports come once a second and a task ends every 0.5 s, so a report
				// may already show one or two of the ten done: what matters is a long queue.
				if s := st.snapshot(); s == nil || len(s.Workers) != 1 || s.Workers[0].Sent < 8 {
					return fmt.Errorf("the first worker does not hold the tasks yet")
				}
				return nil
			})
			c.AddWorker(t, "--max-task-concurrency", "1")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			for _, f := range fs {
				if err := f.Err(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// On one worker the ten tasks take 5 s; shared they take about half.
			if d := time.Since(start); d > 4500*time.Millisecond {
				t.Logf("balancing did not shorten the run noticeably (%s)", d)
			}
			c.Scheduler.WaitOutput(t, "balancing: moving queued tasks", 5*time.Second)
		})
	}
}

// A subscriber sees task counters, workers and throughput that match what the client did.
func TestMonitorStreamMatchesClient(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 2)
			b, _ := transport.Lookup(backend)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := monitor.Subscribe(ctx, monitor.StreamConfig{Address: address.MustParse(c.Monitor()), Backend: b, Role: "test", FirstConnect: monitorRetry})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			model := monitor.NewModel(monitor.ModelConfig{})
			cl := dial(t, backend, c.Address())
			const ok, bad = 300, 7
			go func() {
				var fs []*client.Future
				for i := 0; i < ok; i++ {
					fs = append(fs, cl.Submit("sleep", 0.01))
				}
				for i := 0; i < bad; i++ {
					fs = append(fs, cl.Submit("error", "x"))
				}
				for _, f := range fs {
					f.Err(ctx)
				}
			}()
			deadline := time.After(45 * time.Second)
			for {
				select {
				case u := <-s.Updates():
					model.Apply(u)
				case <-deadline:
					t.Fatalf("monitor never showed %d successes and %d failures (last %v)", ok, bad, model.Latest)
				}
				st := model.Latest
				if st == nil {
					continue
				}
				if monitor.StateCount(st, protocol.StateSuccess) == ok && monitor.StateCount(st, protocol.StateFailed) == bad &&
					len(model.Workers()) == 2 && model.TotalFinished > 0 {
					break
				}
			}
			// Under load the stream shows a sample of the tasks, each finishing once.
			if model.TotalFinished > ok+bad {
				t.Fatalf("the stream showed %d tasks finishing, more than the %d submitted", model.TotalFinished, ok+bad)
			}
			peak := 0.0
			for _, smp := range model.Throughput {
				peak = max(peak, smp.Value)
			}
			if peak <= 0 {
				t.Fatal("no throughput seen")
			}
			for _, task := range model.FinishedTasks() {
				if task.Function != "sleep" && task.Function != "error" {
					t.Fatalf("task function %q", task.Function)
				}
			}
		})
	}
}

// Parents that wait for nested tasks, more parents than worker slots: no deadlock.
func TestNestedTasksOnRealWorkers(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 0)
			for i := 0; i < 2; i++ {
				c.AddWorker(t, "--max-task-concurrency", "1")
			}
			cl := dial(t, backend, c.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var parents []*client.Future
			for i := 0; i < 6; i++ {
				parents = append(parents, cl.Submit("map", "inc", []any{i, 10 * i}))
			}
			for i, f := range parents {
				v, err := f.Result(ctx)
				if err != nil || fmt.Sprint(v) != fmt.Sprint([]int{i + 1, 10*i + 1}) {
					t.Fatalf("parent %d = %v, %v", i, v, err)
				}
			}
		})
	}
}

// A failing graph node fails its dependants and stops its running siblings on the workers.
func TestGraphFailureCancelsRunningSiblings(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 2)
			st := follow(t, backend, c.Monitor())
			cl := dial(t, backend, c.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			_, err := cl.Get(ctx, client.Graph{
				"msg": "broken", "long": 30.0,
				"bad":  client.Call("error", "msg"),
				"slow": client.Call("sleep", "long"),
				"both": client.Call("add", "bad", "slow"),
			}, "both")
			if !client.IsRemote(err) || !strings.Contains(err.Error(), `node "bad" failed`) {
				t.Fatalf("graph = %v", err)
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("the graph waited for its sleeping sibling")
			}
			// The sibling was cancelled on its worker: nothing stays running.
			testbin.Eventually(t, 15*time.Second, func() error {
				s := st.snapshot()
				if s == nil {
					return errors.New("no snapshot")
				}
				if n := monitor.StateCount(s, protocol.StateRunning) + monitor.StateCount(s, protocol.StateCanceling); n != 0 {
					return fmt.Errorf("%d tasks still running or canceling", n)
				}
				if monitor.StateCount(s, protocol.StateCanceled) == 0 {
					return errors.New("the sibling was not cancelled")
				}
				return nil
			})
			// The client is still usable.
			if v, err := cl.Submit("echo", "ok").Result(ctx); err != nil || v != "ok" {
				t.Fatalf("after graph failure: %v %v", v, err)
			}
		})
	}
}

// A worker that answers cancelNotFound gets its slot back (the reference leaks it).
func TestCancelNotFoundFreesWorkerSlot(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 0)
			b, _ := transport.Lookup(backend)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// A hand-made worker with room for one task.
			fake, err := b.Connect(ctx, address.MustParse(c.Address()), transport.Options{Identity: "Worker|FAKE|00000000000000000000000000000001"})
			if err != nil {
				t.Fatal(err)
			}
			defer fake.Close()
			fake.Send(protocol.MustEncode(&protocol.WorkerHeartbeat{QueueSize: 1}))
			cl := dial(t, backend, c.Address())
			f1 := cl.Submit("noop")
			task := recvKind[*protocol.Task](t, fake)
			go f1.Cancel(ctx)
			recvKind[*protocol.TaskCancel](t, fake)
			fake.Send(protocol.MustEncode(&protocol.TaskCancelConfirm{TaskID: task.TaskID, Type: protocol.CancelConfirmNotFound}))
			if err := f1.Err(ctx); !errors.Is(err, client.ErrCancelled) {
				t.Fatalf("cancelled task = %v", err)
			}
			// The only slot must be free again: the next task arrives.
			cl.Submit("noop")
			recvKind[*protocol.Task](t, fake)
		})
	}
}

func recvKind[T protocol.Message](t *testing.T, c transport.Connector) T {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case raw, ok := <-c.Messages():
			if !ok {
				t.Fatalf("connection ended: %v", c.Err())
			}
			m, err := protocol.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := m.(T); ok {
				return v
			}
			if _, echo := m.(*protocol.WorkerHeartbeatEcho); echo {
				continue
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T arrived", zero)
		}
	}
}

// The Python project's own minimal monitor subscriber reads our monitor stream.
func TestPythonMonitorSubscriberReadsStream(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := testbin.StartCluster(t, backendEnv(backend), 1)
			out := filepath.Join(t.TempDir(), "monitor.log")
			kind := map[string]string{"ymq": "ymq", "zmq": "zmtp"}[backend]
			script, _ := filepath.Abs(filepath.Join("..", "testdata", "interop", "mini_subscriber.py"))
			sub := exec.Command("/usr/bin/python3", script, kind, "127.0.0.1", strconv.Itoa(c.Port+2), "mini-subscriber", out)
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				sub.Process.Signal(syscall.SIGTERM)
				sub.Wait()
			}()
			cl := dial(t, backend, c.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			testbin.Eventually(t, 20*time.Second, func() error {
				b, _ := os.ReadFile(out)
				if !strings.Contains(string(b), "stateScheduler") {
					return errors.New("no stateScheduler yet")
				}
				return nil
			})
			for i := 0; i < 20; i++ {
				if err := cl.Submit("noop").Err(ctx); err != nil {
					t.Fatal(err)
				}
			}
			testbin.Eventually(t, 20*time.Second, func() error {
				b, _ := os.ReadFile(out)
				if strings.Count(string(b), "stateTask") < 40 {
					return fmt.Errorf("log %s so far (%d bytes):\n%s", out, len(b), b)
				}
				return nil
			})
		})
	}
}
