package ymq

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/scaler-go/scaler/core/transport"
)

// numbered is a message carrying its sequence number and a recognisable body of size bytes.
func numbered(seq, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.LittleEndian.PutUint64(b, uint64(seq))
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq + i)
	}
	return b
}

// withDirect turns direct flushing on for one test (it is off by default).
func withDirect(t *testing.T) {
	old := directFlush
	directFlush = true
	t.Cleanup(func() { directFlush = old })
}

func checkNumbered(t *testing.T, b []byte, seq, size int) {
	t.Helper()
	if want := numbered(seq, size); !bytes.Equal(b, want) {
		got := -1
		if len(b) >= 8 {
			got = int(binary.LittleEndian.Uint64(b))
		}
		t.Fatalf("message %d: got %d bytes (sequence %d), want %d bytes", seq, len(b), got, len(want))
	}
}

// Held sends go out at Flush, in order, whatever the size of the burst (small bursts are
// written by the flushing goroutine, large ones by the writer) and on both socket kinds.
func TestHoldFlushDeliversInOrder(t *testing.T) {
	withDirect(t)
	for _, addr := range []string{"tcp://127.0.0.1:0", "ipc://" + t.TempDir() + "/s"} {
		for _, tc := range []struct{ burst, size int }{
			{1, 10}, {3, 100}, {directMaxMessages, 64}, {directMaxMessages + 1, 64},
			{2, smallCopy + 1}, {1, directMaxBytes + 1}, {500, 300},
		} {
			t.Run(fmt.Sprintf("%s/%dx%d", addr[:3], tc.burst, tc.size), func(t *testing.T) {
				bd := mustBind(t, addr, opts("server", nil))
				k := mustConnect(t, bd.Addr(), opts("client", nil))
				recvEvent(t, bd, transport.EventConnected, "client")
				for round := 0; round < 3; round++ {
					k.Hold()
					for i := 0; i < tc.burst; i++ {
						if err := k.Send(numbered(i, tc.size)); err != nil {
							t.Fatal(err)
						}
					}
					k.Flush()
					for i := 0; i < tc.burst; i++ {
						checkNumbered(t, recv(t, bd.Messages(), "message").Data, i, tc.size)
					}
					// And the other way, through the binder.
					bd.Hold()
					for i := 0; i < tc.burst; i++ {
						if err := bd.Send("client", numbered(i, tc.size)); err != nil {
							t.Fatal(err)
						}
					}
					bd.Flush()
					for i := 0; i < tc.burst; i++ {
						checkNumbered(t, recv(t, k.Messages(), "message"), i, tc.size)
					}
				}
			})
		}
	}
}

// A peer that stops reading fills the socket: a direct write then leaves part of a frame
// unwritten, the writer goroutine finishes it, and later flushes wait behind it. Nothing is
// lost, reordered or torn once the peer reads again.
func TestHoldFlushPartialWrites(t *testing.T) {
	withDirect(t)
	bd := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	o := opts("client", nil)
	o.QueueSize = 1
	k := mustConnect(t, bd.Addr(), o)
	recvEvent(t, bd, transport.EventConnected, "client")
	const n, size = 400, 60 << 10 // about 24 MiB: far beyond loopback socket buffers
	for i := 0; i < n; i++ {
		bd.Hold()
		if err := bd.Send("client", numbered(i, size)); err != nil {
			t.Fatal(err)
		}
		bd.Flush()
	}
	for i := 0; i < n; i++ {
		checkNumbered(t, recv(t, k.Messages(), "message"), i, size)
	}
}

// Sends from other goroutines during a hold are delivered, whether they land before the
// flush (and are flushed by it) or after (and wake the writer themselves).
func TestHoldFlushConcurrentSenders(t *testing.T) {
	withDirect(t)
	bd := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	k := mustConnect(t, bd.Addr(), opts("client", nil))
	recvEvent(t, bd, transport.EventConnected, "client")
	const senders, each = 4, 2000
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_ = k.Send(numbered(s*each+i, 16))
			}
		}()
	}
	stop := make(chan struct{})
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k.Hold()
			k.Flush()
		}
	}()
	next := make([]int, senders)
	for got := 0; got < senders*each; got++ {
		m := recv(t, bd.Messages(), "message").Data
		seq := int(binary.LittleEndian.Uint64(m))
		s := seq / each
		if seq%each != next[s] {
			t.Fatalf("sender %d: got %d, want %d", s, seq%each, next[s])
		}
		next[s]++
	}
	wg.Wait()
	close(stop)
	<-flusherDone
}

// A hold that is never flushed does not lose messages at Close.
func TestCloseFlushesHeldMessages(t *testing.T) {
	withDirect(t)
	bd := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	k, err := connect(t.Context(), bd.Addr(), opts("client", nil), testTuning)
	if err != nil {
		t.Fatal(err)
	}
	recvEvent(t, bd, transport.EventConnected, "client")
	k.Hold()
	for i := 0; i < 10; i++ {
		_ = k.Send(numbered(i, 32))
	}
	_ = k.Close()
	for i := 0; i < 10; i++ {
		checkNumbered(t, recv(t, bd.Messages(), "message").Data, i, 32)
	}
}
