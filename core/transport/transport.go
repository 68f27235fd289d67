// Package transport defines the message transports every component talks through: a Binder
// (the scheduler's and object storage's listening socket, routing by peer identity), a
// Connector (one peer, reconnecting), and a Publisher/Subscriber pair for the monitor stream.
//
// Two backends implement it: core/transport/ymq (pure Go, the default, and always used for
// object storage) and core/transport/zmq (libzmq through pebbe/zmq4). A message is an opaque
// byte slice: one serialized Cap'n Proto Message, or one object-storage header or payload.
//
// Ownership: a slice passed to Send/Publish belongs to the transport from then on; a slice
// received from Messages belongs to the receiver. Sends never block on the network: each
// connection has a queue drained by its own writer, which writes everything queued in as few
// system calls as it can.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
)

// Sentinel errors shared by the backends.
var (
	// ErrClosed is returned after the local side called Close.
	ErrClosed = errors.New("transport closed")
	// ErrClosedByPeer means the peer ended the connection in an orderly way (FIN or WebSocket
	// close). A Connector treats this as final, like the Python YMQ connector does.
	ErrClosedByPeer = errors.New("connection closed by peer")
	// ErrRetriesExhausted means a Connector gave up connecting.
	ErrRetriesExhausted = errors.New("connect retries exhausted")
	// ErrUnknownPeer is returned by Binder.Send for an identity with no connection and no
	// pending reconnect.
	ErrUnknownPeer = errors.New("no connection to peer")
	// ErrUnsupported is returned when a backend cannot handle an address scheme or option.
	ErrUnsupported = errors.New("not supported by this transport backend")
)

// EventKind tells what an Inbound item is.
type EventKind uint8

const (
	// EventMessage is a message from Peer.
	EventMessage EventKind = iota
	// EventConnected: Peer completed its handshake (YMQ only).
	EventConnected
	// EventClosed: Peer closed its connection in an orderly way (YMQ only).
	EventClosed
	// EventAborted: Peer's connection was reset or timed out; it may reconnect (YMQ only).
	EventAborted
)

func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventConnected:
		return "connected"
	case EventClosed:
		return "closed"
	case EventAborted:
		return "aborted"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Inbound is one item received by a Binder.
type Inbound struct {
	Kind EventKind
	Peer string
	Data []byte
}

// Binder listens on one address and exchanges messages with any number of peers, each known
// by the identity it announced.
type Binder interface {
	// Messages delivers inbound messages and peer events in arrival order. It is closed after
	// Close, or when the listener fails (Err then says why).
	Messages() <-chan Inbound
	// Send queues data for peer. It never blocks on the network.
	Send(peer string, data []byte) error
	// Broadcast queues data for every currently connected peer (the monitor publisher).
	Broadcast(data []byte)
	// ClosePeer closes the connection of one peer gracefully after what is already queued
	// for it (used when a peer sends something malformed). Unknown peers are ignored. The ZMQ
	// backend cannot close single peers and returns ErrUnsupported.
	ClosePeer(peer string) error
	// Addr is the bound address, with the real port when port 0 was asked for.
	Addr() address.Address
	// Err is why Messages was closed (nil before that).
	Err() error
	// Close stops listening and closes every connection gracefully.
	Close() error
}

// Connector is a connection to one peer, re-established after aborts.
type Connector interface {
	// Messages delivers inbound messages; it is closed when the connector ends (Err says why).
	Messages() <-chan []byte
	// Send queues data; it never blocks on the network. Messages queued while reconnecting
	// are sent after the new handshake.
	Send(data []byte) error
	// PeerIdentity is the identity the peer announced (empty until known, and for ZMQ).
	PeerIdentity() string
	// Err is why Messages was closed (ErrClosedByPeer, ErrRetriesExhausted, ErrClosed, ...).
	Err() error
	// Close ends the connection gracefully after flushing queued messages (bounded by a short
	// grace period).
	Close() error
}

// Publisher sends every message to every connected subscriber.
type Publisher interface {
	Publish(data []byte)
	Addr() address.Address
	Close() error
}

// Subscriber receives everything a Publisher sends.
type Subscriber interface {
	Messages() <-chan []byte
	Err() error
	Close() error
}

// RetryPolicy is the connector's connect schedule: the first attempt at once, then after the
// k-th failure a wait of InitialDelay << k, for MaxRetries retries (spec/protocol.md §2.4).
type RetryPolicy struct {
	MaxRetries   int
	InitialDelay time.Duration
}

// DefaultRetryPolicy is the Python YMQ connector's schedule: 8 retries from 100 ms, ≈ 51 s.
var DefaultRetryPolicy = RetryPolicy{MaxRetries: 8, InitialDelay: 100 * time.Millisecond}

// Delay is the wait after the k-th failed attempt (k starts at 1).
func (r RetryPolicy) Delay(k int) time.Duration { return r.InitialDelay << k }

// Options configures a socket. The zero value is usable: a random identity is not chosen
// for you, so set Identity for anything that talks to a Python peer.
type Options struct {
	// Identity announced to the peer (YMQ handshake, ZMQ routing id).
	Identity string
	// TLSCertFile and TLSKeyFile (PEM) are required to bind tls:// and wss:// addresses.
	TLSCertFile, TLSKeyFile string
	// TLSConfig overrides the files; for connecting sides nil means "encrypt, do not verify",
	// which is what Python peers do.
	TLSConfig *tls.Config
	// MaxMessageSize is the largest message accepted from a peer; a larger length prefix
	// closes that connection. 0 means DefaultMaxMessageSize().
	MaxMessageSize uint64
	// Retry is the connector schedule; zero means DefaultRetryPolicy.
	Retry RetryPolicy
	// Logger receives connection-level logs; nil means slog.Default().
	Logger *slog.Logger
	// QueueSize is the capacity of the Messages channel; 0 means 4096.
	QueueSize int
}

// Log returns the logger to use.
func (o *Options) Log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// MaxSize returns the effective maximum message size.
func (o *Options) MaxSize() uint64 {
	if o.MaxMessageSize != 0 {
		return o.MaxMessageSize
	}
	return DefaultMaxMessageSize()
}

// RetryOrDefault returns the effective retry policy.
func (o *Options) RetryOrDefault() RetryPolicy {
	if o.Retry.InitialDelay == 0 && o.Retry.MaxRetries == 0 {
		return DefaultRetryPolicy
	}
	return o.Retry
}

// InboxSize returns the effective Messages channel capacity.
func (o *Options) InboxSize() int {
	if o.QueueSize > 0 {
		return o.QueueSize
	}
	return 4096
}

// Backend creates sockets of one transport implementation.
type Backend interface {
	// Name is the value of SCALER_NETWORK_BACKEND that selects it.
	Name() string
	// Bind listens on addr.
	Bind(ctx context.Context, addr address.Address, opts Options) (Binder, error)
	// Connect connects to addr. It returns once the first connection is up, or fails after
	// the retry budget (or when ctx ends).
	Connect(ctx context.Context, addr address.Address, opts Options) (Connector, error)
	// Publish binds a publisher on addr.
	Publish(ctx context.Context, addr address.Address, opts Options) (Publisher, error)
	// Subscribe connects a subscriber to addr.
	Subscribe(ctx context.Context, addr address.Address, opts Options) (Subscriber, error)
}

// EnvBackend is the environment variable that selects the backend of scheduler-facing sockets.
const EnvBackend = "SCALER_NETWORK_BACKEND"

// DefaultBackend is used when EnvBackend is unset.
const DefaultBackend = "ymq"

var (
	registryMu sync.Mutex
	registry   = map[string]Backend{}
)

// Register makes a backend available by name; backends call it from init. Registering a name
// twice panics, because two packages claiming one name is a build mistake.
func Register(b Backend) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[b.Name()]; dup {
		panic("transport: backend registered twice: " + b.Name())
	}
	registry[b.Name()] = b
}

// Lookup returns the backend called name.
func Lookup(name string) (Backend, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if b, ok := registry[name]; ok {
		return b, nil
	}
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown network backend %q, expected one of %v", name, names)
}

// FromEnv returns the backend named by SCALER_NETWORK_BACKEND, or the default one.
func FromEnv() (Backend, error) {
	name := os.Getenv(EnvBackend)
	if name == "" {
		name = DefaultBackend
	}
	b, err := Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvBackend, err)
	}
	return b, nil
}
