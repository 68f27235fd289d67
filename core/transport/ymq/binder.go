package ymq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// binder is the YMQ BinderSocket (§2.1): it accepts any number of connections and routes
// by the identity each peer announced.
type binder struct {
	addr address.Address
	ln   net.Listener
	// local is the fast-path listener for same-host peers (local.go), or nil.
	local   net.Listener
	ep      endpoint
	tune    tuning
	log     *slog.Logger
	discard bool // publisher: inbound messages and events are dropped

	in        chan transport.Inbound
	closing   chan struct{}
	accepting sync.WaitGroup // the accept loops of ln and local
	once      sync.Once
	err       atomic.Pointer[error]

	// evMu orders peer events: a state change and the event that reports it are one step,
	// so a consumer never sees a reconnect's EventConnected before the abort it follows.
	// Lock order: evMu, then mu.
	evMu  sync.Mutex
	mu    sync.RWMutex
	peers map[string]*peer
	conns map[*conn]struct{}
	wg    sync.WaitGroup // connection goroutines
}

// peer is what the binder knows about one identity: its send queue, which outlives aborted
// connections, and its current connection (nil while it is away after an abort).
type peer struct {
	id      string
	q       *outq
	conn    *conn
	purge   *time.Timer
	dropped atomic.Int64 // messages refused while away, reported once it returns or expires
}

func bind(ctx context.Context, addr address.Address, opts transport.Options, tune tuning, discard bool) (*binder, error) {
	tlsConf, err := serverTLS(addr, &opts)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	ln, err := listen(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	real := addr
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		real.Port = ta.Port
	}
	log := opts.Log().With("transport", Name, "bind", real.String())
	b := &binder{
		addr:    real,
		ln:      ln,
		tune:    tune,
		log:     log,
		discard: discard,
		in:      make(chan transport.Inbound, opts.InboxSize()),
		closing: make(chan struct{}),
		peers:   map[string]*peer{},
		conns:   map[*conn]struct{}{},
	}
	b.ep = endpoint{
		identity: opts.Identity,
		tls:      tlsConf,
		ws:       addr.Scheme.WebSocket(),
		maxSize:  opts.MaxSize(),
		tune:     &b.tune,
		log:      log,
	}
	b.ep.owner = b
	// Both listeners exist before either loop runs: a fatal accept error shuts the binder
	// down, and that must close the fast-path listener too.
	if addr.Scheme == address.TCP {
		b.local = listenLocal(ctx, addr.Host, real.Port)
	}
	b.accepting.Go(func() { b.acceptLoop(b.ln, true) })
	if b.local != nil {
		b.accepting.Go(func() { b.acceptLoop(b.local, false) })
	}
	return b, nil
}

// serverTLS loads the certificate for tls:// and wss://. Each failure names the file.
func serverTLS(addr address.Address, opts *transport.Options) (*tls.Config, error) {
	if !addr.Scheme.Secure() {
		return nil, nil
	}
	if opts.TLSConfig != nil {
		return opts.TLSConfig.Clone(), nil
	}
	switch {
	case opts.TLSCertFile == "" && opts.TLSKeyFile == "":
		return nil, errors.New("a TLS certificate and key file are required")
	case opts.TLSCertFile == "":
		return nil, errors.New("a TLS certificate file is required (only a key file was given)")
	case opts.TLSKeyFile == "":
		return nil, fmt.Errorf("a TLS key file is required for certificate %s", opts.TLSCertFile)
	}
	certPEM, err := os.ReadFile(opts.TLSCertFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(opts.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", opts.TLSCertFile, opts.TLSKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}, nil
}

var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second}

func listen(ctx context.Context, addr address.Address) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	switch addr.Scheme {
	case address.TCP, address.TLS, address.WS, address.WSS:
		return lc.Listen(ctx, "tcp", addr.HostPort())
	case address.IPC:
		if err := removeStaleSocket(addr.Path); err != nil {
			return nil, err
		}
		// net.UnixListener removes the socket file when it is closed.
		return lc.Listen(ctx, "unix", addr.Path)
	default:
		return nil, fmt.Errorf("scheme %s: %w", addr.Scheme, transport.ErrUnsupported)
	}
}

// removeStaleSocket removes a socket file left by a process that died, but never one that
// somebody still listens on, and never a file that is not a socket.
func removeStaleSocket(path string) error {
	if len(path) > 0 && path[0] == '@' {
		return nil // Linux abstract socket: no file
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil // absent (or unreadable: Listen reports it)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("address in use: another process listens on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probe existing socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// acceptLoop serves ln until the binder closes. A fatal error on the main listener closes
// the binder; on the fast-path listener it only ends that path (peers still have TCP).
func (b *binder) acceptLoop(ln net.Listener, main bool) {
	var delay time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			select {
			case <-b.closing:
				return
			default:
			}
			if temporaryAcceptError(err) {
				// Out of file descriptors and the like: back off instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				b.log.Warn("ymq: accept failed, retrying", "err", err, "delay", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-b.closing:
					t.Stop()
					return
				}
				continue
			}
			if !main {
				// Closed so its name goes away: connectors then fall back to TCP instead of
				// queueing on a listener nobody accepts from.
				_ = ln.Close()
				b.log.Warn("ymq: local fast path failed, same-host peers will use TCP", "err", err)
				return
			}
			b.log.Error("ymq: accept failed, closing the socket", "err", err)
			b.shutdown(fmt.Errorf("accept on %s: %w", b.addr, err))
			return
		}
		delay = 0
		c := newConn(&b.ep, raw)
		b.mu.Lock()
		select {
		case <-b.closing:
			b.mu.Unlock()
			_ = raw.Close()
			return
		default:
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serveConn(c)
	}
}

func temporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (b *binder) serveConn(c *conn) {
	defer b.wg.Done()
	if err := c.handshake(context.Background(), true); err != nil {
		select {
		case <-b.closing:
		default:
			c.log.Warn("ymq: handshake failed", "err", err)
		}
		_ = c.raw.Close()
		b.ended(c, endAborted, err)
		return
	}
	c.serve()
}

// established maps the connection to its peer identity, taking over the peer's queue (and
// evicting an older connection of the same identity, §2.3).
func (b *binder) established(c *conn) error {
	b.evMu.Lock()
	defer b.evMu.Unlock()
	b.mu.Lock()
	select {
	case <-b.closing:
		b.mu.Unlock()
		return errLocalAbort
	default:
	}
	p := b.peers[c.peer]
	var old *conn
	returning := false
	if p == nil {
		p = &peer{id: c.peer, q: &outq{}}
		b.peers[c.peer] = p
	} else {
		old = p.conn
		returning = old == nil
		if p.purge != nil {
			p.purge.Stop()
			p.purge = nil
		}
	}
	var pending int
	var pendingBytes int64
	if returning {
		pending, pendingBytes = p.q.size()
	}
	p.conn = c
	c.registered = true
	c.startWriter(p.q) // detaches the old connection's writer, which then sends its FIN
	b.mu.Unlock()

	if old != nil {
		c.log.Info("ymq: identity reconnected, closing its older connection", "old_remote", old.remote)
		old.bound(time.Now().Add(b.tune.closeGrace))
	} else {
		c.log.Info("ymq: peer connected")
	}
	if returning {
		if d := p.dropped.Swap(0); d > 0 || pending > 0 {
			c.log.Info("ymq: flushing messages queued while the peer was away",
				"messages", pending, "bytes", pendingBytes, "dropped", d)
		}
	}
	b.emit(transport.Inbound{Kind: transport.EventConnected, Peer: c.peer})
	return nil
}

func (b *binder) deliver(c *conn, data []byte) {
	if c.dismissed.Load() {
		return
	}
	b.emit(transport.Inbound{Kind: transport.EventMessage, Peer: c.peer, Data: data})
}

func (b *binder) emit(ev transport.Inbound) {
	if b.discard {
		return
	}
	select { // the common case, without the cost of a two-way select
	case b.in <- ev:
		return
	default:
	}
	select {
	case b.in <- ev:
	case <-b.closing:
	}
}

// ended forgets the connection. A graceful end forgets the peer too (sends to it fail); an
// abort keeps its queue for a while in case it reconnects (§2.3, §2.4).
func (b *binder) ended(c *conn, kind endKind, _ error) {
	b.evMu.Lock()
	defer b.evMu.Unlock()
	b.mu.Lock()
	delete(b.conns, c)
	p := b.peers[c.peer]
	closing := false
	select {
	case <-b.closing:
		closing = true
	default:
	}
	if c.dismissed.Load() && p == nil && !closing {
		b.mu.Unlock()
		b.emit(transport.Inbound{Kind: transport.EventClosed, Peer: c.peer})
		return
	}
	if !c.registered || p == nil || p.conn != c || closing {
		b.mu.Unlock()
		return
	}
	var ev transport.EventKind
	if kind == endGraceful {
		delete(b.peers, p.id)
		if n, bytes := p.q.kill(); n > 0 {
			c.log.Info("ymq: dropping messages queued for a peer that closed", "messages", n, "bytes", bytes)
		}
		ev = transport.EventClosed
	} else {
		p.conn = nil
		p.purge = time.AfterFunc(b.tune.pendingTTL, func() { b.expire(p) })
		ev = transport.EventAborted
	}
	b.mu.Unlock()
	b.emit(transport.Inbound{Kind: ev, Peer: p.id})
}

// expire forgets a peer that did not come back after an abort.
func (b *binder) expire(p *peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.peers[p.id] != p || p.conn != nil {
		return
	}
	delete(b.peers, p.id)
	n, bytes := p.q.kill()
	b.log.Warn("ymq: peer did not reconnect, dropping its queue", "peer", p.id, "after", b.tune.pendingTTL,
		"messages", n, "bytes", bytes, "dropped_before", p.dropped.Load())
}

// Messages delivers inbound messages and peer events.
func (b *binder) Messages() <-chan transport.Inbound { return b.in }

// Send queues data for peer. A peer whose connection aborted keeps receiving into its
// queue (bounded) until it reconnects or expires; a peer that closed gracefully or never
// connected gives ErrUnknownPeer.
func (b *binder) Send(peerID string, data []byte) error {
	select {
	case <-b.closing:
		return transport.ErrClosed
	default:
	}
	b.mu.RLock()
	p := b.peers[peerID]
	if p == nil {
		b.mu.RUnlock()
		return fmt.Errorf("send to %q: %w", peerID, transport.ErrUnknownPeer)
	}
	if p.conn != nil {
		ok := p.q.push(data)
		b.mu.RUnlock()
		if !ok {
			return fmt.Errorf("send to %q: %w", peerID, transport.ErrUnknownPeer)
		}
		return nil
	}
	ok, full := p.q.pushBounded(data, b.tune.pendingMax)
	b.mu.RUnlock()
	if full {
		if p.dropped.Add(1) == 1 {
			b.log.Warn("ymq: queue of an absent peer is full, dropping messages until it reconnects",
				"peer", peerID, "limit_bytes", b.tune.pendingMax)
		}
		return nil
	}
	if !ok {
		return fmt.Errorf("send to %q: %w", peerID, transport.ErrUnknownPeer)
	}
	return nil
}

// Broadcast queues data for every connected peer; absent peers get nothing (§1.8).
func (b *binder) Broadcast(data []byte) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, p := range b.peers {
		if p.conn != nil {
			p.q.push(data)
		}
	}
}

// ClosePeer forgets peer at once (later sends fail with ErrUnknownPeer), drops whatever it
// still sends, and closes its connection with a FIN once what was already queued for it is
// written (bounded by the close grace). EventClosed follows when the connection has ended,
// unless the identity connected again meanwhile. It never blocks on the network or on the
// Messages channel, so the consumer of Messages may call it.
func (b *binder) ClosePeer(peerID string) error {
	b.mu.Lock()
	p := b.peers[peerID]
	if p == nil {
		b.mu.Unlock()
		return nil
	}
	delete(b.peers, peerID)
	if p.purge != nil {
		p.purge.Stop()
	}
	c := p.conn
	b.mu.Unlock()
	if c == nil {
		p.q.kill() // away after an abort: nothing to close, its queue goes
		return nil
	}
	c.dismissed.Store(true)
	c.log.Info("ymq: closing the peer's connection on request")
	c.closeLocal(time.Now().Add(b.tune.closeGrace))
	return nil
}

// Addr is the bound address with the real port.
func (b *binder) Addr() address.Address { return b.addr }

// Err is why Messages was closed.
func (b *binder) Err() error {
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops accepting, flushes and closes every connection with a FIN, and closes
// Messages. It waits for all connection goroutines.
func (b *binder) Close() error {
	b.shutdown(transport.ErrClosed)
	b.accepting.Wait()
	return nil
}

func (b *binder) shutdown(cause error) {
	b.once.Do(func() {
		b.mu.Lock()
		close(b.closing)
		deadline := time.Now().Add(b.tune.closeGrace)
		for c := range b.conns {
			c.closeLocal(deadline)
		}
		for _, p := range b.peers {
			if p.purge != nil {
				p.purge.Stop()
			}
		}
		b.mu.Unlock()
		_ = b.ln.Close()
		if b.local != nil {
			_ = b.local.Close()
		}
		b.wg.Wait()
		b.mu.Lock()
		for _, p := range b.peers {
			p.q.kill() // what is left belongs to peers that were away
		}
		b.mu.Unlock()
		b.err.Store(&cause)
		close(b.in)
	})
}
