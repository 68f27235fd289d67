package applets

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"

	// Both transport backends register themselves; SCALER_NETWORK_BACKEND picks one.
	_ "github.com/scaler-go/scaler/core/transport/ymq"
	_ "github.com/scaler-go/scaler/core/transport/zmq"
)

// parse fills a command's options from argv, the environment and --config.
func parse(cmd *config.Command, env Env, args []string) (*config.Result, error) {
	return cmd.Parse(args, config.ParseOptions{LookupEnv: os.LookupEnv, Stdout: env.Stdout})
}

// serve runs a command that is one server (scaler_scheduler, scaler_object_storage_server)
// until ctx ends. build is the options' server method, which opens the logs; the launcher
// builds the same servers from file sections (see sectionServer).
func serve[S interface{ Run(context.Context) error }](ctx context.Context, env Env, args []string, cmd *config.Command,
	build func(Env, *config.Result) (S, func() error, error)) error {
	res, err := parse(cmd, env, args)
	if err != nil {
		return err
	}
	srv, closeLogs, err := build(env, res)
	if err != nil {
		return err
	}
	defer closeLogs()
	return srv.Run(ctx)
}

// newLogger builds the command's logger, logs the TOML warnings and the effective settings.
func newLogger(l config.Logging, component string, env Env, res *config.Result) (*slog.Logger, func() error, error) {
	logger, closeLogs, err := config.NewLogger(l, component, config.LoggerOptions{Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return nil, nil, err
	}
	if res != nil {
		config.LogWarnings(logger, res.Warnings)
		for _, s := range res.Settings() {
			logger.Debug("setting", "key", s.Key, "value", s.Value, "source", s.Source.String())
		}
	}
	return logger, closeLogs, nil
}

// backend returns the transport backend called name.
func backend(name string) (transport.Backend, error) {
	if name == "" {
		return transport.FromEnv()
	}
	return transport.Lookup(name)
}

// capabilities converts the config form to the wire form, sorted for stable output.
func capabilities(m map[string]int) []protocol.Capability {
	out := make([]protocol.Capability, 0, len(m))
	for _, n := range slices.Sorted(maps.Keys(m)) {
		out = append(out, protocol.Capability{Name: n, Value: int64(m[n])})
	}
	return out
}

// isUsage reports whether err is a command-line mistake (exit code 2).
func isUsage(err error) bool {
	var u UsageError
	var cu config.UsageError
	return errors.As(err, &u) || errors.As(err, &cu)
}

// setIOThreads makes io_threads the number of threads that run the scheduler's Go code at
// once (GOMAXPROCS), unless the user set GOMAXPROCS. The scheduler's state lives in one event
// loop; with one thread, a message's hand-offs from reader to loop to writer stay on one CPU
// instead of waking another, which on a VM costs more than the work itself.
func setIOThreads(n int) {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, min(n, runtime.NumCPU())))
	}
}
