package ymq

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// The benchmarks pipeline n messages from a connector to a binder over tcp loopback and
// time until the last one is received. In the same run they time a raw net.Conn doing the
// same job (same framing, bufio on both ends, one fresh slice per received message, as the
// transport's ownership rule requires) and report ymq's throughput as a fraction of it:
// the machines are shared and noisy, the ratio is what to compare.

func BenchmarkPipelined64B(b *testing.B) { benchPipelined(b, 64) }

func BenchmarkPipelined16MiB(b *testing.B) { benchPipelined(b, 16<<20) }

func benchPipelined(b *testing.B, size int) {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()

	bd, err := bind(context.Background(), address.MustParse("tcp://127.0.0.1:0"), opts("server", nil), testTuning, false)
	if err != nil {
		b.Fatal(err)
	}
	defer bd.Close()
	o := opts("client", nil)
	o.QueueSize = 1 << 14
	k, err := connect(context.Background(), bd.Addr(), o, testTuning)
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	recvEvent(b, bd, transport.EventConnected, "client")

	b.ResetTimer()
	start := time.Now()
	go func() {
		for range b.N {
			_ = k.Send(msg)
		}
	}()
	for i := range b.N {
		ev := <-bd.Messages()
		if len(ev.Data) != size {
			b.Fatalf("message %d: %v with %d bytes", i, ev.Kind, len(ev.Data))
		}
	}
	ymq := time.Since(start)
	b.StopTimer()

	raw := rawPipelined(b, b.N, msg)
	b.ReportMetric(float64(b.N)/ymq.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw_msgs/s")
	b.ReportMetric(raw.Seconds()/ymq.Seconds(), "x_of_raw_tcp")
}

// rawPipelined is the baseline: n framed messages over a plain TCP loopback connection.
func rawPipelined(b *testing.B, n int, msg []byte) time.Duration {
	wc, rc := tcpPair(b)

	start := time.Now()
	go func() {
		w := bufio.NewWriterSize(wc, readBufSize)
		var hdr [8]byte
		binary.LittleEndian.PutUint64(hdr[:], uint64(len(msg)))
		for range n {
			_, _ = w.Write(hdr[:])
			_, _ = w.Write(msg) // bufio passes large writes straight through
		}
		_ = w.Flush()
	}()
	r := bufio.NewReaderSize(rc, readBufSize)
	var hdr [8]byte
	for i := range n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			b.Fatalf("raw message %d: %v", i, err)
		}
		buf := make([]byte, binary.LittleEndian.Uint64(hdr[:]))
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatalf("raw message %d: %v", i, err)
		}
	}
	return time.Since(start)
}
