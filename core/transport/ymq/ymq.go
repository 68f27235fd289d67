// Package ymq is the pure-Go YMQ transport (spec/protocol.md §2): the default backend for
// scheduler sockets and the only one for object storage. It speaks the Python/C++ YMQ byte
// stream over tcp://, ipc://, tls://, ws:// and wss:// addresses.
//
// Every connection starts with the magic "YMQ\x01" and an identity message from both sides;
// after that each message is a u64 little-endian length followed by the payload. How a
// connection ends matters: an orderly EOF (FIN, WebSocket CLOSE) means "the peer went away for
// good", anything else (reset, timeout) means "it may come back", and the two are kept apart
// everywhere in this package.
package ymq

import (
	"context"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// Name is the value of SCALER_NETWORK_BACKEND that selects this backend.
const Name = "ymq"

// EnvLocal names the environment variable that turns the same-host fast path off ("0"):
// see local.go. Off Linux the fast path does not exist.
const EnvLocal = "SCALER_YMQ_LOCAL"

// Backend creates YMQ sockets. The zero value is ready to use; it is registered under Name,
// and object storage code may use it directly because object storage is always YMQ.
type Backend struct{}

func init() { transport.Register(Backend{}) }

// Name returns "ymq".
func (Backend) Name() string { return Name }

// Bind listens on addr (tcp, tls, ipc, ws or wss). ctx bounds only the setup, as with
// net.ListenConfig; the binder lives until Close.
func (Backend) Bind(ctx context.Context, addr address.Address, opts transport.Options) (transport.Binder, error) {
	return bind(ctx, addr, opts, defaultTuning, false)
}

// Connect dials addr with the retry schedule of opts and returns once the first transport
// connection (including any TLS and WebSocket handshake) is up. ctx bounds only this first
// connection; later reconnects are bounded by the connector's own retry budget and Close.
func (Backend) Connect(ctx context.Context, addr address.Address, opts transport.Options) (transport.Connector, error) {
	return connect(ctx, addr, opts, defaultTuning)
}

// Publish binds a publisher: a binder whose inbound traffic is discarded and whose Publish
// sends to every peer connected at that moment (nothing is queued for absent peers).
func (Backend) Publish(ctx context.Context, addr address.Address, opts transport.Options) (transport.Publisher, error) {
	b, err := bind(ctx, addr, opts, defaultTuning, true)
	if err != nil {
		return nil, err
	}
	return publisher{b}, nil
}

// Subscribe connects a receive-only connector to a publisher.
func (Backend) Subscribe(ctx context.Context, addr address.Address, opts transport.Options) (transport.Subscriber, error) {
	k, err := connect(ctx, addr, opts, defaultTuning)
	if err != nil {
		return nil, err
	}
	return subscriber{k}, nil
}

type publisher struct{ b *binder }

func (p publisher) Publish(data []byte)   { p.b.Broadcast(data) }
func (p publisher) Addr() address.Address { return p.b.Addr() }
func (p publisher) Close() error          { return p.b.Close() }

type subscriber struct{ k *connector }

func (s subscriber) Messages() <-chan []byte { return s.k.Messages() }
func (s subscriber) Err() error              { return s.k.Err() }
func (s subscriber) Close() error            { return s.k.Close() }

// tuning holds the time and size bounds of the transport. They are fields rather than
// constants so tests can shrink them; production code always uses defaultTuning.
type tuning struct {
	// closeGrace bounds how long Close keeps flushing queued messages before giving up.
	closeGrace time.Duration
	// finWait bounds how long a locally closed connection waits for the peer's FIN, so that
	// the socket is not closed with unread data (which would turn our FIN into a reset).
	finWait time.Duration
	// handshake bounds TLS, WebSocket upgrade and the peer's magic + identity.
	handshake time.Duration
	// pendingMax and pendingTTL bound what a binder keeps for a peer whose connection
	// aborted: beyond pendingMax bytes new messages are dropped, and after pendingTTL
	// without a reconnect the peer is forgotten.
	pendingMax int64
	pendingTTL time.Duration
}

var defaultTuning = tuning{
	closeGrace: 3 * time.Second,
	finWait:    2 * time.Second,
	handshake:  30 * time.Second,
	pendingMax: 64 << 20,
	pendingTTL: 60 * time.Second,
}
