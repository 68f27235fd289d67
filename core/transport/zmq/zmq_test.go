package zmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor is how long any single expected event may take before a test fails.
const waitFor = 10 * time.Second

var be = Backend{}

func quietOpts(identity string) transport.Options {
	return transport.Options{Identity: identity, Logger: slog.New(slog.DiscardHandler)}
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-time.After(waitFor):
		t.Fatalf("%s: nothing within %v", what, waitFor)
	}
	var zero T
	return zero
}

func bind(t testing.TB, addr string, opts transport.Options) transport.Binder {
	t.Helper()
	b, err := be.Bind(context.Background(), address.MustParse(addr), opts)
	if err != nil {
		t.Fatalf("Bind(%s): %v", addr, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func connect(t testing.TB, addr address.Address, opts transport.Options) transport.Connector {
	t.Helper()
	c, err := be.Connect(context.Background(), addr, opts)
	if err != nil {
		t.Fatalf("Connect(%s): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRegistered(t *testing.T) {
	b, err := transport.Lookup("zmq")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "zmq" {
		t.Fatalf("Name() = %q", b.Name())
	}
}

// TestRoundTripOrdering sends messages both ways between a Connector and a Binder and checks
// identity, content and order on every scheme.
func TestRoundTripOrdering(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, addr string
		n          int
	}{
		{"tcp", "tcp://127.0.0.1:0", 10000},
		{"ipc", "ipc://" + filepath.Join(dir, "s.sock"), 2000},
		{"inproc", "inproc://roundtrip", 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bind(t, tc.addr, quietOpts("the-binder"))
			if tc.name == "tcp" && b.Addr().Port == 0 {
				t.Fatalf("Addr() = %v, want the real port", b.Addr())
			}
			c := connect(t, b.Addr(), quietOpts("Client|one"))
			for i := range tc.n {
				if err := c.Send([]byte("c2s-" + strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.n {
				in := recv(t, b.Messages(), "binder message")
				want := "c2s-" + strconv.Itoa(i)
				if in.Kind != transport.EventMessage || in.Peer != "Client|one" || string(in.Data) != want {
					t.Fatalf("message %d = %v %q %q, want message from Client|one %q", i, in.Kind, in.Peer, in.Data, want)
				}
			}
			for i := range tc.n {
				if err := b.Send("Client|one", []byte("s2c-"+strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.n {
				got := recv(t, c.Messages(), "connector message")
				if want := "s2c-" + strconv.Itoa(i); string(got) != want {
					t.Fatalf("reply %d = %q, want %q", i, got, want)
				}
			}
			if c.PeerIdentity() != "" || c.Err() != nil || b.Err() != nil {
				t.Fatalf("PeerIdentity %q, Err %v / %v", c.PeerIdentity(), c.Err(), b.Err())
			}
		})
	}
}

// TestConcurrentSenders checks that Send is safe from many goroutines and keeps each
// goroutine's order (run it with -race).
func TestConcurrentSenders(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	c := connect(t, b.Addr(), quietOpts("many"))
	const senders, each = 8, 1000
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if err := c.Send(fmt.Appendf(nil, "%d:%d", s, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, senders)
	for range senders * each {
		in := recv(t, b.Messages(), "message")
		var s, i int
		if _, err := fmt.Sscanf(string(in.Data), "%d:%d", &s, &i); err != nil {
			t.Fatalf("bad payload %q", in.Data)
		}
		if i != next[s] {
			t.Fatalf("sender %d: got %d, want %d", s, i, next[s])
		}
		next[s]++
	}
	wg.Wait()
}

func TestPubSub(t *testing.T) {
	for _, addr := range []string{"tcp://127.0.0.1:0", "inproc://pubsub"} {
		t.Run(strings.Split(addr, ":")[0], func(t *testing.T) {
			p, err := be.Publish(context.Background(), address.MustParse(addr), quietOpts(""))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			s, err := be.Subscribe(context.Background(), p.Addr(), quietOpts(""))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// ZMQ's slow joiner: what is published before the subscription has reached the
			// publisher is lost, so publish probes until one arrives.
			probeUntilReceived(t, p.Publish, s.Messages())
			const n = 2000
			for i := range n {
				p.Publish([]byte("m-" + strconv.Itoa(i)))
			}
			for i := 0; i < n; {
				got := recv(t, s.Messages(), "published message")
				if string(got) == "probe" {
					continue
				}
				if want := "m-" + strconv.Itoa(i); string(got) != want {
					t.Fatalf("message %d = %q, want %q", i, got, want)
				}
				i++
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
		})
	}
}

// probeUntilReceived publishes "probe" every 10 ms until one arrives on ch.
func probeUntilReceived(t testing.TB, publish func([]byte), ch <-chan []byte) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	publish([]byte("probe"))
	for {
		select {
		case m := <-ch:
			if string(m) != "probe" {
				t.Fatalf("got %q before any probe", m)
			}
			return
		case <-tick.C:
			publish([]byte("probe"))
		case <-deadline:
			t.Fatal("subscription never became active")
		}
	}
}

func TestUnsupported(t *testing.T) {
	ctx := context.Background()
	ops := map[string]func(address.Address, transport.Options) error{
		"Bind":      func(a address.Address, o transport.Options) error { _, err := be.Bind(ctx, a, o); return err },
		"Connect":   func(a address.Address, o transport.Options) error { _, err := be.Connect(ctx, a, o); return err },
		"Publish":   func(a address.Address, o transport.Options) error { _, err := be.Publish(ctx, a, o); return err },
		"Subscribe": func(a address.Address, o transport.Options) error { _, err := be.Subscribe(ctx, a, o); return err },
	}
	for name, op := range ops {
		for _, a := range []string{"tls://127.0.0.1:5555", "ws://127.0.0.1:5555", "wss://127.0.0.1:5555/x"} {
			err := op(address.MustParse(a), quietOpts("x"))
			if !errors.Is(err, transport.ErrUnsupported) {
				t.Errorf("%s(%s) = %v, want ErrUnsupported", name, a, err)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, a) || !strings.Contains(msg, "ymq") {
				t.Errorf("%s(%s): message %q should be one line naming the address and the ymq backend", name, a, msg)
			}
		}
		opts := quietOpts("x")
		opts.TLSCertFile, opts.TLSKeyFile = "cert.pem", "key.pem"
		if err := op(address.MustParse("tcp://127.0.0.1:0"), opts); !errors.Is(err, transport.ErrUnsupported) || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%s with TLS files = %v, want ErrUnsupported mentioning TLS", name, err)
		}
		if err := op(address.Address{}, opts); !errors.Is(err, address.ErrInvalid) {
			t.Errorf("%s(zero address) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestBindErrors(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("first"))
	_, err := be.Bind(context.Background(), b.Addr(), quietOpts("second"))
	if err == nil || !strings.Contains(err.Error(), b.Addr().String()) {
		t.Fatalf("second Bind on %v = %v, want an error naming the address", b.Addr(), err)
	}
	if !errors.Is(err, zmq4.Errno(syscall.EADDRINUSE)) {
		t.Fatalf("second Bind error %v does not wrap EADDRINUSE", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := be.Bind(ctx, address.MustParse("tcp://127.0.0.1:0"), quietOpts("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Bind with cancelled context = %v", err)
	}
	long := quietOpts(strings.Repeat("x", 256))
	if _, err := be.Connect(context.Background(), b.Addr(), long); err == nil {
		t.Fatal("Connect with a 256-byte identity succeeded")
	}
}

// TestWrongFrameCountDropped checks that the Binder drops anything but [identity][payload]
// and the Connector anything but one frame, and that the connection keeps working.
func TestWrongFrameCountDropped(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	raw := rawSocket(t, zmq4.DEALER, "raw-dealer")
	if err := raw.Connect(b.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.SendMessage("two", "frames"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Send("good", 0); err != nil {
		t.Fatal(err)
	}
	// Messages on one connection arrive in order, so had the two-frame message been
	// delivered it would come first.
	if in := recv(t, b.Messages(), "message"); in.Peer != "raw-dealer" || string(in.Data) != "good" {
		t.Fatalf("got %q from %q, want only the one-frame message", in.Data, in.Peer)
	}

	router := rawSocket(t, zmq4.ROUTER, "raw-router")
	port, err := bindRandom(router)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, address.Address{Scheme: address.TCP, Host: "127.0.0.1", Port: port}, quietOpts("conn"))
	if err := c.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := router.RecvMessage(0)
	if err != nil || len(got) != 2 || got[0] != "conn" || got[1] != "hello" {
		t.Fatalf("raw router got %q, %v", got, err)
	}
	if _, err := router.SendMessage("conn", "x", "y"); err != nil {
		t.Fatal(err)
	}
	if _, err := router.SendMessage("conn", "good"); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, c.Messages(), "connector message"); string(m) != "good" {
		t.Fatalf("connector got %q, want only the one-frame message", m)
	}
}

func TestUnknownPeer(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	if err := b.Send("nobody", []byte("lost")); err != nil {
		t.Fatalf("Send to unknown identity = %v, want nil (silently dropped)", err)
	}
	if err := b.Send("", []byte("lost")); !errors.Is(err, transport.ErrUnknownPeer) {
		t.Fatalf("Send to empty identity = %v, want ErrUnknownPeer", err)
	}
	c := connect(t, b.Addr(), quietOpts("known"))
	c.Send([]byte("hi"))
	recv(t, b.Messages(), "hello")
	b.Send("known", []byte("reply"))
	if m := recv(t, c.Messages(), "reply"); string(m) != "reply" {
		t.Fatalf("got %q", m)
	}
	if err := b.ClosePeer("known"); !errors.Is(err, transport.ErrUnsupported) {
		t.Fatalf("ClosePeer = %v, want ErrUnsupported", err)
	}
}

func TestBroadcast(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	c1 := connect(t, b.Addr(), quietOpts("one"))
	c2 := connect(t, b.Addr(), quietOpts("two"))
	silent := connect(t, b.Addr(), quietOpts("silent"))
	c1.Send([]byte("hi"))
	c2.Send([]byte("hi"))
	seen := map[string]bool{}
	for range 2 {
		seen[recv(t, b.Messages(), "hello").Peer] = true
	}
	if !seen["one"] || !seen["two"] {
		t.Fatalf("peers seen: %v", seen)
	}
	b.Broadcast([]byte("all"))
	b.Send("one", []byte("after"))
	for _, c := range []transport.Connector{c1, c2} {
		if m := recv(t, c.Messages(), "broadcast"); string(m) != "all" {
			t.Fatalf("got %q, want the broadcast", m)
		}
	}
	if m := recv(t, c1.Messages(), "direct"); string(m) != "after" {
		t.Fatalf("got %q", m)
	}
	// A peer that never spoke is invisible to a ZMQ ROUTER; make sure it got nothing by
	// having it speak now and checking that its first message is the later direct send.
	silent.Send([]byte("now I speak"))
	recv(t, b.Messages(), "silent hello")
	b.Send("silent", []byte("direct"))
	if m := recv(t, silent.Messages(), "direct"); string(m) != "direct" {
		t.Fatalf("silent peer got %q first, want the direct message", m)
	}
}

// TestFullInboxKeepsSending fills the Binder's Messages channel and checks that its sends
// still go out, then that nothing was lost or reordered.
func TestFullInboxKeepsSending(t *testing.T) {
	opts := quietOpts("binder")
	opts.QueueSize = 4
	b := bind(t, "tcp://127.0.0.1:0", opts)
	c := connect(t, b.Addr(), quietOpts("flood"))
	const n = 1000
	for i := range n {
		c.Send([]byte(strconv.Itoa(i)))
	}
	deadline := time.Now().Add(waitFor)
	for len(b.Messages()) < cap(b.Messages()) {
		if time.Now().After(deadline) {
			t.Fatal("inbox never filled")
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising
	}
	for i := range 10 {
		if err := b.Send("flood", []byte("reply-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if m := recv(t, c.Messages(), "reply while inbox full"); string(m) != "reply-"+strconv.Itoa(i) {
			t.Fatalf("got %q", m)
		}
	}
	for i := range n {
		if in := recv(t, b.Messages(), "queued message"); string(in.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d = %q", i, in.Data)
		}
	}
}

// TestCloseFlushes checks that a Connector closed right after a burst still delivers it.
func TestCloseFlushes(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	c, err := be.Connect(context.Background(), b.Addr(), quietOpts("leaving"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		c.Send([]byte(strconv.Itoa(i)))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if in := recv(t, b.Messages(), "message sent before Close"); string(in.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d = %q", i, in.Data)
		}
	}
}

func TestCloseSemantics(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	c := connect(t, b.Addr(), quietOpts("c"))
	if b.Err() != nil || c.Err() != nil {
		t.Fatal("Err before Close")
	}
	for _, x := range []interface {
		Close() error
		Err() error
	}{b, c} {
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if !errors.Is(x.Err(), transport.ErrClosed) {
			t.Fatalf("Err after Close = %v", x.Err())
		}
	}
	if _, ok := <-b.Messages(); ok {
		t.Fatal("binder Messages still open")
	}
	if _, ok := <-c.Messages(); ok {
		t.Fatal("connector Messages still open")
	}
	if err := b.Send("c", nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if err := c.Send(nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
}

// TestCloseUnreachable checks that Close is bounded when queued messages can never be
// delivered, and that Connect does not wait for a peer.
func TestCloseUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	start := time.Now()
	c, err := be.Connect(context.Background(), address.Address{Scheme: address.TCP, Host: "127.0.0.1", Port: port}, quietOpts("x"))
	if err != nil {
		t.Fatal(err)
	}
	c.Send([]byte("never delivered"))
	c.Close()
	if d := time.Since(start); d > closeGrace+2*time.Second {
		t.Fatalf("Connect+Close with an unreachable peer took %v", d)
	}
}

// TestLateBinder checks that a Connector created before its Binder exists delivers once the
// Binder appears (libzmq reconnects by itself).
func TestLateBinder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + l.Addr().String()
	l.Close()
	c := connect(t, address.MustParse(addr), quietOpts("early"))
	c.Send([]byte("queued"))
	b := bind(t, addr, quietOpts("late"))
	if in := recv(t, b.Messages(), "queued message"); in.Peer != "early" || string(in.Data) != "queued" {
		t.Fatalf("got %q from %q", in.Data, in.Peer)
	}
}

func TestMaxMessageSize(t *testing.T) {
	opts := quietOpts("binder")
	opts.MaxMessageSize = 1000
	b := bind(t, "tcp://127.0.0.1:0", opts)
	big := connect(t, b.Addr(), quietOpts("big"))
	big.Send(bytes.Repeat([]byte("x"), 1001)) // libzmq drops this peer's connection
	small := connect(t, b.Addr(), quietOpts("small"))
	small.Send(bytes.Repeat([]byte("y"), 1000))
	if in := recv(t, b.Messages(), "message"); in.Peer != "small" || len(in.Data) != 1000 {
		t.Fatalf("got %d bytes from %q, want the 1000-byte message only", len(in.Data), in.Peer)
	}
}

// rawSocket is a plain pebbe socket in its own context, used as a foreign peer.
func rawSocket(t testing.TB, kind zmq4.Type, identity string) *zmq4.Socket {
	t.Helper()
	zctx, err := zmq4.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	s, err := zctx.NewSocket(kind)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{s.SetLinger(0), s.SetRcvtimeo(waitFor), s.SetSndhwm(0), s.SetRcvhwm(0)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if identity != "" {
		if err := s.SetIdentity(identity); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.Close()
		zctx.Term()
	})
	return s
}

func bindRandom(s *zmq4.Socket) (int, error) {
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		return 0, err
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		return 0, err
	}
	a, err := address.Parse(ep)
	return a.Port, err
}

// TestAddressForms checks IPv6 literals (which need ZMQ_IPV6) and host names (resolved by
// libzmq, unlike YMQ).
func TestAddressForms(t *testing.T) {
	pingPong := func(t *testing.T, b transport.Binder, to address.Address) {
		t.Helper()
		c := connect(t, to, quietOpts("forms"))
		c.Send([]byte("ping"))
		if in := recv(t, b.Messages(), "ping"); in.Peer != "forms" || string(in.Data) != "ping" {
			t.Fatalf("got %q from %q", in.Data, in.Peer)
		}
		b.Send("forms", []byte("pong"))
		if m := recv(t, c.Messages(), "pong"); string(m) != "pong" {
			t.Fatalf("got %q", m)
		}
	}
	t.Run("ipv6", func(t *testing.T) {
		if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		} else {
			l.Close()
		}
		b := bind(t, "tcp://[::1]:0", quietOpts("v6"))
		if a := b.Addr(); a.Host != "::1" || a.Port == 0 {
			t.Fatalf("Addr() = %+v", a)
		}
		pingPong(t, b, b.Addr())
	})
	t.Run("hostname", func(t *testing.T) {
		b := bind(t, "tcp://127.0.0.1:0", quietOpts("named"))
		pingPong(t, b, address.Address{Scheme: address.TCP, Host: "localhost", Port: b.Addr().Port})
	})
}

// TestBurstIsBatched checks that a burst of sends is handed to libzmq in few batches (one
// wake-up each), not one wake-up per message.
func TestBurstIsBatched(t *testing.T) {
	b := bind(t, "tcp://127.0.0.1:0", quietOpts("binder"))
	c := connect(t, b.Addr(), quietOpts("burst"))
	const n = 10000
	for i := range n {
		c.Send([]byte(strconv.Itoa(i)))
	}
	for i := range n {
		if in := recv(t, b.Messages(), "burst message"); string(in.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d = %q", i, in.Data)
		}
	}
	batches := c.(*connector).batches.Load()
	if batches == 0 || batches > n/10 {
		t.Fatalf("%d messages went out in %d batches, want at most %d", n, batches, n/10)
	}
	t.Logf("%d messages in %d batches", n, batches)
}
