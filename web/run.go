package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/scaler-go/scaler/core/monitor"
)

// Config is what scaler_gui needs to run.
type Config struct {
	// Stream says which monitor to subscribe to and how.
	Stream monitor.StreamConfig
	// Hub sets the broadcast interval and what the model keeps; its Monitor field defaults to
	// the stream address.
	Hub HubConfig
	// Logger receives the GUI's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Listen opens the dashboard's TCP listener on HOST:PORT. The error is one line naming the
// address ("address already in use", "no such host", ...).
func Listen(hostPort string) (net.Listener, error) {
	ln, err := net.Listen("tcp", hostPort)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", hostPort, err)
	}
	return ln, nil
}

// Serve runs the dashboard on ln until ctx ends: one monitor subscription (kept trying while
// the scheduler is away), one hub goroutine owning the model, and the HTTP server. It
// returns after all of them have stopped.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Hub.Monitor == "" {
		cfg.Hub.Monitor = cfg.Stream.Address.String()
	}
	if cfg.Stream.Logger == nil {
		cfg.Stream.Logger = log
		// The transport logs every failed connection attempt, and the GUI retries for as long
		// as the scheduler is away; the hub reports the monitor's state once per change. Keep
		// the attempts for people who asked for DEBUG.
		if !log.Enabled(context.Background(), slog.LevelDebug) {
			cfg.Stream.Logger = slog.New(minLevel{log.Handler(), slog.LevelWarn})
		}
	}
	if cfg.Hub.Logger == nil {
		cfg.Hub.Logger = log
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hub := NewHub(cfg.Hub)
	srv := NewServer(hub, ServerConfig{Logger: log})
	updates := monitor.Follow(ctx, cfg.Stream, time.Second)
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		hub.Run(ctx, updates)
	}()
	log.Info("web GUI started", "url", "http://"+ln.Addr().String(), "monitor", cfg.Hub.Monitor)
	err := srv.Serve(ctx, ln)
	cancel()
	<-hubDone
	// Follow closes its channel once its goroutines are gone; wait for that.
	for range updates {
	}
	return err
}

// minLevel drops records below level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
