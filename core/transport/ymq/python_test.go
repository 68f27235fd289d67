package ymq

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/config/address"
)

// TestPythonSubscriber runs the standalone Python YMQ subscriber of the interop captures
// against a Go publisher: it must parse our preamble and every recorded Message we publish,
// and see our orderly close as EOF.
func TestPythonSubscriber(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	pub, err := Backend{}.Publish(context.Background(), address.MustParse("tcp://127.0.0.1:0"), opts("monitor", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pb := pub.(publisher).b

	out := filepath.Join(t.TempDir(), "sub.log")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, interopFile("mini_subscriber.py"), "ymq", "127.0.0.1",
		strconv.Itoa(pub.Addr().Port), "mini-subscriber", out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	eventually(t, func() error {
		pb.mu.RLock()
		defer pb.mu.RUnlock()
		if pb.peers["mini-subscriber"] == nil {
			return errors.New("subscriber not connected yet")
		}
		return nil
	})

	recs := recorded(t, "sched-2", "s2c")[2:]
	for _, r := range recs {
		pub.Publish(r.bytes(t))
	}
	eventually(t, func() error {
		b, _ := os.ReadFile(out)
		if n := strings.Count(string(b), "\n"); n < 1+len(recs) {
			return errors.New("subscriber has " + strconv.Itoa(n) + " lines")
		}
		return nil
	})
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "subscriber exit"); err != nil {
		t.Fatalf("subscriber: %v", err)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(recs)+3 {
		t.Fatalf("subscriber log has %d lines, want %d:\n%s", len(lines), len(recs)+3, b)
	}
	if lines[0] != `server magic b'YMQ\x01' identity monitor` {
		t.Fatalf("preamble line %q", lines[0])
	}
	for i, r := range recs {
		f := strings.Fields(lines[1+i])
		if len(f) != 3 || f[1] != strconv.Itoa(r.Len) || f[2] != r.Type {
			t.Fatalf("line %q, want %d bytes of %s", lines[1+i], r.Len, r.Type)
		}
	}
	if lines[len(recs)+1] != "EOF from server" {
		t.Fatalf("line %q, want the orderly EOF", lines[len(recs)+1])
	}
}
