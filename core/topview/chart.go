package topview

import (
	"math"
	"strconv"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
)

// eighths are the block characters of a bar chart, by height in eighths of a cell.
var eighths = [9]string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}

// zeroMark marks a period that was measured and had no finished task, so an idle cluster
// reads differently from a gap in the data (drawn as blank).
const zeroMark = "_"

// throughput is the task-throughput history resampled for a chart of some columns.
type throughput struct {
	vals   []float64 // tasks/s per column, oldest first; NaN where nothing was measured
	now    float64   // the latest measurement
	peak   float64   // the highest measurement in the window
	top    float64   // the highest column, which the bars are scaled to
	window time.Duration
}

// newThroughput resamples m.Throughput for n columns. The period grows with the history,
// in steps of n snapshot intervals, up to maxWindow: a young dashboard shows one column per
// snapshot instead of a sliver at the right edge. Columns sit on a fixed time grid, so a
// measurement stays in its column until the chart moves on by a whole column.
func newThroughput(m *monitor.Model, now time.Time, maxWindow time.Duration, n int) throughput {
	samples := m.Throughput
	interval := sampleInterval(samples)
	if limit := int(maxWindow / interval); n > limit {
		n = max(1, limit) // finer columns than the snapshots would leave gaps
	}
	step := time.Duration(n) * interval
	window := step
	if len(samples) > 0 {
		if span := now.Sub(samples[0].At); span > window {
			window = step * ((span + step - 1) / step)
		}
	}
	window = min(window, maxWindow)
	bucket := window / time.Duration(n)
	end := now.Truncate(bucket).Add(bucket)
	t := throughput{vals: monitor.Resample(samples, end, window, n), window: window}
	// Snapshots arrive about once a column, with jitter: some columns get two and their
	// neighbour none. A lone empty column between measured ones (or the current column,
	// whose snapshot may not have come yet) takes its left neighbour's value rather than
	// showing a gap that is not one.
	for i := 1; i < len(t.vals); i++ {
		if math.IsNaN(t.vals[i]) && !math.IsNaN(t.vals[i-1]) && (i+1 == len(t.vals) || !math.IsNaN(t.vals[i+1])) {
			t.vals[i] = t.vals[i-1]
		}
	}
	if k := len(samples); k > 0 {
		t.now = samples[k-1].Value
	}
	for _, s := range samples {
		if s.At.After(end.Add(-window)) {
			t.peak = max(t.peak, s.Value)
		}
	}
	for _, v := range t.vals {
		if !math.IsNaN(v) {
			t.top = max(t.top, v)
		}
	}
	return t
}

// sampleInterval estimates the time between snapshots (the scheduler's status interval),
// one second when there is too little history to tell.
func sampleInterval(s []monitor.Sample) time.Duration {
	if len(s) < 2 {
		return time.Second
	}
	d := s[len(s)-1].At.Sub(s[0].At) / time.Duration(len(s)-1)
	return max(d, 100*time.Millisecond)
}

// level is v in eighths of a chart rows high: at least one eighth for any activity, so a
// trickle of tasks is not drawn as nothing.
func (t throughput) level(v float64, rows int) int {
	if math.IsNaN(v) || v <= 0 || t.top <= 0 {
		return 0
	}
	return min(rows*8, max(1, int(math.Ceil(v/t.top*float64(rows*8)))))
}

// glyph is the character of column i in chart row r (0 = bottom) of a chart rows high.
func (t throughput) glyph(i, r, rows int) string {
	v := t.vals[i]
	lvl := t.level(v, rows)
	switch {
	case lvl >= (r+1)*8:
		return eighths[8]
	case lvl > r*8:
		return eighths[lvl-r*8]
	case r == 0 && !math.IsNaN(v):
		return zeroMark
	}
	return " "
}

// draw paints the chart into rows [y, y+rows) from column x.
func (t throughput) draw(c *canvas, x, y, rows int) {
	for r := 0; r < rows; r++ {
		row := y + rows - 1 - r
		for i := range t.vals {
			g := t.glyph(i, r, rows)
			st := styleChart
			if g == zeroMark {
				st = styleDim
			}
			c.s.Put(x+i, row, g, st)
		}
	}
}

// formatWindow prints the chart's period: "5m", "2h", "90s".
func formatWindow(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return monitor.FormatAge(d)
}
