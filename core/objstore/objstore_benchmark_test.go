package objstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// The benchmarks run the server and client over YMQ on loopback and, in the same run, a
// raw net.Conn TCP baseline moving the same bytes, because the shared 2-core machines are
// too noisy for absolute figures. Each reports its own figure, the baseline's, and the
// ratio of the two.

func benchServer(b *testing.B) *Client {
	b.Helper()
	s := runServer(b, nil, ServerOptions{Logger: quietLogger()})
	c, err := Dial(context.Background(), ClientOptions{Address: s.Addr(), Identity: "Client|bench", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkSetGet64 measures pipelined 64-byte set+get pairs (one op = a set and a get of
// the same object) from 64 goroutines sharing one connection. The baseline runs in chunks
// alternating with the measured ones, so both see the same machine load.
func BenchmarkSetGet64(b *testing.B) {
	const (
		workers = 64
		chunk   = 2048
	)
	c := benchServer(b)
	base := newSmallBaseline(b, 64, workers)
	ctx := context.Background()
	data := make([]byte, 64)
	ids := make([][]protocol.ObjectID, workers)
	for w := range ids {
		for i := range 16 {
			ids[w] = append(ids[w], oid(fmt.Sprint(w, " ", i)))
		}
	}
	var measured, baseline, cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		b.StopTimer()
		baseline += base.run(n)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; next.Add(1) <= int64(n); i++ {
					id := ids[w][i%len(ids[w])]
					if err := c.Set(ctx, id, data); err != nil {
						b.Error(err)
						return
					}
					if _, err := c.Get(ctx, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		measured += time.Since(start)
		cpu += cpuTime() - cpu0
		done += n
	}
	b.StopTimer()
	ops := float64(b.N) / measured.Seconds()
	tcp := float64(b.N) / baseline.Seconds()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(ops, "ops/s")
	b.ReportMetric(tcp, "tcp-ops/s")
	b.ReportMetric(ops/tcp, "ratio")
}

// BenchmarkSetGet16MiB measures one stream of 16 MiB set+get round trips, each next to one
// baseline round trip of the same bytes.
func BenchmarkSetGet16MiB(b *testing.B) {
	const size = 16 << 20
	c := benchServer(b)
	base := newBulkBaseline(b, size)
	ctx := context.Background()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	id := oid("bulk")
	var measured, baseline, cpu time.Duration
	b.SetBytes(2 * size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		baseline += base.run()
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		// Distinct contents, as distinct objects would be: no de-duplication shortcut.
		binary.LittleEndian.PutUint64(data, uint64(i))
		if err := c.Set(ctx, id, data); err != nil {
			b.Fatal(err)
		}
		got, err := c.Get(ctx, id)
		if err != nil || len(got) != size {
			b.Fatalf("Get: %d bytes, %v", len(got), err)
		}
		measured += time.Since(start)
		cpu += cpuTime() - cpu0
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	mbs := float64(2*size*b.N) / measured.Seconds() / 1e6
	tcp := float64(2*size*b.N) / baseline.Seconds() / 1e6
	b.ReportMetric(mbs, "MB/s")
	b.ReportMetric(tcp, "tcp-MB/s")
	b.ReportMetric(mbs/tcp, "ratio")
}

// cpuTime is the CPU time (user and system) used by the process so far: a figure that
// depends less on the machine's other load than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tcpPair is a connected loopback TCP pair with an echo-like server goroutine.
func tcpPair(b *testing.B, serve func(net.Conn)) (net.Conn, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		serve(s)
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return c, func() {
		_ = c.Close()
		_ = ln.Close()
		wg.Wait()
	}
}

// smallBaseline sends set+get pairs in the object storage's exact framing (80-byte headers,
// size-byte payloads, u64 length prefixes) over a raw TCP connection to a server that only
// answers with fixed responses, with buffered I/O flushed whenever the input drains and
// window pairs in flight: the most loopback TCP gives this traffic.
type smallBaseline struct {
	conn           net.Conn
	br             *bufio.Reader
	bw             *bufio.Writer
	setReq, getReq []byte
	resp           []byte
	window         int
}

func newSmallBaseline(b *testing.B, size, window int) *smallBaseline {
	b.Helper()
	frame := func(dst, m []byte) []byte {
		return append(binary.LittleEndian.AppendUint64(dst, uint64(len(m))), m...)
	}
	id := oid("baseline")
	payload := make([]byte, size)
	setResp := frame(nil, hdr(protocol.OSSSetOK, id, 0, 0))
	getResp := frame(frame(nil, hdr(protocol.OSSGetOK, id, 0, uint64(size))), payload)
	conn, done := tcpPair(b, func(s net.Conn) {
		br, bw := bufio.NewReaderSize(s, 64<<10), bufio.NewWriterSize(s, 64<<10)
		msg := make([]byte, 80)
		for {
			// One set (header + payload) and one get per pair.
			for _, m := range [][]byte{msg, payload, msg} {
				if _, err := br.Discard(8); err != nil {
					return
				}
				if _, err := io.ReadFull(br, m); err != nil {
					return
				}
			}
			_, _ = bw.Write(setResp)
			_, _ = bw.Write(getResp)
			if br.Buffered() == 0 {
				if bw.Flush() != nil {
					return
				}
			}
		}
	})
	b.Cleanup(done)
	return &smallBaseline{
		conn:   conn,
		br:     bufio.NewReaderSize(conn, 64<<10),
		bw:     bufio.NewWriterSize(conn, 64<<10),
		setReq: frame(frame(nil, hdr(protocol.OSSSet, id, 0, uint64(size))), payload),
		getReq: frame(nil, hdr(protocol.OSSGet, id, 0, NoLimit)),
		resp:   make([]byte, len(setResp)+len(getResp)),
		window: window,
	}
}

// run sends n pairs and reads their answers, and returns how long that took.
func (s *smallBaseline) run(n int) time.Duration {
	start := time.Now()
	credits := make(chan struct{}, s.window)
	writeErr := make(chan error, 1)
	go func() {
		for range n {
			select {
			case credits <- struct{}{}:
			default:
				if err := s.bw.Flush(); err != nil {
					writeErr <- err
					return
				}
				credits <- struct{}{}
			}
			_, _ = s.bw.Write(s.setReq)
			_, _ = s.bw.Write(s.getReq)
		}
		writeErr <- s.bw.Flush()
	}()
	for range n {
		if _, err := io.ReadFull(s.br, s.resp); err != nil {
			panic(fmt.Sprint("baseline read: ", err))
		}
		<-credits
	}
	if err := <-writeErr; err != nil {
		panic(fmt.Sprint("baseline write: ", err))
	}
	return time.Since(start)
}

// bulkBaseline sends size bytes and gets size bytes back over a raw TCP connection with
// plain Write and ReadFull into reused buffers.
type bulkBaseline struct {
	conn    net.Conn
	out, in []byte
}

func newBulkBaseline(b *testing.B, size int) *bulkBaseline {
	b.Helper()
	conn, done := tcpPair(b, func(s net.Conn) {
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	})
	b.Cleanup(done)
	return &bulkBaseline{conn: conn, out: make([]byte, size), in: make([]byte, size)}
}

// run does one round trip and returns how long it took.
func (s *bulkBaseline) run() time.Duration {
	start := time.Now()
	if _, err := s.conn.Write(s.out); err != nil {
		panic(fmt.Sprint("baseline write: ", err))
	}
	if _, err := io.ReadFull(s.conn, s.in); err != nil {
		panic(fmt.Sprint("baseline read: ", err))
	}
	return time.Since(start)
}
