package ymq

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/core/transport/tlstest"
)

// connectRaw opens a raw connection to b and completes the handshake as identity.
func connectRaw(t *testing.T, b *binder, identity string) *rawPeer {
	t.Helper()
	p := dialRaw(t, b)
	p.write(handshakeBytes(identity))
	p.expectHandshake("server")
	recvEvent(t, b, transport.EventConnected, identity)
	return p
}

// TestBinderEvictsDuplicateIdentity: a second connection with an identity in use replaces
// the first, which is closed gracefully; no EventClosed is reported for it (§2.3).
func TestBinderEvictsDuplicateIdentity(t *testing.T) {
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	first := connectRaw(t, b, "dup")
	second := connectRaw(t, b, "dup")
	if !first.expectEnd() {
		t.Fatal("the older connection was not closed with a FIN")
	}
	_ = first.c.Close()
	if err := b.Send("dup", []byte("to the newer one")); err != nil {
		t.Fatal(err)
	}
	if m := second.readMsg(); string(m) != "to the newer one" {
		t.Fatalf("got %q", m)
	}
	second.send([]byte("still here"))
	ev := recv(t, b.Messages(), "message from the newer connection")
	if ev.Kind != transport.EventMessage || string(ev.Data) != "still here" {
		t.Fatalf("got %v %q: the evicted connection's end was reported", ev.Kind, ev.Data)
	}
}

// TestBinderUnknownPeer: sends to a never-seen identity, or to one that closed gracefully,
// fail with ErrUnknownPeer.
func TestBinderUnknownPeer(t *testing.T) {
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	if err := b.Send("nobody", []byte("x")); !errors.Is(err, transport.ErrUnknownPeer) {
		t.Fatalf("Send to a never-seen peer = %v", err)
	}
	p := connectRaw(t, b, "leaver")
	_ = p.c.(*net.TCPConn).CloseWrite()
	recvEvent(t, b, transport.EventClosed, "leaver")
	if !p.expectEnd() {
		t.Fatal("binder did not answer the FIN with a FIN")
	}
	if err := b.Send("leaver", []byte("x")); !errors.Is(err, transport.ErrUnknownPeer) {
		t.Fatalf("Send to a peer that closed = %v", err)
	}
}

// TestBinderQueuesForAbortedPeer: after a reset, sends to the identity are kept and flushed
// when it reconnects.
func TestBinderQueuesForAbortedPeer(t *testing.T) {
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	p := connectRaw(t, b, "worker")
	p.reset()
	recvEvent(t, b, transport.EventAborted, "worker")
	for _, m := range []string{"one", "", "three"} {
		if err := b.Send("worker", []byte(m)); err != nil {
			t.Fatalf("Send to an aborted peer: %v", err)
		}
	}
	p2 := connectRaw(t, b, "worker")
	for _, want := range []string{"one", "", "three"} {
		if m := p2.readMsg(); string(m) != want {
			t.Fatalf("got %q, want %q", m, want)
		}
	}
}

// TestBinderPendingBounds: the queue of an absent peer is bounded in size and in time.
func TestBinderPendingBounds(t *testing.T) {
	lr := newLogRecorder()
	tune := testTuning
	tune.pendingMax = 10
	tune.pendingTTL = 50 * time.Millisecond
	b, err := bind(context.Background(), address.MustParse("tcp://127.0.0.1:0"), opts("server", lr), tune, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	p := connectRaw(t, b, "slow")
	p.reset()
	recvEvent(t, b, transport.EventAborted, "slow")
	if err := b.Send("slow", []byte("8 bytes!")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send("slow", []byte("too much")); err != nil {
		t.Fatal(err)
	}
	lr.waitFor(t, "queue of an absent peer is full", "peer=slow")
	p2 := connectRaw(t, b, "slow")
	if err := b.Send("slow", []byte("end")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"8 bytes!", "end"} {
		if m := p2.readMsg(); string(m) != want {
			t.Fatalf("got %q, want %q (the message over the limit must be dropped)", m, want)
		}
	}

	// Away for longer than pendingTTL: forgotten, sends fail.
	p2.reset()
	recvEvent(t, b, transport.EventAborted, "slow")
	_ = b.Send("slow", []byte("lost"))
	eventually(t, func() error {
		if err := b.Send("slow", nil); !errors.Is(err, transport.ErrUnknownPeer) {
			return errors.New("absent peer not forgotten yet")
		}
		return nil
	})
	lr.waitFor(t, "peer did not reconnect", "peer=slow")
}

// TestBinderBadInput: a connection that breaks the protocol is closed with a log line
// naming the problem; other connections are unaffected.
func TestBinderBadInput(t *testing.T) {
	lr := newLogRecorder()
	o := opts("server", lr)
	o.MaxMessageSize = 1024
	b := mustBind(t, "tcp://127.0.0.1:0", o)
	good := mustConnect(t, b.Addr(), opts("good", nil))
	recvEvent(t, b, transport.EventConnected, "good")

	hs := handshakeBytes("bad")
	lengthOnly := func(n uint64) []byte { return append(hs, binary.LittleEndian.AppendUint64(nil, n)...) }
	cases := []struct {
		name  string
		input []byte
		fin   bool // end our side after the input
		log   []string
	}{
		{"wrong magic", []byte("YMQ\x02\x03\x00\x00\x00\x00\x00\x00\x00bad"), false, []string{"invalid YMQ magic 59 4d 51 02"}},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, []string{"invalid YMQ magic 47 45 54 20"}},
		{"garbage", bytes.Repeat([]byte{0xFF}, 64), false, []string{"invalid YMQ magic ff ff ff ff"}},
		{"truncated magic", []byte("YM"), true, []string{"inside the YMQ magic (2 of 4 bytes)"}},
		{"truncated identity header", append(magic[:], 5, 0, 0), true, []string{"inside the identity message"}},
		{"huge identity", append(magic[:], binary.LittleEndian.AppendUint64(nil, 1<<40)...), false, []string{"identity length 1099511627776 exceeds"}},
		{"truncated message header", append(hs, 1, 2, 3), true, []string{"middle of a message", "3 of 8 bytes", "peer=bad"}},
		{"truncated payload", append(lengthOnly(100), "only a bit"...), true, []string{"middle of a message", "peer=bad"}},
		{"length 2^63", lengthOnly(1 << 63), false, []string{"message length 9223372036854775808 exceeds the limit of 1024 bytes", "peer=bad"}},
		{"length over MaxMessageSize", lengthOnly(1025), false, []string{"message length 1025 exceeds the limit of 1024 bytes", "peer=bad"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, b)
			p.write(tc.input)
			if tc.fin {
				_ = p.c.(*net.TCPConn).CloseWrite()
			}
			p.expectEnd()
			line := lr.waitFor(t, tc.log...)
			if !strings.Contains(line, "remote=127.0.0.1:") {
				t.Fatalf("log line without the remote address: %s", line)
			}
			// The good connection still works both ways.
			if err := good.Send([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			for {
				ev := recv(t, b.Messages(), "event")
				if ev.Peer == "bad" {
					continue // the handshake of "bad" may have completed
				}
				if ev.Kind != transport.EventMessage || ev.Peer != "good" || string(ev.Data) != "ping" {
					t.Fatalf("got %v from %q", ev.Kind, ev.Peer)
				}
				break
			}
			if err := b.Send("good", []byte("pong")); err != nil {
				t.Fatal(err)
			}
			if m := recv(t, good.Messages(), "pong"); string(m) != "pong" {
				t.Fatalf("got %q", m)
			}
		})
	}
}

// TestBinderClosePeer: ClosePeer flushes what was queued, sends a FIN, forgets the peer and
// reports EventClosed once the connection is gone.
func TestBinderClosePeer(t *testing.T) {
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	p := connectRaw(t, b, "malformed")
	for i := range 100 {
		if err := b.Send("malformed", testPayload(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.ClosePeer("malformed"); err != nil {
		t.Fatal(err)
	}
	if err := b.ClosePeer("never-seen"); err != nil {
		t.Fatalf("ClosePeer of an unknown peer = %v", err)
	}
	if err := b.Send("malformed", []byte("x")); !errors.Is(err, transport.ErrUnknownPeer) {
		t.Fatalf("Send after ClosePeer = %v", err)
	}
	p.send([]byte("ignored after ClosePeer"))
	for i := range 100 {
		if m := p.readMsg(); !bytes.Equal(m, testPayload(i)) {
			t.Fatalf("queued message %d lost", i)
		}
	}
	if !p.expectEnd() {
		t.Fatal("no FIN after ClosePeer")
	}
	_ = p.c.Close()
	recvEvent(t, b, transport.EventClosed, "malformed")
}

// TestBinderCloseFlushes: Close writes what is queued, then FINs every connection, then
// closes Messages with ErrClosed.
func TestBinderCloseFlushes(t *testing.T) {
	b, err := bind(context.Background(), address.MustParse("tcp://127.0.0.1:0"), opts("server", nil), testTuning, false)
	if err != nil {
		t.Fatal(err)
	}
	p := connectRaw(t, b, "peer")
	const n = 2000
	for i := range n {
		if err := b.Send("peer", testPayload(i)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	for i := range n {
		if m := p.readMsg(); !bytes.Equal(m, testPayload(i)) {
			t.Fatalf("message %d lost", i)
		}
	}
	if !p.expectEnd() {
		t.Fatal("no FIN after Close")
	}
	_ = p.c.Close()
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, b.Messages(), "Messages after Close")
	if !errors.Is(b.Err(), transport.ErrClosed) {
		t.Fatalf("Err = %v", b.Err())
	}
	if err := b.Send("peer", nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if _, err := net.Dial("tcp", b.Addr().HostPort()); err == nil {
		t.Fatal("still accepting after Close")
	}
}

// TestBinderIPCSocketFile: a stale socket file is replaced, a live one is refused, and the
// file is removed on Close.
func TestBinderIPCSocketFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = stale.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket file missing: %v", err)
	}

	b, err := bind(context.Background(), address.MustParse("ipc://"+path), opts("server", nil), testTuning, false)
	if err != nil {
		t.Fatalf("bind over a stale socket: %v", err)
	}
	_, err = bind(context.Background(), address.MustParse("ipc://"+path), opts("server", nil), testTuning, false)
	if err == nil || !strings.Contains(err.Error(), "another process listens") {
		t.Fatalf("second bind on a live socket: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}

	notSocket := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notSocket, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = bind(context.Background(), address.MustParse("ipc://"+notSocket), opts("server", nil), testTuning, false)
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("bind over a regular file: %v", err)
	}
	if _, err := os.Stat(notSocket); err != nil {
		t.Fatalf("regular file removed: %v", err)
	}
}

// TestBindTLSErrors: a missing or bad certificate or key is a one-line error naming it.
func TestBindTLSErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlstest.WriteSelfSigned(t, dir, "a")
	otherCert, _ := tlstest.WriteSelfSigned(t, dir, "b")
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name       string
		cert, key  string
		wantInside []string
	}{
		{"nothing", "", "", []string{"certificate and key file are required"}},
		{"no key", cert, "", []string{"key file is required", cert}},
		{"no cert", "", key, []string{"certificate file is required"}},
		{"missing cert file", missing, key, []string{"TLS certificate", missing, "no such file"}},
		{"missing key file", cert, missing, []string{"TLS key", missing, "no such file"}},
		{"mismatched pair", otherCert, key, []string{otherCert, key, "does not match"}},
		{"key as cert", key, key, []string{key}},
	}
	for _, scheme := range []string{"tls", "wss"} {
		for _, tc := range cases {
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				o := opts("server", nil)
				o.TLSCertFile, o.TLSKeyFile = tc.cert, tc.key
				addr := scheme + "://127.0.0.1:0"
				_, err := Backend{}.Bind(context.Background(), address.MustParse(addr), o)
				if err == nil {
					t.Fatal("bind succeeded")
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") || !strings.Contains(msg, "bind "+addr) {
					t.Fatalf("error is not one line naming the address: %q", msg)
				}
				for _, w := range tc.wantInside {
					if !strings.Contains(msg, w) {
						t.Fatalf("error %q does not mention %q", msg, w)
					}
				}
			})
		}
	}
}
