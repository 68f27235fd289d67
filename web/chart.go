package web

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
)

// chart is a line chart laid out for an SVG: the server computes the geometry, the page
// just draws it, so charts need no script library and update with the rest of the page.
type chart struct {
	Title string
	// W and H are the viewBox size; the plot area lies within the margins.
	W, H                     float64
	Left, Right, Top, Bottom float64
	Series                   []chartLine
	YTicks, XTicks           []axisMark
	// Empty is true when no series has a sample in the window.
	Empty bool
}

// chartLine is one line.
type chartLine struct {
	Name string
	// Class picks the line's colour in the style sheet.
	Class string
	// Points is the SVG polyline "x,y x,y ..." and Area the same closed down to the axis.
	Points, Area string
	// Last is the latest value, printed in the legend.
	Last string
}

// axisMark is an axis mark at a position with a label.
type axisMark struct {
	Pos   float64
	Label string
}

// chartSeries is one input series of newChart.
type chartSeries struct {
	name, class string
	samples     []monitor.Sample
	format      func(float64) string
}

// newChart lays out series over the window that ends at now. When the samples cover less
// than the window (the dashboard started recently), the axis shrinks to what they cover,
// rounded up to a whole minute, so a fresh dashboard shows a line rather than a sliver.
func newChart(title string, now time.Time, window time.Duration, series ...chartSeries) chart {
	c := chart{Title: title, W: 600, H: 220, Left: 48, Right: 588, Top: 12, Bottom: 196, Empty: true}
	window = shownWindow(now, window, series)
	start := now.Add(-window)
	peak := 0.0
	for _, s := range series {
		for _, p := range s.samples {
			if !p.At.Before(start) {
				peak = math.Max(peak, p.Value)
				c.Empty = false
			}
		}
	}
	top := niceCeil(peak)
	x := func(t time.Time) float64 {
		return c.Left + (c.Right-c.Left)*t.Sub(start).Seconds()/window.Seconds()
	}
	y := func(v float64) float64 { return c.Bottom - (c.Bottom-c.Top)*v/top }
	for _, s := range series {
		var pts strings.Builder
		firstX, lastX := -1.0, -1.0
		last := 0.0
		for _, p := range s.samples {
			if p.At.Before(start) || p.At.After(now) {
				continue
			}
			px := x(p.At)
			if firstX < 0 {
				firstX = px
			}
			lastX = px
			if pts.Len() > 0 {
				pts.WriteByte(' ')
			}
			pts.WriteString(coord(px) + "," + coord(y(p.Value)))
			last = p.Value
		}
		cs := chartLine{Name: s.name, Class: s.class, Points: pts.String(), Last: s.format(last)}
		if firstX >= 0 {
			cs.Area = coord(firstX) + "," + coord(c.Bottom) + " " + cs.Points + " " + coord(lastX) + "," + coord(c.Bottom)
		}
		c.Series = append(c.Series, cs)
	}
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		c.YTicks = append(c.YTicks, axisMark{Pos: y(v), Label: monitor.FormatRate(v)})
	}
	step := tickStep(window)
	for back := window; back >= 0; back -= step {
		c.XTicks = append(c.XTicks, axisMark{Pos: x(now.Add(-back)), Label: ago(back, step < time.Minute)})
	}
	return c
}

// shownWindow is the time span a chart covers: the chosen window, or less when the oldest
// sample is younger (at least a minute, in whole minutes).
func shownWindow(now time.Time, window time.Duration, series []chartSeries) time.Duration {
	oldest := now
	for _, s := range series {
		if len(s.samples) > 0 && s.samples[0].At.Before(oldest) {
			oldest = s.samples[0].At
		}
	}
	span := now.Sub(oldest)
	if span >= window {
		return window
	}
	return min(window, max(time.Minute, (span+time.Minute-1)/time.Minute*time.Minute))
}

// tickStep spaces the time axis marks: five or six of them.
func tickStep(window time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute} {
		if window/s <= 6 {
			return s
		}
	}
	return window / 5
}

// ago labels a mark that lies d before now: "now", "-45s", "-5m" (seconds when asked, or
// when d is no whole number of minutes).
func ago(d time.Duration, seconds bool) string {
	switch {
	case d == 0:
		return "now"
	case seconds || d%time.Minute != 0:
		return "-" + strconv.Itoa(int(d/time.Second)) + "s"
	}
	return "-" + strconv.Itoa(int(d/time.Minute)) + "m"
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1), so axis labels read well.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func rateText(v float64) string  { return monitor.FormatRate(v) + "/s" }
func countText(v float64) string { return monitor.FormatRate(v) }

func throughputChart(s *Snapshot, minutes int) chart {
	return newChart("Throughput (finished tasks per second)", s.At, time.Duration(minutes)*time.Minute,
		chartSeries{name: "finished/s", class: "s-tput", samples: s.Throughput, format: rateText})
}

func populationChart(s *Snapshot, minutes int) chart {
	return newChart("Tasks running and queued", s.At, time.Duration(minutes)*time.Minute,
		chartSeries{name: "running", class: "s-run", samples: s.Running, format: countText},
		chartSeries{name: "queued", class: "s-queue", samples: s.Queued, format: countText})
}
