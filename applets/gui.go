package applets

import (
	"context"
	"time"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/web"
)

func init() {
	Register(Applet{Name: "scaler_gui", Summary: "start the web dashboard over a scheduler's monitor stream", Run: runGUI})
}

type guiOptions struct {
	Monitor              address.Address
	GUIAddress           string
	BroadcastInterval    float64
	TaskLogMaxSize       int
	StatusReportInterval int
	Backend              string
	Logging              config.Logging
	TLS                  config.TLS
}

func guiCommand(o *guiOptions) *config.Command {
	return &config.Command{
		Name:    "scaler_gui",
		Usage:   "start the web dashboard",
		Section: config.SectionGUI,
		Groups: []*config.Group{
			config.NewGroup("GUI",
				config.Address(&o.Monitor, "monitor-address", "", "scheduler monitor address to subscribe to, e.g. tcp://127.0.0.1:6380").
					Positional().Required(),
				config.String(&o.GUIAddress, "gui-address", "", "0.0.0.0:50001", "host and port of the web server").
					Placeholder("HOST:PORT").Check(config.HostPort),
				config.Float(&o.BroadcastInterval, "broadcast-interval-seconds", "bi", 0.5,
					"how often browsers get updates; changes in between are folded into one update").Check(config.Positive[float64]),
				config.Int(&o.TaskLogMaxSize, "task-log-max-size", "tl", 500, "finished tasks kept and shown in the task stream").
					Check(config.Positive[int]),
				config.Int(&o.StatusReportInterval, "status-report-interval-seconds", "sri", 1,
					"the scheduler's status report period; the scheduler is shown stale after 5 times this without a report").
					Check(config.Positive[int]),
				config.NetworkBackend(&o.Backend),
			),
			config.LoggingGroup(&o.Logging),
			// A subscriber needs no certificate: tls:// monitors are encrypted without one, as
			// in the Python project. The pair is accepted and checked for compatibility.
			config.TLSGroup(&o.TLS),
		},
	}
}

// config turns the options into the dashboard's configuration.
func (o *guiOptions) config(env Env, res *config.Result) (web.Config, func() error, error) {
	log, closeLogs, err := newLogger(o.Logging, "gui", env, res)
	if err != nil {
		return web.Config{}, nil, err
	}
	b, err := backend(o.Backend)
	if err != nil {
		closeLogs()
		return web.Config{}, nil, err
	}
	interval := time.Duration(o.BroadcastInterval * float64(time.Second))
	cfg := web.Config{
		Stream: monitor.StreamConfig{Address: o.Monitor, Backend: b, Role: "webui"},
		Hub: web.HubConfig{
			Interval: interval,
			Model: monitor.ModelConfig{
				TaskLog:    o.TaskLogMaxSize,
				StaleAfter: 5 * time.Duration(o.StatusReportInterval) * time.Second,
			},
		},
		Logger: log,
	}
	return cfg, closeLogs, nil
}

func runGUI(ctx context.Context, env Env, args []string) error {
	var o guiOptions
	res, err := parse(guiCommand(&o), env, args)
	if err != nil {
		return err
	}
	cfg, closeLogs, err := o.config(env, res)
	if err != nil {
		return err
	}
	defer closeLogs()
	// Bind first: a port in use is reported at once, before any connection is tried.
	ln, err := web.Listen(o.GUIAddress)
	if err != nil {
		return err
	}
	return web.Serve(ctx, ln, cfg)
}

// guiService is the launcher's [gui] section: the same dashboard as a service of the
// launched cluster. The listener is opened when the service starts, so a port in use fails
// the launch with one line naming the address.
func guiService(env Env, t *config.Table, o config.ParseOptions) (service, error) {
	var g guiOptions
	res, err := parseSection(guiCommand(&g), t, o)
	if err != nil {
		return service{}, err
	}
	cfg, closeLogs, err := g.config(env, res)
	if err != nil {
		return service{}, err
	}
	listening := make(chan struct{})
	return service{
		name: "gui",
		run: func(ctx context.Context) error {
			defer closeLogs()
			ln, err := web.Listen(g.GUIAddress)
			if err != nil {
				return err
			}
			close(listening)
			return web.Serve(ctx, ln, cfg)
		},
		ready: func(ctx context.Context) error { return waitReady(ctx, listening) },
	}, nil
}
