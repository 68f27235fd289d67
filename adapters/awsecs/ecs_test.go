package awsecs

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/adapters/awscommon"
	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig() Config {
	return Config{
		Region: "us-east-1", Cluster: "scaler-cluster", TaskDefinition: "scaler-task-definition", Image: "img:1",
		PythonRequirements: "numpy", PythonVersion: "3.12.11", Subnets: []string{"subnet-a", "subnet-b"},
		CPU: 4, MemoryGB: 30, ManagerID: "wm-ecs",
		Command: awscommon.WorkerCommand("ECS", "tcp://10.0.0.1:6378", 4, []string{"--preload", "pkg.mod:setup('a b')"}, "", "wm-ecs"),
		Logger:  quietLog(),
	}
}

func TestSetupCreatesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name       string
		prepare    func(*fakeECS)
		wantCalls  map[string]int
		wantErr    string
		registered bool
	}{
		{
			name:       "nothing exists",
			prepare:    func(*fakeECS) {},
			wantCalls:  map[string]int{"CreateCluster": 1, "GetRole": 1, "CreateRole": 1, "AttachRolePolicy": 1, "RegisterTaskDefinition": 1},
			registered: true,
		},
		{
			name:       "inactive cluster, role exists",
			prepare:    func(f *fakeECS) { f.clusters["scaler-cluster"] = "INACTIVE"; f.roles[ExecutionRoleName] = "x" },
			wantCalls:  map[string]int{"CreateCluster": 1, "GetRole": 1, "CreateRole": 0, "RegisterTaskDefinition": 1},
			registered: true,
		},
		{
			name: "everything exists",
			prepare: func(f *fakeECS) {
				f.clusters["scaler-cluster"] = "ACTIVE"
				f.defs["scaler-task-definition"] = f.defs[""]
			},
			wantCalls: map[string]int{"CreateCluster": 0, "GetRole": 0, "RegisterTaskDefinition": 0},
		},
		{
			name: "describe task definition denied",
			prepare: func(f *fakeECS) {
				f.clusters["scaler-cluster"] = "ACTIVE"
				f.Add("DescribeTaskDefinition", 1, awsfake.Err("AccessDeniedException", "User x is not authorized to perform: ecs:DescribeTaskDefinition"))
			},
			wantCalls: map[string]int{"RegisterTaskDefinition": 0},
			wantErr:   "AccessDeniedException: User x is not authorized to perform: ecs:DescribeTaskDefinition (these credentials lack an IAM permission",
		},
		{
			name:      "create cluster denied",
			prepare:   func(f *fakeECS) { f.Add("CreateCluster", 1, awsfake.Err("AccessDeniedException", "no")) },
			wantCalls: map[string]int{"RegisterTaskDefinition": 0},
			wantErr:   "create ECS cluster scaler-cluster: AccessDeniedException: no",
		},
		{
			name:      "role cannot be created",
			prepare:   func(f *fakeECS) { f.Add("CreateRole", 1, awsfake.Err("AccessDenied", "iam:CreateRole")) },
			wantCalls: map[string]int{"RegisterTaskDefinition": 0},
			wantErr:   "create IAM role ecsTaskExecutionRole: AccessDenied: iam:CreateRole",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeECS()
			tc.prepare(f)
			p := New(testConfig(), f, f)
			err := p.Setup(context.Background())
			defer p.Close(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line containing %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for op, n := range tc.wantCalls {
				if got := f.Calls(op); got != n {
					t.Errorf("%s called %d times, want %d", op, got, n)
				}
			}
			if tc.registered {
				def := f.defs["scaler-task-definition"]
				if aws.ToString(def.Cpu) != "4096" || aws.ToString(def.Memory) != "30720" || def.NetworkMode != "awsvpc" ||
					!slices.Equal(def.RequiresCompatibilities, []types.Compatibility{types.CompatibilityFargate}) ||
					aws.ToString(def.ExecutionRoleArn) != "arn:aws:iam::1:role/ecsTaskExecutionRole" ||
					len(def.ContainerDefinitions) != 1 || aws.ToString(def.ContainerDefinitions[0].Name) != ContainerName ||
					aws.ToString(def.ContainerDefinitions[0].Image) != "img:1" || !aws.ToBool(def.ContainerDefinitions[0].Essential) ||
					def.RuntimePlatform == nil || def.RuntimePlatform.CpuArchitecture != "X86_64" {
					t.Fatalf("registered task definition: %+v", def)
				}
				if p.TaskDefinitionArn() != defArn("scaler-task-definition") {
					t.Fatalf("arn %q", p.TaskDefinitionArn())
				}
			}
			if tc.name == "nothing exists" && f.roles[ExecutionRoleName] != "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" {
				t.Fatalf("role policy %q", f.roles[ExecutionRoleName])
			}
		})
	}
}

func TestScaleUpAndDownOldestFirst(t *testing.T) {
	f := newFakeECS()
	p := New(testConfig(), f, f)
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.StartUnits(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if p.Units() != 3 || len(f.running()) != 3 {
		t.Fatalf("units %d, running %d", p.Units(), len(f.running()))
	}
	in := f.tasks[0].input
	ov := in.Overrides.ContainerOverrides[0]
	env := map[string]string{}
	for _, kv := range ov.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	wantCmd := []string{"scaler_worker_manager", "baremetal_native", "tcp://10.0.0.1:6378", "--mode", "fixed", "--worker-type", "ECS",
		"--max-task-concurrency", "4", "--preload", "pkg.mod:setup('a b')", "--worker-manager-id", "wm-ecs"}
	switch {
	case in.LaunchType != "FARGATE" || aws.ToString(in.TaskDefinition) != defArn("scaler-task-definition") || aws.ToString(in.Cluster) != "scaler-cluster":
		t.Fatalf("run input %+v", in)
	case !slices.Equal(in.NetworkConfiguration.AwsvpcConfiguration.Subnets, []string{"subnet-a", "subnet-b"}) ||
		in.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp != "ENABLED":
		t.Fatalf("network %+v", in.NetworkConfiguration.AwsvpcConfiguration)
	case aws.ToString(ov.Name) != ContainerName || !slices.Equal(ov.Command, wantCmd):
		t.Fatalf("override %q %q", aws.ToString(ov.Name), ov.Command)
	case env["COMMAND"] != `scaler_worker_manager baremetal_native tcp://10.0.0.1:6378 --mode fixed --worker-type ECS --max-task-concurrency 4 --preload 'pkg.mod:setup('\''a b'\'')' --worker-manager-id wm-ecs`:
		t.Fatalf("COMMAND %q", env["COMMAND"])
	case env["PYTHON_REQUIREMENTS"] != "numpy" || env["PYTHON_VERSION"] != "3.12.11":
		t.Fatalf("env %v", env)
	}
	// The shell reads COMMAND back into the same argv.
	out, err := exec.Command("sh", "-c", `for a in `+env["COMMAND"]+`; do printf '%s\n' "$a"; done`).Output()
	if err != nil || strings.Join(wantCmd, "\n")+"\n" != string(out) {
		t.Fatalf("shell split %q %v", out, err)
	}
	first, second, third := f.tasks[0].arn, f.tasks[1].arn, f.tasks[2].arn
	if err := p.StopUnits(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := f.running(); p.Units() != 1 || len(got) != 1 || got[0].arn != third {
		t.Fatalf("after stopping 2: units %d running %v", p.Units(), got)
	}
	if f.task(first).reason != StopReason || f.task(second).reason != StopReason {
		t.Fatalf("stop reasons %q %q", f.task(first).reason, f.task(second).reason)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.running()) != 0 || p.Units() != 0 {
		t.Fatalf("tasks left after Close: %d", len(f.running()))
	}
	if err := p.StartUnits(ctx, 1); err == nil {
		t.Fatal("StartUnits after Close succeeded")
	}
}

func TestFailuresAreOneLineAndKeepState(t *testing.T) {
	f := newFakeECS()
	p := New(testConfig(), f, f)
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)

	f.runFailure = "RESOURCE:FARGATE"
	err := p.StartUnits(ctx, 2)
	if err == nil || !strings.Contains(err.Error(), "RESOURCE:FARGATE") || p.Units() != 0 {
		t.Fatalf("placement failure: %v, units %d", err, p.Units())
	}
	f.runFailure = ""
	f.Add("RunTask", 1, awsfake.Err("ThrottlingException", "Rate exceeded"))
	err = p.StartUnits(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "ThrottlingException: Rate exceeded (AWS is throttling") {
		t.Fatalf("throttling: %v", err)
	}
	if err := p.StartUnits(ctx, 2); err != nil || p.Units() != 2 {
		t.Fatalf("retry: %v, units %d", err, p.Units())
	}
	// A failed StopTask keeps the unit, so the manager tries again.
	f.Add("StopTask", 1, awsfake.Err("ServerException", "boom"))
	if err := p.StopUnits(ctx, 1); err == nil || p.Units() != 2 {
		t.Fatalf("stop failure: %v, units %d", err, p.Units())
	}
	if err := p.StopUnits(ctx, 1); err != nil || p.Units() != 1 {
		t.Fatalf("stop retry: %v, units %d", err, p.Units())
	}
}

func TestTasksThatStopOnTheirOwnAreDropped(t *testing.T) {
	f := newFakeECS()
	cfg := testConfig()
	cfg.PollInterval = 10 * time.Millisecond
	p := New(cfg, f, f)
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if err := p.StartUnits(ctx, 2); err != nil {
		t.Fatal(err)
	}
	f.exit(f.tasks[0].arn, "Essential container in task exited")
	deadline := time.Now().Add(5 * time.Second)
	for p.Units() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("units %d, want 1", p.Units())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartedBy(t *testing.T) {
	for in, want := range map[string]string{
		"wm-ecs": "wm-ecs", "a b.c": "a_b_c", "": "scaler",
		strings.Repeat("x", 50): strings.Repeat("x", 36),
	} {
		if got := startedBy(in); got != want {
			t.Errorf("startedBy(%q) = %q, want %q", in, got, want)
		}
	}
}

// The real SDK clients against the HTTP fake: serialization of every call, typed errors,
// and throttling retried by the retryer.
func TestSDKClientsAgainstHTTPFake(t *testing.T) {
	f := newFakeECS()
	srv := newHTTPFake(t, f)
	e, i := sdkClients(srv, 3)
	p := New(testConfig(), e, i)
	ctx := context.Background()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Calls("CreateRole") != 1 || f.Calls("RegisterTaskDefinition") != 1 || f.clusters["scaler-cluster"] != "ACTIVE" {
		t.Fatalf("setup through HTTP: calls %d %d", f.Calls("CreateRole"), f.Calls("RegisterTaskDefinition"))
	}
	if aws.ToString(f.defs["scaler-task-definition"].Cpu) != "4096" {
		t.Fatalf("register over the wire: %+v", f.defs["scaler-task-definition"])
	}
	f.Add("RunTask", 1, awsfake.Err("ThrottlingException", "Rate exceeded"))
	if err := p.StartUnits(ctx, 2); err != nil {
		t.Fatalf("throttled once then retried: %v", err)
	}
	if f.Calls("RunTask") != 3 {
		t.Fatalf("RunTask calls %d, want 3 (one throttled)", f.Calls("RunTask"))
	}
	ov := f.tasks[0].input.Overrides.ContainerOverrides[0]
	if len(ov.Command) == 0 || ov.Command[0] != "scaler_worker_manager" || len(ov.Environment) != 3 ||
		f.tasks[0].input.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp != "ENABLED" {
		t.Fatalf("override over the wire: %+v", f.tasks[0].input)
	}
	f.Add("RunTask", 1, awsfake.Err("AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized to perform: ecs:RunTask"))
	err := p.StartUnits(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "ECS RunTask: AccessDeniedException: User: arn:aws:iam::1:user/x is not authorized") {
		t.Fatalf("denied: %v", err)
	}
	if err := p.poll(ctx); err != nil {
		t.Fatal(err)
	}
	f.exit(f.tasks[0].arn, "crashed")
	if err := p.poll(ctx); err != nil || p.Units() != 1 {
		t.Fatalf("poll over the wire: %v, units %d", err, p.Units())
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.running()); n != 0 {
		t.Fatalf("%d tasks left running", n)
	}
}
