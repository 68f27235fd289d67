package awsecs

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
)

// fakeTask is a task the fake ECS runs.
type fakeTask struct {
	arn     string
	status  string
	input   ecs.RunTaskInput
	reason  string
	stopped chan struct{}
}

// fakeECS is an in-memory ECS and IAM: the provisioner's tests use it directly, and
// newHTTPFake serves it to the real SDK clients. onRun, when set, runs for every started
// task (the end-to-end test starts the container's command there) and onStop when it is
// stopped.
type fakeECS struct {
	awsfake.Faults
	mu       sync.Mutex
	clusters map[string]string // name -> status
	defs     map[string]ecs.RegisterTaskDefinitionInput
	roles    map[string]string // role -> attached policy
	tasks    []*fakeTask
	seq      int
	onRun    func(*fakeTask)
	onStop   func(*fakeTask)
	// runFailure, when set, is returned as a RunTask failure entry.
	runFailure string
}

func newFakeECS() *fakeECS {
	return &fakeECS{clusters: map[string]string{}, defs: map[string]ecs.RegisterTaskDefinitionInput{}, roles: map[string]string{}}
}

func (f *fakeECS) DescribeClusters(_ context.Context, in *ecs.DescribeClustersInput, _ ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error) {
	if err := f.Next("DescribeClusters"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeClustersOutput{}
	for _, name := range in.Clusters {
		if st, ok := f.clusters[name]; ok {
			out.Clusters = append(out.Clusters, types.Cluster{ClusterName: aws.String(name), Status: aws.String(st), ClusterArn: aws.String("arn:aws:ecs:us-east-1:1:cluster/" + name)})
		} else {
			out.Failures = append(out.Failures, types.Failure{Arn: aws.String(name), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *fakeECS) CreateCluster(_ context.Context, in *ecs.CreateClusterInput, _ ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error) {
	if err := f.Next("CreateCluster"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters[aws.ToString(in.ClusterName)] = "ACTIVE"
	return &ecs.CreateClusterOutput{Cluster: &types.Cluster{ClusterName: in.ClusterName, Status: aws.String("ACTIVE")}}, nil
}

func defArn(family string) string { return "arn:aws:ecs:us-east-1:1:task-definition/" + family + ":1" }

func (f *fakeECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	if err := f.Next("DescribeTaskDefinition"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	family := aws.ToString(in.TaskDefinition)
	if _, ok := f.defs[family]; !ok {
		return nil, awsfake.Err("ClientException", "Unable to describe task definition.")
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &types.TaskDefinition{TaskDefinitionArn: aws.String(defArn(family)), Family: aws.String(family)}}, nil
}

func (f *fakeECS) RegisterTaskDefinition(_ context.Context, in *ecs.RegisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	if err := f.Next("RegisterTaskDefinition"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	family := aws.ToString(in.Family)
	f.defs[family] = *in
	return &ecs.RegisterTaskDefinitionOutput{TaskDefinition: &types.TaskDefinition{TaskDefinitionArn: aws.String(defArn(family)), Family: in.Family}}, nil
}

func (f *fakeECS) RunTask(_ context.Context, in *ecs.RunTaskInput, _ ...func(*ecs.Options)) (*ecs.RunTaskOutput, error) {
	if err := f.Next("RunTask"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if _, ok := f.clusters[aws.ToString(in.Cluster)]; !ok {
		f.mu.Unlock()
		return nil, awsfake.Err("ClusterNotFoundException", "Cluster not found.")
	}
	if f.runFailure != "" {
		f.mu.Unlock()
		return &ecs.RunTaskOutput{Failures: []types.Failure{{Reason: aws.String(f.runFailure)}}}, nil
	}
	f.seq++
	t := &fakeTask{arn: fmt.Sprintf("arn:aws:ecs:us-east-1:1:task/%s/t%03d", aws.ToString(in.Cluster), f.seq), status: "PROVISIONING", input: *in, stopped: make(chan struct{})}
	f.tasks = append(f.tasks, t)
	hook := f.onRun
	f.mu.Unlock()
	if hook != nil {
		hook(t)
	}
	return &ecs.RunTaskOutput{Tasks: []types.Task{{TaskArn: aws.String(t.arn), LastStatus: aws.String(t.status)}}}, nil
}

func (f *fakeECS) StopTask(_ context.Context, in *ecs.StopTaskInput, _ ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	if err := f.Next("StopTask"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	t := f.task(aws.ToString(in.Task))
	if t == nil {
		f.mu.Unlock()
		return nil, awsfake.Err("InvalidParameterException", "The referenced task was not found.")
	}
	wasRunning := t.status != "STOPPED"
	t.status, t.reason = "STOPPED", aws.ToString(in.Reason)
	hook := f.onStop
	f.mu.Unlock()
	if wasRunning {
		close(t.stopped)
		if hook != nil {
			hook(t)
		}
	}
	return &ecs.StopTaskOutput{Task: &types.Task{TaskArn: aws.String(t.arn), LastStatus: aws.String("STOPPED")}}, nil
}

func (f *fakeECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	if err := f.Next("DescribeTasks"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		if t := f.task(arn); t != nil {
			out.Tasks = append(out.Tasks, types.Task{TaskArn: aws.String(arn), LastStatus: aws.String(t.status), StoppedReason: aws.String(t.reason)})
		} else {
			out.Failures = append(out.Failures, types.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *fakeECS) task(arn string) *fakeTask {
	for _, t := range f.tasks {
		if t.arn == arn {
			return t
		}
	}
	return nil
}

// running lists the tasks that are not stopped.
func (f *fakeECS) running() []*fakeTask {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeTask
	for _, t := range f.tasks {
		if t.status != "STOPPED" {
			out = append(out, t)
		}
	}
	return out
}

// started is how many tasks RunTask started.
func (f *fakeECS) started() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tasks)
}

// exit marks a task stopped without StopTask (a crash).
func (f *fakeECS) exit(arn, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.task(arn); t != nil && t.status != "STOPPED" {
		t.status, t.reason = "STOPPED", reason
		close(t.stopped)
	}
}

func (f *fakeECS) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if err := f.Next("GetRole"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.RoleName)
	if _, ok := f.roles[name]; !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("The role with name " + name + " cannot be found.")}
	}
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, Arn: aws.String("arn:aws:iam::1:role/" + name)}}, nil
}

func (f *fakeECS) CreateRole(_ context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	if err := f.Next("CreateRole"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.RoleName)
	if !strings.Contains(aws.ToString(in.AssumeRolePolicyDocument), "ecs-tasks.amazonaws.com") {
		return nil, awsfake.Err("MalformedPolicyDocument", "trust policy does not name ecs-tasks")
	}
	f.roles[name] = ""
	return &iam.CreateRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, Arn: aws.String("arn:aws:iam::1:role/" + name)}}, nil
}

func (f *fakeECS) AttachRolePolicy(_ context.Context, in *iam.AttachRolePolicyInput, _ ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error) {
	if err := f.Next("AttachRolePolicy"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles[aws.ToString(in.RoleName)] = aws.ToString(in.PolicyArn)
	return &iam.AttachRolePolicyOutput{}, nil
}

// newHTTPFake serves f as the ECS (awsJson1_1) and IAM (awsQuery) endpoints.
func newHTTPFake(t *testing.T, f *fakeECS) *httptest.Server {
	ctx := context.Background()
	ecsOps := awsfake.JSONOps{
		"DescribeClusters":       awsfake.JSONOp(f.DescribeClusters),
		"CreateCluster":          awsfake.JSONOp(f.CreateCluster),
		"DescribeTaskDefinition": awsfake.JSONOp(f.DescribeTaskDefinition),
		"RegisterTaskDefinition": awsfake.JSONOp(f.RegisterTaskDefinition),
		"RunTask":                awsfake.JSONOp(f.RunTask),
		"StopTask":               awsfake.JSONOp(f.StopTask),
		"DescribeTasks":          awsfake.JSONOp(f.DescribeTasks),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			op := target[strings.LastIndexByte(target, '.')+1:]
			ecsOps.Serve(w, r, op, awsfake.Err("UnknownOperationException", "fake ECS does not implement %s", op))
			return
		}
		// IAM speaks awsQuery: a form body, an XML answer.
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		form := r.PostForm
		role := form.Get("RoleName")
		var err error
		var result string
		switch form.Get("Action") {
		case "GetRole":
			var out *iam.GetRoleOutput
			if out, err = f.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)}); err == nil {
				result = roleXML(out.Role)
			}
		case "CreateRole":
			var out *iam.CreateRoleOutput
			if out, err = f.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(form.Get("AssumeRolePolicyDocument"))}); err == nil {
				result = roleXML(out.Role)
			}
		case "AttachRolePolicy":
			_, err = f.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(role), PolicyArn: aws.String(form.Get("PolicyArn"))})
		default:
			err = awsfake.Err("InvalidAction", "fake IAM does not implement %s", form.Get("Action"))
		}
		if err != nil {
			awsfake.WriteQueryError(w, err, false)
			return
		}
		action := form.Get("Action")
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<%sResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></%sResponse>`,
			action, action, result, action, action)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func roleXML(r *iamtypes.Role) string {
	return fmt.Sprintf("<Role><RoleName>%s</RoleName><Arn>%s</Arn><Path>/</Path><RoleId>AROAFAKE</RoleId><CreateDate>2026-01-01T00:00:00Z</CreateDate></Role>",
		url.PathEscape(aws.ToString(r.RoleName)), aws.ToString(r.Arn))
}

// sdkClients returns real SDK clients pointed at srv with static credentials.
func sdkClients(srv *httptest.Server, attempts int) (*ecs.Client, *iam.Client) {
	cfg := awsfake.Config(attempts)
	e := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	i := iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	return e, i
}
