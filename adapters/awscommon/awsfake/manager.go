package awsfake

import (
	"context"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/internal/testbin"

	// The Go client needs a transport backend.
	_ "github.com/scaler-go/scaler/core/transport/ymq"
)

// StartManager is the start of every end-to-end test of an AWS adapter: a scheduler that
// scales with vanilla, `scaler_worker_manager <adapter> <scheduler> args...` run with env
// (pointed at the fakes) until the scheduler accepts it, and a Go client of the scheduler.
// All of them stop when the test ends.
func StartManager(t testing.TB, env []string, adapter string, args ...string) (*testbin.Cluster, *testbin.Proc, *client.Client) {
	t.Helper()
	c := testbin.StartCluster(t, nil, 0, "--policy-content", "allocate=even_load; scaling=vanilla")
	mgr := testbin.Start(t, env, "scaler_worker_manager", append([]string{adapter, c.Address()}, args...)...)
	mgr.WaitOutput(t, "scheduler accepted the worker manager", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, c.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return c, mgr, cl
}
