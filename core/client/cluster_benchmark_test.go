package client_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkNoopThroughput pushes no-op tasks through an in-process cluster (scheduler, object
// storage, two workers): the whole protocol path, minus process boundaries.
func BenchmarkNoopThroughput(b *testing.B) {
	c := startCluster(b, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl := connect(b, c)
	b.ResetTimer()
	start := time.Now()
	window := 5000
	if w := os.Getenv("BENCH_WINDOW"); w != "" {
		window, _ = strconv.Atoi(w)
	}
	for done := 0; done < b.N; {
		n := min(window, b.N-done)
		fs := make([]interface{ Err(context.Context) error }, n)
		for i := range fs {
			fs[i] = cl.Submit("noop")
		}
		for _, f := range fs {
			if err := f.Err(ctx); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkLatency is one task at a time through the in-process cluster.
func BenchmarkLatency(b *testing.B) {
	c := startCluster(b, 1, nil)
	ctx := context.Background()
	cl := connect(b, c)
	for i := 0; i < 100; i++ {
		cl.Submit("noop").Err(ctx)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := cl.Submit("noop").Err(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
