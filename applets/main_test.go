package applets_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var monitorRetry = transport.RetryPolicy{MaxRetries: 6, InitialDelay: 100 * time.Millisecond}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// onMonitor subscribes to a scheduler's monitor (b nil: SCALER_NETWORK_BACKEND) and hands
// every update to fn, from one goroutine, until the test ends.
func onMonitor(t *testing.T, b transport.Backend, addr string, fn func(monitor.Update)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := monitor.Subscribe(ctx, monitor.StreamConfig{Address: address.MustParse(addr), Backend: b, Role: "test", FirstConnect: monitorRetry})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range s.Updates() {
			fn(u)
		}
	}()
	t.Cleanup(func() {
		cancel()
		s.Close()
		<-done
	})
}
