// Package awshpc is the aws_hpc worker manager: units that look like workers to the
// scheduler and run each task as an AWS Batch job (spec/features.md §1.6.5, §3.5, §3.10).
//
// Each unit is an in-process worker agent (core/worker) whose Executor is the Backend
// here: the agent fetches every input from object storage and stores every result; the
// Backend turns tasks into Batch jobs. Tasks arriving within a short window are submitted
// together as one array job. A job's payload travels inline in the job's parameters when
// small (gzip above 4 KiB, inline up to 28 KiB of base64) and through S3 under the prefix
// otherwise. DescribeJobs polling (with backoff while AWS throttles) finds finished jobs;
// their result objects are read from S3 and deleted. A forced cancel or a task timeout
// terminates the job (TerminateJob); Close terminates every job still running.
//
// The job side is this binary too: the job definition's container runs
// `scaler_batch_runner` (see JobDefinitionCommand and RunJob), which runs Go functions from
// the registry and Python tasks in the embedded Python processor, and writes the result or
// the failure to S3. A job definition for it (the image holds the scaler binary with the
// scaler_batch_runner symlink on its PATH, and python3 with cloudpickle for Python tasks;
// its job role may read, write and delete under the prefix):
//
//	"containerProperties": {
//	  "image": "<registry>/scaler:<tag>",
//	  "command": ["scaler_batch_runner", "--task-id", "Ref::task_id", "--payload", "Ref::payload",
//	              "--compressed", "Ref::compressed", "--s3-bucket", "Ref::s3_bucket",
//	              "--s3-prefix", "Ref::s3_prefix", "--s3-key", "Ref::s3_key", "--aws-region", "Ref::aws_region"],
//	  "jobRoleArn": "<role with s3:GetObject/PutObject/DeleteObject on the bucket>", ...
//	}
//
// Go tasks run only when the job's binary registers the same functions as the client's
// workers would (build the image from the same program).
package awshpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	btypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

// BatchAPI is the part of the AWS Batch API the manager uses (*batch.Client implements it).
type BatchAPI interface {
	SubmitJob(context.Context, *batch.SubmitJobInput, ...func(*batch.Options)) (*batch.SubmitJobOutput, error)
	DescribeJobs(context.Context, *batch.DescribeJobsInput, ...func(*batch.Options)) (*batch.DescribeJobsOutput, error)
	TerminateJob(context.Context, *batch.TerminateJobInput, ...func(*batch.Options)) (*batch.TerminateJobOutput, error)
}

// S3API is the part of the S3 API the manager and the job runner use (*s3.Client
// implements it).
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// CancelReason is given to TerminateJob.
const CancelReason = "Canceled by Scaler"

// Config configures a Backend.
type Config struct {
	// JobQueue and JobDefinition are where jobs go.
	JobQueue, JobDefinition string
	// Bucket and Prefix hold large inputs, array inputs and every result.
	Bucket, Prefix string
	// Region is passed to jobs (the runner's S3 client).
	Region string
	// JobTimeout becomes attemptDurationSeconds (Batch's minimum is 60 s).
	JobTimeout time.Duration
	// Window is how long tasks are gathered into one array job (default 0.5 s); MaxBatch
	// caps an array (default 10 000, Batch's limit).
	Window   time.Duration
	MaxBatch int
	// PollInterval is the DescribeJobs period (default 2 s); it backs off up to 30 s while
	// AWS throttles or fails.
	PollInterval time.Duration
	// WorkerName names the failures the manager makes itself.
	WorkerName string
	// Logger receives the backend's logs.
	Logger *slog.Logger
}

// call is one task on its way through Batch.
type call struct {
	task     worker.ExecTask
	done     chan worker.ExecResult // buffered: the poller never blocks on a gone caller
	jobID    string                 // set once submitted: a job id, or "<array id>:<index>"
	inputKey string                 // S3 input to delete afterwards, if any
	canceled bool
}

// Backend is a worker.Executor running tasks as Batch jobs. Its methods are safe for
// concurrent use.
type Backend struct {
	cfg   Config
	batch BatchAPI
	s3    S3API
	log   *slog.Logger

	mu       sync.Mutex
	pending  []*call
	timer    *time.Timer
	inflight map[string]*call // by job id
	closed   bool

	ctx    context.Context // ends on Close: stops polling and in-flight AWS calls
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewBackend returns a backend and starts its poller; Close stops it.
func NewBackend(cfg Config, b BatchAPI, s S3API) *Backend {
	if cfg.Window <= 0 {
		cfg.Window = 500 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > 10000 {
		cfg.MaxBatch = 10000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.JobTimeout < time.Minute {
		cfg.JobTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	be := &Backend{cfg: cfg, batch: b, s3: s, log: cfg.Logger, inflight: map[string]*call{}, ctx: ctx, cancel: cancel}
	be.wg.Add(1)
	go func() {
		defer be.wg.Done()
		awscommon.PollLoop(ctx, awscommon.Backoff{Min: cfg.PollInterval, Max: max(30*time.Second, cfg.PollInterval)}, be.log,
			"polling Batch jobs failed; backing off", be.poll)
	}()
	return be
}

// Execute runs one task as a Batch job (or a child of an array job) and waits for its
// result. When ctx ends first, the job is terminated.
func (b *Backend) Execute(ctx context.Context, t worker.ExecTask) worker.ExecResult {
	c := &call{task: t, done: make(chan worker.ExecResult, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.failure(t, "the aws_hpc worker manager is stopping")
	}
	b.pending = append(b.pending, c)
	switch {
	case len(b.pending) >= b.cfg.MaxBatch:
		b.flushLocked()
	case b.timer == nil:
		b.timer = time.AfterFunc(b.cfg.Window, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.flushLocked()
		})
	}
	b.mu.Unlock()
	select {
	case res := <-c.done:
		return res
	case <-ctx.Done():
		b.abandon(c)
		return worker.ExecResult{}
	}
}

// flushLocked submits the gathered tasks on another goroutine.
func (b *Backend) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	calls := b.pending
	b.pending = nil
	if len(calls) == 0 || b.closed {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.submit(calls)
	}()
}

func (b *Backend) failure(t worker.ExecTask, msg string) worker.ExecResult {
	return worker.ExecResult{Payload: worker.FailurePayload(t, b.cfg.WorkerName, msg), Failed: true}
}

// submit sends one job, or one array job for several tasks. A failed submission fails its
// tasks at once with the AWS error in one line (the client sees why).
func (b *Backend) submit(calls []*call) {
	b.mu.Lock()
	live := calls[:0]
	for _, c := range calls {
		if !c.canceled {
			live = append(live, c)
		}
	}
	b.mu.Unlock()
	if len(live) == 0 {
		return
	}
	var err error
	if len(live) == 1 {
		err = b.submitSingle(live[0])
	} else {
		err = b.submitArray(live)
	}
	if err != nil {
		b.log.Error("submitting Batch job failed", "tasks", len(live), "err", err)
		for _, c := range live {
			b.deleteInput(c.inputKey)
			c.done <- b.failure(c.task, "aws_hpc: "+err.Error())
		}
	}
}

func (b *Backend) baseParams() map[string]string {
	return map[string]string{ParamBucket: b.cfg.Bucket, ParamPrefix: orNone(b.cfg.Prefix), ParamRegion: orNone(b.cfg.Region)}
}

func orNone(s string) string {
	if s == "" {
		return None
	}
	return s
}

func functionName(t worker.ExecTask) string {
	if t.FunctionName != "" {
		return t.FunctionName
	}
	if t.Python {
		return "python"
	}
	return "task"
}

func (b *Backend) submitSingle(c *call) error {
	data, compressed, err := Encode(JobFromTask(c.task))
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	params := b.baseParams()
	params[ParamTaskID] = c.task.ID.String()
	params[ParamCompressed] = strconv.FormatBool(compressed)
	if inline, ok := InlinePayload(data); ok {
		params[ParamPayload], params[ParamKey] = inline, None
	} else {
		key := inputKey(b.cfg.Prefix, c.task.ID)
		if err := b.put(key, data); err != nil {
			return err
		}
		c.inputKey = key
		params[ParamPayload], params[ParamKey] = None, key
	}
	out, err := b.batch.SubmitJob(b.ctx, &batch.SubmitJobInput{
		JobName:       aws.String(jobName(functionName(c.task), c.task.ID.String()[:12])),
		JobQueue:      aws.String(b.cfg.JobQueue),
		JobDefinition: aws.String(b.cfg.JobDefinition),
		Parameters:    params,
		Timeout:       &btypes.JobTimeout{AttemptDurationSeconds: aws.Int32(int32(b.cfg.JobTimeout / time.Second))},
	})
	if err != nil {
		return awscommon.Wrap(err, "submit Batch job")
	}
	b.track(aws.ToString(out.JobId), c)
	b.log.Debug("submitted Batch job", "job", aws.ToString(out.JobId), "task", c.task.ID)
	return nil
}

func (b *Backend) submitArray(calls []*call) error {
	arrayID := protocol.NewTaskID().String()[:12]
	for i, c := range calls {
		data, _, err := Encode(JobFromTask(c.task))
		if err != nil {
			return fmt.Errorf("encode job: %w", err)
		}
		key := arrayKey(b.cfg.Prefix, arrayID, strconv.Itoa(i))
		if err := b.put(key, data); err != nil {
			for _, done := range calls[:i] {
				b.deleteInput(done.inputKey)
			}
			return err
		}
		c.inputKey = key
	}
	params := b.baseParams()
	params[ParamTaskID] = "array-" + arrayID
	params[ParamPayload], params[ParamCompressed] = None, "false"
	params[ParamKey] = arrayKey(b.cfg.Prefix, arrayID, ArrayIndexToken)
	out, err := b.batch.SubmitJob(b.ctx, &batch.SubmitJobInput{
		JobName:         aws.String(jobName(functionName(calls[0].task), "array-"+arrayID)),
		JobQueue:        aws.String(b.cfg.JobQueue),
		JobDefinition:   aws.String(b.cfg.JobDefinition),
		Parameters:      params,
		ArrayProperties: &btypes.ArrayProperties{Size: aws.Int32(int32(len(calls)))},
		Timeout:         &btypes.JobTimeout{AttemptDurationSeconds: aws.Int32(int32(b.cfg.JobTimeout / time.Second))},
	})
	if err != nil {
		return awscommon.Wrap(err, "submit Batch array job")
	}
	parent := aws.ToString(out.JobId)
	for i, c := range calls {
		b.track(parent+":"+strconv.Itoa(i), c)
	}
	b.log.Debug("submitted Batch array job", "job", parent, "size", len(calls))
	return nil
}

// track records a submitted job; a call cancelled meanwhile is terminated at once.
func (b *Backend) track(jobID string, c *call) {
	b.mu.Lock()
	c.jobID = jobID
	canceled, closed := c.canceled, b.closed
	if !canceled && !closed {
		b.inflight[jobID] = c
	}
	b.mu.Unlock()
	if canceled || closed {
		b.terminate(c)
	}
	if closed && !canceled {
		c.done <- b.failure(c.task, "the aws_hpc worker manager stopped")
	}
}

func (b *Backend) put(key string, data []byte) error {
	_, err := b.s3.PutObject(b.ctx, &s3.PutObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		return awscommon.Wrap(err, "upload job input s3://"+b.cfg.Bucket+"/"+key)
	}
	return nil
}

func (b *Backend) deleteInput(key string) {
	if key == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 30*time.Second)
	defer cancel()
	if _, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)}); err != nil {
		b.log.Warn("deleting a job input failed", "key", key, "err", awscommon.Explain(err))
	}
}

// abandon handles a cancelled or timed-out task: a submitted job is terminated, a pending
// one is never submitted.
func (b *Backend) abandon(c *call) {
	b.mu.Lock()
	c.canceled = true
	for i, p := range b.pending {
		if p == c {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			break
		}
	}
	submitted := c.jobID != ""
	if submitted {
		delete(b.inflight, c.jobID)
	}
	b.mu.Unlock()
	if submitted {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.terminate(c)
		}()
	}
}

func (b *Backend) terminate(c *call) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 30*time.Second)
	defer cancel()
	if _, err := b.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(c.jobID), Reason: aws.String(CancelReason)}); err != nil {
		b.log.Error("terminating Batch job failed: terminate it in the Batch console", "job", c.jobID, "err", awscommon.Explain(err))
	} else {
		b.log.Info("terminated Batch job", "job", c.jobID, "task", c.task.ID)
	}
	b.deleteInput(c.inputKey)
	b.deleteResult(c)
}

func (b *Backend) deleteResult(c *call) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 30*time.Second)
	defer cancel()
	key := ResultKey(b.cfg.Prefix, c.task.ID.String())
	_, _ = b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
}

// InFlight is the number of submitted jobs not finished yet.
func (b *Backend) InFlight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.inflight)
}

// poll asks Batch about every job in flight, 100 ids per call, and settles finished ones.
func (b *Backend) poll(ctx context.Context) error {
	b.mu.Lock()
	ids := slices.Collect(maps.Keys(b.inflight))
	b.mu.Unlock()
	for chunk := range slices.Chunk(ids, 100) {
		out, err := b.batch.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: chunk})
		if err != nil {
			return awscommon.Wrap(err, "describe Batch jobs")
		}
		for _, j := range out.Jobs {
			switch j.Status {
			case btypes.JobStatusSucceeded, btypes.JobStatusFailed:
				b.mu.Lock()
				c := b.inflight[aws.ToString(j.JobId)]
				delete(b.inflight, aws.ToString(j.JobId))
				b.mu.Unlock()
				if c != nil {
					b.wg.Add(1)
					go func() {
						defer b.wg.Done()
						b.settle(c, j)
					}()
				}
			}
		}
	}
	return nil
}

// settle reads the result of a finished job and hands it to the waiting Execute. A failed
// job that still wrote a result (the task raised) reports the task's own failure; one that
// did not (killed, timed out, no capacity) reports Batch's reason.
func (b *Backend) settle(c *call, j btypes.JobDetail) {
	defer b.deleteInput(c.inputKey)
	res, err := b.readResult(c)
	switch {
	case err == nil && res.Error != "":
		c.done <- b.failure(c.task, res.Error)
	case err == nil:
		c.done <- worker.ExecResult{Payload: res.Payload, Failed: !res.OK}
	case j.Status == btypes.JobStatusFailed:
		reason := aws.ToString(j.StatusReason)
		if j.Container != nil && aws.ToString(j.Container.Reason) != "" {
			reason += ": " + aws.ToString(j.Container.Reason)
		}
		c.done <- b.failure(c.task, "Batch job "+c.jobID+" failed: "+reason)
	default:
		c.done <- b.failure(c.task, "Batch job "+c.jobID+" succeeded but its result could not be read: "+err.Error())
	}
}

// readResult fetches and deletes the result object. Right after a job ends S3 may not list
// the object yet on some paths, so a missing object is retried briefly.
func (b *Backend) readResult(c *call) (Result, error) {
	key := ResultKey(b.cfg.Prefix, c.task.ID.String())
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 && !awscommon.Sleep(b.ctx, time.Duration(attempt)*time.Second) {
			return Result{}, b.ctx.Err()
		}
		out, err := b.s3.GetObject(b.ctx, &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
		if err != nil {
			last = awscommon.Wrap(err, "read s3://"+b.cfg.Bucket+"/"+key)
			var missing *s3types.NoSuchKey
			if errors.As(err, &missing) || awscommon.Code(err) == "NoSuchKey" {
				continue
			}
			return Result{}, last
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			return Result{}, fmt.Errorf("read s3://%s/%s: %w", b.cfg.Bucket, key, err)
		}
		var res Result
		if err := Decode(data, &res); err != nil {
			return Result{}, fmt.Errorf("decode s3://%s/%s: %w", b.cfg.Bucket, key, err)
		}
		b.deleteResult(c)
		return res, nil
	}
	return Result{}, last
}

// Close terminates every job still running, deletes their inputs, and stops polling.
// Tasks still waiting fail.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	pending := b.pending
	b.pending = nil
	var running []*call
	for id, c := range b.inflight {
		running = append(running, c)
		delete(b.inflight, id)
	}
	b.mu.Unlock()
	for _, c := range pending {
		c.done <- b.failure(c.task, "the aws_hpc worker manager stopped")
	}
	var wg sync.WaitGroup
	for _, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.terminate(c)
			c.done <- b.failure(c.task, "the aws_hpc worker manager stopped")
		}()
	}
	wg.Wait()
	b.cancel()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
