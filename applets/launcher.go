package applets

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
)

func init() {
	Register(Applet{Name: "scaler", Summary: "start every section of a TOML file: scaler FILE.toml", Run: runLauncher})
}

const launcherUsage = `usage: scaler FILE.toml
       scaler --local                 run the embedded local cluster (see --print-local-config)
       scaler --print-local-config
       scaler COMMAND [options]       (or call the command's symlink directly)

Starts every recognised section of FILE.toml in this process: [object_storage_server],
[scheduler] (which starts object storage at its port + 1 unless object_storage_address is
given), each [[worker_manager]], and [gui]. A [top] section is accepted and ignored here:
the launcher has no terminal of its own; run scaler_top in a terminal instead.
`

//go:embed local.toml
var localConfig []byte

func runLauncher(ctx context.Context, env Env, args []string) error {
	if len(args) == 1 && args[0] == "--print-local-config" {
		_, err := env.Stdout.Write(localConfig)
		return err
	}
	if len(args) == 1 && args[0] == "--local" {
		file, err := config.ParseFile("(embedded local.toml)", localConfig)
		if err != nil {
			return err
		}
		return launch(ctx, env, file)
	}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(env.Stdout, launcherUsage)
		fmt.Fprintln(env.Stdout)
		printCommands(env.Stdout)
		return nil
	}
	if len(args) != 1 {
		printUsage(env.Stderr)
		return UsageError{fmt.Errorf("expected one TOML file, got %d arguments", len(args))}
	}
	file, err := config.LoadFile(args[0])
	if err != nil {
		return err
	}
	return launch(ctx, env, file)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, launcherUsage)
	printCommands(w)
}

// launch builds one service per section and runs them.
func launch(ctx context.Context, env Env, file *config.File) error {
	// Environment variables apply to each section as to the command it stands for
	// (SCALER_NETWORK_BACKEND above all: workers a manager starts read it too).
	sectionOpts := config.ParseOptions{LookupEnv: os.LookupEnv, Stdout: env.Stdout}
	launcherLog, closeLog, err := config.NewLogger(config.Logging{Level: "INFO", Paths: config.DefaultLoggingPaths}, "launcher",
		config.LoggerOptions{Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return err
	}
	defer closeLog()
	// A launcher starts a whole cluster unattended: a misspelt section or key must stop it
	// rather than run with defaults nobody asked for.
	if err := strict(file.Warnings); err != nil {
		return err
	}
	var services []service
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()

	if t := file.ObjectStorageServer; t != nil {
		var o objectStorageOptions
		srv, err := sectionServer(env, t, sectionOpts, objectStorageCommand(&o), o.server, &closers)
		if err != nil {
			return err
		}
		services = append(services, service{
			name:  "object_storage_server",
			run:   srv.Run,
			ready: func(ctx context.Context) error { return probeObjectStorage(ctx, o.Address) },
		})
	}
	if t := file.Scheduler; t != nil {
		var o schedulerOptions
		// The launcher process is the scheduler's: its io_threads applies to the whole process.
		srv, err := sectionServer(env, t, sectionOpts, schedulerCommand(&o), o.server, &closers)
		if err != nil {
			return err
		}
		services = append(services, service{
			name:  "scheduler",
			run:   srv.Run,
			ready: func(ctx context.Context) error { return waitReady(ctx, srv.Ready()) },
		})
	}
	managers, err := managerServices(env, file, sectionOpts)
	if err != nil {
		return err
	}
	services = append(services, managers...)
	if t := file.GUI; t != nil {
		svc, err := guiService(env, t, sectionOpts)
		if err != nil {
			return err
		}
		services = append(services, svc)
	}
	if file.Top != nil {
		launcherLog.Info("[top] is not started by the launcher (it has no terminal); run scaler_top in a terminal")
	}
	if len(services) == 0 {
		return fmt.Errorf("%s: nothing to start", file.Path)
	}
	return runServices(ctx, launcherLog, services)
}

// parseSection parses one section of a launcher file; as for the file itself (see launch), a
// misspelt key stops the launch.
func parseSection(cmd *config.Command, t *config.Table, o config.ParseOptions) (*config.Result, error) {
	res, err := cmd.ParseTable(t, o)
	if err != nil {
		return nil, err
	}
	return res, strict(res.Warnings)
}

// sectionServer builds the server of one section as its command would (see serve). The
// logs it opens must outlive the service, so their closer joins closers, which launch calls
// once every service has stopped.
func sectionServer[S any](env Env, t *config.Table, o config.ParseOptions, cmd *config.Command,
	build func(Env, *config.Result) (S, func() error, error), closers *[]func() error) (S, error) {
	var srv S
	res, err := parseSection(cmd, t, o)
	if err != nil {
		return srv, err
	}
	srv, closeLogs, err := build(env, res)
	if err != nil {
		return srv, err
	}
	*closers = append(*closers, closeLogs)
	return srv, nil
}

// strict turns the first TOML warning into an error.
func strict(ws []config.Warning) error {
	if len(ws) == 0 {
		return nil
	}
	if len(ws) == 1 {
		return errors.New(ws[0].String())
	}
	return fmt.Errorf("%s (and %d more problems)", ws[0].String(), len(ws)-1)
}

func waitReady(ctx context.Context, ready <-chan struct{}) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeObjectStorage waits until object storage answers a request, as the reference
// launcher does (a delete of a random id).
func probeObjectStorage(ctx context.Context, addr address.Address) error {
	c, err := objstore.Dial(ctx, objstore.ClientOptions{Address: addr, Identity: protocol.NewProcessIdentity(os.Getpid(), "launcher_probe")})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Delete(ctx, protocol.NewObjectID([]byte("probe")))
	return err
}
