package applets

import (
	"context"
	"fmt"
	"os"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/worker"
)

func init() {
	Register(Applet{Name: "scaler_worker", Summary: "run one worker (internal: worker managers start it)", Run: runWorker})
}

type workerCommandOptions struct {
	Scheduler     address.Address
	ObjectStorage address.Address
	Name          string
	ManagerID     string
	Concurrency   int
	StatusFD      int
	Backend       string
	Worker        workerOptions
	Logging       config.Logging
}

func workerCommand(o *workerCommandOptions) *config.Command {
	return &config.Command{
		Name:    "scaler_worker",
		Usage:   "run one worker process",
		Section: "worker",
		Groups: []*config.Group{
			config.NewGroup("Worker process",
				config.Address(&o.Scheduler, "scheduler-address", "", "scheduler to connect to").Positional().Required(),
				config.Address(&o.ObjectStorage, "object-storage-address", "osa", "object storage to use instead of the one the scheduler advertises"),
				config.String(&o.Name, "worker-name", "", "", "middle part of the worker identity Worker|NAME|hex (default GO|hex)"),
				config.String(&o.ManagerID, "worker-manager-id", "wmi", "", "id of the worker manager that started this worker"),
				config.Int(&o.Concurrency, "max-task-concurrency", "mtc", defaultConcurrency(), "tasks run at once").Check(config.Positive[int]),
				config.Int(&o.StatusFD, "status-fd", "", 0, "file descriptor to report the worker's task count on (for worker managers)").Hidden().NoTOML(),
				config.NetworkBackend(&o.Backend),
			),
			workerGroup(&o.Worker),
			config.LoggingGroup(&o.Logging),
		},
	}
}

func runWorker(ctx context.Context, env Env, args []string) error {
	var o workerCommandOptions
	res, err := parse(workerCommand(&o), env, args)
	if err != nil {
		return err
	}
	log, closeLogs, err := newLogger(o.Logging, "worker", env, res)
	if err != nil {
		return err
	}
	defer closeLogs()
	b, err := backend(o.Backend)
	if err != nil {
		return err
	}
	cfg := worker.Config{
		SchedulerAddress:     o.Scheduler,
		ObjectStorageAddress: o.ObjectStorage,
		Name:                 o.Name,
		WorkerManagerID:      o.ManagerID,
		MaxTaskConcurrency:   o.Concurrency,
		Backend:              b,
		Logger:               log,
		AdaptiveThreads:      true,
	}
	o.Worker.apply(&cfg)
	if o.StatusFD > 2 {
		f := os.NewFile(uintptr(o.StatusFD), "status")
		if f == nil {
			return fmt.Errorf("--status-fd %d is not an open file descriptor", o.StatusFD)
		}
		defer f.Close()
		cfg.Status = f
	}
	return worker.New(cfg).Run(ctx)
}
