package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/testbin"
)

func dialClient(t testing.TB, backend transport.Backend, addr address.Address, identity string, log ...*testLog) *Client {
	t.Helper()
	opts := ClientOptions{Address: addr, Identity: identity, Backend: backend}
	if len(log) > 0 {
		opts.Logger = log[0].logger
	} else {
		opts.Logger, _ = testLogger()
	}
	c, err := Dial(testContext(t, 10*time.Second), opts)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type testLog struct {
	logger *slog.Logger
	buf    *logBuffer
}

// clientSuite runs the client's behaviour tests against any backend, so that the same
// tests cover the in-memory fake and real YMQ.
func clientSuite(t *testing.T, backend transport.Backend, addr func(testing.TB) address.Address) {
	t.Run("operations", func(t *testing.T) {
		srv := addr(t)
		c := dialClient(t, backend, srv, "ops")
		ctx := testContext(t, 10*time.Second)
		a, b := oid("ops-a"), oid("ops-b")
		data := []byte("some object bytes")
		if err := c.Set(ctx, a, data); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Get(ctx, a); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get = %q, %v", got, err)
		}
		if got, err := c.GetN(ctx, a, 4); err != nil || !bytes.Equal(got, data[:4]) {
			t.Fatalf("GetN 4 = %q, %v", got, err)
		}
		if got, err := c.GetN(ctx, a, 0); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("GetN 0 = %q (nil %v), %v", got, got == nil, err)
		}
		if err := c.Duplicate(ctx, b, a); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Get(ctx, b); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get duplicate = %q, %v", got, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Info{Objects: 2, Contents: 1, Bytes: uint64(len(data))}); info != want {
			t.Fatalf("Info = %+v, want %+v", info, want)
		}
		if existed, err := c.Delete(ctx, a); err != nil || !existed {
			t.Fatalf("Delete = %v, %v", existed, err)
		}
		if existed, err := c.Delete(ctx, a); err != nil || existed {
			t.Fatalf("second Delete = %v, %v", existed, err)
		}
		if err := c.Set(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Get(ctx, a); err != nil || len(got) != 0 {
			t.Fatalf("Get empty = %q, %v", got, err)
		}
		for _, id := range []protocol.ObjectID{a, b} {
			if _, err := c.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("get waits for a set from another client", func(t *testing.T) {
		srv := addr(t)
		reader := dialClient(t, backend, srv, "reader")
		writer := dialClient(t, backend, srv, "writer")
		ctx := testContext(t, 10*time.Second)
		id := oid("later")
		got := make(chan []byte, 1)
		go func() {
			data, err := reader.Get(ctx, id)
			if err != nil {
				t.Errorf("Get: %v", err)
			}
			got <- data
		}()
		waitPending(t, reader, 1)
		// The get is on the server once a later request of the same client is answered.
		if _, err := reader.Info(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			t.Fatalf("Get returned %q before the set", d)
		default:
		}
		if err := writer.Set(ctx, id, []byte("finally")); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if string(d) != "finally" {
				t.Fatalf("Get = %q", d)
			}
		case <-ctx.Done():
			t.Fatal("Get not answered after the set")
		}
	})

	t.Run("async requests keep their order", func(t *testing.T) {
		srv := addr(t)
		c := dialClient(t, backend, srv, "async")
		ctx := testContext(t, 10*time.Second)
		id, copyID := oid("async"), oid("async-copy")
		for i := range 50 {
			if err := c.SetAsync(id, []byte(fmt.Sprint("version ", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.DuplicateAsync(copyID, id); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteAsync(id); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Get(ctx, copyID); err != nil || string(got) != "version 49" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		if existed, err := c.Delete(ctx, id); err != nil || existed {
			t.Fatalf("Delete after DeleteAsync = %v, %v", existed, err)
		}
		if _, err := c.Delete(ctx, copyID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pipelined from many goroutines", func(t *testing.T) {
		srv := addr(t)
		c := dialClient(t, backend, srv, "pipelined")
		ctx := testContext(t, 20*time.Second)
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 50 {
					id := oid(fmt.Sprint("pipe ", g, " ", i))
					data := []byte(fmt.Sprint("payload ", g, " ", i))
					if err := c.Set(ctx, id, data); err != nil {
						t.Error(err)
						return
					}
					got, err := c.Get(ctx, id)
					if err != nil || !bytes.Equal(got, data) {
						t.Errorf("Get = %q, %v", got, err)
						return
					}
					if existed, err := c.Delete(ctx, id); err != nil || !existed {
						t.Errorf("Delete = %v, %v", existed, err)
						return
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("cancelled get is forgotten", func(t *testing.T) {
		srv := addr(t)
		lb := newTestLog()
		c := dialClient(t, backend, srv, "cancel", lb)
		id := oid("cancelled")
		short, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.Get(short, id)
			errc <- err
		}()
		waitPending(t, c, 1)
		ctx := testContext(t, 10*time.Second)
		if _, err := c.Info(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Get: %v", err)
		}
		if err := c.Set(ctx, id, []byte("late")); err != nil {
			t.Fatal(err)
		}
		// The late answer of the abandoned get is read and dropped.
		testbin.Eventually(t, 5*time.Second, func() error {
			if len(lb.buf.lines("response to no pending request")) != 1 {
				return errors.New("late answer not seen")
			}
			return nil
		})
		if got, err := c.Get(ctx, id); err != nil || string(got) != "late" {
			t.Fatalf("Get after the late answer = %q, %v", got, err)
		}
		if _, err := c.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("close fails pending requests", func(t *testing.T) {
		srv := addr(t)
		c := dialClient(t, backend, srv, "closing")
		ctx := testContext(t, 10*time.Second)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Get(ctx, oid("never set"))
			errc <- err
		}()
		waitPending(t, c, 1)
		if _, err := c.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrClientClosed) {
			t.Fatalf("pending Get after Close: %v", err)
		}
		if err := c.Set(ctx, oid("x"), nil); !errors.Is(err, ErrClientClosed) {
			t.Fatalf("Set after Close: %v", err)
		}
		if err := c.SetAsync(oid("x"), nil); !errors.Is(err, ErrClientClosed) {
			t.Fatalf("SetAsync after Close: %v", err)
		}
		if !errors.Is(c.Err(), ErrClientClosed) {
			t.Fatalf("Err after Close: %v", c.Err())
		}
	})
}

// waitPending waits until c has n requests in flight, so that a request made by another
// goroutine is known to be on the wire.
func waitPending(t testing.TB, c *Client, n int) {
	t.Helper()
	testbin.Eventually(t, 5*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.pending) != n {
			return fmt.Errorf("%d requests in flight, want %d", len(c.pending), n)
		}
		return nil
	})
}

func newTestLog() *testLog {
	l, b := testLogger()
	return &testLog{logger: l, buf: b}
}

func TestClientOverFakeTransport(t *testing.T) {
	n := newFakeNet()
	clientSuite(t, n, func(t testing.TB) address.Address {
		return runServer(t, n, ServerOptions{}).Addr()
	})
}

// scripted is a fake server driven by the test: it reads the client's requests and sends
// whatever the test wants back.
type scripted struct {
	b    *fakeBinder
	peer string
}

func newScripted(t *testing.T, identity string) (*scripted, *Client, *testLog) {
	n := newFakeNet()
	bb, err := n.Bind(context.Background(), address.MustParse("tcp://127.0.0.1:0"), transport.Options{Identity: "scripted"})
	if err != nil {
		t.Fatal(err)
	}
	b := bb.(*fakeBinder)
	t.Cleanup(func() { _ = b.Close() })
	lb := newTestLog()
	c := dialClient(t, n, b.Addr(), identity, lb)
	s := &scripted{b: b, peer: identity}
	if ev := s.next(t); ev.Kind != transport.EventConnected {
		t.Fatalf("first event %v", ev.Kind)
	}
	return s, c, lb
}

func (s *scripted) next(t *testing.T) transport.Inbound {
	t.Helper()
	select {
	case ev := <-s.b.in:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no request within 5 s")
	}
	return transport.Inbound{}
}

// request reads one request header (and its payload, for set and duplicate).
func (s *scripted) request(t *testing.T) (protocol.OSSHeader, []byte) {
	t.Helper()
	h, err := protocol.DecodeOSSHeader(s.next(t).Data)
	if err != nil {
		t.Fatal(err)
	}
	var payload []byte
	if h.Type == protocol.OSSSet || h.Type == protocol.OSSDuplicate {
		payload = s.next(t).Data
	}
	return h, payload
}

func (s *scripted) reply(t *testing.T, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		if err := s.b.Send(s.peer, m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientWireFormat(t *testing.T) {
	s, c, _ := newScripted(t, "Client|wire")
	ctx := testContext(t, 10*time.Second)
	a, b := oid("a"), oid("b")
	type result struct {
		v   any
		err error
	}
	res := make(chan result, 1)
	steps := []struct {
		call    func() (any, error)
		want    protocol.OSSHeader
		payload []byte
		answer  [][]byte
		result  any
	}{
		{
			call:    func() (any, error) { return nil, c.Set(ctx, a, []byte("abc")) },
			want:    protocol.OSSHeader{ObjectID: a, PayloadLength: 3, ID: 0, Type: protocol.OSSSet},
			payload: []byte("abc"),
			answer:  respSetOK(0, a),
		},
		{
			call:    func() (any, error) { return nil, c.Set(ctx, a, nil) },
			want:    protocol.OSSHeader{ObjectID: a, PayloadLength: 0, ID: 1, Type: protocol.OSSSet},
			payload: []byte{},
			answer:  respSetOK(1, a),
		},
		{
			call:   func() (any, error) { d, err := c.Get(ctx, a); return string(d), err },
			want:   protocol.OSSHeader{ObjectID: a, PayloadLength: NoLimit, ID: 2, Type: protocol.OSSGet},
			answer: respGetOK(2, a, []byte("xyz")),
			result: "xyz",
		},
		{
			call:   func() (any, error) { return c.Delete(ctx, b) },
			want:   protocol.OSSHeader{ObjectID: b, ID: 3, Type: protocol.OSSDelete},
			answer: respDelNotExist(3, b),
			result: false,
		},
		{
			call:    func() (any, error) { return nil, c.Duplicate(ctx, b, a) },
			want:    protocol.OSSHeader{ObjectID: b, PayloadLength: 48, ID: 4, Type: protocol.OSSDuplicate},
			payload: protocol.EncodeOSSObjectID(a),
			answer:  respDupOK(4, b),
		},
		{
			call:   func() (any, error) { return c.Info(ctx) },
			want:   protocol.OSSHeader{ID: 5, Type: protocol.OSSInfo},
			answer: respInfo(5, 7, 6, 5),
			result: Info{Objects: 7, Contents: 6, Bytes: 5},
		},
	}
	for i, st := range steps {
		go func() {
			v, err := st.call()
			res <- result{v, err}
		}()
		h, payload := s.request(t)
		if h != st.want || !bytes.Equal(payload, st.payload) {
			t.Fatalf("step %d: request %+v payload %q, want %+v payload %q", i, h, payload, st.want, st.payload)
		}
		s.reply(t, st.answer...)
		r := <-res
		if r.err != nil || r.v != st.result {
			t.Fatalf("step %d: result %v, %v; want %v", i, r.v, r.err, st.result)
		}
	}
}

func TestClientRejectsUnexpectedResponses(t *testing.T) {
	a, b := oid("a"), oid("b")
	tests := []struct {
		name   string
		call   func(ctx context.Context, c *Client) error
		answer func(reqID uint64) [][]byte
	}{
		{
			name:   "set answered with getOK",
			call:   func(ctx context.Context, c *Client) error { return c.Set(ctx, a, []byte("x")) },
			answer: func(id uint64) [][]byte { return [][]byte{hdr(protocol.OSSGetOK, a, id, 0)} },
		},
		{
			name:   "set answered with a payload",
			call:   func(ctx context.Context, c *Client) error { return c.Set(ctx, a, []byte("x")) },
			answer: func(id uint64) [][]byte { return [][]byte{hdr(protocol.OSSSetOK, a, id, 2), []byte("hi")} },
		},
		{
			name: "get answered for another object",
			call: func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, a); return err },
			answer: func(id uint64) [][]byte {
				return respGetOK(id, b, []byte("x"))
			},
		},
		{
			name:   "get answered with more than asked",
			call:   func(ctx context.Context, c *Client) error { _, err := c.GetN(ctx, a, 1); return err },
			answer: func(id uint64) [][]byte { return respGetOK(id, a, []byte("xy")) },
		},
		{
			name:   "get whose payload was torn",
			call:   func(ctx context.Context, c *Client) error { _, err := c.Get(ctx, a); return err },
			answer: func(id uint64) [][]byte { return [][]byte{hdr(protocol.OSSGetOK, a, id, 100), respSetOK(99, a)[0]} },
		},
		{
			name:   "delete answered with duplicateOK",
			call:   func(ctx context.Context, c *Client) error { _, err := c.Delete(ctx, a); return err },
			answer: func(id uint64) [][]byte { return respDupOK(id, a) },
		},
		{
			name:   "duplicate answered with setOK",
			call:   func(ctx context.Context, c *Client) error { return c.Duplicate(ctx, a, b) },
			answer: func(id uint64) [][]byte { return respSetOK(id, a) },
		},
		{
			name: "info with a short payload",
			call: func(ctx context.Context, c *Client) error { _, err := c.Info(ctx); return err },
			answer: func(id uint64) [][]byte {
				return [][]byte{hdr(protocol.OSSInfoOK, protocol.ObjectID{}, id, 16), make([]byte, 16)}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := newScripted(t, "Client|strict")
			ctx := testContext(t, 10*time.Second)
			errc := make(chan error, 1)
			go func() { errc <- tc.call(ctx, c) }()
			h, _ := s.request(t)
			s.reply(t, tc.answer(h.ID)...)
			if err := <-errc; !errors.Is(err, ErrUnexpectedResponse) {
				t.Fatalf("error %v, want ErrUnexpectedResponse", err)
			}
			// The connection stays usable.
			go func() { _, err := c.Delete(ctx, b); errc <- err }()
			h, _ = s.request(t)
			s.reply(t, respDelOK(h.ID, b)...)
			if err := <-errc; err != nil {
				t.Fatalf("next request: %v", err)
			}
		})
	}
}

func TestClientAsyncFailureIsLogged(t *testing.T) {
	s, c, lb := newScripted(t, "Client|async")
	a := oid("a")
	if err := c.DeleteAsync(a); err != nil {
		t.Fatal(err)
	}
	h, _ := s.request(t)
	s.reply(t, respSetOK(h.ID, a)...)
	testbin.Eventually(t, 5*time.Second, func() error {
		if len(lb.buf.lines("delete failed", a.String())) != 1 {
			return fmt.Errorf("no log line; log:\n%s", lb.buf)
		}
		return nil
	})
}

func TestClientConnectionLoss(t *testing.T) {
	tests := []struct {
		name string
		kill func(s *scripted)
		want error
	}{
		{name: "server closes the connection", kill: func(s *scripted) { _ = s.b.ClosePeer(s.peer) }, want: transport.ErrClosedByPeer},
		{name: "malformed response header", kill: func(s *scripted) { _ = s.b.Send(s.peer, []byte("nonsense")) }, want: protocol.ErrBadHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := newScripted(t, "Client|lost")
			ctx := testContext(t, 10*time.Second)
			errc := make(chan error, 2)
			for range 2 {
				go func() { _, err := c.Get(ctx, oid("pending")); errc <- err }()
				s.request(t)
			}
			tc.kill(s)
			for range 2 {
				if err := <-errc; !errors.Is(err, tc.want) {
					t.Fatalf("pending Get failed with %v, want %v", err, tc.want)
				}
			}
			<-c.Done()
			if err := c.Set(ctx, oid("x"), nil); !errors.Is(err, tc.want) {
				t.Fatalf("Set after the loss: %v, want %v", err, tc.want)
			}
		})
	}
}
