package applets

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/manager"
	"github.com/scaler-go/scaler/core/protocol"
)

func init() {
	Register(Applet{Name: "scaler_worker_manager", Summary: "start one worker manager: scaler_worker_manager <type> [options] <scheduler_address>", Run: runWorkerManager})
}

// managerCommon holds the options every worker manager shares (spec/features.md §1.6.1).
type managerCommon struct {
	Scheduler          address.Address
	ManagerID          string
	WorkerScheduler    address.Address
	ObjectStorage      address.Address
	MaxTaskConcurrency int
	Backend            string
	Worker             workerOptions
	Logging            config.Logging
}

func managerGroups(c *managerCommon) []*config.Group {
	return []*config.Group{
		config.NewGroup("Worker manager",
			config.Address(&c.Scheduler, "scheduler-address", "", "scheduler to connect to").Positional().Required(),
			config.String(&c.ManagerID, "worker-manager-id", "wmi", "", "id of this manager, unique per scheduler; every worker carries it").
				DefaultText("wm-<type>-<random>"),
			config.Address(&c.WorkerScheduler, "worker-scheduler-address", "wsa", "scheduler address given to workers (NAT, containers)").
				DefaultText("the scheduler address"),
			config.Address(&c.ObjectStorage, "object-storage-address", "osa", "object storage for the workers instead of the one the scheduler advertises"),
			config.Int(&c.MaxTaskConcurrency, "max-task-concurrency", "mtc", defaultConcurrency(),
				"most workers this manager runs (-1 = no limit)").Check(config.AtLeast(-1)),
			config.NetworkBackend(&c.Backend),
		),
		workerGroup(&c.Worker),
		config.LoggingGroup(&c.Logging),
	}
}

// workerScheduler is the address workers connect to.
func (c *managerCommon) workerScheduler() address.Address {
	if !c.WorkerScheduler.IsZero() {
		return c.WorkerScheduler
	}
	return c.Scheduler
}

// workerFlags renders the worker options as scaler_worker flags, for managers that start
// workers (locally or in containers).
func (c *managerCommon) workerFlags() []string {
	w := c.Worker
	args := []string{
		"--per-worker-task-queue-size", strconv.Itoa(w.QueueSize),
		"--heartbeat-interval-seconds", strconv.Itoa(w.HeartbeatInterval),
		"--task-timeout-seconds", strconv.Itoa(w.TaskTimeout),
		"--death-timeout-seconds", strconv.Itoa(w.DeathTimeout),
		"--garbage-collect-interval-seconds", strconv.Itoa(w.GCInterval),
		"--trim-memory-threshold-bytes", strconv.FormatInt(w.TrimThreshold, 10),
		"--event-loop", w.EventLoop,
		"--io-threads", strconv.Itoa(w.IOThreads),
		"--logging-level", c.Logging.Level,
		"--logging-paths", strings.Join(c.Logging.Paths, ","),
	}
	if c.Backend != "" {
		args = append(args, "--network-backend", c.Backend)
	}
	if len(w.Capabilities) > 0 {
		args = append(args, "--per-worker-capabilities", capabilityFlag(w.Capabilities))
	}
	if w.HardSuspend {
		args = append(args, "--hard-processor-suspend")
	}
	if w.Preload != "" {
		args = append(args, "--preload", w.Preload)
	}
	if w.Python != "" {
		args = append(args, "--python", w.Python)
	}
	return args
}

func capabilityFlag(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, c := range capabilities(m) {
		if c.Value == -1 {
			parts = append(parts, c.Name)
		} else {
			parts = append(parts, c.Name+"="+strconv.FormatInt(c.Value, 10))
		}
	}
	return strings.Join(parts, ",")
}

// runnerConfig is the core/manager configuration for the common options.
func (c *managerCommon) runnerConfig(role string, log *slog.Logger) (manager.Config, error) {
	b, err := backend(c.Backend)
	if err != nil {
		return manager.Config{}, err
	}
	return manager.Config{
		SchedulerAddress:   c.Scheduler,
		ManagerID:          c.ManagerID,
		Role:               role,
		MaxTaskConcurrency: c.MaxTaskConcurrency,
		Capabilities:       capabilities(c.Worker.Capabilities),
		HeartbeatInterval:  time.Duration(c.Worker.HeartbeatInterval) * time.Second,
		Backend:            b,
		Logger:             log,
	}, nil
}

// adapterOptions are one manager type's own options and how it runs.
type adapterOptions interface {
	// Groups declares the adapter's own options.
	Groups() []*config.Group
	// Run runs the manager until ctx ends.
	Run(ctx context.Context, c *managerCommon, env Env, log *slog.Logger) error
}

// managerAdapter is one scaler_worker_manager subcommand (and [[worker_manager]] type).
type managerAdapter struct {
	Name  string
	Usage string
	// New returns fresh options (each parse fills its own).
	New func() adapterOptions
}

var managerAdapters = map[string]managerAdapter{}

// registerManagerAdapter adds a worker manager type; adapter files call it from init().
func registerManagerAdapter(a managerAdapter) {
	if _, dup := managerAdapters[a.Name]; dup {
		panic("worker manager type registered twice: " + a.Name)
	}
	managerAdapters[a.Name] = a
}

// managerBinding is one parsed manager: common and adapter options bound to a command.
type managerBinding struct {
	common  *managerCommon
	adapter adapterOptions
}

// workerManagerCommand builds scaler_worker_manager with one subcommand per adapter. The
// returned bindings map subcommand names to the option structs the parse fills.
func workerManagerCommand() (*config.Command, map[string]*managerBinding) {
	cmd := &config.Command{
		Name:    "scaler_worker_manager",
		Usage:   "start one worker manager",
		Section: config.SectionWorkerManager,
	}
	bindings := map[string]*managerBinding{}
	for _, n := range slices.Sorted(maps.Keys(managerAdapters)) {
		a := managerAdapters[n]
		b := &managerBinding{common: &managerCommon{}, adapter: a.New()}
		bindings[n] = b
		cmd.Subcommands = append(cmd.Subcommands, &config.Command{
			Name:   n,
			Usage:  a.Usage,
			Groups: append(managerGroups(b.common), b.adapter.Groups()...),
		})
	}
	return cmd, bindings
}

func runWorkerManager(ctx context.Context, env Env, args []string) error {
	cmd, bindings := workerManagerCommand()
	res, err := parse(cmd, env, args)
	if err != nil {
		return err
	}
	b := bindings[res.Command.Name]
	b.common.defaultID(res.Command.Name)
	log, closeLogs, err := newLogger(b.common.Logging, "worker_manager", env, res)
	if err != nil {
		return err
	}
	defer closeLogs()
	return b.adapter.Run(ctx, b.common, env, log.With("type", res.Command.Name, "worker_manager_id", b.common.ManagerID))
}

// defaultID gives a manager started without --worker-manager-id (the seed's orb_aws_ec2
// example has none) an id of its own, unique per process, so it can still register.
func (c *managerCommon) defaultID(typ string) {
	if c.ManagerID == "" {
		id := protocol.NewTaskID()
		c.ManagerID = fmt.Sprintf("wm-%s-%x", typ, id[:4])
	}
}

// managerServices turns the launcher's [[worker_manager]] entries into services.
func managerServices(env Env, file *config.File, o config.ParseOptions) ([]service, error) {
	var out []service
	ids := map[string]string{}
	for _, t := range file.WorkerManagers {
		// A fresh command per entry: parsing writes the bound options.
		cmd, bindings := workerManagerCommand()
		res, err := parseSection(cmd, t, o)
		if err != nil {
			return nil, err
		}
		b := bindings[res.Command.Name]
		b.common.defaultID(res.Command.Name)
		if prev, dup := ids[b.common.ManagerID]; dup {
			return nil, fmt.Errorf("%s: %s and %s both use worker_manager_id %q; ids must be unique", t.File, prev, t.Label(), b.common.ManagerID)
		}
		ids[b.common.ManagerID] = t.Label()
		log, closeLogs, err := newLogger(b.common.Logging, "worker_manager", env, res)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("worker_manager %s (%s)", b.common.ManagerID, t.Type)
		log = log.With("type", t.Type)
		out = append(out, service{
			name: name,
			run: func(ctx context.Context) error {
				defer closeLogs()
				return b.adapter.Run(ctx, b.common, env, log)
			},
		})
	}
	return out, nil
}
