package orbec2

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig() Config {
	return Config{ImageID: LatestAL2023, InstanceType: "t3.medium", ManagerID: "wm-orb", Tags: map[string]string{"team": "hpc"},
		Boot:   Boot{Scheduler: "tcp://10.0.0.1:6378", ManagerID: "wm-orb", WorkerFlags: []string{"--heartbeat-interval-seconds", "2", "--python", "python3"}},
		Logger: quietLog()}
}

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		faults  func(*fakeEC2)
		wantErr string
		check   func(*testing.T, *Provisioner, *fakeEC2)
	}{
		{
			name: "everything discovered or created",
			cfg:  func(*Config) {},
			check: func(t *testing.T, p *Provisioner, f *fakeEC2) {
				if p.subnetID != "subnet-a" || p.vpcID != "vpc-default" || p.imageID != "ami-newest" || p.vcpus != 2 {
					t.Fatalf("resolved %v", p.Resolved())
				}
				if len(p.groups) != 1 || f.groups[p.groups[0]] == nil || f.groups[p.groups[0]].name != "opengris-orb-sg-"+p.templateID ||
					f.groups[p.groups[0]].vpc != "vpc-default" || !f.keys["opengris-orb-key-"+p.templateID] || p.keyName != "opengris-orb-key-"+p.templateID {
					t.Fatalf("temporary resources: groups %v keys %v", f.groups, f.keys)
				}
			},
		},
		{
			name: "everything given",
			cfg: func(c *Config) {
				c.ImageID, c.SubnetID, c.SecurityGroupIDs, c.KeyName, c.InstanceType = "ami-given", "subnet-other", []string{"sg-given1", "sg-given2"}, "mine", "c5.xlarge"
			},
			check: func(t *testing.T, p *Provisioner, f *fakeEC2) {
				if p.subnetID != "subnet-other" || p.vpcID != "vpc-other" || p.imageID != "ami-given" || p.vcpus != 4 || p.keyName != "mine" ||
					!slices.Equal(p.groups, []string{"sg-given1", "sg-given2"}) {
					t.Fatalf("resolved %v", p.Resolved())
				}
				for _, op := range []string{"CreateSecurityGroup", "CreateKeyPair", "DescribeImages", "DescribeVpcs"} {
					if f.Calls(op) != 0 {
						t.Errorf("%s called", op)
					}
				}
			},
		},
		{name: "unknown instance type", cfg: func(c *Config) { c.InstanceType = "z9.huge" }, wantErr: "InvalidInstanceType"},
		{name: "unknown subnet", cfg: func(c *Config) { c.SubnetID = "subnet-nope" },
			wantErr: "describe subnet subnet-nope: InvalidSubnetID.NotFound: The subnet ID 'subnet-nope' does not exist (an id given in the options does not exist"},
		{
			name: "key pair refused after the group was made",
			cfg:  func(*Config) {},
			faults: func(f *fakeEC2) {
				f.Add("CreateKeyPair", 1, awsfake.Err("UnauthorizedOperation", "You are not authorized to perform this operation."))
			},
			wantErr: "UnauthorizedOperation: You are not authorized to perform this operation. (these credentials lack an IAM permission",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEC2()
			if tc.faults != nil {
				tc.faults(f)
			}
			cfg := testConfig()
			tc.cfg(&cfg)
			p := New(cfg, f)
			err := p.Setup(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if l := f.leftovers(); len(l) != 0 {
					t.Fatalf("a failed setup left %v", l)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p, f)
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if l := f.leftovers(); len(l) != 0 {
				t.Fatalf("left after Close: %v", l)
			}
		})
	}
}

func TestScaleUpDownAndCleanUp(t *testing.T) {
	f := newFakeEC2()
	p := New(testConfig(), f)
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.StartUnits(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if p.Units() != 3 || f.Calls("RunInstances") != 1 {
		t.Fatalf("units %d after %d RunInstances", p.Units(), f.Calls("RunInstances"))
	}
	in := f.instances[0].input
	if aws.ToString(in.ImageId) != "ami-newest" || in.InstanceType != "t3.medium" || aws.ToInt32(in.MinCount) != 1 || aws.ToInt32(in.MaxCount) != 3 ||
		aws.ToString(in.SubnetId) != "subnet-a" || aws.ToString(in.KeyName) != p.keyName || !slices.Equal(in.SecurityGroupIds, p.groups) ||
		in.InstanceInitiatedShutdownBehavior != types.ShutdownBehaviorTerminate {
		t.Fatalf("run input %+v", in)
	}
	tags := map[string]string{}
	for _, tg := range in.TagSpecifications[0].Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["opengris-scaler-manager-id"] != "wm-orb" || tags["team"] != "hpc" || tags["Name"] == "" {
		t.Fatalf("tags %v", tags)
	}
	ud, _ := base64.StdEncoding.DecodeString(aws.ToString(in.UserData))
	if !strings.Contains(string(ud), `nohup "$SCALER" scaler_worker_manager baremetal_native tcp://10.0.0.1:6378 --mode fixed --worker-type ORB --max-task-concurrency 2 `) ||
		!strings.Contains(string(ud), "--worker-manager-id wm-orb > /var/log/opengris-scaler.log 2>&1 &") {
		t.Fatalf("user data:\n%s", ud)
	}
	oldest := f.instances[0].id
	if err := p.StopUnits(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if alive := f.alive(); p.Units() != 2 || slices.Contains(alive, oldest) || len(alive) != 2 {
		t.Fatalf("after stopping one: units %d alive %v", p.Units(), alive)
	}
	// Too little capacity: the instances that started count, the shortfall is an error.
	f.capacity = 1
	if err := p.StartUnits(ctx, 2); err == nil || !strings.Contains(err.Error(), "started 1 of 2") || p.Units() != 3 {
		t.Fatalf("partial launch: %v, units %d", err, p.Units())
	}
	f.capacity = 0
	f.Add("RunInstances", 1, awsfake.Err("InsufficientInstanceCapacity", "We currently do not have sufficient t3.medium capacity"))
	if err := p.StartUnits(ctx, 1); err == nil || !strings.Contains(err.Error(), "InsufficientInstanceCapacity") ||
		!strings.Contains(err.Error(), "the manager tries again later") {
		t.Fatalf("no capacity: %v", err)
	}
	f.Add("TerminateInstances", 1, awsfake.Err("RequestLimitExceeded", "Request limit exceeded."))
	if err := p.StopUnits(ctx, 1); err == nil || p.Units() != 3 {
		t.Fatalf("failed terminate must keep the unit: %v, units %d", err, p.Units())
	}
	start := time.Now()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if l := f.leftovers(); len(l) != 0 {
		t.Fatalf("left after Close: %v", l)
	}
	if f.Calls("DeleteSecurityGroup") < 1 || time.Since(start) > 30*time.Second {
		t.Fatalf("clean-up took %s", time.Since(start))
	}
	if err := p.StartUnits(ctx, 1); err == nil {
		t.Fatal("StartUnits after Close succeeded")
	}
}

func TestInstancesThatEndOnTheirOwn(t *testing.T) {
	f := newFakeEC2()
	cfg := testConfig()
	cfg.PollInterval = 10 * time.Millisecond
	p := New(cfg, f)
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if err := p.StartUnits(ctx, 3); err != nil {
		t.Fatal(err)
	}
	f.setState(f.instances[0].id, types.InstanceStateNameTerminated)
	f.setState(f.instances[1].id, types.InstanceStateNameStopped)
	deadline := time.Now().Add(5 * time.Second)
	for p.Units() != 1 || len(f.alive()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("units %d alive %v", p.Units(), f.alive())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if slices.Contains(f.alive(), f.instances[1].id) {
		t.Fatal("the stopped instance was not terminated")
	}
}

func TestUserData(t *testing.T) {
	boot := Boot{Scheduler: "tcp://1.2.3.4:6378", ManagerID: "wm 'x'", ObjectStorage: "tcp://1.2.3.4:6379",
		WorkerFlags: []string{"--preload", "m:f('a b')", "--python", "python3"}, NetworkBackend: "zmq",
		Requirements: "numpy==2.1\npandas\n", PythonVersion: "3.11"}
	ud := UserData(boot, 4, "https://example.com/scaler?a=1&b=2", "abc123")
	for _, want := range []string{
		"#!/bin/bash\n", "set -euo pipefail",
		"dnf install -y python3.11 python3.11-pip", "python3.11 -m pip install cloudpickle tblib", "numpy==2.1\npandas\n",
		`curl -fsSL --retry 5 --retry-delay 3 -o "$SCALER_HOME/bin/scaler.part" 'https://example.com/scaler?a=1&b=2'`,
		"sha256sum -c -", "export SCALER_NETWORK_BACKEND=zmq",
		`--max-task-concurrency 4 --preload 'm:f('\''a b'\'')' --python python3.11 --object-storage-address tcp://1.2.3.4:6379 --worker-manager-id 'wm '\''x'\'''`,
	} {
		if !strings.Contains(ud, want) {
			t.Errorf("user data lacks %q:\n%s", want, ud)
		}
	}
	if strings.Count(ud, "--python") != 1 {
		t.Errorf("--python given twice:\n%s", ud)
	}
	if out, err := exec.Command("bash", "-n", "-c", ud).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v %s", err, out)
	}
	plain := UserData(Boot{Scheduler: "tcp://h:1", ManagerID: "m"}, 1, "", "")
	if strings.Contains(plain, "curl") || strings.Contains(plain, "dnf") || !strings.Contains(plain, `SCALER="$(command -v scaler`) {
		t.Fatalf("AMI-provided binary:\n%s", plain)
	}
}

// The real SDK client against the EC2 query fake: lists, filters, tags and XML answers.
func TestSDKClientAgainstHTTPFake(t *testing.T) {
	f := newFakeEC2()
	srv := newHTTPFake(t, f)
	p := New(testConfig(), sdkEC2(srv, 3))
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if p.subnetID != "subnet-a" || p.imageID != "ami-newest" || p.vcpus != 2 || p.tempGroup == "" || p.tempKey == "" {
		t.Fatalf("setup over the wire: %v", p.Resolved())
	}
	f.Add("RunInstances", 1, awsfake.Err("RequestLimitExceeded", "Request limit exceeded."))
	if err := p.StartUnits(ctx, 2); err != nil {
		t.Fatalf("throttled once, then retried: %v", err)
	}
	if f.Calls("RunInstances") != 2 || len(f.alive()) != 2 {
		t.Fatalf("RunInstances calls %d, alive %v", f.Calls("RunInstances"), f.alive())
	}
	in := f.instances[0].input
	if len(in.TagSpecifications[0].Tags) != 3 || in.InstanceInitiatedShutdownBehavior != "terminate" || !slices.Equal(in.SecurityGroupIds, p.groups) {
		t.Fatalf("run input over the wire: %+v", in)
	}
	if err := p.poll(ctx); err != nil || p.Units() != 2 {
		t.Fatalf("poll: %v, units %d", err, p.Units())
	}
	f.Add("TerminateInstances", 1, awsfake.Err("UnauthorizedOperation", "You are not authorized to perform this operation."))
	if err := p.StopUnits(ctx, 1); err == nil || !strings.Contains(err.Error(), "EC2 TerminateInstances: UnauthorizedOperation") {
		t.Fatalf("denied: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if l := f.leftovers(); len(l) != 0 {
		t.Fatalf("left after Close: %v", l)
	}
}
