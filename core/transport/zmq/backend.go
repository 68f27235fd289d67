// Package zmq is the ZeroMQ transport backend (SCALER_NETWORK_BACKEND=zmq), built on libzmq
// through github.com/pebbe/zmq4, so that it speaks exactly the ZMTP that pyzmq peers speak
// (spec/protocol.md §1.3–§1.5).
//
// Socket roles: a Binder is a ROUTER, a Connector a DEALER, a Publisher a PUB and a Subscriber
// a SUB subscribed to everything. Every logical message is one ZMTP frame; a ROUTER sees it
// as [identity][payload]. Supported schemes are tcp, ipc and inproc; tls, ws, wss and the TLS
// options are YMQ-only and fail with transport.ErrUnsupported.
//
// libzmq sockets are not thread-safe, so each socket here is owned by exactly one goroutine
// (see engine.go for the send path that lets any goroutine call Send without touching it).
// That goroutine waits inside zmq_poll, so every open socket holds one OS thread while idle;
// a process has a handful of sockets, so this is cheap. All sockets share one libzmq context
// (needed for inproc), which is terminated when the last socket is closed.
//
// ZMQ hides connections from the application: there are no peer events (EventConnected,
// EventClosed, EventAborted are never delivered), Connect returns at once and libzmq keeps
// reconnecting by itself, and Err stays nil until Close.
package zmq

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// Name is the SCALER_NETWORK_BACKEND value that selects this backend.
const Name = "zmq"

// closeGrace is how long libzmq keeps trying to deliver what a DEALER or PUB still holds when
// it is closed. Python uses 1 ms, but the Connector contract promises a flush of queued
// messages bounded by a short grace period (a client's last ClientDisconnect must get out), and
// an already connected peer is flushed long before this expires; the bound only matters when
// the peer is unreachable, where Close then waits at most this long.
const closeGrace = 500 * time.Millisecond

func init() { transport.Register(Backend{}) }

// Backend creates libzmq sockets. Its zero value is ready to use; it is registered under Name.
type Backend struct{}

// Name returns "zmq".
func (Backend) Name() string { return Name }

// Bind binds a ROUTER on addr. Sends to identities the ROUTER does not know are dropped
// silently by libzmq, as in Python (no ROUTER_MANDATORY), and Close drops what libzmq has not
// yet written (linger 0, as the Python scheduler's ROUTER).
func (Backend) Bind(ctx context.Context, addr address.Address, opts transport.Options) (transport.Binder, error) {
	if err := prepare(ctx, "bind", addr, &opts); err != nil {
		return nil, err
	}
	peers := newPeerTable()
	log := opts.Log().With("transport", Name, "role", "binder", "addr", addr.String())
	e, real, err := start(socketSpec{
		kind:     zmq4.ROUTER,
		identity: opts.Identity,
		addr:     addr,
		bind:     true,
		linger:   0, // spec/protocol.md §1.3: the ROUTER drops what is unsent on destroy
		maxMsg:   opts.MaxSize(),
		recv:     true,
	}, log, opts.InboxSize(), routerDecoder(peers, log), routerSender(peers, log))
	if err != nil {
		return nil, err
	}
	return &binder{engine: e, addr: real}, nil
}

// Connect creates a DEALER connected to addr. It returns at once: libzmq connects in the
// background and reconnects after failures by itself, so opts.Retry is not used, and messages
// sent before the connection is up wait in libzmq's queue.
func (Backend) Connect(ctx context.Context, addr address.Address, opts transport.Options) (transport.Connector, error) {
	if err := prepare(ctx, "connect", addr, &opts); err != nil {
		return nil, err
	}
	log := opts.Log().With("transport", Name, "role", "connector", "addr", addr.String())
	e, _, err := start(socketSpec{
		kind:     zmq4.DEALER,
		identity: opts.Identity,
		addr:     addr,
		linger:   closeGrace,
		maxMsg:   opts.MaxSize(),
		recv:     true,
	}, log, opts.InboxSize(), singleFrameDecoder(log), plainSender(log))
	if err != nil {
		return nil, err
	}
	return &connector{engine: e}, nil
}

// Publish binds a PUB on addr. Options.Identity is not used: PUB/SUB carry no identities.
func (Backend) Publish(ctx context.Context, addr address.Address, opts transport.Options) (transport.Publisher, error) {
	if err := prepare(ctx, "publish", addr, &opts); err != nil {
		return nil, err
	}
	log := opts.Log().With("transport", Name, "role", "publisher", "addr", addr.String())
	e, real, err := start[struct{}](socketSpec{
		kind:   zmq4.PUB,
		addr:   addr,
		bind:   true,
		linger: closeGrace,
	}, log, 0, nil, plainSender(log))
	if err != nil {
		return nil, err
	}
	return &publisher{engine: e, addr: real}, nil
}

// Subscribe connects a SUB to addr, subscribed to every message. Like Connect it returns at
// once; messages published before the subscription reaches the publisher are lost (ZMQ's
// "slow joiner"), which is fine for the periodic monitor stream.
func (Backend) Subscribe(ctx context.Context, addr address.Address, opts transport.Options) (transport.Subscriber, error) {
	if err := prepare(ctx, "subscribe", addr, &opts); err != nil {
		return nil, err
	}
	log := opts.Log().With("transport", Name, "role", "subscriber", "addr", addr.String())
	e, _, err := start(socketSpec{
		kind:      zmq4.SUB,
		addr:      addr,
		linger:    0, // a SUB only ever sends subscriptions
		maxMsg:    opts.MaxSize(),
		recv:      true,
		subscribe: true,
	}, log, opts.InboxSize(), singleFrameDecoder(log), nil)
	if err != nil {
		return nil, err
	}
	return &subscriber{engine: e}, nil
}

// prepare checks everything that can be rejected before a socket exists.
func prepare(ctx context.Context, op string, addr address.Address, opts *transport.Options) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("zmq %s %s: %w", op, addr, err)
	}
	switch addr.Scheme {
	case address.TCP, address.IPC, address.InProc:
	case address.TLS, address.WS, address.WSS:
		return fmt.Errorf("zmq %s %s: the zmq backend only speaks tcp, ipc and inproc; %s:// needs SCALER_NETWORK_BACKEND=ymq: %w",
			op, addr, addr.Scheme, transport.ErrUnsupported)
	default:
		return fmt.Errorf("zmq %s: %w %q: expected a tcp, ipc or inproc address", op, address.ErrInvalid, addr.String())
	}
	if opts.TLSCertFile != "" || opts.TLSKeyFile != "" || opts.TLSConfig != nil {
		return fmt.Errorf("zmq %s %s: TLS certificates or config given, but only the ymq backend supports TLS: %w",
			op, addr, transport.ErrUnsupported)
	}
	if len(opts.Identity) > 255 {
		return fmt.Errorf("zmq %s %s: identity of %d bytes is longer than the 255 bytes ZMQ allows", op, addr, len(opts.Identity))
	}
	return nil
}

// isIPv6 reports whether addr names an IPv6 literal, which libzmq only accepts with ZMQ_IPV6
// set. It is not set otherwise, to match Python's sockets (IPv4 name resolution).
func isIPv6(addr address.Address) bool {
	return addr.Scheme == address.TCP && strings.Contains(addr.Host, ":")
}

// boundAddr turns libzmq's last endpoint into the address a bound socket reports, so that
// port 0 becomes the port the kernel chose. A connected socket reports the address it was
// given.
func boundAddr(spec *socketSpec, lastEndpoint string) (address.Address, error) {
	asked := spec.addr
	if !spec.bind || asked.Scheme != address.TCP {
		return asked, nil
	}
	a, err := address.Parse(lastEndpoint)
	if err != nil {
		return address.Address{}, fmt.Errorf("zmq: reading bound address of %s: %w", asked, err)
	}
	return a, nil
}

// sharedCtx is the one libzmq context of the process. One context is needed because inproc
// endpoints only connect sockets of the same context; it is reference counted so that it, and
// its I/O and reaper threads, go away when the last socket of this package is closed (zmq_ctx_term
// blocks while any socket is open, so it may only run once every socket is closed).
var sharedCtx struct {
	mu   sync.Mutex
	ctx  *zmq4.Context
	refs int
}

func acquireContext() (*zmq4.Context, error) {
	sharedCtx.mu.Lock()
	defer sharedCtx.mu.Unlock()
	if sharedCtx.ctx == nil {
		c, err := zmq4.NewContext()
		if err != nil {
			return nil, fmt.Errorf("zmq: creating context: %w", err)
		}
		sharedCtx.ctx = c
	}
	sharedCtx.refs++
	return sharedCtx.ctx, nil
}

// releaseContext drops one reference; the last one terminates the context. Term runs outside
// the lock because it waits for the linger of closed sockets; a socket created meanwhile gets
// a fresh context (it cannot need the old one: the old one has no sockets left).
func releaseContext(c *zmq4.Context) {
	sharedCtx.mu.Lock()
	sharedCtx.refs--
	last := sharedCtx.refs == 0 && sharedCtx.ctx == c
	if last {
		sharedCtx.ctx = nil
	}
	sharedCtx.mu.Unlock()
	if last {
		_ = c.Term() // every socket is closed, so the only possible error is EINTR, retried inside
	}
}

// maxMsgSize converts the transport limit to ZMQ_MAXMSGSIZE (-1 = unlimited).
func maxMsgSize(n uint64) int64 {
	if n == 0 || n > math.MaxInt64 {
		return -1
	}
	return int64(n)
}
