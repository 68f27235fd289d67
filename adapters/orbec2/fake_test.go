package orbec2

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/scaler-go/scaler/adapters/awscommon/awsfake"
)

type fakeInstance struct {
	id           string
	input        ec2.RunInstancesInput
	state        types.InstanceStateName
	terminatedAt time.Time
}

type fakeGroup struct{ id, name, vpc string }

// fakeEC2 is an in-memory EC2: a default VPC with two subnets, a few instance types and
// Amazon Linux images. Terminated instances report shutting-down for a moment, then
// terminated; a security group used by a live instance cannot be deleted
// (DependencyViolation). onRun and onTerminate are called for each instance (the end-to-end
// test runs the user data there).
type fakeEC2 struct {
	awsfake.Faults
	mu          sync.Mutex
	instances   []*fakeInstance
	groups      map[string]*fakeGroup
	keys        map[string]bool
	seq         int
	capacity    int // most instances one RunInstances starts; 0 = unlimited
	onRun       func(*fakeInstance)
	onTerminate func(*fakeInstance)
}

func newFakeEC2() *fakeEC2 { return &fakeEC2{groups: map[string]*fakeGroup{}, keys: map[string]bool{}} }

func filterValue(fs []types.Filter, name string) []string {
	for _, f := range fs {
		if aws.ToString(f.Name) == name {
			return f.Values
		}
	}
	return nil
}

func (f *fakeEC2) DescribeVpcs(_ context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	if err := f.Next("DescribeVpcs"); err != nil {
		return nil, err
	}
	if v := filterValue(in.Filters, "is-default"); len(v) != 1 || v[0] != "true" {
		return nil, awsfake.Err("InvalidParameterValue", "expected the is-default filter")
	}
	return &ec2.DescribeVpcsOutput{Vpcs: []types.Vpc{{VpcId: aws.String("vpc-default"), IsDefault: aws.Bool(true)}}}, nil
}

var fakeSubnets = []types.Subnet{
	{SubnetId: aws.String("subnet-b"), VpcId: aws.String("vpc-default"), AvailabilityZone: aws.String("us-east-1b"), DefaultForAz: aws.Bool(true)},
	{SubnetId: aws.String("subnet-private"), VpcId: aws.String("vpc-default"), AvailabilityZone: aws.String("us-east-1a"), DefaultForAz: aws.Bool(false)},
	{SubnetId: aws.String("subnet-a"), VpcId: aws.String("vpc-default"), AvailabilityZone: aws.String("us-east-1a"), DefaultForAz: aws.Bool(true)},
	{SubnetId: aws.String("subnet-other"), VpcId: aws.String("vpc-other"), AvailabilityZone: aws.String("us-east-1c")},
}

func (f *fakeEC2) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	if err := f.Next("DescribeSubnets"); err != nil {
		return nil, err
	}
	out := &ec2.DescribeSubnetsOutput{}
	vpc := filterValue(in.Filters, "vpc-id")
	for _, s := range fakeSubnets {
		switch {
		case len(in.SubnetIds) > 0:
			if aws.ToString(s.SubnetId) == in.SubnetIds[0] {
				out.Subnets = append(out.Subnets, s)
			}
		case len(vpc) == 1 && aws.ToString(s.VpcId) == vpc[0]:
			out.Subnets = append(out.Subnets, s)
		}
	}
	if len(in.SubnetIds) > 0 && len(out.Subnets) == 0 {
		return nil, awsfake.Err("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", in.SubnetIds[0])
	}
	return out, nil
}

var fakeVCPUs = map[string]int32{"t2.micro": 1, "t3.medium": 2, "c5.xlarge": 4}

func (f *fakeEC2) DescribeInstanceTypes(_ context.Context, in *ec2.DescribeInstanceTypesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	if err := f.Next("DescribeInstanceTypes"); err != nil {
		return nil, err
	}
	out := &ec2.DescribeInstanceTypesOutput{}
	for _, it := range in.InstanceTypes {
		n, ok := fakeVCPUs[string(it)]
		if !ok {
			return nil, awsfake.Err("InvalidInstanceType", "The following supplied instance types do not exist: [%s]", it)
		}
		out.InstanceTypes = append(out.InstanceTypes, types.InstanceTypeInfo{InstanceType: it, VCpuInfo: &types.VCpuInfo{DefaultVCpus: aws.Int32(n)}})
	}
	return out, nil
}

func (f *fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if err := f.Next("DescribeImages"); err != nil {
		return nil, err
	}
	if len(in.Owners) != 1 || in.Owners[0] != "amazon" || !strings.HasPrefix(strings.Join(filterValue(in.Filters, "name"), ""), "al2023-ami-2023.") ||
		strings.Join(filterValue(in.Filters, "architecture"), "") != "x86_64" {
		return &ec2.DescribeImagesOutput{}, nil
	}
	return &ec2.DescribeImagesOutput{Images: []types.Image{
		{ImageId: aws.String("ami-old"), Name: aws.String("al2023-ami-2023.5.20240701.0-kernel-6.1-x86_64"), CreationDate: aws.String("2024-07-01T00:00:00.000Z")},
		{ImageId: aws.String("ami-newest"), Name: aws.String("al2023-ami-2023.9.20251101.0-kernel-6.12-x86_64"), CreationDate: aws.String("2025-11-01T00:00:00.000Z")},
		{ImageId: aws.String("ami-mid"), Name: aws.String("al2023-ami-2023.7.20250301.0-kernel-6.1-x86_64"), CreationDate: aws.String("2025-03-01T00:00:00.000Z")},
	}}, nil
}

func (f *fakeEC2) CreateSecurityGroup(_ context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	if err := f.Next("CreateSecurityGroup"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	g := &fakeGroup{id: fmt.Sprintf("sg-%04d", f.seq), name: aws.ToString(in.GroupName), vpc: aws.ToString(in.VpcId)}
	f.groups[g.id] = g
	return &ec2.CreateSecurityGroupOutput{GroupId: aws.String(g.id)}, nil
}

func (f *fakeEC2) DeleteSecurityGroup(_ context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	if err := f.Next("DeleteSecurityGroup"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.GroupId)
	if f.groups[id] == nil {
		return nil, awsfake.Err("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	for _, i := range f.instances {
		if f.stateLocked(i) != types.InstanceStateNameTerminated && slices.Contains(i.input.SecurityGroupIds, id) {
			return nil, awsfake.Err("DependencyViolation", "resource %s has a dependent object", id)
		}
	}
	delete(f.groups, id)
	return &ec2.DeleteSecurityGroupOutput{}, nil
}

func (f *fakeEC2) CreateKeyPair(_ context.Context, in *ec2.CreateKeyPairInput, _ ...func(*ec2.Options)) (*ec2.CreateKeyPairOutput, error) {
	if err := f.Next("CreateKeyPair"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[aws.ToString(in.KeyName)] = true
	return &ec2.CreateKeyPairOutput{KeyName: in.KeyName, KeyMaterial: aws.String("-----BEGIN RSA PRIVATE KEY-----")}, nil
}

func (f *fakeEC2) DeleteKeyPair(_ context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	if err := f.Next("DeleteKeyPair"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, aws.ToString(in.KeyName))
	return &ec2.DeleteKeyPairOutput{}, nil
}

func (f *fakeEC2) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if err := f.Next("RunInstances"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	n := int(aws.ToInt32(in.MaxCount))
	if f.capacity > 0 && n > f.capacity {
		n = f.capacity
	}
	if n < int(aws.ToInt32(in.MinCount)) {
		f.mu.Unlock()
		return nil, awsfake.Err("InsufficientInstanceCapacity", "We currently do not have sufficient %s capacity", in.InstanceType)
	}
	for _, g := range in.SecurityGroupIds {
		if f.groups[g] == nil && !strings.HasPrefix(g, "sg-given") {
			f.mu.Unlock()
			return nil, awsfake.Err("InvalidGroup.NotFound", "The security group '%s' does not exist", g)
		}
	}
	out := &ec2.RunInstancesOutput{ReservationId: aws.String("r-1")}
	var started []*fakeInstance
	for i := 0; i < n; i++ {
		f.seq++
		inst := &fakeInstance{id: fmt.Sprintf("i-%017d", f.seq), input: *in, state: types.InstanceStateNamePending}
		f.instances = append(f.instances, inst)
		started = append(started, inst)
		out.Instances = append(out.Instances, types.Instance{InstanceId: aws.String(inst.id), State: &types.InstanceState{Name: inst.state}})
	}
	hook := f.onRun
	f.mu.Unlock()
	if hook != nil {
		for _, inst := range started {
			hook(inst)
		}
	}
	return out, nil
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	if err := f.Next("TerminateInstances"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	out := &ec2.TerminateInstancesOutput{}
	var ended []*fakeInstance
	for _, id := range in.InstanceIds {
		inst := f.instance(id)
		if inst == nil {
			f.mu.Unlock()
			return nil, awsfake.Err("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		if inst.terminatedAt.IsZero() {
			inst.terminatedAt = time.Now()
			ended = append(ended, inst)
		}
		out.TerminatingInstances = append(out.TerminatingInstances, types.InstanceStateChange{InstanceId: aws.String(id),
			CurrentState: &types.InstanceState{Name: types.InstanceStateNameShuttingDown}})
	}
	hook := f.onTerminate
	f.mu.Unlock()
	if hook != nil {
		for _, inst := range ended {
			hook(inst)
		}
	}
	return out, nil
}

func (f *fakeEC2) instance(id string) *fakeInstance {
	for _, i := range f.instances {
		if i.id == id {
			return i
		}
	}
	return nil
}

func (f *fakeEC2) stateLocked(i *fakeInstance) types.InstanceStateName {
	switch {
	case i.terminatedAt.IsZero():
		return i.state
	case time.Since(i.terminatedAt) < 50*time.Millisecond:
		return types.InstanceStateNameShuttingDown
	}
	return types.InstanceStateNameTerminated
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if err := f.Next("DescribeInstances"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res := types.Reservation{ReservationId: aws.String("r-1")}
	for _, id := range in.InstanceIds {
		if inst := f.instance(id); inst != nil {
			res.Instances = append(res.Instances, types.Instance{InstanceId: aws.String(id), State: &types.InstanceState{Name: f.stateLocked(inst)}})
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{res}}, nil
}

// alive lists instances not terminated (or terminating).
func (f *fakeEC2) alive() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, i := range f.instances {
		if i.terminatedAt.IsZero() {
			out = append(out, i.id)
		}
	}
	return out
}

// setState changes an instance's state as if it happened in AWS.
func (f *fakeEC2) setState(id string, s types.InstanceStateName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.instance(id); i != nil {
		i.state = s
		if s == types.InstanceStateNameTerminated {
			i.terminatedAt = time.Now().Add(-time.Second)
		}
	}
}

// leftovers lists the temporary resources still present.
func (f *fakeEC2) leftovers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, g := range f.groups {
		out = append(out, "security group "+id+" "+g.name)
	}
	for k := range f.keys {
		out = append(out, "key pair "+k)
	}
	for _, i := range f.instances {
		if i.terminatedAt.IsZero() {
			out = append(out, "instance "+i.id)
		}
	}
	sort.Strings(out)
	return out
}

// newHTTPFake serves f as the EC2 query API (form requests, XML answers).
func newHTTPFake(t *testing.T, f *fakeEC2) *httptest.Server {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		q := r.PostForm
		action := q.Get("Action")
		body, err := serveEC2(ctx, f, action, q)
		if err != nil {
			awsfake.WriteQueryError(w, err, true)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake</requestId>%s</%sResponse>`,
			action, body, action)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// list reads Prefix.1, Prefix.2, ... from an ec2query form.
func list(q url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func filters(q url.Values) []types.Filter {
	var out []types.Filter
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		name := q.Get(p + ".Name")
		if name == "" {
			return out
		}
		out = append(out, types.Filter{Name: aws.String(name), Values: list(q, p+".Value")})
	}
}

func x(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func serveEC2(ctx context.Context, f *fakeEC2, action string, q url.Values) (string, error) {
	var b strings.Builder
	switch action {
	case "DescribeVpcs":
		out, err := f.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: filters(q)})
		if err != nil {
			return "", err
		}
		b.WriteString("<vpcSet>")
		for _, v := range out.Vpcs {
			fmt.Fprintf(&b, "<item><vpcId>%s</vpcId><isDefault>%t</isDefault></item>", x(aws.ToString(v.VpcId)), aws.ToBool(v.IsDefault))
		}
		b.WriteString("</vpcSet>")
	case "DescribeSubnets":
		out, err := f.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: list(q, "SubnetId"), Filters: filters(q)})
		if err != nil {
			return "", err
		}
		b.WriteString("<subnetSet>")
		for _, s := range out.Subnets {
			fmt.Fprintf(&b, "<item><subnetId>%s</subnetId><vpcId>%s</vpcId><availabilityZone>%s</availabilityZone><defaultForAz>%t</defaultForAz></item>",
				x(aws.ToString(s.SubnetId)), x(aws.ToString(s.VpcId)), x(aws.ToString(s.AvailabilityZone)), aws.ToBool(s.DefaultForAz))
		}
		b.WriteString("</subnetSet>")
	case "DescribeInstanceTypes":
		var its []types.InstanceType
		for _, s := range list(q, "InstanceType") {
			its = append(its, types.InstanceType(s))
		}
		out, err := f.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: its})
		if err != nil {
			return "", err
		}
		b.WriteString("<instanceTypeSet>")
		for _, it := range out.InstanceTypes {
			fmt.Fprintf(&b, "<item><instanceType>%s</instanceType><vCpuInfo><defaultVCpus>%d</defaultVCpus></vCpuInfo></item>", it.InstanceType, aws.ToInt32(it.VCpuInfo.DefaultVCpus))
		}
		b.WriteString("</instanceTypeSet>")
	case "DescribeImages":
		out, err := f.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: list(q, "Owner"), Filters: filters(q)})
		if err != nil {
			return "", err
		}
		b.WriteString("<imagesSet>")
		for _, im := range out.Images {
			fmt.Fprintf(&b, "<item><imageId>%s</imageId><name>%s</name><creationDate>%s</creationDate></item>",
				x(aws.ToString(im.ImageId)), x(aws.ToString(im.Name)), x(aws.ToString(im.CreationDate)))
		}
		b.WriteString("</imagesSet>")
	case "CreateSecurityGroup":
		out, err := f.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(q.Get("GroupName")),
			Description: aws.String(q.Get("GroupDescription")), VpcId: aws.String(q.Get("VpcId"))})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "<return>true</return><groupId>%s</groupId>", x(aws.ToString(out.GroupId)))
	case "DeleteSecurityGroup":
		if _, err := f.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(q.Get("GroupId"))}); err != nil {
			return "", err
		}
		b.WriteString("<return>true</return>")
	case "CreateKeyPair":
		out, err := f.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(q.Get("KeyName"))})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "<keyName>%s</keyName><keyFingerprint>00</keyFingerprint><keyMaterial>%s</keyMaterial>", x(aws.ToString(out.KeyName)), x(aws.ToString(out.KeyMaterial)))
	case "DeleteKeyPair":
		if _, err := f.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(q.Get("KeyName"))}); err != nil {
			return "", err
		}
		b.WriteString("<return>true</return>")
	case "RunInstances":
		minC, _ := strconv.Atoi(q.Get("MinCount"))
		maxC, _ := strconv.Atoi(q.Get("MaxCount"))
		in := &ec2.RunInstancesInput{ImageId: aws.String(q.Get("ImageId")), InstanceType: types.InstanceType(q.Get("InstanceType")),
			MinCount: aws.Int32(int32(minC)), MaxCount: aws.Int32(int32(maxC)), KeyName: aws.String(q.Get("KeyName")),
			SubnetId: aws.String(q.Get("SubnetId")), SecurityGroupIds: list(q, "SecurityGroupId"), UserData: aws.String(q.Get("UserData")),
			InstanceInitiatedShutdownBehavior: types.ShutdownBehavior(q.Get("InstanceInitiatedShutdownBehavior"))}
		ts := types.TagSpecification{ResourceType: types.ResourceType(q.Get("TagSpecification.1.ResourceType"))}
		for i := 1; q.Get("TagSpecification.1.Tag."+strconv.Itoa(i)+".Key") != ""; i++ {
			p := "TagSpecification.1.Tag." + strconv.Itoa(i)
			ts.Tags = append(ts.Tags, types.Tag{Key: aws.String(q.Get(p + ".Key")), Value: aws.String(q.Get(p + ".Value"))})
		}
		in.TagSpecifications = []types.TagSpecification{ts}
		out, err := f.RunInstances(ctx, in)
		if err != nil {
			return "", err
		}
		b.WriteString("<reservationId>r-1</reservationId><instancesSet>")
		for _, i := range out.Instances {
			fmt.Fprintf(&b, "<item><instanceId>%s</instanceId><instanceState><code>0</code><name>pending</name></instanceState></item>", x(aws.ToString(i.InstanceId)))
		}
		b.WriteString("</instancesSet>")
	case "TerminateInstances":
		out, err := f.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: list(q, "InstanceId")})
		if err != nil {
			return "", err
		}
		b.WriteString("<instancesSet>")
		for _, c := range out.TerminatingInstances {
			fmt.Fprintf(&b, "<item><instanceId>%s</instanceId><currentState><code>32</code><name>shutting-down</name></currentState></item>", x(aws.ToString(c.InstanceId)))
		}
		b.WriteString("</instancesSet>")
	case "DescribeInstances":
		out, err := f.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: list(q, "InstanceId")})
		if err != nil {
			return "", err
		}
		b.WriteString("<reservationSet>")
		for _, r := range out.Reservations {
			b.WriteString("<item><reservationId>r-1</reservationId><instancesSet>")
			for _, i := range r.Instances {
				fmt.Fprintf(&b, "<item><instanceId>%s</instanceId><instanceState><code>0</code><name>%s</name></instanceState></item>", x(aws.ToString(i.InstanceId)), i.State.Name)
			}
			b.WriteString("</instancesSet></item>")
		}
		b.WriteString("</reservationSet>")
	default:
		return "", awsfake.Err("InvalidAction", "fake EC2 does not implement %s", action)
	}
	return b.String(), nil
}

func sdkEC2(srv *httptest.Server, attempts int) *ec2.Client {
	return ec2.NewFromConfig(awsfake.Config(attempts), func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.URL) })
}
