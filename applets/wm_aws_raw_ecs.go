//go:build !noaws

// The AWS worker managers (aws_raw_ecs, aws_hpc, orb_aws_ec2, and aws_hpc's job runner)
// bring in the AWS SDK, which roughly quadruples the binary (about 48 MB stripped, 20 MB
// of it service/ec2) and takes minutes to compile cold. `go build -tags noaws` leaves them
// out for deployments that do not use AWS.

package applets

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/adapters/awsecs"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/manager"
)

func init() {
	registerManagerAdapter(managerAdapter{
		Name:  "aws_raw_ecs",
		Usage: "AWS ECS (Fargate) worker manager: each unit is a Fargate task running ecs_task_cpu workers",
		New:   func() adapterOptions { return &ecsOptions{} },
	})
}

// ecsOptions are aws_raw_ecs's own options (seed; spec/features.md §1.6.4).
type ecsOptions struct {
	AccessKeyID        string
	SecretAccessKey    string
	Region             string
	Subnets            []string
	Cluster            string
	Image              string
	PythonRequirements string
	PythonVersion      string
	TaskDefinition     string
	CPU                int
	MemoryGB           int
}

func (o *ecsOptions) Groups() []*config.Group {
	return []*config.Group{
		config.NewGroup("aws_raw_ecs",
			config.String(&o.AccessKeyID, "aws-access-key-id", "", "", "AWS access key ID (default: the environment or the default credential chain)").
				Env("AWS_ACCESS_KEY_ID"),
			config.String(&o.SecretAccessKey, "aws-secret-access-key", "", "", "AWS secret access key").Env("AWS_SECRET_ACCESS_KEY").Secret(),
			config.String(&o.Region, "aws-region", "", awscommon.DefaultRegion, "AWS region").Check(awscommon.CheckRegion),
			config.Strings(&o.Subnets, "ecs-subnets", "", nil, "comma-separated subnet IDs for the tasks' networking").
				Required().Check(config.NonEmptyList),
			config.String(&o.Cluster, "ecs-cluster", "", "scaler-cluster", "ECS cluster name (created when missing)").Check(config.NonEmpty),
			config.String(&o.Image, "ecs-task-image", "", "public.ecr.aws/v4u8j8r6/scaler:latest",
				"container image of the workers (used when the task definition is registered here)").Check(config.NonEmpty),
			config.String(&o.PythonRequirements, "ecs-python-requirements", "", "tomli;pargraph;parfun;pandas",
				"Python dependencies passed to the task as PYTHON_REQUIREMENTS"),
			config.String(&o.PythonVersion, "ecs-python-version", "", "3.12.11", "Python version passed to the task as PYTHON_VERSION"),
			config.String(&o.TaskDefinition, "ecs-task-definition", "", "scaler-task-definition", "ECS task definition family (registered when missing)").
				Check(config.NonEmpty),
			config.Int(&o.CPU, "ecs-task-cpu", "", 4, "vCPUs per task, which is also its number of workers").Check(config.Positive[int]),
			config.Int(&o.MemoryGB, "ecs-task-memory", "", 30, "memory per task in GB").Check(config.Positive[int]),
		),
	}
}

func (o *ecsOptions) Run(ctx context.Context, c *managerCommon, env Env, log *slog.Logger) error {
	cfg, err := awscommon.Load(ctx, awscommon.Options{Region: o.Region, AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey})
	if err != nil {
		return err
	}
	prov := awsecs.New(awsecs.Config{
		Region:             o.Region,
		Cluster:            o.Cluster,
		TaskDefinition:     o.TaskDefinition,
		Image:              o.Image,
		PythonRequirements: o.PythonRequirements,
		PythonVersion:      o.PythonVersion,
		Subnets:            o.Subnets,
		CPU:                o.CPU,
		MemoryGB:           o.MemoryGB,
		ManagerID:          c.ManagerID,
		Command:            awscommon.WorkerCommand("ECS", c.workerScheduler().String(), o.CPU, c.workerFlags(), addressText(c.ObjectStorage), c.ManagerID),
		Logger:             log,
	}, ecs.NewFromConfig(cfg), iam.NewFromConfig(cfg))
	rc, err := c.runnerConfig("worker_manager_aws_raw_ecs", log)
	if err != nil {
		return err
	}
	rc.WorkersPerUnit = o.CPU
	if err := prov.Setup(ctx); err != nil {
		return err
	}
	// The runner stops every task when it ends; this covers it ending before it connected.
	defer prov.Close(context.WithoutCancel(ctx))
	return manager.NewRunner(rc, prov).Run(ctx)
}

// addressText is the address as a flag value, "" when unset.
func addressText(a address.Address) string {
	if a.IsZero() {
		return ""
	}
	return a.String()
}
