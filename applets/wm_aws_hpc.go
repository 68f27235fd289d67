//go:build !noaws

package applets

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/adapters/awshpc"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/manager"
	"github.com/scaler-go/scaler/core/worker"
)

func init() {
	registerManagerAdapter(managerAdapter{
		Name:  "aws_hpc",
		Usage: "AWS Batch worker manager: each task runs as a Batch job (the job definition runs scaler_batch_runner)",
		New:   func() adapterOptions { return &hpcOptions{} },
	})
}

// hpcOptions are aws_hpc's own options (seed; spec/features.md §1.6.5).
type hpcOptions struct {
	JobQueue          string
	JobDefinition     string
	Bucket            string
	Backend           string
	Name              string
	Region            string
	Prefix            string
	MaxConcurrentJobs int
	JobTimeoutMinutes int
}

func (o *hpcOptions) Groups() []*config.Group {
	return []*config.Group{
		config.NewGroup("aws_hpc",
			config.String(&o.JobQueue, "job-queue", "q", "", "AWS Batch job queue").Required().Check(config.NonEmpty),
			config.String(&o.JobDefinition, "job-definition", "d", "",
				"AWS Batch job definition; its container command must run scaler_batch_runner (see the aws_hpc documentation)").
				Required().Check(config.NonEmpty),
			config.String(&o.Bucket, "s3-bucket", "", "", "S3 bucket for large task inputs, array job inputs and every result").
				Required().Check(config.NonEmpty),
			config.Enum(&o.Backend, "backend", "b", "batch", []string{"batch"}, "AWS HPC backend"),
			config.String(&o.Name, "name", "n", "", "worker name of every unit (default AWS|<hex> per unit)"),
			config.String(&o.Region, "aws-region", "", awscommon.DefaultRegion, "AWS region").Check(awscommon.CheckRegion),
			config.String(&o.Prefix, "s3-prefix", "", "scaler-tasks", "S3 key prefix for task data"),
			config.Int(&o.MaxConcurrentJobs, "max-concurrent-jobs", "mcj", 100, "most Batch jobs one unit runs at once").Check(config.Positive[int]),
			config.Int(&o.JobTimeoutMinutes, "job-timeout-minutes", "", 60, "timeout of each job (attemptDurationSeconds)").Check(config.Positive[int]),
		),
	}
}

func (o *hpcOptions) Run(ctx context.Context, c *managerCommon, env Env, log *slog.Logger) error {
	cfg, err := awscommon.Load(ctx, awscommon.Options{Region: o.Region})
	if err != nil {
		return err
	}
	rc, err := c.runnerConfig("worker_manager_aws_hpc", log)
	if err != nil {
		return err
	}
	// Units are unlimited; each takes max_concurrent_jobs tasks (spec §3.1).
	rc.MaxTaskConcurrency = manager.Unlimited
	rc.WorkersPerUnit = o.MaxConcurrentJobs
	s3c := newS3(cfg)
	name := o.Name
	backend := awshpc.NewBackend(awshpc.Config{
		JobQueue: o.JobQueue, JobDefinition: o.JobDefinition, Bucket: o.Bucket, Prefix: o.Prefix, Region: o.Region,
		JobTimeout: time.Duration(o.JobTimeoutMinutes) * time.Minute, WorkerName: name, Logger: log,
	}, batch.NewFromConfig(cfg), s3c)
	wc := worker.Config{
		SchedulerAddress:     c.workerScheduler(),
		ObjectStorageAddress: c.ObjectStorage,
		WorkerManagerID:      c.ManagerID,
		MaxTaskConcurrency:   o.MaxConcurrentJobs,
		Backend:              rc.Backend,
		Logger:               log,
	}
	c.Worker.apply(&wc)
	units := awshpc.NewUnits(wc, name, backend, log)
	// The runner closes the units when it ends; this covers it ending before it connected.
	defer units.Close(context.WithoutCancel(ctx))
	return manager.NewRunner(rc, units).Run(ctx)
}
