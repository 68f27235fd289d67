package ymq

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// magic opens every YMQ byte stream: "YMQ" and protocol version 1.
var magic = [4]byte{'Y', 'M', 'Q', 1}

const (
	// readBufSize lets one read system call bring in many small messages.
	readBufSize = 64 << 10
	// maxIdentity bounds the peer's identity message: identities are short ASCII names, so
	// a large length there means the peer is not speaking YMQ.
	maxIdentity = 64 << 10
	// smallCopy: payloads up to this size are copied into the batch buffer, larger ones are
	// handed to writev as they are.
	smallCopy = 8 << 10
	// batchBufSize bounds the coalescing buffer of one writev.
	batchBufSize = 256 << 10
)

// endKind is how a connection ended, the distinction of spec/protocol.md §2.4.
type endKind uint8

const (
	endGraceful endKind = iota // the peer's orderly EOF (FIN or WebSocket CLOSE)
	endAborted                 // reset, timeout, write failure, local abort
	endProtocol                // the peer broke the protocol; we reset the connection
)

func (k endKind) String() string {
	switch k {
	case endGraceful:
		return "closed by peer"
	case endAborted:
		return "aborted"
	default:
		return "protocol error"
	}
}

// protoError is a violation of the YMQ or WebSocket protocol by the peer.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

func protoErrorf(format string, args ...any) error {
	return &protoError{fmt.Sprintf(format, args...)}
}

// errLocalAbort ends a connection that its socket no longer wants (closing, refused peer).
var errLocalAbort = errors.New("connection dropped locally")

// connOwner is the binder or connector a connection reports to. All calls come from the
// connection's reader goroutine, in order: established, deliver..., ended.
type connOwner interface {
	// established is called once the peer's identity is known; an error aborts the
	// connection. It starts the writer (startWriter) unless that already happened.
	established(c *conn) error
	deliver(c *conn, data []byte)
	ended(c *conn, kind endKind, err error)
}

// endpoint is what the connections of one socket share.
type endpoint struct {
	owner    connOwner
	identity string
	tls      *tls.Config // nil: no TLS
	ws       bool
	wsHost   string // client side: Host header
	wsPath   string // client side: request path
	maxSize  uint64
	tune     *tuning
	log      *slog.Logger
}

// conn is one YMQ connection: a reader goroutine (serve) that owns its life, and a writer
// goroutine (writeLoop) that drains the outq it is attached to.
type conn struct {
	ep     *endpoint
	raw    net.Conn // TCP or unix socket
	nc     net.Conn // what carries the bytes: raw, or TLS over raw
	ws     *wsConn  // WebSocket framing over nc, when ws:// or wss://
	fr     frameReader
	remote string

	// log and peer are written by the reader goroutine before the writer starts or the
	// owner learns the identity, and are read-only afterwards. The writer never logs.
	log  *slog.Logger
	peer string
	// registered is set by the binder once it mapped this connection to its peer.
	registered bool
	// verified is set by the connector once the identity matched.
	verified bool
	// dismissed is set when the binder was asked to close this peer (ClosePeer).
	dismissed atomic.Bool

	wake       chan struct{}
	writerDone chan struct{}

	mu            sync.Mutex
	q             *outq // set when the writer starts
	closeDeadline time.Time
	werr          error

	// sock does the reads and writes of a plain TCP or unix socket (nil under TLS and
	// WebSocket, and off Linux).
	sock *rawSocket

	// Writer-owned batch state.
	bufs net.Buffers
}

func newConn(ep *endpoint, raw net.Conn) *conn {
	remote := raw.RemoteAddr().String()
	if remote == "" || remote == "@" {
		remote = "unix:" + raw.LocalAddr().String()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		// Go enables it by default; being explicit documents that YMQ latency relies on it.
		_ = tc.SetNoDelay(true)
	}
	return &conn{
		ep:     ep,
		raw:    raw,
		nc:     raw,
		remote: remote,
		log:    ep.log.With("remote", remote),
		wake:   make(chan struct{}, 1),
	}
}

// handshake brings the transport up (TLS, WebSocket upgrade) and writes our magic and
// identity. It does not wait for the peer's: both sides send theirs immediately (§2.2).
// The read deadline it sets stays until the peer's identity has arrived.
func (c *conn) handshake(ctx context.Context, server bool) error {
	if err := c.raw.SetDeadline(time.Now().Add(c.ep.tune.handshake)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(time.Unix(1, 0)) })
	err := c.handshakeSteps(ctx, server)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	return c.nc.SetWriteDeadline(time.Time{})
}

func (c *conn) handshakeSteps(ctx context.Context, server bool) error {
	if c.ep.tls != nil {
		var tc *tls.Conn
		if server {
			tc = tls.Server(c.raw, c.ep.tls)
		} else {
			tc = tls.Client(c.raw, c.ep.tls)
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c.nc = tc
	}
	var src io.Reader = c.nc
	if c.ep.tls == nil && !c.ep.ws {
		if c.sock = newRawSocket(c.raw); c.sock != nil {
			src = c.sock
		}
	}
	br := bufio.NewReaderSize(src, readBufSize)
	if c.ep.ws {
		var err error
		if server {
			err = wsAccept(c.nc, br)
		} else {
			err = wsDial(c.nc, br, c.ep.wsHost, c.ep.wsPath)
		}
		if err != nil {
			return fmt.Errorf("WebSocket upgrade: %w", err)
		}
		c.ws = newWSConn(c.nc, br, !server)
		br = bufio.NewReaderSize(c.ws, readBufSize)
	}
	c.fr = frameReader{br: br, max: c.ep.maxSize}

	id := c.ep.identity
	hs := make([]byte, 0, len(magic)+8+len(id))
	hs = append(hs, magic[:]...)
	hs = binary.LittleEndian.AppendUint64(hs, uint64(len(id)))
	hs = append(hs, id...)
	if err := c.emit(net.Buffers{nil, hs}, len(hs)); err != nil {
		return fmt.Errorf("write handshake: %w", err)
	}
	return nil
}

// serve is the reader goroutine: it reads the peer's handshake, then messages, and finally
// tears the connection down and reports how it ended.
func (c *conn) serve() {
	err := c.readHandshake()
	if err == nil {
		err = c.ep.owner.established(c)
	}
	if err == nil {
		err = c.readLoop()
	}
	c.finish(err)
}

func (c *conn) readHandshake() error {
	id, err := c.fr.readPreamble()
	if err != nil {
		return c.handshakeReadError(err)
	}
	c.peer = id
	c.log = c.log.With("peer", c.peer)

	c.mu.Lock()
	if c.closeDeadline.IsZero() {
		err = c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	return err
}

// handshakeReadError turns a truncated or missing handshake into a protocol error, so it
// gets a log line naming what was missing.
func (c *conn) handshakeReadError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && c.localDeadline().IsZero() {
		return protoErrorf("no YMQ handshake from the peer within %s", c.ep.tune.handshake)
	}
	return err
}

func (c *conn) localDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeDeadline
}

func (c *conn) readLoop() error {
	for {
		m, err := c.fr.next()
		if err != nil {
			return err
		}
		c.ep.owner.deliver(c, m)
	}
}

// classify maps the reader's final error to the distinction of §2.4: EOF from the peer is
// orderly, anything else (reset, timeout, a socket closed under us) is an abort.
func classify(err error) endKind {
	var pe *protoError
	switch {
	case errors.As(err, &pe):
		return endProtocol
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// ErrUnexpectedEOF is a FIN in the middle of a message or TLS record: still a FIN.
		return endGraceful
	default:
		return endAborted
	}
}

func (c *conn) finish(err error) {
	kind := classify(err)
	werr := c.writeErr()
	switch kind {
	case endProtocol:
		c.log.Warn("ymq: closing connection", "reason", err.Error())
		c.reset()
	case endAborted:
		if werr != nil {
			err = werr
		}
		if c.peer != "" && !errors.Is(err, errLocalAbort) {
			c.log.Info("ymq: connection aborted", "err", err)
		} else {
			c.log.Debug("ymq: connection dropped", "err", err)
		}
		_ = c.raw.Close()
	case endGraceful:
		if errors.Is(err, io.ErrUnexpectedEOF) {
			c.log.Warn("ymq: peer closed the connection in the middle of a message", "err", err)
		} else if c.peer == "" {
			c.log.Debug("ymq: connection closed before the handshake")
		} else {
			c.log.Info("ymq: connection closed by peer")
		}
	}

	c.mu.Lock()
	q := c.q
	if c.closeDeadline.IsZero() {
		// The writer may be in the middle of a batch the peer no longer reads.
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.ep.tune.closeGrace))
	}
	c.mu.Unlock()
	if q != nil {
		// After a graceful EOF the writer answers with its own FIN, after an abort it finds
		// the socket closed; either way it stops.
		q.detach(c)
		<-c.writerDone
	}
	_ = c.raw.Close()
	c.ep.owner.ended(c, kind, err)
}

// reset closes with RST, which tells a Python peer to reconnect rather than give up.
func (c *conn) reset() {
	if tc, ok := c.raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.raw.Close()
}

// closeLocal starts a graceful local close: flush what is queued until deadline, send FIN,
// and wait a little for the peer's FIN. A connection still in its handshake is just closed.
func (c *conn) closeLocal(deadline time.Time) {
	q := c.bound(deadline)
	if q == nil {
		_ = c.raw.Close()
		return
	}
	q.startClosing()
}

// bound limits how long the connection may still write and read, and returns its queue.
// A connection without a writer yet is still in its handshake, and c.nc may still change:
// it is left alone (closeLocal closes its socket instead).
func (c *conn) bound(deadline time.Time) *outq {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q == nil {
		return nil
	}
	if c.closeDeadline.IsZero() || deadline.Before(c.closeDeadline) {
		c.closeDeadline = deadline
		_ = c.nc.SetWriteDeadline(deadline)
		_ = c.nc.SetReadDeadline(deadline.Add(c.ep.tune.finWait))
	}
	return c.q
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// startWriter attaches c to q and starts draining it.
func (c *conn) startWriter(q *outq) {
	c.mu.Lock()
	if c.q != nil {
		c.mu.Unlock()
		return
	}
	c.q = q
	c.writerDone = make(chan struct{})
	c.mu.Unlock()
	q.attach(c) // before the writer runs, or its first take would see it detached
	go c.writeLoop(q)
}

func (c *conn) writerStarted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q != nil
}

func (c *conn) writeLoop(q *outq) {
	defer close(c.writerDone)
	for {
		b, res := q.take(c)
		switch res {
		case takeOK:
			err := c.writeBatch(b)
			b.release()
			if err != nil {
				c.writeFailed(err)
				return
			}
		case takeEmpty:
			<-c.wake
			// Let the goroutines that are ready to run queue what they have before this
			// batch is taken: on a busy connection that turns many small writes into one.
			runtime.Gosched()
		case takeDetached, takeFinish:
			c.closeWrite()
			return
		}
	}
}

func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	c.werr = err
	c.mu.Unlock()
	if !errors.Is(err, errWSClosed) {
		// Unblock the reader; it reports the abort (a WebSocket CLOSE instead ends the
		// reader with EOF by itself).
		_ = c.raw.Close()
	}
}

func (c *conn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.werr
}

// closeWrite sends our FIN (after a WebSocket CLOSE and a TLS close_notify) and bounds the
// wait for the peer's.
func (c *conn) closeWrite() {
	if c.ws != nil {
		_ = c.ws.sendClose(nil)
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		// tls.Conn.CloseWrite sends close_notify but leaves the TCP stream open.
		_ = tc.CloseWrite()
	}
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.ep.tune.finWait))
}

// writeBatch writes the messages of b, each with its length prefix, in as few system calls
// as possible: prefixes and small payloads are coalesced into one buffer, large payloads go
// to writev untouched. bufs[0] is kept free for a WebSocket frame header.
func (c *conn) writeBatch(b batch) error {
	need := 0
	for ch := b.head; ch != nil; ch = ch.next {
		for _, m := range ch.items[:ch.n] {
			need += 8
			if len(m) <= smallCopy {
				need += len(m)
			}
		}
	}
	sp := getBatchBuf(min(need, batchBufSize))
	defer putBatchBuf(sp)
	scratch := (*sp)[:0]
	bufs := append(c.bufs[:0], nil)
	defer func() {
		clear(bufs)
		c.bufs = bufs[:0]
	}()

	mark, total := 0, 0
	for ch := b.head; ch != nil; ch = ch.next {
		for _, m := range ch.items[:ch.n] {
			small := len(m) <= smallCopy
			n := 8
			if small {
				n += len(m)
			}
			if len(scratch)+n > cap(scratch) {
				if len(scratch) > mark {
					bufs = append(bufs, scratch[mark:])
				}
				if err := c.emit(bufs, total); err != nil {
					return err
				}
				clear(bufs)
				scratch, bufs, mark, total = scratch[:0], append(bufs[:0], nil), 0, 0
			}
			// Capacity was checked above, so these appends never move scratch and the
			// slices of it already in bufs stay valid.
			scratch = binary.LittleEndian.AppendUint64(scratch, uint64(len(m)))
			if small {
				scratch = append(scratch, m...)
			} else {
				bufs = append(bufs, scratch[mark:], m)
				mark = len(scratch)
			}
			total += 8 + len(m)
		}
	}
	if len(scratch) > mark {
		bufs = append(bufs, scratch[mark:])
	}
	return c.emit(bufs, total)
}

// emit writes bufs[1:] (total bytes) as one unit: one writev, or one WebSocket frame.
func (c *conn) emit(bufs net.Buffers, total int) error {
	if c.ws != nil {
		return c.ws.writeFrame(wsOpBinary, bufs, total)
	}
	if c.sock != nil {
		return c.sock.writev(bufs[1:])
	}
	v := bufs[1:]
	_, err := v.WriteTo(c.nc)
	return err
}

var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

func getBatchBuf(size int) *[]byte {
	p := batchPool.Get().(*[]byte)
	if cap(*p) < size {
		*p = make([]byte, 0, max(size, 2*cap(*p)))
	}
	return p
}

func putBatchBuf(p *[]byte) { batchPool.Put(p) }

// frameReader reads length-prefixed YMQ messages.
type frameReader struct {
	br  *bufio.Reader
	max uint64
}

func (f *frameReader) next() ([]byte, error) { return f.read(f.max, "message") }

// readPreamble reads and checks the peer's magic, then its identity message (§2.2). A
// stream cut short inside either is a protocol error; a stream that ends before its first
// byte is a plain io.EOF.
func (f *frameReader) readPreamble() (string, error) {
	var m [4]byte
	if n, err := io.ReadFull(f.br, m[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return "", protoErrorf("connection closed inside the YMQ magic (%d of 4 bytes)", n)
		}
		return "", err
	}
	if m != magic {
		return "", protoErrorf("invalid YMQ magic % x", m[:])
	}
	id, err := f.read(maxIdentity, "identity")
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return "", protoErrorf("connection closed inside the identity message")
		}
		return "", err
	}
	return string(id), nil
}

// read returns the next message, allocated at its exact size: a message larger than the
// read buffer is read by io.ReadFull straight into its own slice, without a second copy.
// A length above limit is refused before anything is allocated.
func (f *frameReader) read(limit uint64, what string) ([]byte, error) {
	h, err := f.br.Peek(8)
	if err != nil {
		if len(h) > 0 && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("connection closed inside a %s length prefix (%d of 8 bytes): %w", what, len(h), io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint64(h)
	if n > limit {
		return nil, protoErrorf("%s length %d exceeds the limit of %d bytes", what, n, limit)
	}
	_, _ = f.br.Discard(8)
	buf := make([]byte, n)
	if n <= uint64(f.br.Buffered()) {
		// Already buffered (the common case for small messages): skip io.ReadFull's loop.
		b, _ := f.br.Peek(int(n))
		copy(buf, b)
		_, _ = f.br.Discard(int(n))
		return buf, nil
	}
	if _, err := io.ReadFull(f.br, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
