package objstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// fakeNet is an in-memory transport backend: binders and connectors that exchange messages
// through channels, with the event semantics of YMQ (connected, closed, aborted). It lets
// the server and client logic be tested without sockets.
type fakeNet struct {
	mu      sync.Mutex
	binders map[string]*fakeBinder
	port    int
	// noCloseEvent makes ClosePeer end the connection without an EventClosed, to check
	// that the server does not depend on one.
	noCloseEvent bool
}

func newFakeNet() *fakeNet { return &fakeNet{binders: map[string]*fakeBinder{}, port: 40000} }

func (n *fakeNet) Name() string { return "fake" }

func (n *fakeNet) Bind(_ context.Context, addr address.Address, opts transport.Options) (transport.Binder, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr.Port == 0 {
		n.port++
		addr.Port = n.port
	}
	if _, dup := n.binders[addr.String()]; dup {
		return nil, fmt.Errorf("fake bind %s: address in use", addr)
	}
	b := &fakeBinder{
		net:      n,
		addr:     addr,
		identity: opts.Identity,
		in:       make(chan transport.Inbound, 1<<16),
		peers:    map[string]*fakePeer{},
	}
	n.binders[addr.String()] = b
	return b, nil
}

func (n *fakeNet) binder(addr address.Address) *fakeBinder {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.binders[addr.String()]
}

func (n *fakeNet) Connect(_ context.Context, addr address.Address, opts transport.Options) (transport.Connector, error) {
	b := n.binder(addr)
	if b == nil {
		return nil, fmt.Errorf("fake connect %s: %w", addr, transport.ErrRetriesExhausted)
	}
	p, err := b.dial(opts.Identity)
	if err != nil {
		return nil, err
	}
	return fakeConnector{p}, nil
}

func (n *fakeNet) Publish(context.Context, address.Address, transport.Options) (transport.Publisher, error) {
	return nil, transport.ErrUnsupported
}

func (n *fakeNet) Subscribe(context.Context, address.Address, transport.Options) (transport.Subscriber, error) {
	return nil, transport.ErrUnsupported
}

type fakeBinder struct {
	net      *fakeNet
	addr     address.Address
	identity string
	in       chan transport.Inbound

	mu     sync.Mutex
	peers  map[string]*fakePeer
	closed bool
	// closedPeers lists the peers the server closed with ClosePeer, in order.
	closedPeers []string
}

// push delivers an item to the server. It never blocks: a full channel is a test bug.
func (b *fakeBinder) push(ev transport.Inbound) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pushLocked(ev)
}

func (b *fakeBinder) pushLocked(ev transport.Inbound) error {
	if b.closed {
		return transport.ErrClosedByPeer
	}
	select {
	case b.in <- ev:
		return nil
	default:
		panic("fake binder inbox overflow")
	}
}

// pushFrom delivers a message of p, unless the server closed p: like a YMQ binder, the
// fake drops what a dismissed peer still sends. Checking and delivering under b.mu orders
// the message against ClosePeer's EventClosed.
func (b *fakeBinder) pushFrom(p *fakePeer, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p.mu.Lock()
	ended, err := p.ended, p.err
	p.mu.Unlock()
	if ended {
		return err
	}
	return b.pushLocked(transport.Inbound{Kind: transport.EventMessage, Peer: p.identity, Data: data})
}

// dial connects a peer; a second peer with the same identity evicts the first, as in YMQ.
func (b *fakeBinder) dial(identity string) (*fakePeer, error) {
	p := &fakePeer{b: b, identity: identity, in: make(chan []byte, 1<<16)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, transport.ErrRetriesExhausted
	}
	old := b.peers[identity]
	b.peers[identity] = p
	b.mu.Unlock()
	if old != nil {
		old.end(transport.ErrClosedByPeer)
	}
	if err := b.push(transport.Inbound{Kind: transport.EventConnected, Peer: identity}); err != nil {
		return nil, err
	}
	return p, nil
}

func (b *fakeBinder) Messages() <-chan transport.Inbound { return b.in }

func (b *fakeBinder) Send(peer string, data []byte) error {
	b.mu.Lock()
	p := b.peers[peer]
	b.mu.Unlock()
	if p == nil {
		return transport.ErrUnknownPeer
	}
	return p.deliver(data)
}

func (b *fakeBinder) Broadcast([]byte) {}

func (b *fakeBinder) ClosePeer(peer string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[peer]
	delete(b.peers, peer)
	b.closedPeers = append(b.closedPeers, peer)
	if p != nil {
		p.end(transport.ErrClosedByPeer)
		if !b.net.noCloseEvent {
			_ = b.pushLocked(transport.Inbound{Kind: transport.EventClosed, Peer: peer})
		}
	}
	return nil
}

func (b *fakeBinder) closedList() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.closedPeers...)
}

func (b *fakeBinder) Addr() address.Address { return b.addr }
func (b *fakeBinder) Err() error            { return nil }

func (b *fakeBinder) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return transport.ErrClosed
	}
	b.closed = true
	peers := b.peers
	b.peers = nil
	close(b.in)
	b.mu.Unlock()
	for _, p := range peers {
		p.end(transport.ErrClosedByPeer)
	}
	b.net.mu.Lock()
	delete(b.net.binders, b.addr.String())
	b.net.mu.Unlock()
	return nil
}

// fakePeer is one connection to a fakeBinder, used raw by tests or through fakeConnector.
type fakePeer struct {
	b        *fakeBinder
	identity string
	in       chan []byte // server to peer

	mu    sync.Mutex
	ended bool
	err   error
}

func (p *fakePeer) deliver(data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return transport.ErrClosedByPeer
	}
	select {
	case p.in <- data:
		return nil
	default:
		panic("fake peer inbox overflow")
	}
}

func (p *fakePeer) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ended {
		p.ended, p.err = true, err
		close(p.in)
	}
}

// send delivers data to the server; what a peer sends after the server closed it is lost.
func (p *fakePeer) send(t testing.TB, data []byte) {
	t.Helper()
	if err := p.b.pushFrom(p, data); err != nil && !errors.Is(err, transport.ErrClosedByPeer) {
		t.Fatalf("peer %s send: %v", p.identity, err)
	}
}

// close ends the connection in an orderly way, as a peer's FIN would.
func (p *fakePeer) close() {
	p.end(transport.ErrClosed)
	p.b.mu.Lock()
	if p.b.peers[p.identity] == p {
		delete(p.b.peers, p.identity)
	}
	p.b.mu.Unlock()
	_ = p.b.push(transport.Inbound{Kind: transport.EventClosed, Peer: p.identity})
}

// abort reports a reset connection; the peer stays reachable, as a reconnecting YMQ peer's
// queued messages would be.
func (p *fakePeer) abort() {
	_ = p.b.push(transport.Inbound{Kind: transport.EventAborted, Peer: p.identity})
}

// recv returns the next message from the server, failing the test after a deadline.
func (p *fakePeer) recv(t testing.TB) []byte {
	t.Helper()
	select {
	case m, ok := <-p.in:
		if !ok {
			t.Fatalf("peer %s: connection closed while waiting for a message", p.identity)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("peer %s: no message within 5 s", p.identity)
	}
	return nil
}

// quiet asserts that nothing is waiting in the peer's inbox. Callers first receive the
// answer to a later request of some peer: the server handles requests in order, so whatever
// it would have sent for the earlier ones is already there.
func (p *fakePeer) quiet(t testing.TB) {
	t.Helper()
	select {
	case m, ok := <-p.in:
		if ok {
			t.Fatalf("peer %s: unexpected message % x", p.identity, m)
		}
	default:
	}
}

// waitEnded waits until the server has closed this peer.
func (p *fakePeer) waitEnded(t testing.TB) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-p.in:
			if !ok {
				return
			}
			t.Fatalf("peer %s: unexpected message % x before close", p.identity, m)
		case <-deadline:
			t.Fatalf("peer %s: connection not closed within 5 s", p.identity)
		}
	}
}

type fakeConnector struct{ p *fakePeer }

func (c fakeConnector) Messages() <-chan []byte { return c.p.in }

func (c fakeConnector) Send(data []byte) error { return c.p.b.pushFrom(c.p, data) }

func (c fakeConnector) PeerIdentity() string { return c.p.b.identity }

func (c fakeConnector) Err() error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.p.err
}

func (c fakeConnector) Close() error {
	c.p.mu.Lock()
	ended := c.p.ended
	c.p.mu.Unlock()
	if ended {
		return nil
	}
	c.p.close()
	return nil
}
