package awshpc

import (
	"context"
	"crypto/rand"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/internal/pyclient"
	"github.com/scaler-go/scaler/internal/testbin"
)

// The real SDK clients against the Batch REST fake and gofakes3, jobs run in-process.
func TestSDKClientsAgainstHTTPFakes(t *testing.T) {
	fb := newFakeBatch()
	bsrv := newBatchHTTP(t, fb)
	_, s3c := awsfake.S3(t, bucket)
	fb.exec = inProcess(s3c)
	bc := batch.NewFromConfig(awsfake.Config(3), func(o *batch.Options) { o.BaseEndpoint = aws.String(bsrv.URL) })
	b := newTestBackend(fb, s3c)
	b.batch = bc
	defer b.Close(context.Background())
	big := make([]byte, 40<<10)
	rand.Read(big) // incompressible: travels through S3
	fb.Add("SubmitJob", 1, awsfake.Err("TooManyRequestsException", "Too Many Requests"))
	var wg sync.WaitGroup
	for i, arg := range []any{"small", big, 3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 200 * time.Millisecond)
			if res := b.Execute(context.Background(), goTask(t, "echo", arg)); res.Failed {
				t.Errorf("task %d failed", i)
			}
		}()
	}
	wg.Wait()
	if fb.Calls("SubmitJob") < 2 {
		t.Fatalf("SubmitJob calls %d", fb.Calls("SubmitJob"))
	}
	if keys := awsfake.Keys(t, s3c, bucket); len(keys) != 0 {
		t.Fatalf("objects left in S3: %v", keys)
	}
}

// End to end: `scaler_worker_manager aws_hpc` runs as a process against the Batch and S3
// fakes; the Batch fake runs each job's container command (scaler_batch_runner with the
// job's parameters) as a local process. Go tasks from the Go client and Python tasks from a
// Python-like client complete; on SIGTERM nothing is left running or stored.
func TestEndToEndThroughFakeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Binary(t)
	fb := newFakeBatch()
	bsrv := newBatchHTTP(t, fb)
	s3srv, s3c := awsfake.S3(t, bucket)
	awsEnv := awsfake.Env("AWS_ENDPOINT_URL_BATCH="+bsrv.URL, "AWS_ENDPOINT_URL_S3="+s3srv.URL, "AWS_ACCESS_KEY_ID=AKIDTEST",
		"AWS_SECRET_ACCESS_KEY=secret")
	var mu sync.Mutex
	var outputs []*awsfake.Process
	fb.exec = func(ctx context.Context, j *fakeJob, params map[string]string) error {
		// The job definition's command with Batch's parameter substitution.
		var args []string
		for _, a := range JobDefinitionCommand() {
			if name, ok := strings.CutPrefix(a, "Ref::"); ok {
				a = params[name]
			}
			args = append(args, a)
		}
		env := append([]string{"AWS_BATCH_JOB_ID=" + j.id, "AWS_REGION=us-east-1"}, awsEnv...)
		if j.index != "" {
			env = append(env, "AWS_BATCH_JOB_ARRAY_INDEX="+j.index)
		}
		p, err := awsfake.Launch(bin, append(args, "--python", pyclient.Python), env)
		if err != nil {
			return err
		}
		mu.Lock()
		outputs = append(outputs, p)
		mu.Unlock()
		select {
		case <-p.Done():
		case <-ctx.Done():
			p.Stop(5 * time.Second)
		}
		return p.Err()
	}
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			for _, p := range outputs {
				t.Logf("job output:\n%s", p.Output())
			}
			mu.Unlock()
		}
	})

	c, mgr, cl := awsfake.StartManager(t, awsEnv, "aws_hpc",
		"--worker-manager-id", "wm-batch-e2e", "--job-queue", "scaler-job-queue", "--job-definition", "scaler-job-definition",
		"--s3-bucket", bucket, "--max-concurrent-jobs", "8", "--heartbeat-interval-seconds", "1")

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var fs []*client.Future
	for i := 0; i < 12; i++ {
		fs = append(fs, cl.Submit("add", i, 1000))
	}
	fs = append(fs, cl.Submit("echo", strings.Repeat("large ", 10000)))
	for i, fu := range fs {
		v, err := fu.Result(ctx)
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		if i < 12 && v != int64(1000+i) && v != uint64(1000+i) {
			t.Fatalf("task %d = %v", i, v)
		}
	}
	if _, err := cl.Submit("error", "boom").Result(ctx); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing task: %v", err)
	}
	arrays := 0
	for _, j := range fb.submitted() {
		if j.input.ArrayProperties != nil {
			arrays++
		}
	}
	if arrays == 0 {
		t.Fatalf("tasks submitted together never became an array job (%d jobs)", len(fb.submitted()))
	}

	if exec.Command(pyclient.Python, "-c", "import cloudpickle").Run() == nil {
		pc, err := pyclient.Connect(ctx, "ymq", c.Address(), pyclient.DefaultSerializer(t))
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		id, err := pc.Submit(ctx, "f", pyclient.Pickle(t, "def f(x):\n    return x ** 2\n", "f"), pyclient.Pickle(t, "", "12"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := pc.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := pyclient.Describe(t, r.Payload); r.Type != protocol.ResultSuccess || !strings.HasPrefix(got, "int|144|") {
			t.Fatalf("python task through Batch: %v %s", r.Type, got)
		}
	} else {
		t.Log("Python part skipped: needs " + pyclient.Python + " with cloudpickle")
	}

	// A long task in flight when the manager stops: its job is terminated.
	cl.Submit("sleep", 60.0)
	testbin.Eventually(t, 30*time.Second, func() error {
		if len(fb.active()) == 0 {
			return errors.New("the long job is not running yet")
		}
		return nil
	})
	mgr.Signal(syscall.SIGTERM)
	mgr.Wait(t, 60*time.Second)
	if a := fb.active(); len(a) != 0 {
		t.Fatalf("Batch jobs left running after the manager stopped: %v", a)
	}
	if keys := awsfake.Keys(t, s3c, bucket); len(keys) != 0 {
		t.Fatalf("objects left in S3: %v", keys)
	}
}
