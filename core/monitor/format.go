package monitor

import (
	"fmt"
	"strconv"
	"time"
)

// FormatBytes prints a byte count for people: B, K, M, G, T (one decimal from M up), like
// the Python dashboard.
func FormatBytes(n uint64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatUint(n, 10) + "B"
	case n < 1<<20:
		return strconv.FormatUint(n>>10, 10) + "K"
	case n < 1<<30:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n < 1<<40:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%.1fT", float64(n)/(1<<40))
	}
}

// FormatCPU prints a CPU figure sent in tenths of a percent as "x.y%".
func FormatCPU(perMille uint32) string {
	return fmt.Sprintf("%d.%d%%", perMille/10, perMille%10)
}

// FormatLag prints a latency in microseconds as ms or s.
func FormatLag(us uint64) string {
	if us < 1_000_000 {
		return fmt.Sprintf("%.1fms", float64(us)/1000)
	}
	return fmt.Sprintf("%.1fs", float64(us)/1e6)
}

// FormatAge prints seconds as "Ns", "XmYs" or "XhYm".
func FormatAge(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%dm", s/3600, (s%3600)/60)
	}
}

// FormatCount prints an integer with thousands separators.
func FormatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}

// FormatRate prints a per-second rate compactly (12, 1.5K, 2.3M).
func FormatRate(v float64) string {
	switch {
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 1e6:
		return fmt.Sprintf("%.1fK", v/1e3)
	default:
		return fmt.Sprintf("%.1fM", v/1e6)
	}
}

// Truncate cuts s to n characters and marks the cut with "+", as the Python dashboard does.
func Truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	return s[:n] + "+"
}

// ShortenMiddle keeps the start and end of a long identity: "Worker|NAT|3e93…c984". It
// counts runes, not bytes, so the result is at most n characters and never splits a
// multi-byte character.
func ShortenMiddle(s string, n int) string { return cutMiddle(s, n, (n-1)/2) }

// ShortenID fits a Scaler identity in n characters by cutting its middle, keeping two thirds
// of the room for the start: identities begin with their kind and tag ("Worker|FIX|3e93…")
// and end with random digits, of which a few already tell them apart.
func ShortenID(s string, n int) string { return cutMiddle(s, n, (2*(n-1)+2)/3) }

// cutMiddle fits s in n runes, keeping its first head runes and as many of its last as fit
// beside the "…" that replaces the rest.
func cutMiddle(s string, n, head int) string {
	if n <= 1 || len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:head]) + "…" + string(r[len(r)-(n-1-head):])
}
