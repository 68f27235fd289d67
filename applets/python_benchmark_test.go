package applets_test

import (
	"context"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/internal/pyclient"
	"github.com/scaler-go/scaler/internal/testbin"
)

// BenchmarkPythonVsGoNoop pushes no-op tasks through one worker with 2 slots (2 Python
// processors), first as Python functions, then the same number as Go functions, in the same
// run; it reports both rates and their ratio.
func BenchmarkPythonVsGoNoop(b *testing.B) {
	pyclient.Require(b)
	c := testbin.StartCluster(b, nil, 0)
	c.AddWorker(b, "--max-task-concurrency", "2", "--python", pyclient.Python)
	c.WaitWorkers(b, 1, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pc, err := pyclient.Connect(ctx, "ymq", c.Address(), pyclient.DefaultSerializer(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	fn := pyclient.Pickle(b, "def noop():\n    return None\n", "noop")
	first, err := pc.Submit(ctx, "noop", fn)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pc.Wait(ctx, first); err != nil {
		b.Fatal(err)
	}
	fid := pc.FunctionOf(first)
	gc, err := client.Connect(ctx, c.Address(), client.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	defer gc.Close()
	b.ResetTimer()
	start := time.Now()
	ids := make([]protocol.TaskID, b.N)
	for i := range ids {
		if ids[i], err = pc.SubmitAgain(ctx, fid); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range ids {
		r, err := pc.Wait(ctx, id)
		if err != nil || r.Type != protocol.ResultSuccess {
			b.Fatalf("python task: %v %v", r, err)
		}
	}
	py := float64(b.N) / time.Since(start).Seconds()
	start = time.Now()
	fs := make([]*client.Future, b.N)
	for i := range fs {
		fs[i] = gc.Submit("noop")
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil {
			b.Fatal(err)
		}
	}
	goRate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(py, "python_tasks/s")
	b.ReportMetric(goRate, "go_tasks/s")
	b.ReportMetric(py/goRate, "python/go")
}
