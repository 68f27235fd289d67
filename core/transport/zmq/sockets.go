package zmq

import (
	"fmt"
	"log/slog"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// peerTTL is how long after its last message a peer still counts as connected for Broadcast.
// ZMQ never tells the application that a peer left, so "recently heard from" is the only
// measure there is; every Scaler peer heartbeats every few seconds and is declared dead by the
// scheduler after at most 300 s, well inside this.
const peerTTL = 10 * time.Minute

// peerTable is the ROUTER's view of its peers, owned by the engine's owner goroutine. It keeps
// each identity's string and bytes so that receiving and sending do not allocate them again.
type peerTable struct {
	m       map[string]*peer
	pruneAt int
}

type peer struct {
	id   string
	raw  []byte
	seen time.Time
}

func newPeerTable() *peerTable { return &peerTable{m: map[string]*peer{}, pruneAt: 1024} }

// touch records a message from raw and returns its identity string.
func (t *peerTable) touch(raw []byte, now time.Time) string {
	if p, ok := t.m[string(raw)]; ok {
		p.seen = now
		return p.id
	}
	p := &peer{id: string(raw), raw: raw, seen: now}
	t.m[p.id] = p
	if len(t.m) >= t.pruneAt {
		// Amortised: the table is swept only when it has doubled since the last sweep.
		t.prune(now)
		t.pruneAt = max(2*len(t.m), 1024)
	}
	return p.id
}

func (t *peerTable) prune(now time.Time) {
	for id, p := range t.m {
		if now.Sub(p.seen) > peerTTL {
			delete(t.m, id)
		}
	}
}

// routing returns the identity frame for id.
func (t *peerTable) routing(id string) []byte {
	if p, ok := t.m[id]; ok {
		return p.raw
	}
	return []byte(id)
}

// routerDecoder accepts [identity][payload] and drops anything else (spec/protocol.md §1.5).
func routerDecoder(peers *peerTable, log *slog.Logger) decodeFunc[transport.Inbound] {
	return func(frames [][]byte) (transport.Inbound, bool) {
		if len(frames) != 2 {
			id := ""
			if len(frames) > 0 {
				id = string(frames[0])
			}
			log.Warn("zmq: dropping message with unexpected frame count", "peer", id, "frames", len(frames), "want", 2)
			return transport.Inbound{}, false
		}
		return transport.Inbound{
			Kind: transport.EventMessage,
			Peer: peers.touch(frames[0], time.Now()),
			Data: frames[1],
		}, true
	}
}

// routerSender writes [identity][payload]. Without ZMQ_ROUTER_MANDATORY libzmq silently drops
// messages for identities it has no connection to, and a ROUTER never pushes back (with
// SNDHWM 0 there is no mute state), so this never returns errAgain.
func routerSender(peers *peerTable, log *slog.Logger) sendFunc {
	sendTo := func(s *zmq4.Socket, id []byte, data []byte) {
		if _, err := s.SendBytes(id, zmq4.SNDMORE|zmq4.DONTWAIT); err != nil {
			log.Error("zmq: send failed, message dropped", "peer", string(id), "err", err)
			return
		}
		if _, err := s.SendBytes(data, zmq4.DONTWAIT); err != nil {
			log.Error("zmq: send failed, message dropped", "peer", string(id), "err", err)
		}
	}
	return func(s *zmq4.Socket, m *outMsg) error {
		if !m.broadcast {
			sendTo(s, peers.routing(m.peer), m.data)
			return nil
		}
		now := time.Now()
		peers.prune(now)
		for _, p := range peers.m {
			sendTo(s, p.raw, m.data)
		}
		return nil
	}
}

// binder is the ROUTER side.
type binder struct {
	*engine[transport.Inbound]
	addr address.Address
}

var _ transport.Binder = (*binder)(nil)

// Messages delivers EventMessage items only: ZMQ reports no peer events.
func (b *binder) Messages() <-chan transport.Inbound { return b.inbox }

// Send queues data for peer. It returns nil for identities the ROUTER does not know: libzmq
// drops those messages silently, as the Python scheduler's ROUTER does, and which identities
// it knows is only visible on the owner goroutine. ErrUnknownPeer is returned only for the
// empty identity, which no ZMQ peer can have.
func (b *binder) Send(peer string, data []byte) error {
	if peer == "" {
		return fmt.Errorf("zmq: send to empty identity: %w", transport.ErrUnknownPeer)
	}
	return b.enqueue(outMsg{peer: peer, data: data})
}

// Broadcast queues data for every peer that sent a message within the last 10 minutes: ZMQ
// does not report connections, so peers that never sent anything cannot be reached, and
// copies for peers that left in the meantime are dropped by libzmq.
func (b *binder) Broadcast(data []byte) { _ = b.enqueue(outMsg{data: data, broadcast: true}) }

// ClosePeer is not possible with ZMQ: a ROUTER cannot close one peer's connection.
func (b *binder) ClosePeer(peer string) error {
	return fmt.Errorf("zmq: closing the connection of peer %q: %w", peer, transport.ErrUnsupported)
}

// Addr is the bound address, with the kernel's port when port 0 was asked for.
func (b *binder) Addr() address.Address { return b.addr }

// connector is the DEALER side.
type connector struct {
	*engine[[]byte]
}

var _ transport.Connector = (*connector)(nil)

// Messages delivers every message from the peer.
func (c *connector) Messages() <-chan []byte { return c.inbox }

// Send queues data; messages sent while libzmq is (re)connecting wait in its queue.
func (c *connector) Send(data []byte) error { return c.enqueue(outMsg{data: data}) }

// PeerIdentity is always empty: libzmq does not expose the identity the ROUTER announced.
func (c *connector) PeerIdentity() string { return "" }

// publisher is the PUB side.
type publisher struct {
	*engine[struct{}]
	addr address.Address
}

var _ transport.Publisher = (*publisher)(nil)

// Publish queues data for every subscriber; after Close it is dropped.
func (p *publisher) Publish(data []byte) { _ = p.enqueue(outMsg{data: data}) }

// Addr is the bound address, with the kernel's port when port 0 was asked for.
func (p *publisher) Addr() address.Address { return p.addr }

// subscriber is the SUB side.
type subscriber struct {
	*engine[[]byte]
}

var _ transport.Subscriber = (*subscriber)(nil)

// Messages delivers every published message.
func (s *subscriber) Messages() <-chan []byte { return s.inbox }
