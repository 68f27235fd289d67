//go:build !noaws

package applets_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
	"github.com/scaler-go/scaler/applets"
)

// seedAWS holds the seed's three AWS [[worker_manager]] examples, as the seed gives them
// (the orb one without a worker_manager_id: the manager makes one up), plus a scheduler.
const seedAWS = `
[scheduler]
scheduler_address = "tcp://127.0.0.1:6378"

[[worker_manager]]
type = "aws_raw_ecs"
scheduler_address = "tcp://127.0.0.1:6378"
object_storage_address = "tcp://127.0.0.1:6379"
worker_manager_id = "wm-ecs"
ecs_subnets = "subnet-0abc123,subnet-0def456"
ecs_cluster = "scaler-cluster"
ecs_task_definition = "scaler-task-definition"
ecs_task_image = "public.ecr.aws/v4u8j8r6/scaler:latest"
aws_region = "us-east-1"

[[worker_manager]]
type = "aws_hpc"
scheduler_address = "tcp://127.0.0.1:6378"
object_storage_address = "tcp://127.0.0.1:6379"
worker_manager_id = "wm-batch"
job_queue = "scaler-job-queue"
job_definition = "scaler-job-definition"
s3_bucket = "my-scaler-bucket"
aws_region = "us-east-1"

[[worker_manager]]
type = "orb_aws_ec2"
scheduler_address = "tcp://127.0.0.1:6378"
object_storage_address = "tcp://127.0.0.1:6379"
image_id = "ami-0528819f94f4f5fa5"
instance_type = "t3.medium"
aws_region = "us-east-1"
`

func run(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	code := applets.Run(context.Background(), applets.Env{Stdout: &out, Stderr: &out}, args)
	return code, out.String()
}

// The seed's TOML examples select each AWS manager and fill its options; without
// credentials each stops at once with one line saying how to give them.
func TestAWSManagersFromSeedTOML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(seedAWS), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"aws_raw_ecs", "aws_hpc", "orb_aws_ec2"} {
		t.Run(typ, func(t *testing.T) {
			code, out := run(t, awsfake.NoCredentials, "scaler_worker_manager", typ, "--config", path)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.Contains(last, "scaler_worker_manager: no AWS credentials found") {
				t.Fatalf("exit %d, output:\n%s", code, out)
			}
		})
	}
}

func TestAWSManagersBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"aws_raw_ecs", "tcp://127.0.0.1:1", "--worker-manager-id", "x"}, "missing --ecs-subnets"},
		{[]string{"aws_raw_ecs", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "--ecs-subnets", "s", "--ecs-task-cpu", "0"}, "--ecs-task-cpu"},
		{[]string{"aws_raw_ecs", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "--ecs-subnets", "s", "--aws-region", "mars-1"}, `unknown AWS region "mars-1"`},
		{[]string{"aws_raw_ecs", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "--ecs-subnets", "s", "--aws-access-key-id", "AKID"}, "give both --aws-access-key-id and --aws-secret-access-key"},
		{[]string{"aws_hpc", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "--job-definition", "d", "--s3-bucket", "b"}, "missing --job-queue"},
		{[]string{"aws_hpc", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "-q", "q", "-d", "d", "--s3-bucket", "b", "-b", "slurm"}, "--backend"},
		{[]string{"aws_hpc", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "-q", "q", "-d", "d", "--s3-bucket", "b", "-mcj", "0"}, "--max-concurrent-jobs"},
		{[]string{"orb_aws_ec2", "tcp://127.0.0.1:1", "--worker-manager-id", "x"}, "missing --image-id"},
		{[]string{"orb_aws_ec2", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "--image-id", "al2023", "--scaler-binary-url", "https://h/s",
			"--scaler-binary-s3-bucket", "b"}, "not both"},
	}
	for _, tc := range tests {
		code, out := run(t, awsfake.NoCredentials, append([]string{"scaler_worker_manager"}, tc.args...)...)
		if code == 0 || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") > 0 {
			t.Errorf("%v: exit %d, output %q, want one line with %q", tc.args, code, out, tc.want)
		}
	}
}

func TestBatchRunnerIsHiddenAndChecksInput(t *testing.T) {
	for _, a := range applets.List(false) {
		if a.Name == "scaler_batch_runner" {
			t.Fatal("scaler_batch_runner is listed")
		}
	}
	code, out := run(t, awsfake.NoCredentials, "scaler_batch_runner", "--task-id", "x")
	if code == 0 || !strings.Contains(out, "missing --s3-bucket") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
