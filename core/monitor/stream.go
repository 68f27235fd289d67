// Package monitor reads the scheduler's monitor stream (spec/protocol.md §1.8, §7.13, §8.9)
// and keeps one model of the cluster that both dashboards render: scaler_top in a terminal
// and scaler_gui in browsers.
//
// Stream subscribes (YMQ or ZMQ) and reconnects whenever the scheduler goes away; Model
// folds decoded messages into the latest status snapshot, throughput history, a task log and
// worker/manager views. A Model is owned by one goroutine.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// Update is one decoded monitor message, or a connection change when Msg is nil.
type Update struct {
	At        time.Time
	Msg       protocol.Message
	Connected bool  // for connection changes: true once (re)connected
	Err       error // for connection changes: why the connection ended
}

// StreamConfig configures Subscribe.
type StreamConfig struct {
	// Address is the scheduler's monitor address.
	Address address.Address
	// Backend is the transport; nil means SCALER_NETWORK_BACKEND.
	Backend transport.Backend
	// Role names the subscriber in its identity ("top", "webui").
	Role string
	// FirstConnect is the retry schedule of the first connection; zero means three quick
	// retries, so a wrong address is reported at once.
	FirstConnect transport.RetryPolicy
	// Logger receives connection logs.
	Logger *slog.Logger
}

// Stream delivers monitor updates until closed, reconnecting after the scheduler goes.
type Stream struct {
	updates chan Update
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// Subscribe connects to the monitor. It fails when the first connection cannot be made;
// afterwards it reconnects on its own (every second) and reports changes on Updates.
func Subscribe(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	b := cfg.Backend
	if b == nil {
		var err error
		if b, err = transport.FromEnv(); err != nil {
			return nil, err
		}
	}
	if cfg.Role == "" {
		cfg.Role = "monitor"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	first := cfg.FirstConnect
	if first.InitialDelay == 0 {
		first = transport.RetryPolicy{MaxRetries: 3, InitialDelay: 100 * time.Millisecond}
	}
	opts := transport.Options{Identity: protocol.NewProcessIdentity(os.Getpid(), cfg.Role), Logger: cfg.Logger, Retry: first}
	sub, err := b.Subscribe(ctx, cfg.Address, opts)
	if err != nil {
		return nil, fmt.Errorf("subscribe to monitor %s: %w", cfg.Address, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &Stream{updates: make(chan Update, 1024), cancel: cancel, done: make(chan struct{})}
	go s.run(sctx, b, cfg, opts, sub)
	return s, nil
}

// Updates delivers messages and connection changes; it is closed after Close.
func (s *Stream) Updates() <-chan Update { return s.updates }

// Close stops the stream.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

func (s *Stream) emit(ctx context.Context, u Update) bool {
	select {
	case s.updates <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Stream) run(ctx context.Context, b transport.Backend, cfg StreamConfig, opts transport.Options, sub transport.Subscriber) {
	defer close(s.done)
	defer close(s.updates)
	opts.Retry = transport.RetryPolicy{MaxRetries: 2, InitialDelay: 100 * time.Millisecond}
	for {
		if !s.emit(ctx, Update{At: time.Now(), Connected: true}) {
			sub.Close()
			return
		}
		err := s.pump(ctx, cfg, sub)
		sub.Close()
		if ctx.Err() != nil {
			return
		}
		if !s.emit(ctx, Update{At: time.Now(), Err: err}) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			sub, err = b.Subscribe(ctx, cfg.Address, opts)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (s *Stream) pump(ctx context.Context, cfg StreamConfig, sub transport.Subscriber) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case raw, ok := <-sub.Messages():
			if !ok {
				err := sub.Err()
				if err == nil {
					err = errors.New("monitor stream ended")
				}
				return err
			}
			m, err := protocol.Decode(raw)
			if err != nil {
				cfg.Logger.Warn("dropping malformed monitor message", "err", err)
				continue
			}
			if !s.emit(ctx, Update{At: time.Now(), Msg: m}) {
				return ctx.Err()
			}
		}
	}
}
