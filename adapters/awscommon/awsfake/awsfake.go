// Package awsfake helps tests serve local httptest fakes of AWS APIs to the real SDK
// clients: the fakes keep their state in Go values shaped like the SDK's input and output
// types, and these helpers translate them to and from the JSON protocols (awsJson1_1 for
// ECS, restJson1 for Batch) and write AWS-shaped errors. It also gives the SDK
// configuration and environment the tests share, an S3 served by gofakes3, and the
// scheduler, manager and client every end-to-end test starts with. Only tests import it.
package awsfake

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/scaler-go/scaler/internal/syncbuf"
)

// Config is an SDK configuration for the fakes: us-east-1, static test credentials, and
// attempts tries per call.
func Config(attempts int) aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: attempts}
}

// NoCredentials blanks every way the SDK finds credentials and configuration: shared
// files, profiles, keys, instance metadata, container and web-identity credentials.
var NoCredentials = map[string]string{
	"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
	"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/dev/null",
	"AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
}

// Env is the environment a manager process under test adds to the developer's: whatever AWS
// settings that has are blanked (NoCredentials), so only what the test gives (extra)
// reaches the SDK. Later entries win, so extra may set any of them.
func Env(extra ...string) []string {
	env := make([]string, 0, len(NoCredentials)+len(extra))
	for k, v := range NoCredentials {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// S3 serves an in-memory S3 (gofakes3) holding one empty bucket, and returns it with an SDK
// client for it.
func S3(t *testing.T, bucket string) (*httptest.Server, *s3.Client) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	c := s3.NewFromConfig(Config(1), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
	})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// Keys lists every object in the bucket.
func Keys(t *testing.T, c *s3.Client, bucket string) []string {
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// Err returns an AWS API error with code and message, as a fake's method returns it.
func Err(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// DecodeJSON reads an SDK input from a JSON request body: the wire uses lowerCamel keys,
// which encoding/json matches to the SDK's UpperCamel fields case-insensitively.
func DecodeJSON(r *http.Request, v any) error {
	return json.NewDecoder(r.Body).Decode(v)
}

// WriteJSON writes an SDK output value as the wire JSON (lowerCamel keys, no
// ResultMetadata, no nulls).
func WriteJSON(w http.ResponseWriter, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out, _ := json.Marshal(lowerKeys(generic))
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(out)
}

func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k == "ResultMetadata" || val == nil {
				continue
			}
			r, n := utf8.DecodeRuneInString(k)
			out[string(unicode.ToLower(r))+k[n:]] = lowerKeys(val)
		}
		return out
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
		return x
	}
	return v
}

// JSONOps are the operations of a JSON protocol fake by name (see JSONOp).
type JSONOps map[string]func(*http.Request) (any, error)

// JSONOp adapts a fake's method, shaped like the SDK client's, to a JSON protocol request:
// the SDK input is decoded from the body.
func JSONOp[In, Out, Opt any](op func(context.Context, *In, ...Opt) (Out, error)) func(*http.Request) (any, error) {
	return func(r *http.Request) (any, error) {
		var in In
		if err := DecodeJSON(r, &in); err != nil {
			return nil, err
		}
		return op(r.Context(), &in)
	}
}

// Serve answers r with the operation called name: its output as the wire JSON, or its
// error (unknown, when the fake has no such operation) as a JSON protocol error.
func (ops JSONOps) Serve(w http.ResponseWriter, r *http.Request, name string, unknown error) {
	op, ok := ops[name]
	if !ok {
		WriteJSONError(w, unknown)
		return
	}
	out, err := op(r)
	if err != nil {
		WriteJSONError(w, err)
		return
	}
	WriteJSON(w, out)
}

// WriteJSONError writes err as a JSON protocol error: {"__type": code, "message": ...} with
// HTTP 400 (429 for throttling), which the SDK turns into a typed or generic API error.
func WriteJSONError(w http.ResponseWriter, err error) {
	code, msg := codeOf(err)
	status := http.StatusBadRequest
	if strings.Contains(code, "Throttl") || code == "TooManyRequestsException" {
		status = http.StatusTooManyRequests
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// WriteQueryError writes err as an awsQuery/ec2query XML error (IAM, EC2).
func WriteQueryError(w http.ResponseWriter, err error, ec2 bool) {
	code, msg := codeOf(err)
	w.Header().Set("Content-Type", "text/xml")
	status := http.StatusBadRequest
	if code == "NoSuchEntity" {
		status = http.StatusNotFound
	}
	if code == "RequestLimitExceeded" || code == "Throttling" {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	var b strings.Builder
	if ec2 {
		b.WriteString("<Response><Errors><Error><Code>")
		xml.EscapeText(&b, []byte(code))
		b.WriteString("</Code><Message>")
		xml.EscapeText(&b, []byte(msg))
		b.WriteString("</Message></Error></Errors><RequestID>fake</RequestID></Response>")
	} else {
		b.WriteString("<ErrorResponse><Error><Type>Sender</Type><Code>")
		xml.EscapeText(&b, []byte(code))
		b.WriteString("</Code><Message>")
		xml.EscapeText(&b, []byte(msg))
		b.WriteString("</Message></Error><RequestId>fake</RequestId></ErrorResponse>")
	}
	w.Write([]byte(b.String()))
}

func codeOf(err error) (string, string) {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode(), api.ErrorMessage()
	}
	return "InternalFailure", err.Error()
}

// Faults injects errors into a fake: the next n calls of an operation fail with an error.
// Methods are safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	queue map[string][]error
	calls map[string]int
}

// Add makes the next n calls of op return err.
func (f *Faults) Add(op string, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queue == nil {
		f.queue = map[string][]error{}
	}
	for i := 0; i < n; i++ {
		f.queue[op] = append(f.queue[op], err)
	}
}

// Next counts a call of op and returns the error injected for it, if any.
func (f *Faults) Next(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	q := f.queue[op]
	if len(q) == 0 {
		return nil
	}
	f.queue[op] = q[1:]
	return q[0]
}

// Calls returns how many times op was called.
func (f *Faults) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Process is a local process standing in for what the cloud would run (a container's
// command, a Batch job, an instance's user data).
type Process struct {
	Cmd  *exec.Cmd
	out  syncbuf.Buffer
	done chan struct{}
	err  error
}

// Launch starts name with args and extra environment entries, in its own process group
// that dies with the test process.
func Launch(name string, args, env []string) (*Process, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit error (after Done).
func (p *Process) Err() error { return p.err }

// Output is what the process printed.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM to the process group, as a container stop does, and SIGKILL after
// grace; it waits for the process to exit.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// KillGroup kills what is left of the process group (background children of a script).
func (p *Process) KillGroup() { _ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL) }
