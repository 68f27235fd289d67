package orbec2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scaler-go/scaler/adapters/awscommon"
)

// Paths on the instance.
const (
	// Home is where the user data puts the binary (and the requirements file).
	Home = "/opt/opengris-scaler"
	// LogFile receives the worker manager's output.
	LogFile = "/var/log/opengris-scaler.log"
)

// Boot is what an instance starts: a fixed-mode baremetal_native manager pointed at the
// scheduler, with the shared worker options (spec §3.6 user data).
type Boot struct {
	// Scheduler is the address the workers connect to.
	Scheduler string
	// ManagerID is given to the workers (the scheduler groups them under this manager).
	ManagerID string
	// ObjectStorage, when set, is given to the workers.
	ObjectStorage string
	// WorkerFlags are the shared worker options as flags.
	WorkerFlags []string
	// NetworkBackend, when set, is exported as SCALER_NETWORK_BACKEND.
	NetworkBackend string
	// Requirements, when set, is a requirements.txt installed with pip for Python tasks
	// (cloudpickle and tblib are always added); PythonVersion ("3.11") selects the
	// distribution's python3.X package instead of python3.
	Requirements  string
	PythonVersion string
}

// S3API is what uploading the binary needs (*s3.Client implements it).
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Presigner makes the download URL of the uploaded binary (*s3.PresignClient implements it).
type Presigner interface {
	PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// BinarySource says how an instance gets the scaler binary:
//   - URL: the user data downloads it (https, or any URL the instance can reach, such as a
//     presigned S3 URL); SHA256, when given, is checked.
//   - Bucket: the manager uploads its own executable to s3://Bucket/Prefix/<manager>/ once,
//     and each launch's user data downloads it through a presigned URL valid for URLTTL
//     (the instance needs no AWS credentials), checking its SHA-256. The object is deleted
//     on shutdown.
//   - neither: the AMI must have scaler on its PATH (a pre-built image).
type BinarySource struct {
	URL    string
	SHA256 string
	Bucket string
	Prefix string
	URLTTL time.Duration
	// S3 and Presign are used with Bucket.
	S3      S3API
	Presign Presigner
	// Executable returns the path of the binary to upload (default: this executable).
	Executable func() (string, error)
	ManagerID  string
	Logger     *slog.Logger

	mu  sync.Mutex
	key string
	sum string
}

func (b *BinarySource) log() *slog.Logger {
	if b.Logger == nil {
		return slog.Default()
	}
	return b.Logger
}

// upload puts this executable into the bucket once.
func (b *BinarySource) upload(ctx context.Context) (key, sum string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.key != "" {
		return b.key, b.sum, nil
	}
	exe := b.Executable
	if exe == nil {
		exe = os.Executable
	}
	path, err := exe()
	if err != nil {
		return "", "", fmt.Errorf("find the scaler executable to upload: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("read the scaler executable to upload: %w", err)
	}
	h := sha256.Sum256(data)
	sum = hex.EncodeToString(h[:])
	key = strings.Trim(b.Prefix+"/"+safeName(b.ManagerID)+"/scaler-"+sum[:16], "/")
	if _, err := b.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
		return "", "", awscommon.Wrap(err, "upload the scaler binary to s3://"+b.Bucket+"/"+key)
	}
	b.key, b.sum = key, sum
	b.log().Info("uploaded the scaler binary for the instances", "object", "s3://"+b.Bucket+"/"+key, "sha256", sum, "bytes", len(data))
	return key, sum, nil
}

// download returns the URL the instance fetches and the checksum, or "" when the AMI has
// the binary.
func (b *BinarySource) download(ctx context.Context) (url, sum string, err error) {
	switch {
	case b.URL != "":
		return b.URL, b.SHA256, nil
	case b.Bucket != "":
		key, sum, err := b.upload(ctx)
		if err != nil {
			return "", "", err
		}
		ttl := b.URLTTL
		if ttl <= 0 {
			ttl = time.Hour
		}
		req, err := b.Presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key)}, s3.WithPresignExpires(ttl))
		if err != nil {
			return "", "", awscommon.Wrap(err, "presign the scaler binary's URL")
		}
		return req.URL, sum, nil
	}
	return "", "", nil
}

// cleanup deletes the uploaded binary.
func (b *BinarySource) cleanup(ctx context.Context) error {
	b.mu.Lock()
	key := b.key
	b.key = ""
	b.mu.Unlock()
	if key == "" {
		return nil
	}
	if _, err := b.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key)}); err != nil {
		return awscommon.Wrap(err, "delete the uploaded binary s3://"+b.Bucket+"/"+key)
	}
	b.log().Info("deleted the uploaded scaler binary", "object", "s3://"+b.Bucket+"/"+key)
	return nil
}

// userData is the instance's boot script.
func (b *BinarySource) userData(ctx context.Context, boot Boot, vcpus int) (string, error) {
	url, sum, err := b.download(ctx)
	if err != nil {
		return "", err
	}
	return UserData(boot, vcpus, url, sum), nil
}

// UserData renders the boot script: install Python packages when asked, fetch the binary
// when a URL is given, then start the fixed-mode manager in the background with its output
// in LogFile.
func UserData(boot Boot, vcpus int, url, sum string) string {
	var s strings.Builder
	s.WriteString("#!/bin/bash\n# OpenGRIS Scaler worker host: started by the orb_aws_ec2 worker manager " + awscommon.ShellQuote(boot.ManagerID) + "\n")
	s.WriteString("set -euo pipefail\nSCALER_HOME=" + Home + "\nmkdir -p \"$SCALER_HOME/bin\"\n")
	python := ""
	if boot.Requirements != "" || boot.PythonVersion != "" {
		python = "python3"
		if boot.PythonVersion != "" {
			python = "python" + boot.PythonVersion
		}
		s.WriteString("# Python tasks need an interpreter with cloudpickle (and tblib for tracebacks).\n")
		s.WriteString("dnf install -y " + python + " " + python + "-pip\n")
		s.WriteString(python + " -m pip install cloudpickle tblib\n")
		if boot.Requirements != "" {
			var r [6]byte
			_, _ = rand.Read(r[:])
			eof := "SCALER_REQUIREMENTS_" + hex.EncodeToString(r[:])
			s.WriteString("cat > \"$SCALER_HOME/requirements.txt\" <<'" + eof + "'\n" + strings.TrimRight(boot.Requirements, "\n") + "\n" + eof + "\n")
			s.WriteString(python + " -m pip install -r \"$SCALER_HOME/requirements.txt\"\n")
		}
	}
	if url != "" {
		s.WriteString("curl -fsSL --retry 5 --retry-delay 3 -o \"$SCALER_HOME/bin/scaler.part\" " + awscommon.ShellQuote(url) + "\n")
		if sum != "" {
			s.WriteString("echo " + awscommon.ShellQuote(sum+"  "+Home+"/bin/scaler.part") + " | sed \"s#" + Home + "#$SCALER_HOME#\" | sha256sum -c -\n")
		}
		s.WriteString("chmod 0755 \"$SCALER_HOME/bin/scaler.part\"\nmv \"$SCALER_HOME/bin/scaler.part\" \"$SCALER_HOME/bin/scaler\"\n")
		s.WriteString("SCALER=\"$SCALER_HOME/bin/scaler\"\n")
	} else {
		s.WriteString("SCALER=\"$(command -v scaler || echo /usr/local/bin/scaler)\"\n")
	}
	if boot.NetworkBackend != "" {
		s.WriteString("export SCALER_NETWORK_BACKEND=" + awscommon.ShellQuote(boot.NetworkBackend) + "\n")
	}
	args := WorkerCommand(boot, vcpus, python)
	s.WriteString("nohup \"$SCALER\" " + awscommon.ShellJoin(args) + " > " + LogFile + " 2>&1 &\n")
	return s.String()
}

// WorkerCommand is the command the instance runs (after the binary): this binary as a
// fixed-mode baremetal_native manager with one worker per vCPU. python, when set, replaces
// the --python of the worker flags.
func WorkerCommand(boot Boot, vcpus int, python string) []string {
	flags := boot.WorkerFlags
	if python != "" {
		flags = withoutFlag(flags, "--python")
		flags = append(flags, "--python", python)
	}
	return awscommon.WorkerCommand("ORB", boot.Scheduler, vcpus, flags, boot.ObjectStorage, boot.ManagerID)
}

func withoutFlag(flags []string, name string) []string {
	out := make([]string, 0, len(flags))
	for i := 0; i < len(flags); i++ {
		if flags[i] == name {
			i++ // and its value
			continue
		}
		out = append(out, flags[i])
	}
	return out
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "manager"
	}
	return b.String()
}
