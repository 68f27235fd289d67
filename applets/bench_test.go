package applets

import (
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/internal/testbin"
)

// The load generator against a running cluster, with its latency loop on one thread and
// on the process's default: both report the summary line.
func TestBenchLatencyThreads(t *testing.T) {
	cl := testbin.StartCluster(t, nil, 1)
	for _, threads := range []string{"1", "0"} {
		bench := testbin.Start(t, nil, "scaler_bench", "--scheduler", cl.Address(), "-n", "500", "--latency-samples", "50", "--latency-threads", threads)
		bench.Wait(t, 60*time.Second)
		if bench.ExitCode() != 0 || !strings.Contains(bench.Output(), "tasks_per_s=") {
			t.Fatalf("--latency-threads %s: exit %d:\n%s", threads, bench.ExitCode(), bench.Output())
		}
	}
}

func TestBenchBadLatencyThreads(t *testing.T) {
	bench := testbin.Start(t, nil, "scaler_bench", "--latency-threads", "-1")
	bench.Wait(t, 10*time.Second)
	lines := testbin.Lines(bench.Output())
	if bench.ExitCode() != 2 || len(lines) != 1 || !strings.Contains(lines[0], "latency-threads") {
		t.Fatalf("exit %d, output %q; want one usage line naming --latency-threads", bench.ExitCode(), lines)
	}
}
