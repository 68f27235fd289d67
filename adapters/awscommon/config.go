// Package awscommon is what the AWS worker managers (aws_raw_ecs, aws_hpc, orb_aws_ec2)
// share: loading an aws.Config from the options, the standard AWS environment or the
// default credential chain; a retryer that backs off on throttling; and turning AWS errors
// into one line that names the error code and what to do.
//
// The AWS SDK is slow to compile, so only the adapter packages (and applets, which wires
// them) import it; nothing in core does.
package awscommon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// DefaultRegion is the region of every AWS adapter unless told otherwise (spec §1.6.4).
const DefaultRegion = "us-east-1"

// Options selects the region and the credentials.
type Options struct {
	// Region is the AWS region ("us-east-1").
	Region string
	// AccessKeyID and SecretAccessKey, when both set, are used as static credentials (with
	// AWS_SESSION_TOKEN from the environment, if any). Otherwise the default chain applies:
	// environment variables, shared config/credentials files, SSO, container and instance
	// roles.
	AccessKeyID     string
	SecretAccessKey string
	// Profile selects a named profile of the shared configuration files.
	Profile string
	// MaxAttempts bounds the attempts of one call (throttling and transient errors are
	// retried with exponential backoff); 0 means 8.
	MaxAttempts int
}

// regionPattern accepts the shapes of AWS region names ("us-east-1", "us-gov-west-1",
// "cn-north-1", "eu-isoe-west-1"); anything else is a typo the SDK would only report as an
// unreachable host much later.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-(gov|iso[a-z]?))?-[a-z]+-[0-9]+$`)

// ErrNoCredentials means neither the options, the environment nor the default chain gave
// credentials.
var ErrNoCredentials = errors.New("no AWS credentials found: pass --aws-access-key-id and --aws-secret-access-key " +
	"(aws_raw_ecs), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile (~/.aws/credentials, AWS_PROFILE)")

// CheckRegion rejects a region name that cannot exist.
func CheckRegion(region string) error {
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("unknown AWS region %q: give a region name such as us-east-1", region)
	}
	return nil
}

// Load builds the aws.Config for the options and checks that credentials can be had, so a
// manager without credentials stops at once with one line instead of failing every call.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if err := CheckRegion(o.Region); err != nil {
		return aws.Config{}, err
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return aws.Config{}, errors.New("give both --aws-access-key-id and --aws-secret-access-key, or neither (then the environment or the default credential chain is used)")
	}
	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	loaders := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithRetryer(func() aws.Retryer { return NewRetryer(attempts) }),
	}
	if o.Profile != "" {
		loaders = append(loaders, config.WithSharedConfigProfile(o.Profile))
	}
	if o.AccessKeyID != "" {
		loaders = append(loaders, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, os.Getenv("AWS_SESSION_TOKEN"))))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.Credentials == nil {
		return aws.Config{}, ErrNoCredentials
	}
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		if ctx.Err() != nil {
			return aws.Config{}, ctx.Err()
		}
		return aws.Config{}, fmt.Errorf("%w (%s)", ErrNoCredentials, firstLine(err.Error()))
	}
	return cfg, nil
}

// NewRetryer is the SDK's standard retryer with more attempts: throttling errors
// (ThrottlingException, RequestLimitExceeded, ...) and transient network errors are retried
// with exponential backoff and jitter, up to 20 s between attempts.
func NewRetryer(attempts int) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = attempts
		so.MaxBackoff = 20 * time.Second
	})
}

// CustomEndpoint reports whether the environment points the service (its SDK id, e.g.
// "S3") at a custom endpoint through AWS_ENDPOINT_URL_<ID> or AWS_ENDPOINT_URL, which the
// SDK honours. S3 clients then use path-style addressing, which S3-compatible servers
// (MinIO, local fakes) need and AWS accepts.
func CustomEndpoint(serviceID string) bool {
	id := strings.ToUpper(strings.ReplaceAll(serviceID, " ", "_"))
	return os.Getenv("AWS_ENDPOINT_URL_"+id) != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
