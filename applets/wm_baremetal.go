package applets

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/scaler-go/scaler/adapters/baremetal"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/manager"
)

func init() {
	registerManagerAdapter(managerAdapter{
		Name:  "baremetal_native",
		Usage: "worker processes on this host: dynamic (the scheduler decides how many) or fixed",
		New:   func() adapterOptions { return &nativeOptions{} },
	})
}

type nativeOptions struct {
	Mode       string
	WorkerType string
	StopGrace  int
	TLS        config.TLS
}

func (o *nativeOptions) Groups() []*config.Group {
	return []*config.Group{
		config.NewGroup("baremetal_native",
			config.Enum(&o.Mode, "mode", "", "dynamic", []string{"dynamic", "fixed"},
				"dynamic: workers follow the scheduler's scaling commands; fixed: exactly max_task_concurrency workers, replaced when they die"),
			config.String(&o.WorkerType, "worker-type", "", "", "worker name prefix (default NAT in dynamic mode, FIX in fixed mode)").
				DefaultText("NAT or FIX"),
			config.Int(&o.StopGrace, "worker-stop-grace-seconds", "", 10, "time a stopped worker has to leave before it is killed").Check(config.Positive[int]),
			config.Alias("num-of-workers", "n", "max-task-concurrency"),
		),
		config.TLSGroup(&o.TLS),
	}
}

func (o *nativeOptions) Run(ctx context.Context, c *managerCommon, env Env, log *slog.Logger) error {
	wt := o.WorkerType
	if wt == "" {
		wt = map[string]string{"dynamic": "NAT", "fixed": "FIX"}[o.Mode]
	}
	native := baremetal.NewNative(baremetal.Config{
		SchedulerAddress:     c.workerScheduler(),
		ObjectStorageAddress: c.ObjectStorage,
		ManagerID:            c.ManagerID,
		WorkerType:           wt,
		WorkerArgs:           c.workerFlags(),
		StopGrace:            time.Duration(o.StopGrace) * time.Second,
		Logger:               log,
	})
	if o.Mode == "fixed" {
		if c.MaxTaskConcurrency < 0 {
			return fmt.Errorf("--max-task-concurrency must be 0 or more in fixed mode, got %d", c.MaxTaskConcurrency)
		}
		return native.RunFixed(ctx, c.MaxTaskConcurrency)
	}
	cfg, err := c.runnerConfig("worker_manager_native", log)
	if err != nil {
		return err
	}
	return manager.NewRunner(cfg, native).Run(ctx)
}
