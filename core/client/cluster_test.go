package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/scheduler"
	"github.com/scaler-go/scaler/core/transport"
	_ "github.com/scaler-go/scaler/core/transport/ymq"
	"github.com/scaler-go/scaler/core/worker"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger() *slog.Logger {
	if os.Getenv("SCALER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// cluster is an in-process object storage, scheduler and workers on random loopback ports.
type cluster struct {
	t       testing.TB
	addr    string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers []context.CancelFunc
	sched   address.Address
}

func startCluster(t testing.TB, workers int, mutate func(*scheduler.ServerConfig)) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &cluster{t: t, cancel: cancel}
	log := testLogger()
	oss := objstore.NewServer(objstore.ServerOptions{Address: address.MustParse("tcp://127.0.0.1:0"), Logger: log})
	if err := oss.Bind(ctx); err != nil {
		t.Fatal(err)
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); oss.Run(ctx) }()
	cfg := scheduler.ServerConfig{
		Address:              address.MustParse("tcp://127.0.0.1:0"),
		ObjectStorageAddress: oss.Addr(),
		MonitorAddress:       address.MustParse("tcp://127.0.0.1:0"),
		State:                scheduler.DefaultConfig(),
		Logger:               log,
	}
	cfg.State.LoadBalanceInterval = -1
	if mutate != nil {
		mutate(&cfg)
	}
	srv := scheduler.NewServer(cfg)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := srv.Run(ctx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
	}()
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler did not start")
	}
	c.sched, _, _ = srv.Addresses()
	c.addr = c.sched.String()
	for i := 0; i < workers; i++ {
		c.addWorker(worker.Config{MaxTaskConcurrency: 2})
	}
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) addWorker(cfg worker.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	c.workers = append(c.workers, cancel)
	cfg.SchedulerAddress = c.sched
	cfg.Logger = testLogger()
	cfg.HeartbeatInterval = 200 * time.Millisecond
	a := worker.New(cfg)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.t.Logf("worker: %v", err)
		}
	}()
}

func (c *cluster) stop() {
	for _, w := range c.workers {
		w()
	}
	c.cancel()
	c.wg.Wait()
}

func connect(t testing.TB, c *cluster, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts = append(opts, client.WithLogger(testLogger()))
	cl, err := client.Connect(ctx, c.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Every call works the same whether small values travel inside the task messages (the
// default with this scheduler) or through object storage (as with a Python scheduler), and
// values above the inline limit take object storage either way.
func TestSubmitMapAndErrors(t *testing.T) {
	c := startCluster(t, 2, nil)
	for _, tc := range []struct {
		name   string
		opts   []client.Option
		inline bool
	}{
		{name: "inline", inline: true},
		{name: "object storage", opts: []client.Option{client.WithoutInline()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := connect(t, c, tc.opts...)
			if got := client.InlineEnabled(cl); got != tc.inline {
				t.Fatalf("inline = %v, want %v", got, tc.inline)
			}
			exerciseCalls(t, cl)
		})
	}
}

func exerciseCalls(t *testing.T, cl *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	v, err := cl.Submit("sqrt", 16.0).Result(ctx)
	if err != nil || v != 4.0 {
		t.Fatalf("sqrt = %v, %v", v, err)
	}
	out, err := cl.Map(ctx, "inc", []any{1, 2, 3})
	if err != nil || len(out) != 3 || out[0] != int64(2) || out[2] != int64(4) {
		t.Fatalf("map = %v, %v", out, err)
	}
	typed, err := client.MapAs[int](ctx, cl, "inc", []any{10, 20})
	if err != nil || typed[1] != 21 {
		t.Fatalf("MapAs = %v, %v", typed, err)
	}
	_, err = cl.Submit("error", "boom").Result(ctx)
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Message != "boom" || re.Function != "error" {
		t.Fatalf("remote error = %#v", err)
	}
	_, err = cl.Submit("no-such-function").Result(ctx)
	if !errors.As(err, &re) || re.Kind != "not_registered" {
		t.Fatalf("unregistered = %v", err)
	}
	_, err = cl.Submit("sqrt", "not a number").Result(ctx)
	if !errors.As(err, &re) || re.Kind != "bad_arguments" {
		t.Fatalf("bad args = %v", err)
	}
	ref, err := cl.SendObject(ctx, 41, "answer")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if v, err := cl.Submit("inc", ref).Result(ctx); err != nil || v != int64(42) {
			t.Fatalf("inc(ref) = %v, %v", v, err)
		}
	}
	star, err := cl.Starmap(ctx, "add", [][]any{{1, 2}, {3.5, 1}})
	if err != nil || star[0] != int64(3) || star[1] != 4.5 {
		t.Fatalf("starmap = %v, %v", star, err)
	}
	for _, size := range []int{0, protocol.InlineLimit - 16, protocol.InlineLimit + 1, 1 << 20} {
		in := strings.Repeat("x", size)
		if v, err := cl.Submit("echo", in).Result(ctx); err != nil || v != in {
			t.Fatalf("echo of %d bytes: %d bytes back, %v", size, len(fmt.Sprint(v)), err)
		}
	}
	long := strings.Repeat("e", 2*protocol.InlineLimit)
	if _, err := cl.Submit("error", long).Result(ctx); !errors.As(err, &re) || re.Message != long {
		t.Fatalf("long remote error = %.80v", err)
	}
}

func TestGraph(t *testing.T) {
	c := startCluster(t, 2, nil)
	cl := connect(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.Get(ctx, client.Graph{
		"a": 2, "b": 3,
		"c": client.Call("add", "a", "b"),
		"d": client.Call("inc", "c"),
	}, "c", "d")
	if err != nil || res["c"] != int64(5) || res["d"] != int64(6) {
		t.Fatalf("graph = %v, %v", res, err)
	}
	if _, err := cl.Get(ctx, client.Graph{"a": client.Call("inc", "b"), "b": client.Call("inc", "a")}, "a"); err == nil {
		t.Fatal("cycle accepted")
	}
	if _, err := cl.Get(ctx, client.Graph{"a": client.Call("inc", "x")}, "a"); err == nil {
		t.Fatal("missing dependency accepted")
	}
	_, err = cl.Get(ctx, client.Graph{"a": "boom", "b": client.Call("error", "a"), "c": client.Call("inc", "b")}, "c")
	if !client.IsRemote(err) || !strings.Contains(err.Error(), `node "b" failed`) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing graph = %v", err)
	}
}

func TestCancelAndTimeout(t *testing.T) {
	c := startCluster(t, 0, nil)
	c.addWorker(worker.Config{MaxTaskConcurrency: 1, TaskTimeout: time.Second})
	cl := connect(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	long := cl.Submit("sleep", 30.0)
	queued := cl.Submit("sleep", 30.0)
	if ok, err := queued.Cancel(ctx); err != nil || !ok {
		t.Fatalf("cancel queued = %v, %v", ok, err)
	}
	_, err := long.Result(ctx)
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Kind != "timeout" {
		t.Fatalf("timeout = %v", err)
	}
	running := cl.Submit("sleep", 0.8)
	time.Sleep(100 * time.Millisecond)
	if ok, err := running.Cancel(ctx); err != nil || !ok {
		t.Fatalf("cancel running = %v, %v", ok, err)
	}
	if v, err := cl.Submit("echo", "after").Result(ctx); err != nil || v != "after" {
		t.Fatalf("worker unusable after cancel: %v %v", v, err)
	}
}

func TestMaxTasksWaiting(t *testing.T) {
	c := startCluster(t, 0, func(cfg *scheduler.ServerConfig) { cfg.State.MaxTasksWaiting = 1 })
	cl := connect(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := cl.Submit("noop")
	_, err := cl.Submit("noop").Result(ctx)
	if !client.IsRemote(err) {
		t.Fatalf("second task = %v", err)
	}
	c.addWorker(worker.Config{})
	if err := first.Err(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestClientFailsWhenSchedulerLeaves(t *testing.T) {
	c := startCluster(t, 0, nil)
	cl := connect(t, c, client.WithTimeout(5*time.Second))
	f := cl.Submit("noop")
	c.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := f.Err(ctx)
	if !errors.Is(err, client.ErrDisconnected) && !errors.Is(err, client.ErrTimeout) && !errors.Is(err, transport.ErrClosedByPeer) {
		t.Fatalf("err = %v", err)
	}
}

func TestInfo(t *testing.T) {
	c := startCluster(t, 1, nil)
	cl := connect(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Submit("noop").Err(ctx); err != nil {
		t.Fatal(err)
	}
	var info *protocol.ClusterInfo
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if info, err = cl.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if len(info.Workers) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if info.Tasks["success"] < 1 || len(info.Workers) != 1 || len(info.Clients) != 1 {
		t.Fatalf("info %+v", info)
	}
}

// Nested tasks finish even when every worker slot holds a parent waiting for them.
func TestNestedTasksDoNotDeadlock(t *testing.T) {
	c := startCluster(t, 0, nil)
	for i := 0; i < 2; i++ {
		c.addWorker(worker.Config{MaxTaskConcurrency: 1})
	}
	cl := connect(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var parents []*client.Future
	for i := 0; i < 5; i++ {
		parents = append(parents, cl.Submit("map", "inc", []any{i, i + 1}))
	}
	for i, f := range parents {
		v, err := f.Result(ctx)
		if err != nil {
			t.Fatalf("parent %d: %v", i, err)
		}
		if got := fmt.Sprint(v); got != fmt.Sprint([]int{i + 1, i + 2}) {
			t.Fatalf("parent %d = %v", i, got)
		}
	}
}
