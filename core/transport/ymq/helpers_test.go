package ymq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(echoServerEnv); addr != "" {
		os.Exit(runEchoServer(addr))
	}
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait for something expected; it is a hang guard, not a timing
// assertion.
const waitFor = 10 * time.Second

// testTuning keeps the close paths short so failing tests fail fast.
var testTuning = tuning{
	closeGrace: 2 * time.Second,
	finWait:    2 * time.Second,
	handshake:  5 * time.Second,
	pendingMax: 64 << 20,
	pendingTTL: time.Minute,
}

// logRecorder is a slog handler that keeps every line, so tests can assert that a problem
// was logged.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	attrs []slog.Attr
	root  *logRecorder
}

func newLogRecorder() *logRecorder {
	r := &logRecorder{}
	r.root = r
	return r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var sb strings.Builder
	sb.WriteString(rec.Level.String() + " " + rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
		return true
	})
	r.root.mu.Lock()
	r.root.lines = append(r.root.lines, sb.String())
	r.root.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{attrs: append(append([]slog.Attr(nil), r.attrs...), as...), root: r.root}
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// find returns the first line containing every part.
func (r *logRecorder) find(parts ...string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
next:
	for _, l := range r.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return l, true
	}
	return "", false
}

func (r *logRecorder) waitFor(t testing.TB, parts ...string) string {
	t.Helper()
	var line string
	eventually(t, func() error {
		var ok bool
		if line, ok = r.find(parts...); !ok {
			return fmt.Errorf("no log line with %q", parts)
		}
		return nil
	})
	return line
}

func (r *logRecorder) dump(t testing.TB) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		t.Log(l)
	}
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(r) }

// eventually polls f until it succeeds or waitFor passes.
func eventually(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", waitFor, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return recvWithin(t, ch, what, waitFor)
}

func recvWithin[T any](t testing.TB, ch <-chan T, what string, waitFor time.Duration) T {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("%s: nothing within %v", what, waitFor)
	}
	var zero T
	return zero
}

// expectClosed waits until ch is closed, discarding what is still in it.
func expectClosed[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: not closed within %v", what, waitFor)
		}
	}
}

func recvEvent(t testing.TB, b transport.Binder, kind transport.EventKind, peer string) transport.Inbound {
	t.Helper()
	ev := recv(t, b.Messages(), "binder event")
	if ev.Kind != kind || ev.Peer != peer {
		t.Fatalf("got %v from %q (%d bytes), want %v from %q", ev.Kind, ev.Peer, len(ev.Data), kind, peer)
	}
	return ev
}

func opts(identity string, log *logRecorder) transport.Options {
	o := transport.Options{Identity: identity}
	if log != nil {
		o.Logger = log.logger()
	} else {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func mustBind(t testing.TB, addr string, o transport.Options) *binder {
	t.Helper()
	b, err := bind(context.Background(), address.MustParse(addr), o, testTuning, false)
	if err != nil {
		t.Fatalf("bind %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func mustConnect(t testing.TB, addr address.Address, o transport.Options) *connector {
	t.Helper()
	k, err := connect(context.Background(), addr, o, testTuning)
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// frame is one YMQ message on the wire.
func frame(payload []byte) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, uint64(len(payload))), payload...)
}

// handshakeBytes is magic + identity message.
func handshakeBytes(identity string) []byte {
	return append(magic[:], frame([]byte(identity))...)
}

// rawPeer is a hand-driven YMQ peer on a plain socket.
type rawPeer struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func newRawPeer(t testing.TB, c net.Conn) *rawPeer {
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, c: c, br: bufio.NewReader(c)}
}

func dialRaw(t testing.TB, b transport.Binder) *rawPeer {
	t.Helper()
	a := b.Addr()
	network, target := "tcp", a.HostPort()
	if a.Scheme == address.IPC {
		network, target = "unix", a.Path
	}
	c, err := net.DialTimeout(network, target, waitFor)
	if err != nil {
		t.Fatalf("dial %s: %v", a, err)
	}
	return newRawPeer(t, c)
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	_ = p.c.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

func (p *rawPeer) send(msgs ...[]byte) {
	p.t.Helper()
	var buf []byte
	for _, m := range msgs {
		buf = append(buf, frame(m)...)
	}
	p.write(buf)
}

func (p *rawPeer) readN(n int) []byte {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.br, buf); err != nil {
		p.t.Fatalf("raw read of %d bytes: %v", n, err)
	}
	return buf
}

// expectHandshake reads the peer's magic and identity.
func (p *rawPeer) expectHandshake(identity string) {
	p.t.Helper()
	want := handshakeBytes(identity)
	if got := p.readN(len(want)); !bytes.Equal(got, want) {
		p.t.Fatalf("handshake bytes % x, want % x", got, want)
	}
}

func (p *rawPeer) readMsg() []byte {
	p.t.Helper()
	n := binary.LittleEndian.Uint64(p.readN(8))
	return p.readN(int(n))
}

// expectEnd reads until the connection ends and reports whether it was an orderly EOF.
func (p *rawPeer) expectEnd() (orderly bool) {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(waitFor))
	_, err := io.Copy(io.Discard, p.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.t.Fatalf("connection still open after %v", waitFor)
	}
	return err == nil
}

// reset closes with RST.
func (p *rawPeer) reset() {
	if tc, ok := p.c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = p.c.Close()
}

// tcpPair returns both ends of a plain loopback TCP connection, closed when the test ends.
func tcpPair(t testing.TB) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dialed.Close() })
	if accepted = recv(t, ch, "accept"); accepted == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = accepted.Close() })
	return dialed, accepted
}

// rawListener accepts connections from a Go connector.
type rawListener struct {
	t  testing.TB
	ln net.Listener
}

func newRawListener(t testing.TB) *rawListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &rawListener{t: t, ln: ln}
}

func (l *rawListener) addr() address.Address {
	return address.MustParse("tcp://" + l.ln.Addr().String())
}

func (l *rawListener) accept() *rawPeer {
	l.t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.ln.Accept()
		ch <- res{c, err}
	}()
	r := recv(l.t, ch, "accept")
	if r.err != nil {
		l.t.Fatalf("accept: %v", r.err)
	}
	return newRawPeer(l.t, r.c)
}

// waitPeerIdentity waits until k has learnt the identity its peer announced, and checks
// that it is want.
func waitPeerIdentity(t testing.TB, k *connector, want string) {
	t.Helper()
	eventually(t, func() error {
		if id := k.PeerIdentity(); id != want {
			return fmt.Errorf("peer identity %q, want %q", id, want)
		}
		return nil
	})
}

// dialedConn waits for k's connection and returns its socket.
func dialedConn(t *testing.T, k *connector) net.Conn {
	t.Helper()
	var c net.Conn
	eventually(t, func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.cur == nil {
			return errors.New("connection not published yet")
		}
		c = k.cur.raw
		return nil
	})
	return c
}
