package awshpc

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/worker"
)

// Sizes that decide where a job's payload travels (spec §3.5): gzip above 4 KiB; inline in
// the job's parameters while the base64 text stays within 28 KiB (SubmitJob requests are
// limited to 30 KiB), else through S3.
const (
	CompressAbove = 4 << 10
	InlineLimit   = 28 << 10
)

// Job parameter names; the job definition's command refers to them as Ref::<name>.
const (
	ParamTaskID     = "task_id"
	ParamPayload    = "payload"
	ParamCompressed = "compressed"
	ParamBucket     = "s3_bucket"
	ParamPrefix     = "s3_prefix"
	ParamKey        = "s3_key"
	ParamRegion     = "aws_region"
)

// None stands for an empty parameter: Batch leaves "Ref::x" in the command when a
// parameter is missing, so every parameter is always given.
const None = "-"

// ArrayIndexToken in an s3_key is replaced by the runner with AWS_BATCH_JOB_ARRAY_INDEX.
const ArrayIndexToken = "ARRAY_INDEX"

// JobDefinitionCommand is the container command the job definition must have: this binary's
// job runner reading the parameters SubmitJob passes.
func JobDefinitionCommand() []string {
	cmd := []string{"scaler_batch_runner"}
	for _, p := range []string{ParamTaskID, ParamPayload, ParamCompressed, ParamBucket, ParamPrefix, ParamKey, ParamRegion} {
		cmd = append(cmd, "--"+strings.ReplaceAll(p, "_", "-"), "Ref::"+p)
	}
	return cmd
}

// Job is what a Batch job runs: one task with its inputs. Both ends are this binary, so
// the format is ours: CBOR of this struct.
type Job struct {
	TaskID       []byte
	Python       bool
	FunctionName string
	SerializerID []byte
	Serializer   []byte
	FunctionID   []byte
	Function     []byte
	ArgIDs       [][]byte
	Args         [][]byte
}

// JobFromTask copies an executor task into a job.
func JobFromTask(t worker.ExecTask) Job {
	j := Job{TaskID: t.ID[:], Python: t.Python, FunctionName: t.FunctionName,
		SerializerID: t.SerializerID[:], Serializer: t.Serializer, FunctionID: t.FunctionID[:], Function: t.Function, Args: t.Args}
	for _, id := range t.ArgIDs {
		j.ArgIDs = append(j.ArgIDs, append([]byte(nil), id[:]...))
	}
	return j
}

// ExecTask turns the job back into an executor task (for the Python processor).
func (j Job) ExecTask() (worker.ExecTask, error) {
	var t worker.ExecTask
	if len(j.TaskID) != 16 || len(j.SerializerID) != 32 || len(j.FunctionID) != 32 || len(j.ArgIDs) != len(j.Args) {
		return t, errors.New("malformed job payload")
	}
	t.ID = protocol.TaskID(j.TaskID)
	t.Python, t.FunctionName = j.Python, j.FunctionName
	t.SerializerID, t.Serializer = protocol.ObjectID(j.SerializerID), j.Serializer
	t.FunctionID, t.Function = protocol.ObjectID(j.FunctionID), j.Function
	for _, id := range j.ArgIDs {
		if len(id) != 32 {
			return t, errors.New("malformed job payload: argument id")
		}
		t.ArgIDs = append(t.ArgIDs, protocol.ObjectID(id))
	}
	t.Args = j.Args
	return t, nil
}

// Result is what a job wrote back: the payload a worker would store (serialized result, or
// a failure in the client's format), or Error when the job could not run the task at all.
type Result struct {
	OK      bool
	Payload []byte
	Error   string
}

// Encode serializes v (a Job or a Result) and gzips it above CompressAbove; compressed
// reports whether it did.
func Encode(v any) (data []byte, compressed bool, err error) {
	raw, err := gocodec.Marshal(v)
	if err != nil {
		return nil, false, err
	}
	if len(raw) <= CompressAbove {
		return raw, false, nil
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		return nil, false, err
	}
	if err := zw.Close(); err != nil {
		return nil, false, err
	}
	return b.Bytes(), true, nil
}

// Decode reads what Encode wrote into v; gzip is recognised by its magic bytes.
func Decode(data []byte, v any) error {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(io.LimitReader(zr, 4<<30))
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		data = raw
	}
	return gocodec.Unmarshal(data, v)
}

// InlinePayload returns the parameter text of an encoded payload when it is small enough
// to travel inline.
func InlinePayload(data []byte) (string, bool) {
	if base64.StdEncoding.EncodedLen(len(data)) > InlineLimit {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(data), true
}

// Object keys under the prefix.
func inputKey(prefix string, id protocol.TaskID) string {
	return join(prefix, "inputs", id.String()+".job")
}

func arrayKey(prefix, arrayID string, index string) string {
	return join(prefix, "array", arrayID, index+".job")
}

// ResultKey is where the job for a task writes its result.
func ResultKey(prefix string, taskID string) string { return join(prefix, "results", taskID+".res") }

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// jobName is "<function>-<task hex 12>" within Batch's 128 characters of letters, digits,
// hyphens and underscores.
func jobName(fn, suffix string) string {
	var b strings.Builder
	for _, r := range fn {
		if b.Len() >= 50 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("task")
	}
	return b.String() + "-" + suffix
}
