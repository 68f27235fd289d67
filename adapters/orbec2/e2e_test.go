package orbec2

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
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

// host is a fake EC2 instance: its user data ran as a bash script in a directory standing
// in for the instance's disk.
type host struct {
	root   string
	script *awsfake.Process
}

// End to end: `scaler_worker_manager orb_aws_ec2` runs as a process against the EC2 query
// fake and gofakes3. It uploads its own binary to S3; each instance's user data runs for
// real with bash (the instance's /opt and /var/log mapped into a temporary directory): it
// downloads the binary through the presigned URL with curl, checks its SHA-256 and starts
// it as a fixed-mode manager whose workers join the scheduler. Tasks complete; on SIGTERM
// every instance is terminated and the temporary security group, key pair and uploaded
// binary are deleted.
func TestEndToEndThroughFakeEC2(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testbin.Binary(t)
	f := newFakeEC2()
	ec2srv := newHTTPFake(t, f)
	s3srv, s3c := awsfake.S3(t, "scaler-bin")

	var mu sync.Mutex
	hosts := map[string]*host{}
	f.onRun = func(inst *fakeInstance) {
		ud, err := base64.StdEncoding.DecodeString(aws.ToString(inst.input.UserData))
		if err != nil {
			t.Errorf("user data: %v", err)
			return
		}
		root := t.TempDir()
		script := strings.ReplaceAll(string(ud), Home, filepath.Join(root, "opt"))
		script = strings.ReplaceAll(script, LogFile, filepath.Join(root, "scaler.log"))
		path := filepath.Join(root, "user-data.sh")
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Error(err)
			return
		}
		p, err := awsfake.Launch("bash", []string{path}, nil)
		if err != nil {
			t.Errorf("run user data: %v", err)
			return
		}
		mu.Lock()
		hosts[inst.id] = &host{root: root, script: p}
		mu.Unlock()
	}
	f.onTerminate = func(inst *fakeInstance) {
		mu.Lock()
		h := hosts[inst.id]
		mu.Unlock()
		if h != nil {
			stopGroup(h.script.Cmd.Process.Pid, 20*time.Second)
		}
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for id, h := range hosts {
			h.script.KillGroup()
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(h.root, "scaler.log"))
				t.Logf("instance %s: user data output:\n%s\nscaler.log:\n%s", id, h.script.Output(), log)
			}
		}
	})

	env := awsfake.Env("AWS_ENDPOINT_URL_EC2="+ec2srv.URL, "AWS_ENDPOINT_URL_S3="+s3srv.URL, "AWS_ACCESS_KEY_ID=AKIDTEST",
		"AWS_SECRET_ACCESS_KEY=secret")
	c, mgr, cl := awsfake.StartManager(t, env, "orb_aws_ec2",
		"--worker-manager-id", "wm-orb-e2e", "--image-id", LatestAL2023, "--instance-type", "t3.medium",
		"--scaler-binary-s3-bucket", "scaler-bin", "--max-task-concurrency", "4", "--heartbeat-interval-seconds", "1")

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var fs []*client.Future
	for i := 0; i < 16; i++ {
		fs = append(fs, cl.Submit("sleep", 0.2))
	}
	for i, fu := range fs {
		if _, err := fu.Result(ctx); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	if !strings.Contains(c.Scheduler.Output(), "ORB|") {
		t.Fatal("no ORB worker joined the scheduler")
	}
	if keys := awsfake.Keys(t, s3c, "scaler-bin"); len(keys) != 1 || !strings.HasPrefix(keys[0], "opengris-scaler/binaries/wm-orb-e2e/scaler-") {
		t.Fatalf("uploaded binary: %v", keys)
	}

	mgr.Signal(syscall.SIGTERM)
	mgr.Wait(t, 90*time.Second)
	if l := f.leftovers(); len(l) != 0 {
		t.Fatalf("left in EC2 after the manager stopped: %v", l)
	}
	if keys := awsfake.Keys(t, s3c, "scaler-bin"); len(keys) != 0 {
		t.Fatalf("left in S3: %v", keys)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, h := range hosts {
		if err := syscall.Kill(-h.script.Cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("processes of instance %s still running", id)
		}
	}
}

// stopGroup sends SIGTERM to a process group, as an instance shutdown does, and SIGKILL
// after grace; it returns once the group is empty.
func stopGroup(pgid int, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			deadline = time.Now().Add(time.Hour)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
