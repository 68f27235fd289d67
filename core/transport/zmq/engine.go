package zmq

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// Socket ownership and the send path
//
// A libzmq socket must only be used by one thread at a time, so every socket belongs to one
// goroutine, its owner, which is the only code that ever calls into it. The owner sleeps in
// zmq_poll on two sockets: the real one (for input, and for output when libzmq pushed back) and
// the reading end of an inproc PAIR, its wake-up line.
//
// Send, from any goroutine, appends the message to a mutex-protected Go slice and, if no
// wake-up is already on its way, signals a channel. A second goroutine, the waker, owns the
// writing end of the PAIR: for each signal it writes one empty frame into the PAIR, which makes
// the owner's zmq_poll return. The owner then swaps the whole slice out under the lock and
// writes every message to libzmq (each write only copies into libzmq's queue; libzmq's I/O
// thread then batches them onto the network). So a burst of sends costs one wake-up, Send never
// touches a socket nor waits for the network, and each socket is still used by one goroutine.
// (Why a PAIR and a waker rather than an eventfd: pebbe's poller only polls zmq sockets, and the
// writing end of the PAIR is a socket too, so it needs an owner of its own.)
//
// Delivery of received messages uses a Go channel of Options.QueueSize. When it is full the
// owner stops reading the socket (libzmq keeps buffering, RCVHWM is 0 as in Python) and waits
// for the channel, but it also listens to a channel the waker pokes after each wake-up, so
// sending continues while the application is not reading.
//
// Close marks the engine closed, then the waker writes one last wake-up; the owner flushes what
// was queued before Close, closes its sockets and the Messages channel; the waker closes the
// PAIR's other end; the last engine of the process terminates the shared context.

// maxReadBatch bounds how many messages the owner reads before it looks at its wake-up line
// again, so a flood of input cannot starve sends.
const maxReadBatch = 256

// maxSpareCap is the largest send buffer kept for reuse; a burst larger than this does not
// pin its memory for the life of the socket.
const maxSpareCap = 1 << 16

// outMsg is one queued send.
type outMsg struct {
	peer      string // ROUTER destination; unused by other socket types
	data      []byte
	broadcast bool // ROUTER: send to every peer heard from recently
}

// socketSpec describes the libzmq socket an engine owns.
type socketSpec struct {
	kind      zmq4.Type
	identity  string // ZMQ_ROUTING_ID; empty leaves libzmq's default
	addr      address.Address
	bind      bool          // bind to addr; false connects to it
	linger    time.Duration // applied when the socket is closed
	maxMsg    uint64        // 0 = unlimited; ignored for sockets that do not receive
	recv      bool          // the owner polls for input
	subscribe bool          // SUB: subscribe to everything
}

// decodeFunc turns the frames of one received message into the item delivered on Messages;
// false drops the message. It runs on the owner goroutine and may keep the frame slices but
// not the outer slice.
type decodeFunc[T any] func(frames [][]byte) (T, bool)

// sendFunc writes one queued message to the socket from the owner goroutine. It returns
// errAgain when libzmq cannot take the message now (it is retried when the socket is writable);
// any other error is logged by sendFunc itself and the message is dropped.
type sendFunc func(s *zmq4.Socket, m *outMsg) error

var errAgain = errors.New("zmq: socket cannot take more output now")

var wakeSeq atomic.Uint64

// engine is one libzmq socket with its owner and waker goroutines. T is what Messages delivers.
type engine[T any] struct {
	log    *slog.Logger
	zctx   *zmq4.Context
	sock   *zmq4.Socket // owner only
	wakeR  *zmq4.Socket // owner only
	wakeW  *zmq4.Socket // waker only
	spec   socketSpec
	decode decodeFunc[T]
	send   sendFunc

	inbox chan T

	mu     sync.Mutex
	queue  []outMsg
	armed  bool // a wake-up is signalled and the owner has not yet swapped the queue out
	closed bool
	err    error

	batches atomic.Uint64 // non-empty queue swaps; tests and benchmarks read it to see batching

	spare  []outMsg // owner only: the other half of the double buffer
	frames [][]byte // owner only: reused by recvFrames

	kick      chan struct{} // Send -> waker, capacity 1
	ownerKick chan struct{} // waker -> owner while it waits on a full inbox, capacity 1
	done      chan struct{} // closed by Close
	ownerDone chan struct{} // closed when the owner has closed its sockets
	wakerDone chan struct{}
	closeOnce sync.Once
}

// start creates, configures and binds or connects the socket, then starts its goroutines. It
// returns the socket's address (for a bound one, with the port the kernel chose). inbox is the
// capacity of Messages (unused when decode is nil: the socket does not receive).
func start[T any](spec socketSpec, log *slog.Logger, inbox int, decode decodeFunc[T], send sendFunc) (*engine[T], address.Address, error) {
	zctx, err := acquireContext()
	if err != nil {
		return nil, address.Address{}, err
	}
	e := &engine[T]{
		log:       log,
		zctx:      zctx,
		spec:      spec,
		decode:    decode,
		send:      send,
		kick:      make(chan struct{}, 1),
		ownerKick: make(chan struct{}, 1),
		done:      make(chan struct{}),
		ownerDone: make(chan struct{}),
		wakerDone: make(chan struct{}),
	}
	if decode != nil {
		e.inbox = make(chan T, inbox)
	}
	endpoint, err := e.open()
	var real address.Address
	if err == nil {
		real, err = boundAddr(&e.spec, endpoint)
	}
	if err != nil {
		e.closeSockets()
		releaseContext(zctx)
		return nil, address.Address{}, err
	}
	// The sockets were made on this goroutine; starting the owner and the waker is a full
	// memory barrier, which is all libzmq asks for when a socket changes threads.
	go e.run()
	go e.wake()
	return e, real, nil
}

// open creates the sockets. On error the caller closes whatever was created.
func (e *engine[T]) open() (string, error) {
	spec := &e.spec
	// Address.String prints exactly libzmq's endpoint syntax for the schemes prepare accepts,
	// including brackets around IPv6 literals.
	where := spec.addr.String()
	fail := func(what string, err error) (string, error) {
		return "", fmt.Errorf("zmq %s %s: %s: %w", spec.kind, where, what, err)
	}
	var err error
	if e.sock, err = e.zctx.NewSocket(spec.kind); err != nil {
		return fail("creating socket", err)
	}
	// Unlimited queues as in Python (spec/protocol.md §1.3): libzmq then never drops or blocks
	// because of a high-water mark.
	if err = e.sock.SetSndhwm(0); err != nil {
		return fail("setting SNDHWM", err)
	}
	if err = e.sock.SetRcvhwm(0); err != nil {
		return fail("setting RCVHWM", err)
	}
	// Linger 0 until Close sets the real value, so that a socket abandoned on an error path
	// can never hold up zmq_ctx_term.
	if err = e.sock.SetLinger(0); err != nil {
		return fail("setting LINGER", err)
	}
	if spec.identity != "" {
		if err = e.sock.SetIdentity(spec.identity); err != nil {
			return fail(fmt.Sprintf("setting identity %q", spec.identity), err)
		}
	}
	if isIPv6(spec.addr) {
		if err = e.sock.SetIpv6(true); err != nil {
			return fail("enabling IPv6", err)
		}
	}
	if spec.recv {
		if err = e.sock.SetMaxmsgsize(maxMsgSize(spec.maxMsg)); err != nil {
			return fail("setting MAXMSGSIZE", err)
		}
	}
	if spec.subscribe {
		if err = e.sock.SetSubscribe(""); err != nil {
			return fail("subscribing", err)
		}
	}
	if spec.bind {
		if err = e.sock.Bind(where); err != nil {
			return fail("bind", err)
		}
	} else if err = e.sock.Connect(where); err != nil {
		return fail("connect", err)
	}
	endpoint, err := e.sock.GetLastEndpoint()
	if err != nil {
		return fail("reading last endpoint", err)
	}

	wakeEP := fmt.Sprintf("inproc://scaler-go-zmq-wake-%d", wakeSeq.Add(1))
	if e.wakeR, err = e.zctx.NewSocket(zmq4.PAIR); err != nil {
		return fail("creating wake-up socket", err)
	}
	if err = e.wakeR.SetLinger(0); err != nil {
		return fail("setting wake-up LINGER", err)
	}
	if err = e.wakeR.Bind(wakeEP); err != nil {
		return fail("binding wake-up socket", err)
	}
	if e.wakeW, err = e.zctx.NewSocket(zmq4.PAIR); err != nil {
		return fail("creating wake-up socket", err)
	}
	if err = e.wakeW.SetLinger(0); err != nil {
		return fail("setting wake-up LINGER", err)
	}
	if err = e.wakeW.Connect(wakeEP); err != nil {
		return fail("connecting wake-up socket", err)
	}
	return endpoint, nil
}

func (e *engine[T]) closeSockets() {
	for _, s := range []*zmq4.Socket{e.sock, e.wakeR, e.wakeW} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// enqueue hands a message to the owner. It never blocks on the network.
func (e *engine[T]) enqueue(m outMsg) error {
	e.mu.Lock()
	if e.closed {
		err := e.err
		e.mu.Unlock()
		if err == nil {
			err = transport.ErrClosed
		}
		return err
	}
	e.queue = append(e.queue, m)
	wake := !e.armed
	e.armed = true
	e.mu.Unlock()
	if wake {
		select {
		case e.kick <- struct{}{}:
		default: // a signal is already pending, the waker will see it
		}
	}
	return nil
}

// Err is why Messages was closed, nil before.
func (e *engine[T]) Err() error {
	select {
	case <-e.ownerDone:
	default:
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Close stops both goroutines after flushing what was queued, closes the sockets, and
// terminates the shared context if this was its last user. It is idempotent.
func (e *engine[T]) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		close(e.done)
		<-e.ownerDone
		<-e.wakerDone
		releaseContext(e.zctx)
	})
	return nil
}

// wake is the waker goroutine: it turns Go signals into frames on the inproc PAIR.
func (e *engine[T]) wake() {
	defer close(e.wakerDone)
	defer func() { _ = e.wakeW.Close() }()
	for {
		select {
		case <-e.kick:
			e.poke()
			select {
			case e.ownerKick <- struct{}{}:
			default:
			}
		case <-e.done:
			e.poke()
			// The PAIR end stays open until the owner is gone, so the wake-up cannot be lost.
			<-e.ownerDone
			return
		case <-e.ownerDone:
			return // the owner failed; nobody listens any more
		}
	}
}

func (e *engine[T]) poke() {
	// An empty frame is enough, the owner only needs to leave zmq_poll. EAGAIN would mean
	// a thousand wake-ups are already waiting, so this one is not needed.
	if _, err := e.wakeW.SendBytes(nil, zmq4.DONTWAIT); err != nil && !isAgain(err) {
		e.log.Error("zmq: writing wake-up frame failed", "err", err)
	}
}

// run is the owner goroutine.
func (e *engine[T]) run() {
	defer close(e.ownerDone)
	poller := zmq4.NewPoller()
	wakeID := poller.Add(e.wakeR, zmq4.POLLIN)
	sockID := poller.Add(e.sock, 0)
	var (
		pending *T       // received but not yet accepted by a full inbox
		backlog []outMsg // libzmq pushed back (only a DEALER can, and only in odd states)
		fatal   error
	)
loop:
	for {
		if pending != nil {
			select {
			case e.inbox <- *pending:
				pending = nil
			case <-e.ownerKick:
				backlog = e.flush(backlog)
			case <-e.done:
				break loop
			}
			continue
		}
		var want zmq4.State
		if e.spec.recv {
			want |= zmq4.POLLIN
		}
		if len(backlog) > 0 {
			want |= zmq4.POLLOUT
		}
		if _, err := poller.Update(sockID, want); err != nil {
			fatal = fmt.Errorf("zmq: updating poller: %w", err)
			break
		}
		polled, err := poller.PollAll(-1)
		if err != nil {
			fatal = fmt.Errorf("zmq: poll: %w", err)
			break
		}
		if polled[wakeID].Events&zmq4.POLLIN != 0 {
			if fatal = e.drainWake(); fatal != nil {
				break
			}
			select {
			case <-e.done:
				break loop
			default:
			}
			backlog = e.flush(backlog)
		}
		ev := polled[sockID].Events
		if ev&zmq4.POLLOUT != 0 && len(backlog) > 0 {
			backlog = e.sendAll(backlog)
		}
		if ev&zmq4.POLLIN != 0 {
			if pending, fatal = e.readSome(); fatal != nil {
				break
			}
		}
	}
	e.shutdown(backlog, fatal)
}

// shutdown runs on the owner goroutine when it stops.
func (e *engine[T]) shutdown(backlog []outMsg, fatal error) {
	e.mu.Lock()
	e.closed = true
	if fatal != nil {
		e.err = fatal
	} else {
		e.err = transport.ErrClosed
	}
	e.mu.Unlock()
	if fatal != nil {
		e.log.Error("zmq: socket failed", "err", fatal)
	} else {
		// Hand libzmq everything queued before Close; the linger below bounds how long it
		// keeps trying to deliver it.
		if rest := e.flush(backlog); len(rest) > 0 {
			e.log.Warn("zmq: dropping messages libzmq would not take at close", "count", len(rest))
		}
	}
	if err := e.sock.SetLinger(e.spec.linger); err != nil {
		e.log.Warn("zmq: setting LINGER at close", "err", err)
	}
	e.closeOwned()
	if e.inbox != nil {
		close(e.inbox)
	}
}

// closeOwned closes the sockets the owner owns (the waker closes its own).
func (e *engine[T]) closeOwned() {
	if err := e.sock.Close(); err != nil {
		e.log.Warn("zmq: closing socket", "err", err)
	}
	if err := e.wakeR.Close(); err != nil {
		e.log.Warn("zmq: closing wake-up socket", "err", err)
	}
}

// drainWake consumes every pending wake-up frame.
func (e *engine[T]) drainWake() error {
	for {
		if _, err := e.wakeR.RecvBytes(zmq4.DONTWAIT); err != nil {
			if isAgain(err) {
				return nil
			}
			return fmt.Errorf("zmq: reading wake-up frame: %w", err)
		}
	}
}

// flush swaps the send queue out and writes it after the backlog. It returns what libzmq did
// not take.
func (e *engine[T]) flush(backlog []outMsg) []outMsg {
	e.mu.Lock()
	batch := e.queue
	e.queue = e.spare[:0]
	e.armed = false
	e.mu.Unlock()
	e.spare = nil
	if len(batch) > 0 {
		e.batches.Add(1)
	}
	if len(backlog) > 0 {
		backlog = append(backlog, batch...)
		e.recycle(batch)
		return e.sendAll(backlog)
	}
	rest := e.sendAll(batch)
	if len(rest) > 0 {
		rest = append([]outMsg(nil), rest...) // batch goes back to the pool below
	}
	e.recycle(batch)
	return rest
}

func (e *engine[T]) recycle(batch []outMsg) {
	if cap(batch) > maxSpareCap {
		return
	}
	clear(batch) // drop references to sent payloads
	e.spare = batch[:0]
}

// sendAll writes msgs in order and returns the ones libzmq did not take.
func (e *engine[T]) sendAll(msgs []outMsg) []outMsg {
	for i := range msgs {
		if err := e.send(e.sock, &msgs[i]); err == errAgain {
			return msgs[i:]
		}
	}
	return nil
}

// readSome reads up to maxReadBatch messages. It returns a message the inbox had no room for.
func (e *engine[T]) readSome() (*T, error) {
	for range maxReadBatch {
		frames, err := e.recvFrames()
		if err != nil {
			if isAgain(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("zmq: receive: %w", err)
		}
		item, ok := e.decode(frames)
		if !ok {
			continue
		}
		select {
		case e.inbox <- item:
		default:
			return &item, nil
		}
	}
	return nil, nil
}

// recvFrames reads all frames of one message without blocking. libzmq delivers the frames
// of a message atomically, so once the first frame is there the rest are too.
func (e *engine[T]) recvFrames() ([][]byte, error) {
	clear(e.frames)
	e.frames = e.frames[:0]
	for {
		b, err := e.sock.RecvBytes(zmq4.DONTWAIT)
		if err != nil {
			return nil, err
		}
		e.frames = append(e.frames, b)
		more, err := e.sock.GetRcvmore()
		if err != nil {
			return nil, err
		}
		if !more {
			return e.frames, nil
		}
	}
}

func isAgain(err error) bool {
	return zmq4.AsErrno(err) == zmq4.Errno(syscall.EAGAIN)
}

// plainSender writes one frame per message (DEALER, PUB).
func plainSender(log *slog.Logger) sendFunc {
	return func(s *zmq4.Socket, m *outMsg) error {
		if _, err := s.SendBytes(m.data, zmq4.DONTWAIT); err != nil {
			if isAgain(err) {
				return errAgain
			}
			log.Error("zmq: send failed, message dropped", "err", err, "len", len(m.data))
		}
		return nil
	}
}

// singleFrameDecoder accepts exactly one frame per message (DEALER, SUB), as every Scaler
// peer sends (spec/protocol.md §1.5).
func singleFrameDecoder(log *slog.Logger) decodeFunc[[]byte] {
	return func(frames [][]byte) ([]byte, bool) {
		if len(frames) != 1 {
			log.Warn("zmq: dropping message with unexpected frame count", "frames", len(frames), "want", 1)
			return nil, false
		}
		return frames[0], true
	}
}
