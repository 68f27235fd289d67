package awscommon

import (
	"context"
	"log/slog"
	"time"
)

// Backoff yields pauses that double from Min up to Max, for polling loops that should slow
// down while AWS throttles or fails and speed up again once it answers.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the next pause and doubles the following one.
func (b *Backoff) Next() time.Duration {
	if b.cur < b.Min {
		b.cur = b.Min
	}
	d := b.cur
	b.cur = min(b.cur*2, b.Max)
	return d
}

// Reset starts again from Min.
func (b *Backoff) Reset() { b.cur = b.Min }

// Sleep waits d or until ctx ends; it reports whether the full pause passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// PollLoop calls poll every interval until ctx ends; while it fails, the pause doubles up to
// ten intervals and each failure is logged as "<what> failed".
func PollLoop(ctx context.Context, interval time.Duration, log *slog.Logger, what string, poll func(context.Context) error) {
	b := Backoff{Min: interval, Max: 10 * interval}
	for Sleep(ctx, b.Next()) {
		if err := poll(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn(what+" failed", "err", err)
			}
			continue
		}
		b.Reset()
	}
}
