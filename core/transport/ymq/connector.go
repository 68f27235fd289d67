package ymq

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// connector is the YMQ ConnectorSocket in connect mode (§2.1, §2.4): one peer, reconnected
// after aborts, given up after an orderly close.
type connector struct {
	addr  address.Address
	retry transport.RetryPolicy
	ep    endpoint
	tune  tuning
	log   *slog.Logger
	dial  func(ctx context.Context) (net.Conn, error)

	q      *outq
	in     chan []byte
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	endCh  chan connEnd // the current connection's end, from its reader goroutine
	done   chan struct{}

	mu     sync.Mutex
	cur    *conn
	peerID string
	err    error
	closed bool
}

type connEnd struct {
	c    *conn
	kind endKind
	err  error
}

// dialFunc returns the plain transport dialer for addr.
func dialFunc(addr address.Address) (func(ctx context.Context) (net.Conn, error), error) {
	d := &net.Dialer{KeepAliveConfig: keepAlive}
	switch addr.Scheme {
	case address.TCP, address.TLS, address.WS, address.WSS:
		hp := addr.HostPort()
		local := addr.Scheme == address.TCP // the same-host path carries plain YMQ only
		return func(ctx context.Context) (net.Conn, error) {
			if local {
				if c, ok := dialLocal(ctx, addr.Host, addr.Port); ok {
					return c, nil
				}
			}
			return d.DialContext(ctx, "tcp", hp)
		}, nil
	case address.IPC:
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", addr.Path) }, nil
	default:
		return nil, fmt.Errorf("scheme %s: %w", addr.Scheme, transport.ErrUnsupported)
	}
}

func connect(ctx context.Context, addr address.Address, opts transport.Options, tune tuning) (*connector, error) {
	dial, err := dialFunc(addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	return connectWith(ctx, addr, opts, tune, dial)
}

// connectWith is connect with a replaceable transport dialer (tests count attempts).
func connectWith(ctx context.Context, addr address.Address, opts transport.Options, tune tuning,
	dial func(ctx context.Context) (net.Conn, error)) (*connector, error) {
	log := opts.Log().With("transport", Name, "connect", addr.String())
	k := &connector{
		addr:  addr,
		retry: opts.RetryOrDefault(),
		tune:  tune,
		log:   log,
		dial:  dial,
		q:     &outq{},
		in:    make(chan []byte, opts.InboxSize()),
		endCh: make(chan connEnd, 1),
		done:  make(chan struct{}),
	}
	k.ep = endpoint{
		owner:    k,
		identity: opts.Identity,
		ws:       addr.Scheme.WebSocket(),
		maxSize:  opts.MaxSize(),
		tune:     &k.tune,
		log:      log,
	}
	if addr.Scheme.Secure() {
		if opts.TLSConfig != nil {
			k.ep.tls = opts.TLSConfig.Clone()
		} else {
			// What Python peers do (§2.6): encrypt, verify nothing, send no SNI.
			k.ep.tls = &tls.Config{InsecureSkipVerify: true}
		}
	}
	if k.ep.ws {
		k.ep.wsHost = addr.HostPort()
		k.ep.wsPath = addr.Path
		if k.ep.wsPath == "" {
			k.ep.wsPath = "/"
		}
	}
	c, err := k.dialRetry(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	go k.run(c)
	return k, nil
}

// dialRetry makes connection attempts at once and then after each failure k waits
// InitialDelay << k, giving up once failures exceeds MaxRetries (§2.4).
func (k *connector) dialRetry(ctx context.Context, failures int) (*conn, error) {
	for {
		c, err := k.dialOnce(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		failures++
		if failures > k.retry.MaxRetries {
			return nil, fmt.Errorf("%w after %d attempts: %w", transport.ErrRetriesExhausted, failures, err)
		}
		delay := k.retry.Delay(failures)
		k.log.Info("ymq: connect failed, retrying", "attempt", failures, "delay", delay, "err", err)
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dialOnce brings one transport connection up and writes our handshake. While the peer's
// identity is unknown, queued messages follow right away (as Python does); once it is
// known, the writer waits until the new connection proved to be the same peer.
func (k *connector) dialOnce(ctx context.Context) (*conn, error) {
	raw, err := k.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := newConn(&k.ep, raw)
	c.log = c.log.With("local", raw.LocalAddr().String())
	if err := c.handshake(ctx, false); err != nil {
		c.reset()
		return nil, err
	}
	if k.PeerIdentity() == "" {
		c.startWriter(k.q)
	}
	return c, nil
}

// run owns the connector's connections: it serves one at a time and decides after each
// end whether to reconnect (abort) or stop (orderly close, Close, retries exhausted).
func (k *connector) run(c *conn) {
	defer close(k.done)
	failures := 0
	for {
		if !k.setCur(c) {
			// Close ran before this connection was published, so it is ours to close, with
			// the same flush grace Close would have given it.
			c.closeLocal(time.Now().Add(k.tune.closeGrace))
		}
		go c.serve()
		end := <-k.endCh
		k.setCur(nil)

		if k.isClosed() {
			k.finish(transport.ErrClosed)
			return
		}
		if end.kind == endGraceful {
			k.finish(transport.ErrClosedByPeer)
			return
		}
		if end.c.verified {
			failures = 0 // a healthy connection earns a fresh retry budget
		} else {
			failures++
		}
		if failures > k.retry.MaxRetries {
			err := fmt.Errorf("reconnect %s: %w after %d attempts: %v", k.addr, transport.ErrRetriesExhausted, failures, end.err)
			k.log.Warn("ymq: giving up", "err", err)
			k.finish(err)
			return
		}
		if failures > 0 {
			if sleepCtx(k.ctx, k.retry.Delay(failures)) != nil {
				k.finish(transport.ErrClosed)
				return
			}
		}
		k.log.Info("ymq: reconnecting", "after", end.kind.String(), "attempt", failures+1)
		var err error
		c, err = k.dialRetry(k.ctx, failures)
		if err != nil {
			if k.ctx.Err() != nil {
				err = transport.ErrClosed
			} else {
				err = fmt.Errorf("reconnect %s: %w", k.addr, err)
				k.log.Warn("ymq: giving up", "err", err)
			}
			k.finish(err)
			return
		}
	}
}

// setCur publishes the current connection; it reports false when Close already began.
func (k *connector) setCur(c *conn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur = c
	return !k.closed || c == nil
}

func (k *connector) isClosed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.closed
}

// finish ends the connector: later and still queued sends fail with err.
func (k *connector) finish(err error) {
	k.mu.Lock()
	if k.err == nil {
		k.err = err
	}
	k.mu.Unlock()
	if n, bytes := k.q.kill(); n > 0 {
		k.log.Info("ymq: dropping unsent messages", "messages", n, "bytes", bytes, "reason", err)
	}
	close(k.in)
}

// established checks the peer's identity against the one it announced first (§2.3).
func (k *connector) established(c *conn) error {
	k.mu.Lock()
	switch {
	case k.peerID == "":
		k.peerID = c.peer
	case k.peerID != c.peer:
		want := k.peerID
		k.mu.Unlock()
		return protoErrorf("peer identity changed from %q to %q", want, c.peer)
	}
	closed := k.closed
	k.mu.Unlock()
	if closed && !c.writerStarted() {
		// Close began and this connection has nothing of ours to flush. One whose writer
		// runs is flushing for Close and must be left to finish.
		return errLocalAbort
	}
	c.verified = true
	c.log.Info("ymq: connected")
	c.startWriter(k.q)
	return nil
}

func (k *connector) deliver(_ *conn, data []byte) {
	select { // the common case, without the cost of a two-way select
	case k.in <- data:
		return
	default:
	}
	select {
	case k.in <- data:
	case <-k.ctx.Done():
	}
}

func (k *connector) ended(c *conn, kind endKind, err error) {
	k.endCh <- connEnd{c: c, kind: kind, err: err}
}

// Messages delivers inbound messages until the connector ends.
func (k *connector) Messages() <-chan []byte { return k.in }

// Send queues data. It fails only once the connector has ended.
func (k *connector) Send(data []byte) error {
	if k.q.push(data) {
		return nil
	}
	if err := k.Err(); err != nil {
		return err
	}
	return transport.ErrClosed
}

// PeerIdentity is the identity the peer announced first.
func (k *connector) PeerIdentity() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.peerID
}

// Err is why Messages was closed.
func (k *connector) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// Close flushes what is queued (bounded by a short grace), sends a FIN and waits until the
// connector's goroutines have ended.
func (k *connector) Close() error {
	k.mu.Lock()
	already := k.closed
	k.closed = true
	c := k.cur
	k.mu.Unlock()
	if !already {
		// Cancel first so that run, seeing the connection end, knows it was us.
		k.cancel()
		if c != nil {
			c.closeLocal(time.Now().Add(k.tune.closeGrace))
		}
	}
	<-k.done
	return nil
}
