package topview

import (
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
)

func modelWithRates(at time.Time, rates []float64, every time.Duration, jitter func(int) time.Duration) *monitor.Model {
	m := monitor.NewModel(monitor.ModelConfig{})
	start := at.Add(-time.Duration(len(rates)-1) * every)
	for i, r := range rates {
		m.Throughput = append(m.Throughput, monitor.Sample{At: start.Add(time.Duration(i)*every + jitter(i)), Value: r})
	}
	return m
}

func row0(t throughput, rows int) string {
	var b strings.Builder
	for i := range t.vals {
		b.WriteString(t.glyph(i, 0, rows))
	}
	return b.String()
}

// TestThroughputChart: zero reads "_", no data reads blank, jittered snapshots leave no
// false gaps, the bars scale to the highest column, and the window grows with the history.
func TestThroughputChart(t *testing.T) {
	now := time.Unix(10_000, 0)
	none := func(int) time.Duration { return 0 }
	rates := []float64{0, 0, 8, 16, 8, 0}
	th := newThroughput(modelWithRates(now, rates, time.Second, none), now, 5*time.Minute, 10)
	// The current column has no snapshot yet and carries the last one.
	if got := row0(th, 1); got != "   __▄█▄__" {
		t.Errorf("sparkline %q", got)
	}
	if th.now != 0 || th.peak != 16 || th.top != 16 || th.window != 10*time.Second {
		t.Errorf("now %v peak %v top %v window %v", th.now, th.peak, th.top, th.window)
	}
	// Two rows: 8 of 16 fills the bottom row, 16 both.
	if g := th.glyph(6, 1, 2); g != "█" {
		t.Errorf("top row of the peak %q", g)
	}
	if g := th.glyph(5, 1, 2); g != " " {
		t.Errorf("top row of half the peak %q", g)
	}

	// Snapshots jittered around the column boundaries still fill every column.
	jitter := func(i int) time.Duration { return time.Duration(i%2) * 450 * time.Millisecond }
	many := make([]float64, 30)
	for i := range many {
		many[i] = 5
	}
	th = newThroughput(modelWithRates(now, many, time.Second, jitter), now, 5*time.Minute, 20)
	if got := strings.TrimLeft(row0(th, 1), " "); strings.Contains(got, " ") || len([]rune(got)) < 14 {
		t.Errorf("false gaps in %q", got)
	}

	// Ten minutes of history in 20 columns: the window stops at the chart's period.
	long := make([]float64, 600)
	th = newThroughput(modelWithRates(now, long, time.Second, none), now, 5*time.Minute, 20)
	if th.window != 5*time.Minute {
		t.Errorf("window %v, want 5m", th.window)
	}
	if formatWindow(th.window) != "5m" || formatWindow(90*time.Second) != "1m30s" || formatWindow(2*time.Hour) != "2h" {
		t.Error("formatWindow")
	}
}
