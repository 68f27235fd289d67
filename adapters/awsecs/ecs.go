// Package awsecs is the aws_raw_ecs worker manager: each unit is one AWS Fargate task whose
// container runs this binary as a fixed-mode baremetal_native manager with one worker per
// vCPU, pointed back at the scheduler (spec/features.md §1.6.4, §3.4).
//
// At start it makes sure the cluster and the task definition exist (creating them, and the
// ecsTaskExecutionRole IAM role, when missing; these stay for the next run). Scale-up runs
// one task per unit (RunTask, FARGATE, awsvpc with a public IP), scale-down stops the
// oldest tasks (StopTask), and Close stops every task this manager started. Tasks that stop
// on their own (a crash, a Fargate retirement) are noticed by polling DescribeTasks and no
// longer count, so the manager starts replacements.
//
// The image must have the scaler binary on its PATH as scaler_worker_manager (a symlink to
// scaler, as `make build` makes), or an entrypoint that runs $COMMAND: the task gets the
// command both as the container command and in the COMMAND environment variable, with
// PYTHON_REQUIREMENTS and PYTHON_VERSION, as the Python project's image expects.
package awsecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/scaler-go/scaler/adapters/awscommon"
)

// ECSAPI is the part of the ECS API the manager uses (*ecs.Client implements it).
type ECSAPI interface {
	DescribeClusters(context.Context, *ecs.DescribeClustersInput, ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
	CreateCluster(context.Context, *ecs.CreateClusterInput, ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(context.Context, *ecs.RegisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	RunTask(context.Context, *ecs.RunTaskInput, ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	StopTask(context.Context, *ecs.StopTaskInput, ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// IAMAPI is the part of the IAM API used to get or create the task execution role
// (*iam.Client implements it).
type IAMAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	AttachRolePolicy(context.Context, *iam.AttachRolePolicyInput, ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
}

// ContainerName is the name of the one container of the task definition.
const ContainerName = "scaler-container"

// ExecutionRoleName is the IAM role Fargate uses to pull the image and write logs.
const ExecutionRoleName = "ecsTaskExecutionRole"

// StopReason is given to StopTask.
const StopReason = "Shutdown requested by ECS worker manager"

// Config configures the provisioner.
type Config struct {
	// Region is used to build the managed policy ARN of the right partition.
	Region string
	// Cluster is the cluster name (created when missing or not ACTIVE).
	Cluster string
	// TaskDefinition is the family (registered when missing).
	TaskDefinition string
	// Image is the container image of an auto-registered task definition.
	Image string
	// PythonRequirements and PythonVersion are passed to the container.
	PythonRequirements string
	PythonVersion      string
	// Subnets are the awsvpc subnets of every task.
	Subnets []string
	// CPU is the vCPUs of a task (also its worker count); MemoryGB its memory.
	CPU      int
	MemoryGB int
	// ManagerID is recorded in each task's startedBy.
	ManagerID string
	// Command is the container command (see WorkerCommand).
	Command []string
	// PollInterval is how often tasks are checked for having stopped (default 30 s).
	PollInterval time.Duration
	// Logger receives the manager's logs.
	Logger *slog.Logger
}

// Provisioner runs Fargate tasks as units. Its methods are safe for concurrent use.
type Provisioner struct {
	cfg    Config
	ecs    ECSAPI
	iam    IAMAPI
	log    *slog.Logger
	defArn string

	tasks    awscommon.Fleet // task ARNs
	stopPoll func()
}

// New returns a provisioner; call Setup before the units are used.
func New(cfg Config, ecsClient ECSAPI, iamClient IAMAPI) *Provisioner {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Provisioner{cfg: cfg, ecs: ecsClient, iam: iamClient, log: cfg.Logger}
}

// Setup makes sure the cluster and the task definition exist and starts watching tasks.
func (p *Provisioner) Setup(ctx context.Context) error {
	if err := p.ensureCluster(ctx); err != nil {
		return err
	}
	arn, err := p.ensureTaskDefinition(ctx)
	if err != nil {
		return err
	}
	p.defArn = arn
	// Tasks that stopped on their own are dropped, so they are replaced.
	p.stopPoll = awscommon.StartPolling(p.cfg.PollInterval, p.log, "checking ECS tasks failed", p.poll)
	return nil
}

// TaskDefinitionArn is the task definition the units run (after Setup).
func (p *Provisioner) TaskDefinitionArn() string { return p.defArn }

func (p *Provisioner) ensureCluster(ctx context.Context) error {
	out, err := p.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{p.cfg.Cluster}})
	if err != nil {
		return awscommon.Wrap(err, "describe ECS cluster "+p.cfg.Cluster)
	}
	for _, c := range out.Clusters {
		if aws.ToString(c.ClusterName) == p.cfg.Cluster && aws.ToString(c.Status) == "ACTIVE" {
			p.log.Info("using ECS cluster", "cluster", p.cfg.Cluster)
			return nil
		}
	}
	if _, err := p.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(p.cfg.Cluster)}); err != nil {
		return awscommon.Wrap(err, "create ECS cluster "+p.cfg.Cluster)
	}
	p.log.Info("created ECS cluster", "cluster", p.cfg.Cluster)
	return nil
}

func (p *Provisioner) ensureTaskDefinition(ctx context.Context) (string, error) {
	out, err := p.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(p.cfg.TaskDefinition)})
	if err == nil && out.TaskDefinition != nil {
		arn := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
		p.log.Info("using ECS task definition", "task_definition", arn)
		return arn, nil
	}
	// ECS answers an unknown family with ClientException; anything else (permissions,
	// throttling) must not be papered over by registering a new revision.
	if err != nil && awscommon.Code(err) != "ClientException" {
		return "", awscommon.Wrap(err, "describe ECS task definition "+p.cfg.TaskDefinition)
	}
	role, err := p.executionRole(ctx)
	if err != nil {
		return "", err
	}
	reg, err := p.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(p.cfg.TaskDefinition),
		Cpu:                     aws.String(strconv.Itoa(p.cfg.CPU * 1024)),
		Memory:                  aws.String(strconv.Itoa(p.cfg.MemoryGB * 1024)),
		RuntimePlatform:         &types.RuntimePlatform{CpuArchitecture: types.CPUArchitectureX8664, OperatingSystemFamily: types.OSFamilyLinux},
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		ExecutionRoleArn:        aws.String(role),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:      aws.String(ContainerName),
			Image:     aws.String(p.cfg.Image),
			Essential: aws.Bool(true),
		}},
	})
	if err != nil {
		return "", awscommon.Wrap(err, "register ECS task definition "+p.cfg.TaskDefinition)
	}
	arn := aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	p.log.Info("registered ECS task definition", "task_definition", arn, "image", p.cfg.Image, "cpu", p.cfg.CPU, "memory_gb", p.cfg.MemoryGB)
	return arn, nil
}

// trustPolicy lets ECS tasks assume the execution role.
const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// executionRole returns the ARN of ecsTaskExecutionRole, creating it (with the AWS managed
// AmazonECSTaskExecutionRolePolicy) when it does not exist.
func (p *Provisioner) executionRole(ctx context.Context) (string, error) {
	got, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(ExecutionRoleName)})
	if err == nil {
		return aws.ToString(got.Role.Arn), nil
	}
	var missing *iamtypes.NoSuchEntityException
	if !errors.As(err, &missing) {
		return "", awscommon.Wrap(err, "look up IAM role "+ExecutionRoleName)
	}
	created, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(ExecutionRoleName),
		AssumeRolePolicyDocument: aws.String(trustPolicy),
		Description:              aws.String("Lets ECS tasks of OpenGRIS Scaler pull images and write logs"),
	})
	if err != nil {
		return "", awscommon.Wrap(err, "create IAM role "+ExecutionRoleName)
	}
	policy := "arn:" + partition(p.cfg.Region) + ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
	if _, err := p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(ExecutionRoleName), PolicyArn: aws.String(policy)}); err != nil {
		return "", awscommon.Wrap(err, "attach "+policy+" to IAM role "+ExecutionRoleName)
	}
	p.log.Info("created IAM role", "role", aws.ToString(created.Role.Arn))
	return aws.ToString(created.Role.Arn), nil
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// Units is the number of tasks started and not stopped.
func (p *Provisioner) Units() int { return p.tasks.Len() }

// StartUnits runs n tasks, one RunTask call each; it stops at the first failure (the
// manager retries later).
func (p *Provisioner) StartUnits(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		if p.tasks.Closed() {
			return errors.New("the manager is stopping")
		}
		arn, err := p.runTask(ctx)
		if err != nil {
			return err
		}
		if p.tasks.Add(arn) {
			// Close ran while RunTask was in flight: this task must not outlive the manager.
			p.stopTasks(context.Background(), []string{arn})
		}
		p.log.Info("started ECS task", "task", arn)
	}
	return nil
}

func (p *Provisioner) runTask(ctx context.Context) (string, error) {
	env := []types.KeyValuePair{
		{Name: aws.String("COMMAND"), Value: aws.String(awscommon.ShellJoin(p.cfg.Command))},
		{Name: aws.String("PYTHON_REQUIREMENTS"), Value: aws.String(p.cfg.PythonRequirements)},
		{Name: aws.String("PYTHON_VERSION"), Value: aws.String(p.cfg.PythonVersion)},
	}
	out, err := p.ecs.RunTask(ctx, &ecs.RunTaskInput{
		Cluster:        aws.String(p.cfg.Cluster),
		TaskDefinition: aws.String(p.defArn),
		LaunchType:     types.LaunchTypeFargate,
		Count:          aws.Int32(1),
		StartedBy:      aws.String(startedBy(p.cfg.ManagerID)),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name:        aws.String(ContainerName),
			Command:     p.cfg.Command,
			Environment: env,
		}}},
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets:        p.cfg.Subnets,
			AssignPublicIp: types.AssignPublicIpEnabled,
		}},
	})
	if err != nil {
		return "", awscommon.Wrap(err, "start ECS task")
	}
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		return "", fmt.Errorf("start ECS task: ECS RunTask failure: %s %s (%s)", aws.ToString(f.Reason), aws.ToString(f.Detail),
			"ECS could not place the task: check the subnets, the Fargate quota and the task size; the manager tries again later")
	}
	if len(out.Tasks) != 1 || out.Tasks[0].TaskArn == nil {
		return "", fmt.Errorf("start ECS task: ECS RunTask returned %d tasks, expected 1", len(out.Tasks))
	}
	return aws.ToString(out.Tasks[0].TaskArn), nil
}

// startedBy fits the manager id into RunTask's startedBy (36 letters, digits, -, _ or /).
func startedBy(id string) string {
	b := make([]byte, 0, 36)
	for i := 0; i < len(id) && len(b) < 36; i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "scaler"
	}
	return string(b)
}

// StopUnits stops the n oldest tasks. A task whose StopTask fails is kept (and counted), so
// the next reconciliation tries again.
func (p *Provisioner) StopUnits(ctx context.Context, n int) error {
	return p.stopTasks(ctx, p.tasks.Oldest(n))
}

func (p *Provisioner) stopTasks(ctx context.Context, arns []string) error {
	var errs []error
	for _, arn := range arns {
		_, err := p.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(p.cfg.Cluster), Task: aws.String(arn), Reason: aws.String(StopReason)})
		if err != nil && awscommon.Code(err) != "InvalidParameterException" {
			// InvalidParameterException is ECS's answer for a task it no longer knows:
			// it is gone either way.
			errs = append(errs, awscommon.Wrap(err, "stop ECS task "+arn))
			continue
		}
		p.tasks.Remove(arn)
		p.log.Info("stopped ECS task", "task", arn)
	}
	return errors.Join(errs...)
}

// Close stops every task this manager started.
func (p *Provisioner) Close(ctx context.Context) error {
	all, _ := p.tasks.Close()
	if p.stopPoll != nil {
		p.stopPoll()
	}
	err := p.stopTasks(ctx, all)
	if err != nil {
		p.log.Error("some ECS tasks could not be stopped: stop them in the ECS console or with `aws ecs stop-task`", "err", err)
	}
	return err
}

// poll drops tasks that stopped on their own.
func (p *Provisioner) poll(ctx context.Context) error {
	for chunk := range slices.Chunk(p.tasks.IDs(), 100) {
		out, err := p.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(p.cfg.Cluster), Tasks: chunk})
		if err != nil {
			return awscommon.Wrap(err, "describe ECS tasks")
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.LastStatus) == "STOPPED" {
				p.log.Warn("ECS task stopped on its own; it will be replaced if still needed", "task", aws.ToString(t.TaskArn),
					"reason", aws.ToString(t.StoppedReason), "stop_code", string(t.StopCode))
				p.tasks.Remove(aws.ToString(t.TaskArn))
			}
		}
		for _, f := range out.Failures {
			if aws.ToString(f.Reason) == "MISSING" {
				p.log.Warn("ECS task no longer exists", "task", aws.ToString(f.Arn))
				p.tasks.Remove(aws.ToString(f.Arn))
			}
		}
	}
	return nil
}
