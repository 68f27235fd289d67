//go:build !noaws

package applets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/adapters/orbec2"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/manager"
	"github.com/scaler-go/scaler/core/proc"
)

func init() {
	registerManagerAdapter(managerAdapter{
		Name:  "orb_aws_ec2",
		Usage: "AWS EC2 worker manager: each unit is an EC2 instance running one worker per vCPU",
		New:   func() adapterOptions { return &orbOptions{} },
	})
}

// orbOptions are orb_aws_ec2's own options (seed; spec/features.md §1.6.6) and how the
// instances get the scaler binary (ours: the Python project installs a Python package).
type orbOptions struct {
	ImageID          string
	InstanceType     string
	Region           string
	KeyName          string
	SubnetID         string
	SecurityGroupIDs []string
	Profile          string
	Tags             map[string]string
	Requirements     string
	PythonVersion    string
	DebugDumpPath    string
	BinaryURL        string
	BinarySHA256     string
	BinaryBucket     string
	BinaryPrefix     string
}

func (o *orbOptions) Groups() []*config.Group {
	return []*config.Group{
		config.NewGroup("orb_aws_ec2",
			config.String(&o.ImageID, "image-id", "", "",
				"AMI ID for the worker EC2 instances, or "+orbec2.LatestAL2023+" for the newest Amazon Linux 2023 x86_64 AMI").Required().Check(config.NonEmpty),
			config.String(&o.InstanceType, "instance-type", "", "t2.micro", "EC2 instance type; its vCPUs are the workers per instance").Check(config.NonEmpty),
			config.String(&o.Region, "aws-region", "", awscommon.DefaultRegion, "AWS region").Check(awscommon.CheckRegion),
			config.String(&o.KeyName, "key-name", "", "", "AWS key pair name (a temporary key pair is created if omitted)"),
			config.String(&o.SubnetID, "subnet-id", "", "", "AWS subnet ID (default: the default subnet of the default VPC)"),
			config.Strings(&o.SecurityGroupIDs, "security-group-ids", "", nil, "comma-separated security group IDs (a temporary group is created if omitted)"),
			config.String(&o.Profile, "aws-profile", "", "", "named AWS profile (default: the default credential chain)"),
			config.Map(&o.Tags, "instance-tags", "", "tags of every instance: KEY=VALUE,..."),
			config.String(&o.Requirements, "requirements-txt", "", "",
				"Python requirements for Python tasks, as a file path or inline text (installed with pip on the instance, with cloudpickle and tblib)"),
			config.String(&o.PythonVersion, "python-version", "", "", "Python version to install on the instance for Python tasks (e.g. 3.11; default the distribution's python3)"),
			config.String(&o.DebugDumpPath, "debug-dump-path", "", "", "directory to write the resolved settings and the user data to, as JSON"),
			config.String(&o.BinaryURL, "scaler-binary-url", "", "",
				"URL the instances download the scaler binary from (default: uploaded to --scaler-binary-s3-bucket, or already on the AMI)"),
			config.String(&o.BinarySHA256, "scaler-binary-sha256", "", "", "SHA-256 the downloaded binary must have"),
			config.String(&o.BinaryBucket, "scaler-binary-s3-bucket", "", "",
				"S3 bucket this manager uploads its own binary to; instances fetch it through a presigned URL (deleted on shutdown)"),
			config.String(&o.BinaryPrefix, "scaler-binary-s3-prefix", "", "opengris-scaler/binaries", "S3 key prefix of the uploaded binary"),
		),
	}
}

func (o *orbOptions) Run(ctx context.Context, c *managerCommon, env Env, log *slog.Logger) error {
	if o.BinaryURL != "" && o.BinaryBucket != "" {
		return UsageError{fmt.Errorf("give --scaler-binary-url or --scaler-binary-s3-bucket, not both")}
	}
	requirements := o.Requirements
	if requirements != "" && !strings.Contains(requirements, "\n") {
		if data, err := os.ReadFile(requirements); err == nil {
			requirements = string(data)
		} else if !os.IsNotExist(err) {
			return fmt.Errorf("--requirements-txt %s: %w", requirements, err)
		}
	}
	cfg, err := awscommon.Load(ctx, awscommon.Options{Region: o.Region, Profile: o.Profile})
	if err != nil {
		return err
	}
	rc, err := c.runnerConfig("worker_manager_orb_aws_ec2", log)
	if err != nil {
		return err
	}
	binary := &orbec2.BinarySource{URL: o.BinaryURL, SHA256: o.BinarySHA256, Bucket: o.BinaryBucket, Prefix: o.BinaryPrefix,
		Executable: proc.Self, ManagerID: c.ManagerID, Logger: log}
	if o.BinaryBucket != "" {
		s3c := newS3(cfg)
		binary.S3, binary.Presign = s3c, s3.NewPresignClient(s3c)
	}
	prov := orbec2.New(orbec2.Config{
		ImageID: o.ImageID, InstanceType: o.InstanceType, KeyName: o.KeyName, SubnetID: o.SubnetID,
		SecurityGroupIDs: o.SecurityGroupIDs, Tags: o.Tags, ManagerID: c.ManagerID, Binary: binary,
		Boot: orbec2.Boot{
			Scheduler: c.workerScheduler().String(), ManagerID: c.ManagerID, ObjectStorage: addressText(c.ObjectStorage),
			WorkerFlags: c.workerFlags(), NetworkBackend: c.Backend, Requirements: requirements, PythonVersion: o.PythonVersion,
		},
		Logger: log,
	}, ec2.NewFromConfig(cfg))
	if err := prov.Setup(ctx); err != nil {
		return err
	}
	// The runner closes the provisioner when it ends; this covers it ending before it
	// connected (Close is idempotent).
	defer prov.Close(context.WithoutCancel(ctx))
	if o.DebugDumpPath != "" {
		if err := dumpResolved(o.DebugDumpPath, c.ManagerID, prov.Resolved()); err != nil {
			return err
		}
	}
	rc.WorkersPerUnit = prov.VCPUs()
	return manager.NewRunner(rc, prov).Run(ctx)
}

func dumpResolved(dir, id string, v map[string]any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--debug-dump-path: %w", err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "orb_aws_ec2-"+id+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("--debug-dump-path: %w", err)
	}
	return nil
}
