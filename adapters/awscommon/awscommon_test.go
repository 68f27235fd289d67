package awscommon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckRegion(t *testing.T) {
	for _, ok := range []string{"us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "il-central-1"} {
		if err := CheckRegion(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "moon", "us-east", "US-EAST-1", "us_east_1", "us-east-1a"} {
		if err := CheckRegion(bad); err == nil || !strings.Contains(err.Error(), "unknown AWS region") {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func TestExplain(t *testing.T) {
	op := func(svc, name string, err error) error {
		return &smithy.OperationError{ServiceID: svc, OperationName: name, Err: err}
	}
	tests := []struct {
		err  error
		want string
	}{
		{op("ECS", "RunTask", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User x is not authorized"}),
			"ECS RunTask: AccessDeniedException: User x is not authorized (these credentials lack an IAM permission for this call: grant it to the user or role)"},
		{op("EC2", "RunInstances", &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."}),
			"EC2 RunInstances: RequestLimitExceeded: Request limit exceeded. (AWS is throttling requests: they were retried with backoff; the manager tries again later)"},
		{op("EC2", "RunInstances", &smithy.GenericAPIError{Code: "InsufficientInstanceCapacity", Message: "none\nleft"}),
			"EC2 RunInstances: InsufficientInstanceCapacity: none left (AWS has no capacity"},
		{op("Batch", "SubmitJob", &smithy.GenericAPIError{Code: "UnrecognizedClientException", Message: "bad token"}),
			"Batch SubmitJob: UnrecognizedClientException: bad token (AWS rejected the credentials"},
		{op("S3", "GetObject", &net.DNSError{Name: "s3.moon-1.amazonaws.com", Err: "no such host"}),
			"S3 GetObject: cannot resolve s3.moon-1.amazonaws.com (check --aws-region"},
		{op("ECS", "StopTask", &smithy.GenericAPIError{Code: "SomethingNew", Message: "odd"}), "ECS StopTask: SomethingNew: odd"},
	}
	for _, tc := range tests {
		got := Explain(tc.err).Error()
		if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "\n") {
			t.Errorf("got  %q\nwant %q...", got, tc.want)
		}
		if !errors.Is(Explain(tc.err), tc.err) {
			t.Errorf("Explain hides the SDK error")
		}
	}
	if Explain(nil) != nil || Explain(context.Canceled) != context.Canceled {
		t.Fatal("nil or cancellation changed")
	}
	wrapped := Wrap(op("ECS", "RunTask", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}), "start ECS task")
	if !IsThrottle(wrapped) || Code(wrapped) != "ThrottlingException" || !strings.HasPrefix(wrapped.Error(), "start ECS task: ECS RunTask: ThrottlingException") {
		t.Fatalf("wrap: %v", wrapped)
	}
	if e := Explain(fmt.Errorf("x: %w", Explain(errors.New("plain")))); strings.Count(e.Error(), "plain") != 1 {
		t.Fatalf("explained twice: %v", e)
	}
}

func TestLoadRefusesBadInput(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	ctx := context.Background()
	if _, err := Load(ctx, Options{Region: "nowhere"}); err == nil || !strings.Contains(err.Error(), "unknown AWS region") {
		t.Fatalf("bad region: %v", err)
	}
	if _, err := Load(ctx, Options{AccessKeyID: "AKID"}); err == nil || !strings.Contains(err.Error(), "give both") {
		t.Fatalf("half a key: %v", err)
	}
	_, err := Load(ctx, Options{})
	if !errors.Is(err, ErrNoCredentials) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("no credentials: %v", err)
	}
	cfg, err := Load(ctx, Options{AccessKeyID: "AKID", SecretAccessKey: "secret", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKID" || cfg.Region != "eu-west-1" || cfg.Retryer().MaxAttempts() != 8 {
		t.Fatalf("static credentials: %+v %v", creds, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	cfg, err = Load(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if creds, _ := cfg.Credentials.Retrieve(ctx); creds.AccessKeyID != "AKENV" || cfg.Region != DefaultRegion {
		t.Fatalf("environment credentials: %+v", creds)
	}
}

func TestCustomEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if CustomEndpoint("S3") {
		t.Fatal("no endpoint set")
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
	if !CustomEndpoint("S3") || CustomEndpoint("EC2") {
		t.Fatal("per-service endpoint")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second}
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, b.Next())
	}
	if fmt.Sprint(got) != "[1s 2s 4s 5s 5s]" {
		t.Fatalf("%v", got)
	}
	b.Reset()
	if b.Next() != time.Second {
		t.Fatal("reset")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep ignored the context")
	}
}

func TestFleet(t *testing.T) {
	var f Fleet
	if f.Add("a", "b", "c") || f.Len() != 3 || fmt.Sprint(f.Oldest(2)) != "[a b]" || fmt.Sprint(f.Oldest(9)) != "[a b c]" {
		t.Fatalf("add: %v", f.IDs())
	}
	f.Remove("b")
	f.Remove("nope")
	if fmt.Sprint(f.IDs()) != "[a c]" || f.Closed() {
		t.Fatalf("remove: %v", f.IDs())
	}
	if ids, again := f.Close(); fmt.Sprint(ids) != "[a c]" || again || !f.Closed() {
		t.Fatalf("close: %v %v", ids, again)
	}
	if !f.Add("d") || f.Len() != 3 {
		t.Fatal("a unit added after Close must be reported")
	}
	if _, again := f.Close(); !again {
		t.Fatal("second Close")
	}
}

func TestStartPolling(t *testing.T) {
	polls := make(chan struct{})
	stop := StartPolling(time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), "poll failed", func(ctx context.Context) error {
		select {
		case polls <- struct{}{}:
		case <-ctx.Done():
		}
		return errors.New("down")
	})
	<-polls
	<-polls
	stop()
}

func TestShellJoin(t *testing.T) {
	args := []string{"plain", "with space", "it's", "", "a;b", "$HOME", "m:f('x', y=\"z\")"}
	out, err := exec.Command("sh", "-c", `for a in `+ShellJoin(args)+`; do printf '[%s]' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "[plain][with space][it's][][a;b][$HOME][m:f('x', y=\"z\")]"; string(out) != want {
		t.Fatalf("%s != %s", out, want)
	}
}
