package awscommon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Error is an AWS call that failed, in words a person can act on: which call, the AWS error
// code and message, and a hint.
type Error struct {
	// Service and Operation name the call ("ECS", "RunTask").
	Service, Operation string
	// Code is the AWS error code ("AccessDeniedException"); empty for errors without one
	// (network, DNS).
	Code string
	// Message is AWS's message, or the underlying error's text.
	Message string
	// Hint says what to do.
	Hint string
	// Err is the SDK error.
	Err error
}

// Error renders one line: "ECS RunTask: AccessDeniedException: <message> (<hint>)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Service != "" {
		b.WriteString(e.Service)
		if e.Operation != "" {
			b.WriteString(" " + e.Operation)
		}
		b.WriteString(": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Message)
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return oneLine(b.String())
}

// Unwrap returns the SDK error.
func (e *Error) Unwrap() error { return e.Err }

// Explain turns an SDK error into an *Error; nil stays nil, and a cancelled context is
// returned as it is (it is not an AWS problem).
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	e := &Error{Err: err, Message: err.Error()}
	var op *smithy.OperationError
	if errors.As(err, &op) {
		e.Service, e.Operation = op.ServiceID, op.OperationName
		e.Message = op.Err.Error()
	}
	var api smithy.APIError
	var dns *net.DNSError
	var quota ratelimit.QuotaExceededError
	switch {
	case errors.As(err, &api):
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
		e.Hint = hintFor(e.Code, e.Message)
	case errors.As(err, &dns):
		e.Message = "cannot resolve " + dns.Name
		e.Hint = "check --aws-region and that this host reaches AWS"
	case errors.As(err, &quota):
		e.Hint = "AWS kept throttling or failing and the retry budget ran out; the manager tries again later"
	case errors.Is(err, context.DeadlineExceeded):
		e.Hint = "AWS did not answer in time; the manager tries again later"
	default:
		var ne net.Error
		if errors.As(err, &ne) {
			e.Hint = "network error reaching AWS; the manager tries again later"
		}
	}
	return e
}

// Code returns the AWS error code of err, or "".
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// IsThrottle reports whether err is AWS throttling (after the retryer gave up).
func IsThrottle(err error) bool {
	_, ok := retry.DefaultThrottleErrorCodes[Code(err)]
	return ok
}

// hintFor maps AWS error codes to what the user should do.
func hintFor(code, msg string) string {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "Forbidden":
		return "these credentials lack an IAM permission for this call: grant it to the user or role"
	case "InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure", "SignatureDoesNotMatch",
		"InvalidAccessKeyId", "IncompleteSignature", "MissingAuthenticationToken", "InvalidSignatureException":
		return "AWS rejected the credentials: check --aws-access-key-id/--aws-secret-access-key, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile"
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired":
		return "the AWS session has expired: refresh the credentials"
	case "InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
		"InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded", "ResourceLimitExceeded", "PlatformTaskDefinitionIncompatibilityException":
		return "AWS has no capacity for this request or a service quota is reached: try another instance type, subnet or region, or raise the quota; the manager tries again later"
	case "OptInRequired":
		return "the account is not subscribed to this service or region"
	case "ClusterNotFoundException":
		return "the ECS cluster does not exist in this region"
	case "NoSuchBucket":
		return "the S3 bucket does not exist: create it or fix --s3-bucket (and --aws-region)"
	case "InvalidSubnetID.NotFound", "InvalidSubnet", "InvalidGroup.NotFound", "InvalidAMIID.NotFound", "InvalidAMIID.Malformed",
		"InvalidKeyPair.NotFound", "InvalidVpcID.NotFound":
		return "an id given in the options does not exist in this region: check it and --aws-region"
	case "InvalidParameterException", "InvalidParameterValue", "InvalidParameterCombination", "ValidationException",
		"ValidationError", "InvalidParameter", "MissingParameter":
		return "AWS rejected a parameter: check the options"
	case "ClientException":
		if strings.Contains(strings.ToLower(msg), "not authorized") {
			return "these credentials lack an IAM permission for this call: grant it to the user or role"
		}
		return "AWS rejected the request: check the options and that the resources exist"
	case "ServerException", "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable":
		return "AWS failed on its side; the manager tries again later"
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return "AWS is throttling requests: they were retried with backoff; the manager tries again later"
	}
	return ""
}

// Wrap explains err and prefixes what was being done: "start ECS task: ECS RunTask: ...".
func Wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, Explain(err))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
