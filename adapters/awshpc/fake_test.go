package awshpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	btypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
)

// fakeJob is a Batch job (or a child of an array job) in the fake.
type fakeJob struct {
	id       string
	input    batch.SubmitJobInput
	index    string // array index of a child, "" otherwise
	status   btypes.JobStatus
	reason   string
	children []*fakeJob
	cancel   context.CancelFunc
}

// fakeBatch is an in-memory AWS Batch. exec runs a job's container (a goroutine in unit
// tests, a process of this binary end to end); a nil exec leaves jobs RUNNABLE, and
// failWith makes every job fail without running.
type fakeBatch struct {
	awsfake.Faults
	mu       sync.Mutex
	jobs     map[string]*fakeJob
	order    []*fakeJob
	seq      int
	exec     func(ctx context.Context, j *fakeJob, params map[string]string) error
	failWith string
	wg       sync.WaitGroup
}

func newFakeBatch() *fakeBatch { return &fakeBatch{jobs: map[string]*fakeJob{}} }

func (f *fakeBatch) SubmitJob(_ context.Context, in *batch.SubmitJobInput, _ ...func(*batch.Options)) (*batch.SubmitJobOutput, error) {
	if err := f.Next("SubmitJob"); err != nil {
		return nil, err
	}
	if aws.ToString(in.JobQueue) == "" || aws.ToString(in.JobDefinition) == "" {
		return nil, awsfake.Err("ClientException", "jobQueue and jobDefinition are required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	j := &fakeJob{id: fmt.Sprintf("job-%04d", f.seq), input: *in, status: btypes.JobStatusRunnable}
	f.jobs[j.id] = j
	f.order = append(f.order, j)
	runnable := []*fakeJob{j}
	if in.ArrayProperties != nil && aws.ToInt32(in.ArrayProperties.Size) > 0 {
		runnable = nil
		for i := 0; i < int(aws.ToInt32(in.ArrayProperties.Size)); i++ {
			c := &fakeJob{id: j.id + ":" + strconv.Itoa(i), input: *in, index: strconv.Itoa(i), status: btypes.JobStatusRunnable}
			j.children = append(j.children, c)
			f.jobs[c.id] = c
			runnable = append(runnable, c)
		}
	}
	for _, r := range runnable {
		f.startLocked(r)
	}
	return &batch.SubmitJobOutput{JobId: aws.String(j.id), JobName: in.JobName, JobArn: aws.String("arn:aws:batch:us-east-1:1:job/" + j.id)}, nil
}

func (f *fakeBatch) startLocked(j *fakeJob) {
	if f.failWith != "" {
		j.status, j.reason = btypes.JobStatusFailed, f.failWith
		return
	}
	if f.exec == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	j.status = btypes.JobStatusRunning
	params := map[string]string{}
	for k, v := range j.input.Parameters {
		params[k] = v
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := f.exec(ctx, j, params)
		f.mu.Lock()
		defer f.mu.Unlock()
		if j.status != btypes.JobStatusRunning {
			return // terminated meanwhile
		}
		if err != nil {
			j.status, j.reason = btypes.JobStatusFailed, "Essential container in task exited"
		} else {
			j.status = btypes.JobStatusSucceeded
		}
	}()
}

func (f *fakeBatch) DescribeJobs(_ context.Context, in *batch.DescribeJobsInput, _ ...func(*batch.Options)) (*batch.DescribeJobsOutput, error) {
	if err := f.Next("DescribeJobs"); err != nil {
		return nil, err
	}
	if len(in.Jobs) > 100 {
		return nil, awsfake.Err("ClientException", "at most 100 jobs per DescribeJobs")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &batch.DescribeJobsOutput{}
	for _, id := range in.Jobs {
		if j, ok := f.jobs[id]; ok {
			out.Jobs = append(out.Jobs, btypes.JobDetail{JobId: aws.String(j.id), JobName: j.input.JobName, Status: j.status, StatusReason: aws.String(j.reason)})
		}
	}
	return out, nil
}

func (f *fakeBatch) TerminateJob(_ context.Context, in *batch.TerminateJobInput, _ ...func(*batch.Options)) (*batch.TerminateJobOutput, error) {
	if err := f.Next("TerminateJob"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[aws.ToString(in.JobId)]
	if !ok {
		return nil, awsfake.Err("ClientException", "Job %s not found", aws.ToString(in.JobId))
	}
	for _, x := range append([]*fakeJob{j}, j.children...) {
		if x.status != btypes.JobStatusSucceeded && x.status != btypes.JobStatusFailed {
			x.status, x.reason = btypes.JobStatusFailed, aws.ToString(in.Reason)
			if x.cancel != nil {
				x.cancel()
			}
		}
	}
	return &batch.TerminateJobOutput{}, nil
}

// active lists the jobs that have not finished.
func (f *fakeBatch) active() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, j := range f.jobs {
		if j.status != btypes.JobStatusSucceeded && j.status != btypes.JobStatusFailed && len(j.children) == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (f *fakeBatch) submitted() []*fakeJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeJob(nil), f.order...)
}

// newBatchHTTP serves f as the Batch REST JSON API.
func newBatchHTTP(t *testing.T, f *fakeBatch) *httptest.Server {
	ops := awsfake.JSONOps{
		"/v1/submitjob":    awsfake.JSONOp(f.SubmitJob),
		"/v1/describejobs": awsfake.JSONOp(f.DescribeJobs),
		"/v1/terminatejob": awsfake.JSONOp(f.TerminateJob),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ops.Serve(w, r, r.URL.Path, awsfake.Err("ClientException", "fake Batch does not serve %s", r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// memS3 is an in-memory S3 for the unit tests.
type memS3 struct {
	awsfake.Faults
	mu      sync.Mutex
	objects map[string][]byte
	puts    []string
}

func newMemS3() *memS3 { return &memS3{objects: map[string][]byte{}} }

func (m *memS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := m.Next("PutObject"); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)] = data
	m.puts = append(m.puts, aws.ToString(in.Key))
	return &s3.PutObjectOutput{}, nil
}

func (m *memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if err := m.Next("GetObject"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{Message: aws.String("The specified key does not exist.")}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data))}, nil
}

func (m *memS3) DeleteObject(_ context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key))
	return &s3.DeleteObjectOutput{}, nil
}

func (m *memS3) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
