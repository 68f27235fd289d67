package awshpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/worker"
)

// JobParams are the job's parameters as the runner receives them (Ref::<name> in the job
// definition's command; None for empty).
type JobParams struct {
	TaskID     string
	Payload    string
	Compressed string
	Bucket     string
	Prefix     string
	Key        string
	// ArrayIndex is AWS_BATCH_JOB_ARRAY_INDEX for a child of an array job.
	ArrayIndex string
}

// ErrTaskFailed is returned by RunJob when the task ran and failed (its failure was
// written); the job then exits non-zero so Batch marks it FAILED.
var ErrTaskFailed = errors.New("the task failed")

func present(s string) bool { return s != "" && s != None && !strings.HasPrefix(s, "Ref::") }

// RunJob is the job side (scaler_batch_runner): fetch the job's payload (inline, or from
// S3 with AWS_BATCH_JOB_ARRAY_INDEX substituted, then deleted), run the task (Go functions
// from the registry, Python tasks in the embedded Python processor) and write the result
// or failure to S3. It returns ErrTaskFailed when the task failed, and another error when
// it could not even write a result.
func RunJob(ctx context.Context, p JobParams, s3c S3API, py worker.PythonConfig, log *slog.Logger) error {
	if !present(p.Bucket) {
		return errors.New("no S3 bucket given (--s3-bucket)")
	}
	job, fetchErr := fetchJob(ctx, p, s3c)
	taskID := p.TaskID
	if fetchErr == nil {
		taskID = fmt.Sprintf("%x", job.TaskID)
	}
	if !present(taskID) || strings.HasPrefix(taskID, "array-") {
		if fetchErr != nil {
			return fetchErr // no task id to report against: the manager sees the job FAILED
		}
		return errors.New("the job payload has no task id")
	}
	var res Result
	if fetchErr != nil {
		res = Result{Error: "aws_hpc job could not read its task: " + fetchErr.Error()}
	} else {
		res = runTask(ctx, job, py, log)
	}
	data, _, err := Encode(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	key := ResultKey(p.Prefix, taskID)
	if !present(p.Prefix) {
		key = ResultKey("", taskID)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		return awscommon.Wrap(err, "write result s3://"+p.Bucket+"/"+key)
	}
	log.Info("result written", "task", taskID, "ok", res.OK && res.Error == "", "key", key)
	if !res.OK || res.Error != "" {
		return ErrTaskFailed
	}
	return nil
}

func fetchJob(ctx context.Context, p JobParams, s3c S3API) (Job, error) {
	var data []byte
	switch {
	case present(p.Payload):
		raw, err := base64.StdEncoding.DecodeString(p.Payload)
		if err != nil {
			return Job{}, fmt.Errorf("inline payload: %w", err)
		}
		data = raw
	case present(p.Key):
		key := p.Key
		if strings.Contains(key, ArrayIndexToken) {
			idx := p.ArrayIndex
			if idx == "" {
				return Job{}, errors.New("the s3 key has " + ArrayIndexToken + " but AWS_BATCH_JOB_ARRAY_INDEX is not set (not an array job?)")
			}
			key = strings.ReplaceAll(key, ArrayIndexToken, idx)
		}
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(key)})
		if err != nil {
			return Job{}, awscommon.Wrap(err, "read s3://"+p.Bucket+"/"+key)
		}
		data, err = io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			return Job{}, fmt.Errorf("read s3://%s/%s: %w", p.Bucket, key, err)
		}
		// The input is no longer needed; the manager deletes it too, should this fail.
		_, _ = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(key)})
	default:
		return Job{}, errors.New("the job has neither an inline payload nor an s3 key")
	}
	var job Job
	if err := Decode(data, &job); err != nil {
		return Job{}, fmt.Errorf("decode job payload: %w", err)
	}
	return job, nil
}

// runTask runs the job's task and returns what a worker would store.
func runTask(ctx context.Context, job Job, py worker.PythonConfig, log *slog.Logger) Result {
	t, err := job.ExecTask()
	if err != nil {
		return Result{Error: err.Error()}
	}
	host, _ := os.Hostname()
	name := "aws_hpc job on " + host
	if id := os.Getenv("AWS_BATCH_JOB_ID"); id != "" {
		name = "aws_hpc job " + id
	}
	if t.Python {
		payload, ok, err := worker.RunPythonOnce(ctx, py, "", t)
		if err != nil {
			return Result{Payload: worker.FailurePayload(t, name, err.Error())}
		}
		return Result{OK: ok, Payload: payload}
	}
	return runGo(ctx, t, name, log)
}

func runGo(ctx context.Context, t worker.ExecTask, name string, log *slog.Logger) (res Result) {
	fn, ok := worker.Lookup(t.FunctionName)
	if !ok {
		return Result{Payload: gocodec.EncodeFailure(gocodec.Failure{Function: t.FunctionName, Worker: name, Kind: "not_registered",
			Message: fmt.Sprintf("function %s is not registered in the job's scaler binary (build the image from the same binary as the client's functions)", t.FunctionName)})}
	}
	defer func() {
		if r := recover(); r != nil {
			res = Result{Payload: gocodec.EncodeFailure(gocodec.Failure{Function: t.FunctionName, Message: fmt.Sprintf("panic: %v", r),
				Stack: string(debug.Stack()), Worker: name, Kind: "panic"})}
		}
	}()
	out, err := fn.Call(ctx, t.Args)
	if err != nil {
		kind := "error"
		var argErr *worker.ArgumentError
		if errors.As(err, &argErr) {
			kind = "bad_arguments"
		}
		return Result{Payload: gocodec.EncodeFailure(gocodec.Failure{Function: t.FunctionName, Message: err.Error(), Worker: name, Kind: kind})}
	}
	return Result{OK: true, Payload: out}
}
