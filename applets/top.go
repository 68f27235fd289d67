package applets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/topview"
)

func init() {
	Register(Applet{Name: "scaler_top", Summary: "terminal dashboard over a scheduler's monitor stream", Run: runTop})
}

type topOptions struct {
	Monitor address.Address
	Timeout float64
	Backend string
	TLS     config.TLS
}

func topCommand(o *topOptions) *config.Command {
	return &config.Command{
		Name:    "scaler_top",
		Usage:   "terminal dashboard over a scheduler's monitor stream",
		Section: config.SectionTop,
		Description: "Keys: q or Ctrl-C quit; g n C M c m F f w d s l sort by a worker column (again: reverse); " +
			"/ filter workers by name (Enter apply, Esc clear); arrows, PgUp/PgDn, Home/End scroll.",
		Groups: []*config.Group{
			config.NewGroup("Top",
				config.Address(&o.Monitor, "monitor-address", "",
					"scheduler monitor to subscribe to (the scheduler's --monitor-address, by default its port + 2), e.g. tcp://127.0.0.1:6380").
					Positional().Required(),
				config.Float(&o.Timeout, "timeout", "t", 5,
					"seconds to wait for the first data before giving up; later, seconds without a status snapshot before the screen says so (it keeps reconnecting)").
					Check(config.Positive[float64], finite),
				config.NetworkBackend(&o.Backend),
			),
			config.NewGroup("TLS",
				config.String(&o.TLS.Cert, "tls-cert", "tc", "", "accepted for compatibility: a subscriber presents no certificate").Placeholder("FILE"),
				config.String(&o.TLS.Key, "tls-key", "tk", "", "accepted for compatibility, with --tls-cert").Placeholder("FILE"),
			).Check(func() error {
				if (o.TLS.Cert == "") != (o.TLS.Key == "") {
					return config.ErrTLSPair
				}
				return nil
			}),
		},
	}
}

func finite(v float64) error {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return errors.New("must be a finite number of seconds")
	}
	return nil
}

// errNoData is the first-connection failure the transport cannot see: ZMQ subscribers
// connect in the background, and a YMQ peer that accepts but publishes nothing is not a
// scheduler's monitor.
var errNoData = errors.New("no data")

func runTop(ctx context.Context, env Env, args []string) error {
	var o topOptions
	res, err := parse(topCommand(&o), env, args)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(env.Stderr, "scaler_top: warning: %s\n", w)
	}
	b, err := backend(o.Backend)
	if err != nil {
		return err
	}
	timeout := time.Duration(o.Timeout * float64(time.Second))
	// Transport logs would scribble over the dashboard; the banner reports the connection.
	quiet := slog.New(slog.DiscardHandler)
	stream, err := monitor.Subscribe(ctx, monitor.StreamConfig{Address: o.Monitor, Backend: b, Role: "top", Logger: quiet})
	if err != nil {
		return err
	}
	defer stream.Close()
	model := monitor.NewModel(monitor.ModelConfig{})
	// The screen starts only once data flows, so a wrong address ends as one line on a
	// terminal left as it was, like the Python dashboard's TimeoutError but without a trace.
	if err := firstData(ctx, stream.Updates(), model, timeout); err != nil {
		if errors.Is(err, errNoData) {
			return fmt.Errorf("cannot connect to %s: %w within %s (is a scheduler's monitor there? it listens on the scheduler port + 2 unless --monitor-address says otherwise)",
				o.Monitor, err, timeout)
		}
		return err
	}
	screen, err := tcell.NewScreen()
	if err == nil {
		err = screen.Init()
	}
	if err != nil {
		return fmt.Errorf("scaler_top needs a terminal: %w", err)
	}
	// Deferred, so the terminal is restored on every return and before a panic's message.
	defer screen.Fini()
	view := topview.New(topview.Options{Address: o.Monitor.String(), Timeout: timeout})
	return topview.Run(ctx, screen, stream.Updates(), model, view)
}

// firstData applies updates to m until the first monitor message, or fails after timeout.
func firstData(ctx context.Context, updates <-chan monitor.Update, m *monitor.Model, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if m.LastError != nil {
				return fmt.Errorf("%w (last connection error: %v)", errNoData, m.LastError)
			}
			return errNoData
		case u, ok := <-updates:
			if !ok {
				return errNoData
			}
			m.Apply(u)
			if u.Msg != nil {
				return nil
			}
		}
	}
}
