package ymq

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/freeport"
)

// echoServerEnv makes the test binary an echo process: a ymq binder at the given address
// that sends every message back to its sender, and a raw TCP echo at the next port.
const echoServerEnv = "YMQ_ECHO_SERVER"

func runEchoServer(addr string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bd, err := bind(ctx, address.MustParse(addr), opts("echo", nil), testTuning, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer bd.Close()
	a := bd.Addr()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", a.Port+1))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c)
	}()
	fmt.Printf("ready %d\n", a.Port)
	// Stdin closing is the parent telling us to stop.
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	for {
		select {
		case <-ctx.Done():
			return 0
		case in, ok := <-bd.Messages():
			if !ok {
				return 0
			}
			if in.Kind == transport.EventMessage {
				_ = bd.Send(in.Peer, in.Data)
			}
		}
	}
}

// BenchmarkRoundTripProcess sends one 64-byte message at a time to an echo in another
// process and waits for it to come back: the latency of one hop pair between two
// processes, which a task pays twice (client → scheduler → worker and back). The same run
// times raw TCP ping-pong to the same process as the baseline.
func BenchmarkRoundTripProcess(b *testing.B) {
	// The echo process takes the port and the next one.
	port, err := freeport.Run(2)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=tcp://127.0.0.1:%d", echoServerEnv, port))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		b.Fatalf("echo process: %q %v", line, err)
	}

	k, err := connect(context.Background(), address.MustParse(fmt.Sprintf("tcp://127.0.0.1:%d", port)), opts("client", nil), testTuning)
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	msg := make([]byte, 64)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		_ = k.Send(msg)
		if _, ok := <-k.Messages(); !ok {
			b.Fatal(k.Err())
		}
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()

	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	buf := make([]byte, 64)
	rawLat := make([]time.Duration, 0, b.N)
	for range b.N {
		t := time.Now()
		_, _ = raw.Write(buf)
		if _, err := io.ReadFull(raw, buf); err != nil {
			b.Fatal(err)
		}
		rawLat = append(rawLat, time.Since(t))
	}
	p50, rawP50 := median(lat), median(rawLat)
	b.ReportMetric(float64(p50.Microseconds()), "p50_us")
	b.ReportMetric(float64(rawP50.Microseconds()), "raw_tcp_p50_us")
	b.ReportMetric(float64(p50)/float64(rawP50), "x_of_raw_tcp")
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}
