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

// PollLoop calls poll after each pause of b until ctx ends: while poll fails, the pause
// doubles up to b.Max and each failure is logged as msg; once it works, the pause is b.Min
// again.
func PollLoop(ctx context.Context, b Backoff, log *slog.Logger, msg string, poll func(context.Context) error) {
	for Sleep(ctx, b.Next()) {
		if err := poll(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn(msg, "err", err)
			}
			continue
		}
		b.Reset()
	}
}

// StartPolling runs PollLoop on its own goroutine, every interval and up to ten intervals
// apart while poll fails; stop ends it and waits for it to return.
func StartPolling(interval time.Duration, log *slog.Logger, msg string, poll func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		PollLoop(ctx, Backoff{Min: interval, Max: 10 * interval}, log, msg, poll)
	}()
	return func() {
		cancel()
		<-done
	}
}
