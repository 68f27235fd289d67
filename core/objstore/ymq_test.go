package objstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/core/transport/tlstest"
	"github.com/scaler-go/scaler/core/transport/ymq"
)

// The tests in this file run the server and client over real YMQ on loopback, with the
// backend found the way production code finds it (Backend nil: the registered "ymq").

func ymqServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	return runServer(t, nil, opts)
}

func TestClientOverYMQ(t *testing.T) {
	clientSuite(t, nil, func(t testing.TB) address.Address {
		return ymqServer(t, ServerOptions{}).Addr()
	})
}

func TestYMQServerIdentityAndTLS(t *testing.T) {
	cert, key := tlstest.WriteSelfSigned(t, t.TempDir(), "server")
	s := ymqServer(t, ServerOptions{
		Address:     address.MustParse("tls://127.0.0.1:0"),
		Identity:    "CustomStorage",
		TLSCertFile: cert,
		TLSKeyFile:  key,
	})
	ctx := testContext(t, 10*time.Second)
	conn, err := ymq.Backend{}.Connect(ctx, s.Addr(), transport.Options{Identity: "tls-peer", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Send(hdr(protocol.OSSDelete, oid("probe"), 0, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-conn.Messages():
		if !bytes.Equal(m, respDelNotExist(0, oid("probe"))[0]) {
			t.Fatalf("answer % x", m)
		}
	case <-ctx.Done():
		t.Fatal("no answer over TLS")
	}
	if got := conn.PeerIdentity(); got != "CustomStorage" {
		t.Fatalf("server identity %q", got)
	}
	c := dialClient(t, nil, s.Addr(), "tls-client")
	if err := c.Set(ctx, oid("tls"), []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, oid("tls")); err != nil || string(got) != "secret" {
		t.Fatalf("Get over TLS = %q, %v", got, err)
	}
}

func TestYMQManyClients(t *testing.T) {
	s := ymqServer(t, ServerOptions{})
	ctx := testContext(t, 30*time.Second)
	shared := oid("shared")
	const clients = 100
	var wg sync.WaitGroup
	results := make(chan error, clients)
	ready := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			c, err := Dial(ctx, ClientOptions{Address: s.Addr(), Identity: fmt.Sprint("Client|many-", i), Logger: quietLogger()})
			if err != nil {
				results <- err
				return
			}
			defer c.Close()
			// Everyone waits on the shared object before it exists.
			got := make(chan error, 1)
			go func() {
				d, err := c.Get(ctx, shared)
				if err == nil && string(d) != "for everyone" {
					err = fmt.Errorf("shared object %q", d)
				}
				got <- err
			}()
			<-ready
			for j := range 10 {
				id := oid(fmt.Sprint("many ", i, " ", j))
				data := bytes.Repeat([]byte{byte(i), byte(j)}, 100*j)
				if err := c.Set(ctx, id, data); err != nil {
					results <- err
					return
				}
				d, err := c.Get(ctx, id)
				if err != nil || !bytes.Equal(d, data) {
					results <- fmt.Errorf("client %d object %d: %d bytes, %v", i, j, len(d), err)
					return
				}
				if existed, err := c.Delete(ctx, id); err != nil || !existed {
					results <- fmt.Errorf("client %d delete %d: %v, %v", i, j, existed, err)
					return
				}
			}
			results <- <-got
		})
	}
	close(ready)
	writer := dialClient(t, nil, s.Addr(), "Client|writer")
	if err := writer.Set(ctx, shared, []byte("for everyone")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	info, err := writer.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Info{Objects: 1, Contents: 1, Bytes: 12}); info != want {
		t.Fatalf("Info after everyone deleted their objects: %+v, want %+v", info, want)
	}
}

func TestYMQOneGiBRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB round trip skipped in -short mode")
	}
	s := ymqServer(t, ServerOptions{})
	ctx := testContext(t, 120*time.Second)
	c := dialClient(t, nil, s.Addr(), "Client|big")
	size := 1 << 30
	if raceEnabled {
		size = 128 << 20
	}
	data := make([]byte, size)
	// A cheap non-constant pattern, so that a misplaced chunk cannot go unnoticed.
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], uint64(i)*0x9e3779b97f4a7c15)
	}
	id := oid("one gib")
	if err := c.Set(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("1 GiB object came back different")
	}
	got = nil
	info, err := c.Info(ctx)
	if err != nil || info != (Info{Objects: 1, Contents: 1, Bytes: uint64(size)}) {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if existed, err := c.Delete(ctx, id); err != nil || !existed {
		t.Fatalf("Delete = %v, %v", existed, err)
	}
}

// rawPeer is a YMQ peer written by hand over TCP, able to send anything.
type rawPeer struct {
	conn net.Conn
}

func dialRaw(t *testing.T, addr address.Address, identity string) *rawPeer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.HostPort(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	p := &rawPeer{conn: conn}
	if identity != "" {
		p.write(t, []byte("YMQ\x01"))
		p.message(t, []byte(identity))
	}
	return p
}

func (p *rawPeer) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (p *rawPeer) message(t *testing.T, m []byte) {
	t.Helper()
	p.write(t, binary.LittleEndian.AppendUint64(nil, uint64(len(m))))
	p.write(t, m)
}

// waitClosed reads until the server ends the connection, and returns how: io.EOF for an
// orderly close, another error for a reset.
func (p *rawPeer) waitClosed(t *testing.T) error {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := p.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close the connection within 10 s")
			}
			return err
		}
	}
}

func TestYMQBadInput(t *testing.T) {
	s := ymqServer(t, ServerOptions{MaxMessageSize: 64 << 20})
	ctx := testContext(t, 60*time.Second)
	keeper := dialClient(t, nil, s.Addr(), "Client|keeper")
	kept := map[protocol.ObjectID][]byte{}
	for i := range 20 {
		id, data := oid(fmt.Sprint("kept ", i)), bytes.Repeat([]byte{byte(i)}, 1000*i)
		kept[id] = data
		if err := keeper.Set(ctx, id, data); err != nil {
			t.Fatal(err)
		}
	}
	// Another client keeps working all the time.
	stop := make(chan struct{})
	worker := make(chan error, 1)
	go func() {
		c, err := Dial(ctx, ClientOptions{Address: s.Addr(), Identity: "Client|busy", Logger: quietLogger()})
		if err != nil {
			worker <- err
			return
		}
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				worker <- nil
				return
			default:
			}
			id := oid(fmt.Sprint("busy ", i))
			if err := c.Set(ctx, id, []byte("busy")); err != nil {
				worker <- err
				return
			}
			if _, err := c.Delete(ctx, id); err != nil {
				worker <- err
				return
			}
		}
	}()

	header := func(typ uint16, plen uint64) []byte { return hdr(typ, oid("x"), 0, plen) }
	tests := []struct {
		name string
		// identity empty: the raw bytes replace the YMQ handshake.
		identity string
		send     [][]byte
		raw      []byte
		graceful bool
	}{
		{name: "garbage bytes", raw: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{name: "wrong magic", raw: append([]byte("YMQ\x02"), make([]byte, 16)...)},
		{name: "huge YMQ length", identity: "bad-length", raw: binary.LittleEndian.AppendUint64(nil, 1<<40)},
		{name: "truncated header", identity: "bad-truncated", send: [][]byte{header(protocol.OSSGet, 0)[:60]}, graceful: true},
		{name: "unknown request type", identity: "bad-type", send: [][]byte{header(12, 0)}, graceful: true},
		{name: "huge set", identity: "bad-huge", send: [][]byte{header(protocol.OSSSet, 1<<50)}, graceful: true},
		{name: "duplicate with a bad payload", identity: "bad-dup", send: [][]byte{header(protocol.OSSDuplicate, 48), make([]byte, 48)}, graceful: true},
		{name: "header with a far pointer", identity: "bad-pointer", send: [][]byte{func() []byte {
			h := header(protocol.OSSGet, 0)
			h[40] = 2
			return h
		}()}, graceful: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, s.Addr(), tc.identity)
			if tc.raw != nil {
				p.write(t, tc.raw)
			}
			for _, m := range tc.send {
				p.message(t, m)
			}
			err := p.waitClosed(t)
			if tc.graceful && !errors.Is(err, io.EOF) {
				t.Fatalf("connection ended with %v, want an orderly close", err)
			}
			for id, data := range kept {
				got, err := keeper.Get(ctx, id)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("kept object changed: %d bytes, %v", len(got), err)
				}
			}
		})
	}
	close(stop)
	if err := <-worker; err != nil {
		t.Fatalf("busy client: %v", err)
	}
	info, err := keeper.Info(ctx)
	if err != nil || info.Objects != uint64(len(kept)) {
		t.Fatalf("Info = %+v, %v; want %d objects", info, err, len(kept))
	}
}

// TestYMQServerShutdown checks that stopping the server ends its clients' connections in
// an orderly way, which they report to callers still waiting.
func TestYMQServerShutdown(t *testing.T) {
	s := NewServer(ServerOptions{Address: address.MustParse("tcp://127.0.0.1:0"), Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Bind(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	c := dialClient(t, nil, s.Addr(), "Client|abandoned")
	waitCtx := testContext(t, 10*time.Second)
	got := make(chan error, 1)
	go func() { _, err := c.Get(waitCtx, oid("never")); got <- err }()
	waitPending(t, c, 1)
	if _, err := c.Info(waitCtx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := <-got; !errors.Is(err, transport.ErrClosedByPeer) {
		t.Fatalf("pending Get after server shutdown: %v", err)
	}
}

// TestYMQReplayRecordedSessions replays the recorded Python traffic over real YMQ
// connections with the recorded identities, following the recorded order: each request is
// sent after everything recorded before it, and each recorded answer is awaited on its
// connection before going on.
func TestYMQReplayRecordedSessions(t *testing.T) {
	for _, path := range transcripts(t) {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			s := ymqServer(t, ServerOptions{})
			ctx := testContext(t, 30*time.Second)
			recs := loadRecords(t, path)
			conns := map[string]transport.Connector{}
			defer func() {
				for _, c := range conns {
					_ = c.Close()
				}
			}()
			answers := 0
			for _, r := range recs {
				switch {
				case r.Type == "open":
					c, err := ymq.Backend{}.Connect(ctx, s.Addr(), transport.Options{Identity: r.Peer, Logger: quietLogger()})
					if err != nil {
						t.Fatal(err)
					}
					conns[r.Conn] = c
				case r.Type == "magic" || r.Type == "identity" || r.Type == "eof":
					// The handshake is the transport's; closes are done at the end.
				case r.Dir == "c2s":
					if err := conns[r.Conn].Send(r.data); err != nil {
						t.Fatal(err)
					}
				default:
					select {
					case m, ok := <-conns[r.Conn].Messages():
						if !ok || !bytes.Equal(m, r.data) {
							t.Fatalf("%s: got %s, want %s (%s)", r.Conn, describe([][]byte{m}), describe([][]byte{r.data}), r.Type)
						}
						answers++
					case <-ctx.Done():
						t.Fatalf("%s: no %s answer", r.Conn, r.Type)
					}
				}
			}
			if answers == 0 {
				t.Fatal("no answers compared")
			}
		})
	}
}
