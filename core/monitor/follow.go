package monitor

import (
	"context"
	"time"
)

// Follow is Subscribe for long-running dashboards that must come up before the scheduler
// does, or while it is away: it never gives up on the first connection. Each failed attempt
// is reported as a connection change (Connected false, Err saying why), then retried after
// retry (default 1 s); once connected, the Stream's own reconnection takes over and its
// updates are forwarded.
//
// The channel is closed after ctx ends and every goroutine Follow started has returned, so a
// caller that drains it until closed leaves nothing behind.
func Follow(ctx context.Context, cfg StreamConfig, retry time.Duration) <-chan Update {
	if retry <= 0 {
		retry = time.Second
	}
	out := make(chan Update, 64)
	go func() {
		defer close(out)
		send := func(u Update) bool {
			select {
			case out <- u:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			s, err := Subscribe(ctx, cfg)
			if err == nil {
				for u := range s.Updates() {
					if !send(u) {
						break
					}
				}
				s.Close()
				return
			}
			if ctx.Err() != nil || !send(Update{At: time.Now(), Err: err}) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
		}
	}()
	return out
}
