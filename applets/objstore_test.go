package applets_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/internal/testbin"
)

func startObjectStorage(t *testing.T, args ...string) (string, *testbin.Proc) {
	t.Helper()
	addr := "tcp://127.0.0.1:" + strconv.Itoa(testbin.FreePorts(t, 1))
	p := testbin.Start(t, nil, "scaler_object_storage_server", append([]string{addr}, args...)...)
	p.WaitOutput(t, "object storage server listening", 20*time.Second)
	return addr, p
}

func ossDial(t *testing.T, addr string) *objstore.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := objstore.Dial(ctx, objstore.ClientOptions{Address: address.MustParse(addr), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The real scaler_object_storage_server binary: every operation, a get that waits for a
// later set, many clients at once, a large object, and a clean SIGTERM.
func TestObjectStorageServerBinary(t *testing.T) {
	addr, p := startObjectStorage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := ossDial(t, addr)
	owner := []byte("Client|0123456789abcdef0123456789abcdef")
	a, b := protocol.NewObjectID(owner), protocol.NewObjectID(owner)
	if err := c.Set(ctx, a, []byte("alpha")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, a); err != nil || string(got) != "alpha" {
		t.Fatalf("get = %q %v", got, err)
	}
	if err := c.Duplicate(ctx, b, a); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Objects != 2 || info.Contents != 1 {
		t.Fatalf("info = %+v %v", info, err)
	}
	if existed, err := c.Delete(ctx, a); err != nil || !existed {
		t.Fatalf("delete = %v %v", existed, err)
	}
	if existed, _ := c.Delete(ctx, a); existed {
		t.Fatal("deleted twice")
	}
	if got, _ := c.Get(ctx, b); string(got) != "alpha" {
		t.Fatal("duplicate lost its content")
	}

	// A get waits for a set from another client.
	later := protocol.NewObjectID(owner)
	got := make(chan []byte, 1)
	go func() {
		v, _ := c.Get(ctx, later)
		got <- v
	}()
	select {
	case <-got:
		t.Fatal("get answered before the object existed")
	case <-time.After(200 * time.Millisecond):
	}
	c2 := ossDial(t, addr)
	c2.Set(ctx, later, []byte("arrived"))
	if v := <-got; string(v) != "arrived" {
		t.Fatalf("waiting get = %q", v)
	}

	// 100 clients at once.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cc, err := objstore.Dial(ctx, objstore.ClientOptions{Address: address.MustParse(addr), Logger: quiet()})
			if err != nil {
				errs <- err
				return
			}
			defer cc.Close()
			id := protocol.NewObjectID(owner)
			want := bytes.Repeat([]byte{byte(i)}, 1000+i)
			if err := cc.Set(ctx, id, want); err != nil {
				errs <- err
				return
			}
			if v, err := cc.Get(ctx, id); err != nil || !bytes.Equal(v, want) {
				errs <- fmt.Errorf("client %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A large object round trip (1 GiB unless -short).
	size := 1 << 30
	if testing.Short() {
		size = 64 << 20
	}
	big := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		big[i] = byte(i / 4096)
	}
	bid := protocol.NewObjectID(owner)
	if err := c.Set(ctx, bid, big); err != nil {
		t.Fatal(err)
	}
	back, err := c.Get(ctx, bid)
	if err != nil || !bytes.Equal(back, big) {
		t.Fatalf("large object: %d bytes back, %v", len(back), err)
	}
	back = nil
	c.Delete(ctx, bid)

	p.Signal(syscall.SIGTERM)
	p.Wait(t, 10*time.Second)
	if p.ExitCode() != 0 {
		t.Fatalf("exit %d after SIGTERM", p.ExitCode())
	}
}

// Bad bytes close only the offending connection; the server keeps serving and keeps every
// stored object.
func TestObjectStorageServerBadInput(t *testing.T) {
	addr, p := startObjectStorage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ossDial(t, addr)
	keep := protocol.NewObjectID([]byte("Client|keep"))
	c.Set(ctx, keep, []byte("precious"))
	hostport := strings.TrimPrefix(addr, "tcp://")
	handshake := func(id string) []byte {
		b := []byte("YMQ\x01")
		b = binary.LittleEndian.AppendUint64(b, uint64(len(id)))
		return append(b, id...)
	}
	frame := func(payload []byte) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, uint64(len(payload))), payload...)
	}
	badHeader := protocol.EncodeOSSHeader(protocol.OSSHeader{Type: 99})
	cases := map[string][]byte{
		"garbage":          []byte("GET / HTTP/1.1\r\n\r\n"),
		"wrong magic":      []byte("YMQ\x09\x04\x00\x00\x00\x00\x00\x00\x00evil"),
		"truncated header": append(handshake("t1"), frame([]byte{0, 0, 0, 0, 9})...),
		"unknown request":  append(handshake("t2"), frame(badHeader)...),
		"huge length":      append(handshake("t3"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
	}
	for name, raw := range cases {
		conn, err := net.Dial("tcp", hostport)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(raw)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("%s: connection not closed", name)
				}
				break
			}
		}
		conn.Close()
		if v, err := c.Get(ctx, keep); err != nil || string(v) != "precious" {
			t.Fatalf("after %s: %q %v", name, v, err)
		}
	}
	if !strings.Contains(p.Output(), "Invalid YMQ magic") && !strings.Contains(strings.ToLower(p.Output()), "magic") {
		t.Fatalf("no log line about the bad magic:\n%s", p.Output())
	}
}

// User errors end with one line and a non-zero exit, never a stack trace.
func TestCommandLineErrors(t *testing.T) {
	busy, _ := startObjectStorage(t)
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	os.WriteFile(cert, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"port in use", []string{"scaler_object_storage_server", busy}, 1, "address already in use"},
		{"unknown scheme", []string{"scaler_object_storage_server", "http://127.0.0.1:1"}, 2, "unknown scheme"},
		{"missing key", []string{"scaler_object_storage_server", "tls://127.0.0.1:0", "--tls-cert", cert}, 2, "--tls-cert and --tls-key must be given together"},
		{"bad tls files", []string{"scaler_object_storage_server", "tls://127.0.0.1:0", "--tls-cert", cert, "--tls-key", cert}, 1, cert},
		{"unknown flag", []string{"scaler_scheduler", "tcp://127.0.0.1:1", "--no-such-flag"}, 2, "no-such-flag"},
		{"bad policy", []string{"scaler_scheduler", "tcp://127.0.0.1:1", "--policy-content", "allocate=fast; scaling=no"}, 2, "allocate"},
		{"zero balance", []string{"scaler_scheduler", "tcp://127.0.0.1:1", "--load-balance-seconds", "0"}, 2, "load-balance-seconds"},
		{"bad mode", []string{"scaler_worker_manager", "baremetal_native", "tcp://127.0.0.1:1", "--worker-manager-id", "x", "--mode", "DYNAMIC"}, 2, "dynamic, fixed"},
		{"unknown manager type", []string{"scaler_worker_manager", "baremetal", "tcp://127.0.0.1:1"}, 2, "baremetal_native"},
		{"missing file", []string{"scaler", filepath.Join(dir, "nope.toml")}, 1, "nope.toml"},
		{"unknown command", []string{"scaler", "no-such-command", "x"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(testbin.Binary(t), tt.args...)
			out, _ := cmd.CombinedOutput()
			lines := testbin.Lines(string(out))
			if cmd.ProcessState.ExitCode() != tt.code || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], tt.want) ||
				strings.Contains(string(out), "goroutine ") {
				t.Fatalf("exit %d, output:\n%s", cmd.ProcessState.ExitCode(), out)
			}
		})
	}
}

// The binary dispatches on the name it is called by, and busybox-style on its first argument.
func TestMulticallDispatch(t *testing.T) {
	bin := testbin.Binary(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "scaler_scheduler")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(link, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--object-storage-address") {
		t.Fatalf("symlink dispatch: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "scaler_object_storage_server", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--identity") {
		t.Fatalf("argument dispatch: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "--help").CombinedOutput()
	for _, name := range []string{"scaler_scheduler", "scaler_worker_manager", "scaler_object_storage_server", "scaler_bench"} {
		if err != nil || !strings.Contains(string(out), name) {
			t.Fatalf("command list lacks %s: %v\n%s", name, err, out)
		}
	}
}

// io_threads is how many threads run the scheduler's Go code; GOMAXPROCS, when set, wins.
func TestSchedulerIOThreads(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "threads=1"},
		{nil, []string{"--io-threads", "2"}, "threads=2"},
		{[]string{"GOMAXPROCS=2"}, nil, "threads=2"},
	} {
		port := testbin.FreePorts(t, 3)
		p := testbin.Start(t, tc.env, "scaler_scheduler", append([]string{"tcp://127.0.0.1:" + strconv.Itoa(port)}, tc.args...)...)
		p.WaitOutput(t, "scheduler started", 20*time.Second)
		if !strings.Contains(p.Output(), tc.want) {
			t.Fatalf("env %v args %v: want %s in\n%s", tc.env, tc.args, tc.want, p.Output())
		}
		p.Stop(5 * time.Second)
	}
}
