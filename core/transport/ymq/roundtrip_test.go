package ymq

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/core/transport/tlstest"
)

// testPayload is message i of a sequence: its index, then filler, with sizes that cover the
// empty message, tiny ones, the small-copy threshold and messages larger than the read
// buffer.
func testPayload(i int) []byte {
	var size int
	switch {
	case i%10 == 0:
		return []byte{}
	case i%997 == 0:
		size = readBufSize + 1000 + i%7
	case i%101 == 0:
		size = smallCopy + 1
	default:
		size = 8 + i%200
	}
	p := make([]byte, size)
	binary.LittleEndian.PutUint64(p, uint64(i))
	for j := 8; j < size; j++ {
		p[j] = byte(i + j)
	}
	return p
}

type scheme struct {
	name string
	addr func(t *testing.T) string
	opts func(t *testing.T, o *transport.Options) // server-side extras
}

func schemes() []scheme {
	withCert := func(t *testing.T, o *transport.Options) {
		o.TLSCertFile, o.TLSKeyFile = tlstest.WriteSelfSigned(t, t.TempDir(), "server")
	}
	none := func(*testing.T, *transport.Options) {}
	return []scheme{
		{"tcp", func(*testing.T) string { return "tcp://127.0.0.1:0" }, none},
		{"ipc", func(t *testing.T) string { return "ipc://" + filepath.Join(t.TempDir(), "ymq.sock") }, none},
		{"tls", func(*testing.T) string { return "tls://127.0.0.1:0" }, withCert},
		{"ws", func(*testing.T) string { return "ws://127.0.0.1:0/ymq" }, none},
		{"wss", func(*testing.T) string { return "wss://127.0.0.1:0" }, withCert},
	}
}

// TestRoundTrip sends 10,000 messages each way between a Go connector and a Go binder over
// every scheme and checks that they arrive complete and in order.
func TestRoundTrip(t *testing.T) {
	const n = 10000
	for _, s := range schemes() {
		t.Run(s.name, func(t *testing.T) {
			lr := newLogRecorder()
			defer func() {
				if t.Failed() {
					lr.dump(t)
				}
			}()
			bo := opts("server", lr)
			s.opts(t, &bo)
			b := mustBind(t, s.addr(t), bo)
			if b.Addr().Scheme.HasPort() && b.Addr().Port == 0 {
				t.Fatalf("Addr() %s has no real port", b.Addr())
			}
			k := mustConnect(t, b.Addr(), opts("client", lr))

			for i := range n {
				if err := k.Send(testPayload(i)); err != nil {
					t.Fatal(err)
				}
			}
			recvEvent(t, b, transport.EventConnected, "client")
			for i := range n {
				ev := recvEvent(t, b, transport.EventMessage, "client")
				if want := testPayload(i); !bytes.Equal(ev.Data, want) {
					t.Fatalf("binder message %d: %d bytes, want %d", i, len(ev.Data), len(want))
				}
			}
			waitPeerIdentity(t, k, "server")
			for i := range n {
				if err := b.Send("client", testPayload(i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				m := recv(t, k.Messages(), "connector message")
				if want := testPayload(i); !bytes.Equal(m, want) {
					t.Fatalf("connector message %d: %d bytes, want %d", i, len(m), len(want))
				}
			}

			// An orderly close of the connector is an orderly close at the binder.
			if err := k.Close(); err != nil {
				t.Fatal(err)
			}
			recvEvent(t, b, transport.EventClosed, "client")
			if err := k.Send([]byte("late")); !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("Send after Close = %v, want ErrClosed", err)
			}
			if !errors.Is(k.Err(), transport.ErrClosed) {
				t.Fatalf("Err after Close = %v", k.Err())
			}
			if err := b.Send("client", []byte("gone")); !errors.Is(err, transport.ErrUnknownPeer) {
				t.Fatalf("Send to a closed peer = %v, want ErrUnknownPeer", err)
			}
		})
	}
}

// TestHugeMessage sends one 1 GiB message each way over tcp.
func TestHugeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB round trip skipped in -short mode")
	}
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	k := mustConnect(t, b.Addr(), opts("client", nil))
	const size = 1 << 30
	big := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		binary.LittleEndian.PutUint64(big[i:], uint64(i))
	}
	big[size-1] = 0xAB
	if err := k.Send(big); err != nil {
		t.Fatal(err)
	}
	// Moving a GiB into fresh memory takes seconds on a loaded machine (and far more under
	// the race detector): wait generously.
	const slow = 3 * time.Minute
	recvEvent(t, b, transport.EventConnected, "client")
	ev := recvWithin(t, b.Messages(), "1 GiB message", slow)
	if ev.Kind != transport.EventMessage || !bytes.Equal(ev.Data, big) {
		t.Fatal("1 GiB message corrupted on the way to the binder")
	}
	big = nil
	// Send the received copy back, so only two copies are alive at a time.
	if err := b.Send("client", ev.Data); err != nil {
		t.Fatal(err)
	}
	back := recvWithin(t, k.Messages(), "1 GiB message back", slow)
	if len(back) != size || back[size-1] != 0xAB || binary.LittleEndian.Uint64(back[size-4096:]) != size-4096 {
		t.Fatal("1 GiB message corrupted on the way back")
	}
}

// TestPublishSubscribe: every connected subscriber gets every published message.
func TestPublishSubscribe(t *testing.T) {
	be := Backend{}
	ctx := context.Background()
	pub, err := be.Publish(ctx, address.MustParse("tcp://127.0.0.1:0"), opts("monitor", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pb := pub.(publisher).b
	var subs []transport.Subscriber
	for _, id := range []string{"top", "gui"} {
		s, err := be.Subscribe(ctx, pub.Addr(), opts(id, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	// Publishing reaches only connected peers, so wait until both are.
	eventually(t, func() error {
		pb.mu.RLock()
		defer pb.mu.RUnlock()
		if len(pb.peers) != 2 {
			return errors.New("subscribers not connected yet")
		}
		return nil
	})
	for i := range 100 {
		pub.Publish(testPayload(i + 1))
	}
	for _, s := range subs {
		for i := range 100 {
			if m := recv(t, s.Messages(), "published message"); !bytes.Equal(m, testPayload(i+1)) {
				t.Fatalf("message %d differs", i)
			}
		}
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		expectClosed(t, s.Messages(), "subscriber after the publisher closed")
		if !errors.Is(s.Err(), transport.ErrClosedByPeer) {
			t.Fatalf("subscriber Err = %v, want ErrClosedByPeer", s.Err())
		}
	}
}
