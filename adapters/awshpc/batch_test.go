package awshpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
	"github.com/scaler-go/scaler/internal/pyclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const bucket = "my-scaler-bucket"

func goTask(t *testing.T, fn string, args ...any) worker.ExecTask {
	t.Helper()
	et := worker.ExecTask{ID: protocol.NewTaskID(), FunctionName: fn, Serializer: gocodec.Serializer, Function: gocodec.EncodeFunction(fn)}
	rand.Read(et.SerializerID[:])
	rand.Read(et.FunctionID[:])
	for _, a := range args {
		b, err := gocodec.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var id protocol.ObjectID
		rand.Read(id[:])
		et.ArgIDs, et.Args = append(et.ArgIDs, id), append(et.Args, b)
	}
	return et
}

func decodeGo(t *testing.T, res worker.ExecResult) any {
	t.Helper()
	if res.Failed {
		f, _ := gocodec.DecodeFailure(res.Payload)
		t.Fatalf("task failed: %+v", f)
	}
	var v any
	if err := gocodec.Unmarshal(res.Payload, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// inProcess makes the fake run each job with RunJob on goroutines, as the job container
// would, against the same S3.
func inProcess(s S3API) func(ctx context.Context, j *fakeJob, params map[string]string) error {
	return func(ctx context.Context, j *fakeJob, params map[string]string) error {
		return RunJob(ctx, JobParams{TaskID: params[ParamTaskID], Payload: params[ParamPayload], Compressed: params[ParamCompressed],
			Bucket: params[ParamBucket], Prefix: params[ParamPrefix], Key: params[ParamKey], ArrayIndex: j.index},
			s, worker.PythonConfig{Interpreter: pyclient.Python}, quietLog())
	}
}

func newTestBackend(fb *fakeBatch, s S3API) *Backend {
	return NewBackend(Config{JobQueue: "q", JobDefinition: "d", Bucket: bucket, Prefix: "scaler-tasks", Region: "us-east-1",
		JobTimeout: 2 * time.Hour, Window: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond, WorkerName: "AWS|test", Logger: quietLog()}, fb, s)
}

// newInProcess is a backend whose jobs run in-process against an in-memory S3; it is closed
// when the test ends.
func newInProcess(t *testing.T) (*memS3, *fakeBatch, *Backend) {
	s := newMemS3()
	fb := newFakeBatch()
	fb.exec = inProcess(s)
	b := newTestBackend(fb, s)
	t.Cleanup(func() { b.Close(context.Background()) })
	return s, fb, b
}

func TestSingleJobsInlineAndThroughS3(t *testing.T) {
	big := make([]byte, 40<<10)
	rand.Read(big) // incompressible: must travel through S3
	tests := []struct {
		name           string
		arg            any
		wantInline     bool
		wantCompressed string
	}{
		{"small inline", "hello", true, "false"},
		{"compressible inline", strings.Repeat("abc", 5000), true, "true"},
		{"large through S3", big, false, "true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, fb, b := newInProcess(t)
			task := goTask(t, "echo", tc.arg)
			res := b.Execute(context.Background(), task)
			got := decodeGo(t, res)
			if want, _ := gocodec.Marshal(tc.arg); string(res.Payload) != string(want) {
				t.Fatalf("result %T differs from the argument", got)
			}
			jobs := fb.submitted()
			if len(jobs) != 1 {
				t.Fatalf("%d jobs", len(jobs))
			}
			in := jobs[0].input
			p := in.Parameters
			if inline := p[ParamPayload] != None; inline != tc.wantInline || p[ParamCompressed] != tc.wantCompressed {
				t.Fatalf("payload inline=%v compressed=%s", inline, p[ParamCompressed])
			}
			if tc.wantInline && p[ParamKey] != None || !tc.wantInline && p[ParamKey] != "scaler-tasks/inputs/"+task.ID.String()+".job" {
				t.Fatalf("s3_key %q", p[ParamKey])
			}
			if *in.JobName != "echo-"+task.ID.String()[:12] || *in.Timeout.AttemptDurationSeconds != 7200 || in.ArrayProperties != nil ||
				p[ParamTaskID] != task.ID.String() || p[ParamBucket] != bucket || p[ParamPrefix] != "scaler-tasks" {
				t.Fatalf("submit input %+v %v", in, p)
			}
			if len(p[ParamPayload]) > InlineLimit {
				t.Fatalf("inline payload of %d bytes", len(p[ParamPayload]))
			}
			if keys := s.keys(); len(keys) != 0 {
				t.Fatalf("objects left in S3: %v", keys)
			}
		})
	}
}

func TestTasksArrivingTogetherBecomeOneArrayJob(t *testing.T) {
	s, fb, b := newInProcess(t)
	const n = 7
	results := make([]worker.ExecResult, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = b.Execute(context.Background(), goTask(t, "add", i, 100))
		}()
	}
	wg.Wait()
	for i, r := range results {
		if v := decodeGo(t, r); v != uint64(100+i) && v != int64(100+i) {
			t.Fatalf("task %d = %v", i, v)
		}
	}
	jobs := fb.submitted()
	if len(jobs) != 1 || jobs[0].input.ArrayProperties == nil || *jobs[0].input.ArrayProperties.Size != n {
		t.Fatalf("%d jobs, want one array of %d", len(jobs), n)
	}
	p := jobs[0].input.Parameters
	if !strings.HasPrefix(p[ParamKey], "scaler-tasks/array/") || !strings.HasSuffix(p[ParamKey], "/"+ArrayIndexToken+".job") || p[ParamPayload] != None {
		t.Fatalf("array parameters %v", p)
	}
	if keys := s.keys(); len(keys) != 0 {
		t.Fatalf("objects left in S3: %v", keys)
	}
}

func TestFailures(t *testing.T) {
	s, fb, b := newInProcess(t)
	ctx := context.Background()

	// The task's own error comes back as a Go failure, though the job ended FAILED.
	res := b.Execute(ctx, goTask(t, "error", "bad input"))
	f, err := gocodec.DecodeFailure(res.Payload)
	if !res.Failed || err != nil || f.Message != "bad input" || f.Function != "error" {
		t.Fatalf("task error: %v %+v %v", res.Failed, f, err)
	}
	// A function the job's binary does not have.
	res = b.Execute(ctx, goTask(t, "no-such-function"))
	if f, _ := gocodec.DecodeFailure(res.Payload); !res.Failed || f.Kind != "not_registered" {
		t.Fatalf("unknown function: %+v", f)
	}
	// A job Batch failed without running it: Batch's reason.
	fb.mu.Lock()
	fb.failWith = "CannotPullContainerError: image not found"
	fb.mu.Unlock()
	res = b.Execute(ctx, goTask(t, "echo", 1))
	if f, _ := gocodec.DecodeFailure(res.Payload); !res.Failed || !strings.Contains(f.Message, "CannotPullContainerError: image not found") {
		t.Fatalf("batch failure: %+v", f)
	}
	fb.mu.Lock()
	fb.failWith = ""
	fb.mu.Unlock()
	// SubmitJob refused: the AWS error in one line, the task fails at once.
	fb.Add("SubmitJob", 1, awsfake.Err("AccessDeniedException", "not authorized to perform batch:SubmitJob"))
	res = b.Execute(ctx, goTask(t, "echo", 1))
	if f, _ := gocodec.DecodeFailure(res.Payload); !res.Failed || !strings.Contains(f.Message, "AccessDeniedException: not authorized to perform batch:SubmitJob (these credentials lack") {
		t.Fatalf("submit denied: %+v", f)
	}
	// DescribeJobs throttled for a while: polling backs off, then the task completes.
	fb.Add("DescribeJobs", 3, awsfake.Err("TooManyRequestsException", "Too Many Requests"))
	if v := decodeGo(t, b.Execute(ctx, goTask(t, "echo", "after throttling"))); v != "after throttling" {
		t.Fatalf("after throttling: %v", v)
	}
	if keys := s.keys(); len(keys) != 0 {
		t.Fatalf("objects left in S3: %v", keys)
	}
}

func TestCancelTerminatesTheJob(t *testing.T) {
	_, fb, b := newInProcess(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan worker.ExecResult, 1)
	go func() { done <- b.Execute(ctx, goTask(t, "sleep", 30.0)) }()
	deadline := time.Now().Add(5 * time.Second)
	for b.InFlight() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("job never submitted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	deadline = time.Now().Add(5 * time.Second)
	for fb.Calls("TerminateJob") != 1 || len(fb.active()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("TerminateJob calls %d, active %v", fb.Calls("TerminateJob"), fb.active())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := fb.submitted()[0].reason; r != CancelReason {
		t.Fatalf("reason %q", r)
	}
}

func TestCloseTerminatesEverything(t *testing.T) {
	s := newMemS3()
	fb := newFakeBatch() // no exec: jobs stay RUNNABLE
	b := newTestBackend(fb, s)
	big := make([]byte, 40<<10)
	rand.Read(big)
	var wg sync.WaitGroup
	results := make([]worker.ExecResult, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := any(i)
			if i == 0 {
				arg = big
			}
			results[i] = b.Execute(context.Background(), goTask(t, "echo", arg))
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		}()
		time.Sleep(120 * time.Millisecond) // separate windows: three single jobs
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.InFlight() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d", b.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.keys()) != 1 {
		t.Fatalf("expected the large input in S3, got %v", s.keys())
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range results {
		if !r.Failed {
			t.Fatalf("task %d did not fail on Close", i)
		}
	}
	if a := fb.active(); len(a) != 0 || fb.Calls("TerminateJob") != 3 {
		t.Fatalf("active jobs %v, terminate calls %d", a, fb.Calls("TerminateJob"))
	}
	if keys := s.keys(); len(keys) != 0 {
		t.Fatalf("objects left in S3: %v", keys)
	}
	if res := b.Execute(context.Background(), goTask(t, "echo", 1)); !res.Failed {
		t.Fatal("Execute after Close did not fail")
	}
}

func TestPythonTaskInTheJob(t *testing.T) {
	pyclient.Require(t)
	_, _, b := newInProcess(t)
	task := worker.ExecTask{ID: protocol.NewTaskID(), Python: true, Serializer: pyclient.DefaultSerializer(t),
		Function: pyclient.Pickle(t, "def f(x):\n    return x * 7\n", "f"), Args: [][]byte{pyclient.Pickle(t, "", "6")}}
	rand.Read(task.SerializerID[:])
	rand.Read(task.FunctionID[:])
	task.ArgIDs = []protocol.ObjectID{{1}}
	res := b.Execute(context.Background(), task)
	if got := pyclient.Describe(t, res.Payload); res.Failed || !strings.HasPrefix(got, "int|42|") {
		t.Fatalf("python result: %v %s", res.Failed, got)
	}
	task.ID = protocol.NewTaskID()
	task.Function = pyclient.Pickle(t, "def g(x):\n    raise ValueError(f'no {x}')\n", "g")
	res = b.Execute(context.Background(), task)
	if got := pyclient.Describe(t, res.Payload); !res.Failed || !strings.HasPrefix(got, "ValueError|ValueError('no 6')|") {
		t.Fatalf("python failure: %v %s", res.Failed, got)
	}
}

func TestRunJobBadInput(t *testing.T) {
	s := newMemS3()
	ctx := context.Background()
	// No payload at all: the reason is written for the manager, and the job fails.
	err := RunJob(ctx, JobParams{TaskID: "abc", Payload: None, Bucket: bucket, Key: None}, s, worker.PythonConfig{}, quietLog())
	var res Result
	if !errors.Is(err, ErrTaskFailed) || Decode(s.objects[bucket+"/"+ResultKey("", "abc")], &res) != nil ||
		!strings.Contains(res.Error, "neither an inline payload nor an s3 key") {
		t.Fatalf("no payload: %v %+v", err, res)
	}
	// A corrupt inline payload with a task id: the failure is written for the manager.
	id := protocol.NewTaskID().String()
	err = RunJob(ctx, JobParams{TaskID: id, Payload: base64.StdEncoding.EncodeToString([]byte("junk")), Bucket: bucket, Prefix: "p"}, s, worker.PythonConfig{}, quietLog())
	if !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("corrupt payload: %v", err)
	}
	obj, ok := s.objects[bucket+"/"+ResultKey("p", id)]
	res = Result{}
	if !ok || Decode(obj, &res) != nil || !strings.Contains(res.Error, "decode job payload") {
		t.Fatalf("result %+v", res)
	}
	// An array child without its index has no task id to report against.
	if err := RunJob(ctx, JobParams{TaskID: "array-x", Key: "k/" + ArrayIndexToken + ".job", Bucket: bucket}, s, worker.PythonConfig{}, quietLog()); err == nil ||
		errors.Is(err, ErrTaskFailed) || !strings.Contains(err.Error(), "AWS_BATCH_JOB_ARRAY_INDEX") {
		t.Fatalf("array key without index: %v", err)
	}
}

func TestJobDefinitionCommand(t *testing.T) {
	got := strings.Join(JobDefinitionCommand(), " ")
	want := "scaler_batch_runner --task-id Ref::task_id --payload Ref::payload --compressed Ref::compressed --s3-bucket Ref::s3_bucket " +
		"--s3-prefix Ref::s3_prefix --s3-key Ref::s3_key --aws-region Ref::aws_region"
	if got != want {
		t.Fatalf("%s", got)
	}
	if n := jobName("my.func/with spaces"+strings.Repeat("x", 80), "abc"); len(n) != 54 || !strings.HasPrefix(n, "my_func_with_spaces") {
		t.Fatalf("job name %q", n)
	}
}

// The Python processor of a job dies or is cancelled: a ProcessorDiedError result, or the
// context's error.
func TestRunPythonOnceEdgeCases(t *testing.T) {
	pyclient.Require(t)
	task := worker.ExecTask{ID: protocol.NewTaskID(), Python: true, Serializer: pyclient.DefaultSerializer(t),
		Function: pyclient.Pickle(t, "import os\ndef die(x):\n    os._exit(7)\n", "die"), Args: [][]byte{pyclient.Pickle(t, "", "1")},
		ArgIDs: []protocol.ObjectID{{2}}}
	py := worker.PythonConfig{Interpreter: pyclient.Python}
	payload, ok, err := worker.RunPythonOnce(context.Background(), py, "", task)
	// A pickle of scaler.utility.exceptions.ProcessorDiedError (the client has that module).
	if err != nil || ok || !bytes.Contains(payload, []byte("ProcessorDiedError")) || !bytes.Contains(payload, []byte("exitcode=7")) {
		t.Fatalf("died: %v %v %q", ok, err, payload)
	}
	task.Function = pyclient.Pickle(t, "import time\ndef slow(x):\n    time.sleep(60)\n", "slow")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if _, _, err := worker.RunPythonOnce(ctx, py, "", task); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("cancel: %v after %s", err, time.Since(start))
	}
	if _, _, err := worker.RunPythonOnce(context.Background(), worker.PythonConfig{Interpreter: "no-such-python"}, "", task); !errors.Is(err, worker.ErrPythonUnavailable) {
		t.Fatalf("no interpreter: %v", err)
	}
}
