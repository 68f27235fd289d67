// Package orbec2 is the orb_aws_ec2 worker manager: each unit is one EC2 instance whose
// user data starts this binary as a fixed-mode baremetal_native manager with one worker per
// vCPU of the instance type, pointed at the scheduler (spec/features.md §1.6.6, §3.6). It
// calls the EC2 API directly; no Open Resource Broker library is involved.
//
// Start-up: the subnet is --subnet-id or the first default subnet of the default VPC; the
// vCPUs per instance come from DescribeInstanceTypes; without --security-group-ids a
// temporary security group (no ingress) is created in the subnet's VPC, and without
// --key-name a temporary key pair; --image-id al2023 picks the newest Amazon Linux 2023
// x86_64 AMI. Scale-up is RunInstances, scale-down and shutdown TerminateInstances (oldest
// first); instances that end on their own stop counting (DescribeInstances polling). On
// shutdown the temporary security group and key pair are deleted once the instances are
// gone.
//
// How the instance gets the scaler binary (BinarySource): from a URL given in the options
// (https, or a presigned S3 URL), from an S3 bucket the manager uploads its own executable
// to (the user data fetches it with a short-lived presigned URL and checks its SHA-256;
// the object is deleted on shutdown), or, with neither, from the AMI itself (scaler on the
// PATH, as in a pre-built image).
package orbec2

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/scaler-go/scaler/adapters/awscommon"
)

// EC2API is the part of the EC2 API the manager uses (*ec2.Client implements it).
type EC2API interface {
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	CreateSecurityGroup(context.Context, *ec2.CreateSecurityGroupInput, ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	CreateKeyPair(context.Context, *ec2.CreateKeyPairInput, ...func(*ec2.Options)) (*ec2.CreateKeyPairOutput, error)
	DeleteKeyPair(context.Context, *ec2.DeleteKeyPairInput, ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// LatestAL2023 as --image-id selects the newest Amazon Linux 2023 x86_64 AMI.
const LatestAL2023 = "al2023"

// Config configures the provisioner.
type Config struct {
	// ImageID is the AMI, or LatestAL2023.
	ImageID string
	// InstanceType is the EC2 type ("t2.micro").
	InstanceType string
	// KeyName, SubnetID and SecurityGroupIDs are used when given; else found or created.
	KeyName          string
	SubnetID         string
	SecurityGroupIDs []string
	// Tags are added to every instance.
	Tags map[string]string
	// ManagerID tags the instances and names the temporary resources' owner.
	ManagerID string
	// Binary says how instances get the scaler binary (nil: the AMI has it).
	Binary *BinarySource
	// Boot is everything the user data needs besides the binary.
	Boot Boot
	// PollInterval is how often instances are checked (default 30 s).
	PollInterval time.Duration
	// CleanupTimeout bounds the wait for instances to terminate before the temporary
	// security group can be deleted (default 5 min).
	CleanupTimeout time.Duration
	// Logger receives the manager's logs.
	Logger *slog.Logger
}

// Provisioner runs EC2 instances as units. Its methods are safe for concurrent use.
type Provisioner struct {
	cfg Config
	ec2 EC2API
	log *slog.Logger

	// Resolved by Setup.
	templateID string
	vpcID      string
	subnetID   string
	imageID    string
	vcpus      int
	groups     []string
	keyName    string
	tempGroup  string // created here, deleted on Close
	tempKey    string

	instances awscommon.Fleet // instance ids
	stopPoll  func()

	mu         sync.Mutex
	terminated []string // ids this manager terminated, for the clean-up wait
}

// New returns a provisioner; call Setup before use.
func New(cfg Config, client EC2API) *Provisioner {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.CleanupTimeout <= 0 {
		cfg.CleanupTimeout = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Binary == nil {
		cfg.Binary = &BinarySource{}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Provisioner{cfg: cfg, ec2: client, log: cfg.Logger, templateID: hex.EncodeToString(b[:])}
}

// VCPUs is the number of workers per instance (after Setup).
func (p *Provisioner) VCPUs() int { return p.vcpus }

// Setup resolves the subnet, the vCPUs, the AMI, and creates the temporary security group
// and key pair when none were given. On error, what it created is deleted again.
func (p *Provisioner) Setup(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			p.cleanup(context.WithoutCancel(ctx))
		}
	}()
	if err := p.resolveSubnet(ctx); err != nil {
		return err
	}
	its, err := p.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceType(p.cfg.InstanceType)}})
	if err != nil {
		return awscommon.Wrap(err, "describe instance type "+p.cfg.InstanceType)
	}
	if len(its.InstanceTypes) == 0 || its.InstanceTypes[0].VCpuInfo == nil || aws.ToInt32(its.InstanceTypes[0].VCpuInfo.DefaultVCpus) <= 0 {
		return fmt.Errorf("instance type %s is unknown in this region: check --instance-type and --aws-region", p.cfg.InstanceType)
	}
	p.vcpus = int(aws.ToInt32(its.InstanceTypes[0].VCpuInfo.DefaultVCpus))
	if err := p.resolveImage(ctx); err != nil {
		return err
	}
	p.groups = p.cfg.SecurityGroupIDs
	if len(p.groups) == 0 {
		name := "opengris-orb-sg-" + p.templateID
		out, err := p.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:   aws.String(name),
			Description: aws.String("OpenGRIS Scaler workers of manager " + p.cfg.ManagerID + " (temporary)"),
			VpcId:       aws.String(p.vpcID),
		})
		if err != nil {
			return awscommon.Wrap(err, "create security group "+name)
		}
		p.tempGroup = aws.ToString(out.GroupId)
		p.groups = []string{p.tempGroup}
		p.log.Info("created temporary security group", "group", p.tempGroup, "name", name)
	}
	p.keyName = p.cfg.KeyName
	if p.keyName == "" {
		name := "opengris-orb-key-" + p.templateID
		if _, err := p.ec2.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name)}); err != nil {
			return awscommon.Wrap(err, "create key pair "+name)
		}
		// The private key is not kept: the workers need no log-in, and a key pair the
		// instances carry keeps the seed's behaviour. Give --key-name to log in.
		p.tempKey, p.keyName = name, name
		p.log.Info("created temporary key pair", "key_name", name)
	}
	p.log.Info("EC2 set up", "subnet", p.subnetID, "vpc", p.vpcID, "image", p.imageID, "instance_type", p.cfg.InstanceType,
		"vcpus", p.vcpus, "security_groups", p.groups, "key_name", p.keyName)
	// Instances that ended on their own (spot reclaim, a crash with shutdown-behaviour
	// terminate) are dropped, so they are replaced.
	p.stopPoll = awscommon.StartPolling(p.cfg.PollInterval, p.log, "checking EC2 instances failed", p.poll)
	return nil
}

func (p *Provisioner) resolveSubnet(ctx context.Context) error {
	if p.cfg.SubnetID != "" {
		out, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{p.cfg.SubnetID}})
		if err != nil {
			return awscommon.Wrap(err, "describe subnet "+p.cfg.SubnetID)
		}
		if len(out.Subnets) == 0 {
			return fmt.Errorf("subnet %s does not exist: check --subnet-id and --aws-region", p.cfg.SubnetID)
		}
		p.subnetID, p.vpcID = p.cfg.SubnetID, aws.ToString(out.Subnets[0].VpcId)
		return nil
	}
	vpcs, err := p.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil {
		return awscommon.Wrap(err, "find the default VPC")
	}
	if len(vpcs.Vpcs) == 0 {
		return errors.New("this region has no default VPC: give --subnet-id")
	}
	p.vpcID = aws.ToString(vpcs.Vpcs[0].VpcId)
	subnets, err := p.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{p.vpcID}}}})
	if err != nil {
		return awscommon.Wrap(err, "list the subnets of the default VPC "+p.vpcID)
	}
	if len(subnets.Subnets) == 0 {
		return fmt.Errorf("the default VPC %s has no subnet: give --subnet-id", p.vpcID)
	}
	// Prefer default-for-AZ subnets (they assign public IPs), then the first AZ, so the
	// choice is stable between runs.
	sort.SliceStable(subnets.Subnets, func(i, j int) bool {
		a, b := subnets.Subnets[i], subnets.Subnets[j]
		if aws.ToBool(a.DefaultForAz) != aws.ToBool(b.DefaultForAz) {
			return aws.ToBool(a.DefaultForAz)
		}
		return aws.ToString(a.AvailabilityZone) < aws.ToString(b.AvailabilityZone)
	})
	p.subnetID = aws.ToString(subnets.Subnets[0].SubnetId)
	return nil
}

func (p *Provisioner) resolveImage(ctx context.Context) error {
	if p.cfg.ImageID != LatestAL2023 {
		p.imageID = p.cfg.ImageID
		return nil
	}
	out, err := p.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners: []string{"amazon"},
		Filters: []types.Filter{
			{Name: aws.String("name"), Values: []string{"al2023-ami-2023.*-kernel-*-x86_64"}},
			{Name: aws.String("architecture"), Values: []string{"x86_64"}},
			{Name: aws.String("root-device-type"), Values: []string{"ebs"}},
			{Name: aws.String("virtualization-type"), Values: []string{"hvm"}},
			{Name: aws.String("state"), Values: []string{"available"}},
		},
	})
	if err != nil {
		return awscommon.Wrap(err, "find the newest Amazon Linux 2023 AMI")
	}
	if len(out.Images) == 0 {
		return errors.New("no Amazon Linux 2023 x86_64 AMI found in this region: give --image-id")
	}
	newest := out.Images[0]
	for _, im := range out.Images[1:] {
		// CreationDate is ISO 8601, so text order is time order.
		if aws.ToString(im.CreationDate) > aws.ToString(newest.CreationDate) {
			newest = im
		}
	}
	p.imageID = aws.ToString(newest.ImageId)
	p.log.Info("using the newest Amazon Linux 2023 AMI", "image", p.imageID, "name", aws.ToString(newest.Name))
	return nil
}

// Units is the number of instances started and not terminated.
func (p *Provisioner) Units() int { return p.instances.Len() }

// StartUnits launches up to n instances in one RunInstances call; fewer than n (capacity)
// is an error after recording those that started, so the manager retries the rest.
func (p *Provisioner) StartUnits(ctx context.Context, n int) error {
	if p.instances.Closed() {
		return errors.New("the manager is stopping")
	}
	userData, err := p.cfg.Binary.userData(ctx, p.cfg.Boot, p.vcpus)
	if err != nil {
		return err
	}
	tags := []types.Tag{{Key: aws.String("Name"), Value: aws.String("opengris-scaler-worker")},
		{Key: aws.String("opengris-scaler-manager-id"), Value: aws.String(p.cfg.ManagerID)}}
	keys := make([]string, 0, len(p.cfg.Tags))
	for k := range p.cfg.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(p.cfg.Tags[k])})
	}
	out, err := p.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId:                           aws.String(p.imageID),
		InstanceType:                      types.InstanceType(p.cfg.InstanceType),
		MinCount:                          aws.Int32(1),
		MaxCount:                          aws.Int32(int32(n)),
		KeyName:                           aws.String(p.keyName),
		SubnetId:                          aws.String(p.subnetID),
		SecurityGroupIds:                  p.groups,
		UserData:                          aws.String(base64.StdEncoding.EncodeToString([]byte(userData))),
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
		TagSpecifications:                 []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}},
	})
	if err != nil {
		return awscommon.Wrap(err, "launch EC2 instances")
	}
	var ids []string
	for _, in := range out.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	if p.instances.Add(ids...) {
		// Close ran while RunInstances was in flight: these must not outlive the manager.
		p.terminate(context.WithoutCancel(ctx), ids)
	}
	p.log.Info("launched EC2 instances", "instances", ids, "image", p.imageID, "instance_type", p.cfg.InstanceType)
	if len(ids) < n {
		return fmt.Errorf("launch EC2 instances: AWS started %d of %d (no capacity for more now); the manager tries again later", len(ids), n)
	}
	return nil
}

// StopUnits terminates the n oldest instances; on failure they stay counted.
func (p *Provisioner) StopUnits(ctx context.Context, n int) error {
	return p.terminate(ctx, p.instances.Oldest(n))
}

func (p *Provisioner) terminate(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := p.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		return awscommon.Wrap(err, "terminate EC2 instances "+strings.Join(ids, ","))
	}
	p.mu.Lock()
	p.terminated = append(p.terminated, ids...)
	p.mu.Unlock()
	for _, id := range ids {
		p.instances.Remove(id)
	}
	p.log.Info("terminated EC2 instances", "instances", ids)
	return nil
}

// Close terminates every instance, then deletes the temporary security group (once the
// instances no longer use it), the temporary key pair and the uploaded binary.
func (p *Provisioner) Close(ctx context.Context) error {
	ids, again := p.instances.Close()
	if again {
		return nil
	}
	if p.stopPoll != nil {
		p.stopPoll()
	}
	// Clean-up must finish even when the caller's deadline is short: leaving instances or
	// a security group behind costs the user money and confusion.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.CleanupTimeout)
	defer cancel()
	err := p.terminate(cctx, ids)
	if err != nil {
		p.log.Error("some EC2 instances could not be terminated: terminate them in the EC2 console", "instances", ids, "err", err)
	}
	return errors.Join(err, p.cleanup(cctx))
}

// cleanup deletes the temporary resources.
func (p *Provisioner) cleanup(ctx context.Context) error {
	var errs []error
	if p.tempKey != "" {
		if _, err := p.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(p.tempKey)}); err != nil {
			errs = append(errs, awscommon.Wrap(err, "delete key pair "+p.tempKey))
		} else {
			p.log.Info("deleted temporary key pair", "key_name", p.tempKey)
			p.tempKey = ""
		}
	}
	if p.tempGroup != "" {
		if err := p.deleteGroup(ctx); err != nil {
			errs = append(errs, err)
			p.log.Error("the temporary security group could not be deleted: delete it with `aws ec2 delete-security-group --group-id "+p.tempGroup+"`", "err", err)
		}
	}
	if err := p.cfg.Binary.cleanup(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteGroup waits for the terminated instances to be gone (a group in use cannot be
// deleted: DependencyViolation), then deletes the group.
func (p *Provisioner) deleteGroup(ctx context.Context) error {
	b := awscommon.Backoff{Min: time.Second, Max: 15 * time.Second}
	p.mu.Lock()
	waitFor := append([]string(nil), p.terminated...)
	p.mu.Unlock()
	for len(waitFor) > 0 {
		out, err := p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: waitFor})
		if err != nil && awscommon.Code(err) != "InvalidInstanceID.NotFound" {
			return awscommon.Wrap(err, "wait for instances to terminate")
		}
		var still []string
		if err == nil {
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					if in.State == nil || in.State.Name != types.InstanceStateNameTerminated {
						still = append(still, aws.ToString(in.InstanceId))
					}
				}
			}
		}
		waitFor = still
		if len(waitFor) > 0 && !awscommon.Sleep(ctx, b.Next()) {
			return fmt.Errorf("instances %v still terminating: %w", waitFor, ctx.Err())
		}
	}
	for {
		_, err := p.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(p.tempGroup)})
		if err == nil {
			p.log.Info("deleted temporary security group", "group", p.tempGroup)
			p.tempGroup = ""
			return nil
		}
		if awscommon.Code(err) != "DependencyViolation" || !awscommon.Sleep(ctx, b.Next()) {
			return awscommon.Wrap(err, "delete security group "+p.tempGroup)
		}
	}
}

// poll drops instances that ended on their own and terminates stopped ones.
func (p *Provisioner) poll(ctx context.Context) error {
	for chunk := range slices.Chunk(p.instances.IDs(), 100) {
		out, err := p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: chunk})
		if err != nil {
			return awscommon.Wrap(err, "describe EC2 instances")
		}
		var stopped []string
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.State == nil {
					continue
				}
				id := aws.ToString(in.InstanceId)
				switch in.State.Name {
				case types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated:
					p.log.Warn("EC2 instance ended on its own; it will be replaced if still needed", "instance", id, "state", string(in.State.Name))
					p.instances.Remove(id)
				case types.InstanceStateNameStopping, types.InstanceStateNameStopped:
					// A stopped instance runs no workers but still holds its volume: end it.
					p.log.Warn("EC2 instance was stopped; terminating it", "instance", id)
					stopped = append(stopped, id)
				}
			}
		}
		if err := p.terminate(ctx, stopped); err != nil {
			return err
		}
	}
	return nil
}

// Resolved reports what Setup settled on, for --debug-dump-path and logs.
func (p *Provisioner) Resolved() map[string]any {
	return map[string]any{
		"image_id": p.imageID, "instance_type": p.cfg.InstanceType, "vcpus": p.vcpus, "subnet_id": p.subnetID, "vpc_id": p.vpcID,
		"security_group_ids": p.groups, "key_name": p.keyName, "temporary_security_group": p.tempGroup, "temporary_key_pair": p.tempKey,
		"template_id": p.templateID, "tags": p.cfg.Tags,
		"user_data": UserData(p.cfg.Boot, p.vcpus, p.cfg.Binary.URL, p.cfg.Binary.SHA256),
	}
}
