package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// runServer starts a Server over backend and stops it when the test ends, checking that
// Run returned nil.
func runServer(t testing.TB, backend transport.Backend, opts ServerOptions) *Server {
	t.Helper()
	if opts.Address.IsZero() {
		opts.Address = address.MustParse("tcp://127.0.0.1:0")
	}
	opts.Backend = backend
	if opts.Logger == nil {
		opts.Logger, _ = testLogger()
	}
	return startServer(t, NewServer(opts))
}

// startServer runs s until the test ends, checking that Run returned nil.
func startServer(t testing.TB, s *Server) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("server not ready within 5 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("server Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10 s")
		}
	})
	return s
}

// expect receives len(want) messages and compares them.
func expect(t testing.TB, p *fakePeer, want [][]byte) {
	t.Helper()
	got := make([][]byte, 0, len(want))
	for range want {
		got = append(got, p.recv(t))
	}
	if !equalMsgs(got, want) {
		t.Fatalf("peer %s got\n%s\nwant\n%s", p.identity, describe(got), describe(want))
	}
}

func sendSteps(t testing.TB, peers map[string]*fakePeer, steps []step) {
	t.Helper()
	for _, s := range steps {
		peers[s.peer].send(t, s.data)
	}
}

func TestServerOverFakeTransport(t *testing.T) {
	n := newFakeNet()
	s := runServer(t, n, ServerOptions{})
	b := n.binder(s.Addr())
	if b == nil || s.Addr().Port == 0 {
		t.Fatalf("server address %v not bound", s.Addr())
	}
	if b.identity != DefaultIdentity {
		t.Fatalf("server identity %q, want %q", b.identity, DefaultIdentity)
	}
	peers := map[string]*fakePeer{}
	for _, id := range []string{"client", "worker"} {
		p, err := b.dial(id)
		if err != nil {
			t.Fatal(err)
		}
		peers[id] = p
	}
	a, c := oid("a"), oid("c")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: hashed off the loop
	sendSteps(t, peers, seq(getReq("worker", 0, a, NoLimit), dupReq("worker", 1, c, a)))
	sendSteps(t, peers, seq(setReq("client", 0, a, big), getReq("client", 1, a, 10), infoReq("client", 2)))
	expect(t, peers["client"], cat(respSetOK(0, a), respGetOK(1, a, big[:10]), respInfo(2, 2, 1, uint64(len(big)))))
	expect(t, peers["worker"], cat(respGetOK(0, a, big), respDupOK(1, c)))
	peers["worker"].quiet(t)
}

// TestServerLargeSetsKeepArrivalOrder checks that answering large sets before their hash is
// known never reorders anything: every request sees the effect of all requests that arrived
// before it, whichever peer sent them, and info totals wait for the de-duplication.
func TestServerLargeSetsKeepArrivalOrder(t *testing.T) {
	n := newFakeNet()
	s := runServer(t, n, ServerOptions{})
	b := n.binder(s.Addr())
	writer, err := b.dial("writer")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := b.dial("reader")
	if err != nil {
		t.Fatal(err)
	}
	id, twin := oid("x"), oid("twin")
	const rounds = 40
	var wantWriter, wantReader [][]byte
	var last []byte
	for i := range rounds {
		// Alternate large (hashed by the pool) and small (hashed on the spot) payloads.
		size := 3<<20 + i
		if i%2 == 1 {
			size = 16
		}
		last = bytes.Repeat([]byte{byte(i)}, size)
		writer.send(t, hdr(protocol.OSSSet, id, uint64(i), uint64(size)))
		writer.send(t, last)
		reader.send(t, hdr(protocol.OSSGet, id, uint64(i), 4))
		wantWriter = append(wantWriter, respSetOK(uint64(i), id)...)
		wantReader = append(wantReader, respGetOK(uint64(i), id, last[:4])...)
	}
	writer.send(t, hdr(protocol.OSSSet, twin, rounds, uint64(len(last))))
	writer.send(t, bytes.Clone(last))
	writer.send(t, hdr(protocol.OSSInfo, protocol.ObjectID{}, rounds+1, 0))
	wantWriter = append(wantWriter, respSetOK(rounds, twin)...)
	wantWriter = append(wantWriter, respInfo(rounds+1, 2, 1, uint64(len(last)))...)
	expect(t, writer, wantWriter)
	expect(t, reader, wantReader)
}

func TestServerBadInputClosesOnlyThatPeer(t *testing.T) {
	a := oid("a")
	hello := []byte("survives")
	tests := []struct {
		name    string
		bad     [][]byte
		noEvent bool
	}{
		{name: "garbage", bad: [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n")}},
		{name: "truncated header", bad: [][]byte{hdr(protocol.OSSGet, a, 0, 0)[:40]}},
		{name: "unknown request type", bad: [][]byte{hdr(77, a, 0, 0)}},
		{name: "huge set", bad: [][]byte{hdr(protocol.OSSSet, a, 0, 1<<62)}},
		{name: "duplicate with a bad payload size", bad: [][]byte{hdr(protocol.OSSDuplicate, a, 0, 49)}},
		{name: "no close event from the transport", bad: [][]byte{[]byte{0}}, noEvent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNet()
			n.noCloseEvent = tc.noEvent
			log, logs := testLogger()
			s := runServer(t, n, ServerOptions{Logger: log, MaxMessageSize: 1 << 30})
			b := n.binder(s.Addr())
			good, err := b.dial("good")
			if err != nil {
				t.Fatal(err)
			}
			bad, err := b.dial("bad")
			if err != nil {
				t.Fatal(err)
			}
			peers := map[string]*fakePeer{"good": good, "bad": bad}
			sendSteps(t, peers, seq(setReq("good", 0, a, hello), getReq("bad", 0, oid("never"), NoLimit)))
			expect(t, good, respSetOK(0, a))
			sendSteps(t, peers, raw("bad", tc.bad...))
			// Whatever the rejected peer sends next is ignored.
			sendSteps(t, peers, delReq("bad", 1, a))
			bad.waitEnded(t)
			sendSteps(t, peers, seq(getReq("good", 1, a, NoLimit), infoReq("good", 2)))
			expect(t, good, cat(respGetOK(1, a, hello), respInfo(2, 1, 1, uint64(len(hello)))))
			if got := b.closedList(); !slices.Equal(got, []string{"bad"}) {
				t.Fatalf("closed peers %v, want [bad]", got)
			}
			if lines := logs.lines("malformed", "peer=bad"); len(lines) != 1 {
				t.Fatalf("%d log lines about the bad peer, want 1:\n%s", len(lines), logs)
			}
			// The same identity may come back and is served again.
			again, err := b.dial("bad")
			if err != nil {
				t.Fatal(err)
			}
			again.send(t, hdr(protocol.OSSGet, a, 5, NoLimit))
			expect(t, again, respGetOK(5, a, hello))
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	n := newFakeNet()
	log, _ := testLogger()
	s := NewServer(ServerOptions{Address: address.MustParse("tcp://127.0.0.1:0"), Backend: n, Logger: log})
	if !s.Addr().IsZero() {
		t.Fatalf("address %v before bind", s.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Bind(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(ctx); !errors.Is(err, ErrAlreadyBound) {
		t.Fatalf("second Bind: %v, want ErrAlreadyBound", err)
	}
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready not closed after Bind")
	}
	b := n.binder(s.Addr())
	p, err := b.dial("p")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	p.send(t, hdr(protocol.OSSDelete, oid("probe"), 0, 0))
	expect(t, p, respDelNotExist(0, oid("probe")))
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	p.waitEnded(t)
	if n.binder(s.Addr()) != nil {
		t.Fatal("binder still open after Run returned")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestServerBindFailure(t *testing.T) {
	n := newFakeNet()
	addr := address.MustParse("tcp://127.0.0.1:41000")
	first := runServer(t, n, ServerOptions{Address: addr})
	log, _ := testLogger()
	s := NewServer(ServerOptions{Address: first.Addr(), Backend: n, Logger: log})
	err := s.Run(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("address in use")) {
		t.Fatalf("Run on a used address: %v", err)
	}
	if got := fmt.Sprint(err); !bytes.Contains([]byte(got), []byte(addr.String())) {
		t.Fatalf("error %q does not name the address", got)
	}
}

// TestServerDedupOfLargeObjects covers de-duplication of payloads hashed in parts by the
// hasher pool after their set was answered, with a real hash and with one where everything
// collides.
func TestServerDedupOfLargeObjects(t *testing.T) {
	const size = 5<<20 + 3 // several hash parts, the last one short
	for _, tc := range []struct {
		name string
		hash func([]byte) uint64
	}{
		{"seeded hash", nil},
		{"colliding hash", constantHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNet()
			log, _ := testLogger()
			s := NewServer(ServerOptions{Address: address.MustParse("tcp://127.0.0.1:0"), Backend: n, Logger: log})
			if tc.hash != nil {
				s.hash = tc.hash
			}
			startServer(t, s)
			p, err := n.binder(s.Addr()).dial("p")
			if err != nil {
				t.Fatal(err)
			}
			peers := map[string]*fakePeer{"p": p}
			first := bytes.Repeat([]byte("abcdefg"), size/7+1)[:size]
			same := bytes.Clone(first)
			other := bytes.Clone(first)
			other[size-1] ^= 1 // differs only in the last part
			a, b, c := oid("a"), oid("b"), oid("c")
			sendSteps(t, peers, seq(setReq("p", 0, a, first), setReq("p", 1, b, same), setReq("p", 2, c, other),
				infoReq("p", 3)))
			expect(t, p, cat(respSetOK(0, a), respSetOK(1, b), respSetOK(2, c), respInfo(3, 3, 2, 2*size)))
			sendSteps(t, peers, seq(getReq("p", 4, c, NoLimit), delReq("p", 5, a), getReq("p", 6, b, NoLimit)))
			expect(t, p, cat(respGetOK(4, c, other), respDelOK(5, a), respGetOK(6, b, first)))
			sendSteps(t, peers, infoReq("p", 7))
			expect(t, p, respInfo(7, 2, 2, 2*size))
		})
	}
}
