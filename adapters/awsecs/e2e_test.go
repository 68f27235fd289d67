package awsecs

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
	"github.com/scaler-go/scaler/core/client"
	"github.com/scaler-go/scaler/internal/testbin"
)

// End to end: `scaler_worker_manager aws_raw_ecs` runs as a process against the HTTP fake
// of ECS and IAM; the fake starts each task's container command (this binary, as a
// fixed-mode baremetal_native manager) as a local process, so real workers join the real
// scheduler and a Go client's tasks complete. On SIGTERM the manager stops every task.
func TestEndToEndThroughFakeECS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Binary(t)
	f := newFakeECS()
	var mu sync.Mutex
	containers := map[string]*awsfake.Process{}
	f.onRun = func(task *fakeTask) {
		ov := task.input.Overrides.ContainerOverrides[0]
		var env []string
		for _, kv := range ov.Environment {
			env = append(env, aws.ToString(kv.Name)+"="+aws.ToString(kv.Value))
		}
		// The image's PATH has scaler_worker_manager -> scaler; the multicall binary
		// dispatches on its first argument the same way.
		p, err := awsfake.Launch(bin, ov.Command, env)
		if err != nil {
			t.Errorf("start container: %v", err)
			return
		}
		mu.Lock()
		containers[task.arn] = p
		mu.Unlock()
		go func() {
			<-p.Done()
			f.exit(task.arn, "Essential container in task exited")
		}()
	}
	f.onStop = func(task *fakeTask) {
		mu.Lock()
		p := containers[task.arn]
		mu.Unlock()
		if p != nil {
			p.Stop(20 * time.Second)
		}
	}
	srv := newHTTPFake(t, f)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for arn, p := range containers {
			p.Stop(5 * time.Second)
			if t.Failed() {
				t.Logf("container %s output:\n%s", arn, p.Output())
			}
		}
	})

	env := awsfake.Env("AWS_ENDPOINT_URL_ECS="+srv.URL, "AWS_ENDPOINT_URL_IAM="+srv.URL)
	c, mgr, cl := awsfake.StartManager(t, env, "aws_raw_ecs",
		"--worker-manager-id", "wm-ecs-e2e", "--ecs-subnets", "subnet-0abc123,subnet-0def456", "--ecs-task-cpu", "2",
		"--max-task-concurrency", "4", "--heartbeat-interval-seconds", "1",
		"--aws-access-key-id", "AKIDTEST", "--aws-secret-access-key", "secret")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The first scale-up is refused: the manager logs one line and tries again later.
	f.Add("RunTask", 1, awsfake.Err("AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized to perform: ecs:RunTask"))
	var fs []*client.Future
	for i := 0; i < 20; i++ {
		fs = append(fs, cl.Submit("sleep", 0.2))
	}
	for i, fu := range fs {
		if _, err := fu.Result(ctx); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	if n := f.started(); n < 1 || n > 2 {
		t.Fatalf("%d tasks started, want 1..2 (max 4 workers / 2 per task)", n)
	}
	if out := mgr.Output(); !strings.Contains(out, "reconciling units failed; will retry") ||
		!strings.Contains(out, "ECS RunTask: AccessDeniedException: User: arn:aws:iam::1:user/x is not authorized to perform: ecs:RunTask (these credentials lack") {
		t.Fatalf("the refused scale-up was not reported in one line:\n%s", out)
	}
	if !strings.Contains(c.Scheduler.Output(), "ECS|") {
		t.Fatalf("no ECS worker joined the scheduler")
	}

	mgr.Signal(syscall.SIGTERM)
	mgr.Wait(t, 60*time.Second)
	if left := f.running(); len(left) != 0 {
		t.Fatalf("%d ECS tasks left running after the manager stopped", len(left))
	}
	mu.Lock()
	defer mu.Unlock()
	for arn, p := range containers {
		select {
		case <-p.Done():
		default:
			t.Fatalf("container of %s still running", arn)
		}
	}
}
