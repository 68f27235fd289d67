package ymq

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/freeport"
)

// TestConnectorEndsOnFIN: a peer that closes with a FIN is gone for good (§2.4).
func TestConnectorEndsOnFIN(t *testing.T) {
	l := newRawListener(t)
	k := mustConnect(t, l.addr(), opts("client", nil))
	p := l.accept()
	p.write(handshakeBytes("server"))
	p.send([]byte("last words"))
	p.expectHandshake("client")
	_ = p.c.(*net.TCPConn).CloseWrite()

	if m := recv(t, k.Messages(), "message before FIN"); string(m) != "last words" {
		t.Fatalf("got %q", m)
	}
	expectClosed(t, k.Messages(), "connector Messages after FIN")
	if !errors.Is(k.Err(), transport.ErrClosedByPeer) {
		t.Fatalf("Err = %v, want ErrClosedByPeer", k.Err())
	}
	if err := k.Send([]byte("x")); !errors.Is(err, transport.ErrClosedByPeer) {
		t.Fatalf("Send = %v, want ErrClosedByPeer", err)
	}
	// The connector answers with its own FIN.
	if !p.expectEnd() {
		t.Fatal("connector did not close with a FIN")
	}
}

// waitDisconnected polls until the connector has noticed that its connection aborted and
// has no new one (the caller keeps the listener closed).
func waitDisconnected(t *testing.T, k *connector, lr *logRecorder) {
	t.Helper()
	lr.waitFor(t, "ymq: connection aborted")
	eventually(t, func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.cur != nil {
			return errors.New("connector still has a connection")
		}
		return nil
	})
}

// connectThenLoseServer connects a "client" connector to a raw "server", waits for the
// handshake, then takes the server away for good: its listener closes and the connection
// is reset.
func connectThenLoseServer(t *testing.T, o transport.Options) *connector {
	t.Helper()
	l := newRawListener(t)
	k := mustConnect(t, l.addr(), o)
	p := l.accept()
	p.write(handshakeBytes("server"))
	p.expectHandshake("client")
	waitPeerIdentity(t, k, "server")
	_ = l.ln.Close()
	p.reset()
	return k
}

// relisten binds the same port again (the previous listener was closed).
func relisten(t *testing.T, a address.Address) *rawListener {
	t.Helper()
	var ln net.Listener
	eventually(t, func() (err error) {
		ln, err = net.Listen("tcp", a.HostPort())
		return err
	})
	t.Cleanup(func() { _ = ln.Close() })
	return &rawListener{t: t, ln: ln}
}

// TestConnectorReconnectsAfterReset: a reset makes the connector reconnect; what was
// queued while it was away is written on the new connection, and later messages arrive.
func TestConnectorReconnectsAfterReset(t *testing.T) {
	lr := newLogRecorder()
	l := newRawListener(t)
	o := opts("client", lr)
	o.Retry = transport.RetryPolicy{MaxRetries: 30, InitialDelay: time.Millisecond}
	k := mustConnect(t, l.addr(), o)
	p := l.accept()
	p.write(handshakeBytes("server"))
	p.expectHandshake("client")
	if err := k.Send([]byte("before")); err != nil {
		t.Fatal(err)
	}
	if m := p.readMsg(); string(m) != "before" {
		t.Fatalf("got %q", m)
	}

	// Nobody listens while the connector is away, so the queued sends cannot go anywhere.
	addr := l.addr()
	_ = l.ln.Close()
	p.reset()
	waitDisconnected(t, k, lr)
	for _, m := range []string{"queued-1", "queued-2"} {
		if err := k.Send([]byte(m)); err != nil {
			t.Fatalf("Send while reconnecting: %v", err)
		}
	}
	l2 := relisten(t, addr)
	p2 := l2.accept()
	p2.expectHandshake("client")
	p2.write(handshakeBytes("server"))
	for _, want := range []string{"queued-1", "queued-2"} {
		if m := p2.readMsg(); string(m) != want {
			t.Fatalf("after reconnect got %q, want %q", m, want)
		}
	}
	p2.send([]byte("after"))
	if m := recv(t, k.Messages(), "message after reconnect"); string(m) != "after" {
		t.Fatalf("got %q", m)
	}
	if k.Err() != nil {
		t.Fatalf("Err = %v after a reconnect", k.Err())
	}
	lr.waitFor(t, "ymq: reconnecting", "after=aborted")
}

// TestConnectorRefusesIdentityChange: after a reset, a peer announcing another identity is
// dropped and the connector tries again (§2.3).
func TestConnectorRefusesIdentityChange(t *testing.T) {
	lr := newLogRecorder()
	defer func() {
		if t.Failed() {
			lr.dump(t)
		}
	}()
	l := newRawListener(t)
	o := opts("client", lr)
	o.Retry = transport.RetryPolicy{MaxRetries: 5, InitialDelay: time.Millisecond}
	k := mustConnect(t, l.addr(), o)
	p := l.accept()
	p.write(handshakeBytes("scheduler-1"))
	p.expectHandshake("client")
	waitPeerIdentity(t, k, "scheduler-1")
	if err := k.Send([]byte("for scheduler-1 only")); err != nil {
		t.Fatal(err)
	}
	if m := p.readMsg(); string(m) != "for scheduler-1 only" {
		t.Fatalf("got %q", m)
	}
	p.reset()
	// The listener stays up, so the connector is without a connection only for an instant:
	// its log line says it has dropped the old one.
	lr.waitFor(t, "ymq: reconnecting")
	if err := k.Send([]byte("queued")); err != nil {
		t.Fatal(err)
	}

	impostor := l.accept()
	impostor.expectHandshake("client")
	impostor.write(handshakeBytes("scheduler-2"))
	// Nothing queued may reach the impostor: the connection just ends.
	impostor.expectEnd()
	lr.waitFor(t, "ymq: closing connection", `peer identity changed from "scheduler-1" to "scheduler-2"`)

	p3 := l.accept()
	p3.expectHandshake("client")
	p3.write(handshakeBytes("scheduler-1"))
	if m := p3.readMsg(); string(m) != "queued" {
		t.Fatalf("got %q", m)
	}
}

// TestConnectorGivesUpOnIdentityChange: if the peer keeps its new identity, the retry
// budget runs out and the connector ends with ErrRetriesExhausted.
func TestConnectorGivesUpOnIdentityChange(t *testing.T) {
	l := newRawListener(t)
	o := opts("client", nil)
	o.Retry = transport.RetryPolicy{MaxRetries: 2, InitialDelay: time.Millisecond}
	k := mustConnect(t, l.addr(), o)
	p := l.accept()
	p.write(handshakeBytes("old"))
	waitPeerIdentity(t, k, "old")
	p.reset()
	for range 3 { // the first attempt and two retries
		q := l.accept()
		q.write(handshakeBytes("new"))
		q.expectEnd()
	}
	expectClosed(t, k.Messages(), "connector Messages")
	if !errors.Is(k.Err(), transport.ErrRetriesExhausted) || !strings.Contains(k.Err().Error(), "identity changed") {
		t.Fatalf("Err = %v, want ErrRetriesExhausted naming the identity change", k.Err())
	}
}

// closedPort returns an address where nothing listens.
func closedPort(t *testing.T) address.Address {
	port, err := freeport.Run(1)
	if err != nil {
		t.Fatal(err)
	}
	return address.Address{Scheme: address.TCP, Host: "127.0.0.1", Port: port}
}

// TestConnectRetrySchedule: the first attempt at once, MaxRetries retries after it, then
// ErrRetriesExhausted naming the address; the waits grow as InitialDelay << k.
func TestConnectRetrySchedule(t *testing.T) {
	for _, retries := range []int{0, 1, 3} {
		a := closedPort(t)
		var attempts []time.Time
		base, _ := dialFunc(a)
		dial := func(ctx context.Context) (net.Conn, error) {
			attempts = append(attempts, time.Now())
			return base(ctx)
		}
		o := opts("client", nil)
		o.Retry = transport.RetryPolicy{MaxRetries: retries, InitialDelay: 2 * time.Millisecond}
		_, err := connectWith(context.Background(), a, o, testTuning, dial)
		if !errors.Is(err, transport.ErrRetriesExhausted) || !strings.Contains(err.Error(), a.String()) {
			t.Fatalf("retries %d: err = %v, want ErrRetriesExhausted naming %s", retries, err, a)
		}
		if len(attempts) != retries+1 {
			t.Fatalf("retries %d: %d attempts, want %d", retries, len(attempts), retries+1)
		}
		for k := 1; k < len(attempts); k++ {
			if gap, min := attempts[k].Sub(attempts[k-1]), o.Retry.Delay(k); gap < min {
				t.Fatalf("retries %d: wait before attempt %d was %v, want at least %v", retries, k+1, gap, min)
			}
		}
	}
}

// TestConnectCancel: cancelling ctx stops the retry loop with ctx's error.
func TestConnectCancel(t *testing.T) {
	a := closedPort(t)
	var attempts atomic.Int32
	base, _ := dialFunc(a)
	ctx, cancel := context.WithCancel(context.Background())
	dial := func(ctx context.Context) (net.Conn, error) {
		if attempts.Add(1) == 1 {
			defer cancel() // cancel during the first (long) wait
		}
		return base(ctx)
	}
	o := opts("client", nil)
	o.Retry = transport.RetryPolicy{MaxRetries: 8, InitialDelay: time.Hour}
	_, err := connectWith(ctx, a, o, testTuning, dial)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

// TestConnectorGivesUpReconnecting: after an abort the connector reconnects with a fresh
// budget and ends with ErrRetriesExhausted once that is spent.
func TestConnectorGivesUpReconnecting(t *testing.T) {
	o := opts("client", nil)
	o.Retry = transport.RetryPolicy{MaxRetries: 2, InitialDelay: time.Millisecond}
	k := connectThenLoseServer(t, o)
	expectClosed(t, k.Messages(), "connector Messages")
	if !errors.Is(k.Err(), transport.ErrRetriesExhausted) {
		t.Fatalf("Err = %v, want ErrRetriesExhausted", k.Err())
	}
	if err := k.Send([]byte("x")); !errors.Is(err, transport.ErrRetriesExhausted) {
		t.Fatalf("Send = %v", err)
	}
}

// TestConnectorCloseFlushes: Close writes everything queued, then a FIN.
func TestConnectorCloseFlushes(t *testing.T) {
	l := newRawListener(t)
	k := mustConnect(t, l.addr(), opts("client", nil))
	const n = 1000
	for i := range n {
		if err := k.Send(testPayload(i)); err != nil {
			t.Fatal(err)
		}
	}
	p := l.accept()
	p.write(handshakeBytes("server"))
	closed := make(chan error, 1)
	go func() { closed <- k.Close() }()
	p.expectHandshake("client")
	for i := range n {
		if m := p.readMsg(); !bytes.Equal(m, testPayload(i)) {
			t.Fatalf("message %d differs", i)
		}
	}
	if !p.expectEnd() {
		t.Fatal("no FIN after the flush")
	}
	_ = p.c.Close() // answer the FIN, as Python peers do
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, k.Messages(), "Messages after Close")
}

// TestConnectorCloseWhileReconnecting: Close during the retry wait ends at once.
func TestConnectorCloseWhileReconnecting(t *testing.T) {
	lr := newLogRecorder()
	o := opts("client", lr)
	o.Retry = transport.RetryPolicy{MaxRetries: 3, InitialDelay: time.Hour}
	k := connectThenLoseServer(t, o)
	waitDisconnected(t, k, lr)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(k.Err(), transport.ErrClosed) {
		t.Fatalf("Err = %v, want ErrClosed", k.Err())
	}
}

// TestConnectUnsupportedScheme: inproc is ZMQ only.
func TestConnectUnsupportedScheme(t *testing.T) {
	_, err := Backend{}.Connect(context.Background(), address.MustParse("inproc://x"), opts("c", nil))
	if !errors.Is(err, transport.ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
	_, err = Backend{}.Bind(context.Background(), address.MustParse("inproc://x"), opts("c", nil))
	if !errors.Is(err, transport.ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
}

// TestSocketOptions: TCP_NODELAY and a 30 s keep-alive on accepted and dialed sockets
// (§2.5).
func TestSocketOptions(t *testing.T) {
	t.Setenv(EnvLocal, "0") // TCP, not the same-host fast path
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	k := mustConnect(t, b.Addr(), opts("client", nil))
	recvEvent(t, b, transport.EventConnected, "client")

	b.mu.RLock()
	accepted := b.peers["client"].conn.raw
	b.mu.RUnlock()
	dialed := dialedConn(t, k)

	for name, c := range map[string]net.Conn{"accepted": accepted, "dialed": dialed} {
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var nodelay, keepalive, idle int
		var serr error
		err = rc.Control(func(fd uintptr) {
			if nodelay, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY); serr != nil {
				return
			}
			if keepalive, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); serr != nil {
				return
			}
			idle, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		})
		if err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		if nodelay == 0 || keepalive == 0 || idle != 30 {
			t.Fatalf("%s socket: TCP_NODELAY %d, SO_KEEPALIVE %d, TCP_KEEPIDLE %d; want on, on, 30", name, nodelay, keepalive, idle)
		}
	}
}
