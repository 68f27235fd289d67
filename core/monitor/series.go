package monitor

import (
	"math"
	"time"
)

// Resample averages the samples that fall in the window (end-window, end] into n equal
// buckets, oldest first, so a chart of any width can show the same period. A bucket with no
// sample is NaN, which lets a chart tell "no data" from "zero". Averaging suits rates such as
// Throughput: a bucket covering several snapshots shows their mean rate.
func Resample(samples []Sample, end time.Time, window time.Duration, n int) []float64 {
	if n <= 0 || window <= 0 {
		return nil
	}
	out := make([]float64, n)
	counts := make([]int, n)
	start := end.Add(-window)
	for _, s := range samples {
		if !s.At.After(start) || s.At.After(end) {
			continue
		}
		// (start, end] maps onto buckets 0..n-1; a sample exactly at end falls in the last.
		i := int(float64(s.At.Sub(start)-1) / float64(window) * float64(n))
		i = min(max(i, 0), n-1)
		out[i] += s.Value
		counts[i]++
	}
	for i := range out {
		if counts[i] == 0 {
			out[i] = math.NaN()
		} else {
			out[i] /= float64(counts[i])
		}
	}
	return out
}

// PendingWorkers sums the workers the live managers of the latest snapshot are still
// starting (scaler_top's "N pending").
func (m *Model) PendingWorkers() uint64 {
	if m.Latest == nil {
		return 0
	}
	var n uint64
	for _, d := range m.Latest.Managers {
		n += uint64(d.PendingWorkers)
	}
	return n
}
