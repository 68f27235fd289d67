//go:build !noaws

package applets

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/adapters/awshpc"
	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/worker"
)

func init() {
	Register(Applet{Name: "scaler_batch_runner", Hidden: true,
		Summary: "run one aws_hpc task inside an AWS Batch job (internal: the job definition's command)", Run: runBatchRunner})
}

type batchRunnerOptions struct {
	Params  awshpc.JobParams
	Region  string
	Python  string
	Logging config.Logging
}

func batchRunnerCommand(o *batchRunnerOptions) *config.Command {
	p := &o.Params
	return &config.Command{
		Name:  "scaler_batch_runner",
		Usage: "run the task of one AWS Batch job and write its result to S3",
		Groups: []*config.Group{
			config.NewGroup("Job (Ref:: parameters of the job definition)",
				config.String(&p.TaskID, "task-id", "", "", "task id (hex)"),
				config.String(&p.Payload, "payload", "", "", "inline payload (base64), or - when in S3"),
				config.String(&p.Compressed, "compressed", "", "", "whether the payload is gzipped (informational: gzip is detected)"),
				config.String(&p.Bucket, "s3-bucket", "", "", "bucket of inputs and results").Required(),
				config.String(&p.Prefix, "s3-prefix", "", "", "key prefix"),
				config.String(&p.Key, "s3-key", "", "", "key of the payload, or - when inline (ARRAY_INDEX is replaced by the array index)"),
				config.String(&o.Region, "aws-region", "", "", "AWS region (default: AWS_REGION of the job)"),
				config.String(&o.Python, "python", "", "python3", "Python interpreter for Python tasks (needs cloudpickle)"),
			),
			config.LoggingGroup(&o.Logging),
		},
	}
}

func runBatchRunner(ctx context.Context, env Env, args []string) error {
	var o batchRunnerOptions
	res, err := parse(batchRunnerCommand(&o), env, args)
	if err != nil {
		return err
	}
	log, closeLogs, err := newLogger(o.Logging, "batch_runner", env, res)
	if err != nil {
		return err
	}
	defer closeLogs()
	region := o.Region
	if region == "" || region == awshpc.None {
		region = os.Getenv("AWS_REGION")
	}
	cfg, err := awscommon.Load(ctx, awscommon.Options{Region: region})
	if err != nil {
		return err
	}
	s3c := newS3(cfg)
	o.Params.ArrayIndex = os.Getenv("AWS_BATCH_JOB_ARRAY_INDEX")
	err = awshpc.RunJob(ctx, o.Params, s3c, worker.PythonConfig{Interpreter: o.Python}, log)
	if errors.Is(err, awshpc.ErrTaskFailed) {
		// The failure is in S3 for the manager; a non-zero exit marks the job FAILED.
		return ExitError{Code: 1}
	}
	return err
}

// newS3 is the S3 client of the AWS commands: path-style addressing when the environment
// points S3 at a custom endpoint (see awscommon.CustomEndpoint).
func newS3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(so *s3.Options) { so.UsePathStyle = awscommon.CustomEndpoint("S3") })
}
