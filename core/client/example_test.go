package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/scheduler"
	"github.com/scaler-go/scaler/core/worker"
)

// exampleCluster runs object storage, a scheduler and one worker in this process, as
// `scaler_scheduler` and `scaler_worker` would on a machine, and returns the scheduler
// address and a function that stops them.
func exampleCluster() (string, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.DiscardHandler)
	oss := objstore.NewServer(objstore.ServerOptions{Address: address.MustParse("tcp://127.0.0.1:0"), Logger: quiet})
	if err := oss.Bind(ctx); err != nil {
		panic(err)
	}
	done := make(chan struct{}, 3)
	go func() { oss.Run(ctx); done <- struct{}{} }()
	cfg := scheduler.ServerConfig{Address: address.MustParse("tcp://127.0.0.1:0"), ObjectStorageAddress: oss.Addr(),
		MonitorAddress: address.MustParse("tcp://127.0.0.1:0"), State: scheduler.DefaultConfig(), Logger: quiet}
	srv := scheduler.NewServer(cfg)
	go func() { srv.Run(ctx); done <- struct{}{} }()
	<-srv.Ready()
	sched, _, _ := srv.Addresses()
	wctx, stopWorker := context.WithCancel(context.Background())
	w := worker.New(worker.Config{SchedulerAddress: sched, MaxTaskConcurrency: 2, Logger: quiet})
	go func() { w.Run(wctx); done <- struct{}{} }()
	return sched.String(), func() {
		stopWorker()
		<-done
		cancel()
		<-done
		<-done
	}
}

// exampleClient starts an exampleCluster and connects a client to it; done closes the
// client and stops the cluster.
func exampleClient() (ctx context.Context, c *client.Client, done func()) {
	addr, stop := exampleCluster()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c, err := client.Connect(ctx, addr, client.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	return ctx, c, func() {
		c.Close()
		cancel()
		stop()
	}
}

// Submit runs one registered function and waits for its result.
func ExampleClient_Submit() {
	ctx, c, done := exampleClient()
	defer done()
	v, err := c.Submit("sqrt", 16.0).Result(ctx)
	fmt.Println(v, err)
	// Output: 4 <nil>
}

// Map runs a function over a list; results come back in order.
func ExampleClient_Map() {
	ctx, c, done := exampleClient()
	defer done()
	out, err := c.Map(ctx, "inc", []any{1, 2, 3})
	fmt.Println(out, err)
	typed, err := client.MapAs[int](ctx, c, "inc", []any{10, 20})
	fmt.Println(typed, err)
	// Output:
	// [2 3 4] <nil>
	// [11 21] <nil>
}

// Get runs a graph of calls as a DAG on the cluster and returns the targets.
func ExampleClient_Get() {
	ctx, c, done := exampleClient()
	defer done()
	res, err := c.Get(ctx, client.Graph{
		"a": 2, "b": 3,
		"c": client.Call("add", "a", "b"),
		"d": client.Call("inc", "c"),
	}, "c", "d")
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println(k, res[k])
	}
	fmt.Println(err)
	// Output:
	// c 5
	// d 6
	// <nil>
}

// A failed task returns a *RemoteError naming the function and the message.
func ExampleRemoteError() {
	ctx, c, done := exampleClient()
	defer done()
	_, err := c.Submit("error", "disk full").Result(ctx)
	var re *client.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Function, "failed:", re.Message)
	}
	// Output: error failed: disk full
}

// SendObject stores a value once; tasks take it as an argument without uploading it again.
func ExampleClient_SendObject() {
	ctx, c, done := exampleClient()
	defer done()
	ref, err := c.SendObject(ctx, 41, "answer")
	if err != nil {
		panic(err)
	}
	v, err := c.Submit("inc", ref).Result(ctx)
	fmt.Println(v, err)
	// Output: 42 <nil>
}
