package objstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/transport"
)

// DefaultIdentity is the identity the server announces to its peers.
const DefaultIdentity = "ObjectStorageServer"

// BackendName is the transport backend object storage always uses (spec/protocol.md §5.1).
const BackendName = "ymq"

// hashLaterOver is the payload size above which a set is answered before its content is
// hashed for de-duplication (by the hasher pool); smaller ones are hashed on the spot.
const hashLaterOver = 64 << 10

// ErrAlreadyBound is returned by Bind when the server was bound already.
var ErrAlreadyBound = errors.New("object storage server already bound")

// ServerOptions configures a Server.
type ServerOptions struct {
	// Address is where to listen: tcp://, tls://, ipc://, ws:// or wss://.
	Address address.Address
	// Identity is announced to every peer; empty means DefaultIdentity.
	Identity string
	// TLSCertFile and TLSKeyFile (PEM) are required for tls:// and wss://.
	TLSCertFile, TLSKeyFile string
	// MaxMessageSize bounds both a single message from a peer and the size of a set; 0
	// means transport.DefaultMaxMessageSize().
	MaxMessageSize uint64
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Backend overrides the transport; nil means the registered "ymq" backend.
	Backend transport.Backend
}

// Server is the object storage server. Create it with NewServer, then call Run (optionally
// after Bind, to learn the address or report a bind error before serving).
type Server struct {
	opts ServerOptions
	log  *slog.Logger
	hash func([]byte) uint64

	mu     sync.Mutex
	binder transport.Binder
	ran    bool
	ready  chan struct{}
}

// NewServer returns a server that is not yet listening.
func NewServer(opts ServerOptions) *Server {
	if opts.Identity == "" {
		opts.Identity = DefaultIdentity
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		opts:  opts,
		log:   log,
		hash:  seededHash(),
		ready: make(chan struct{}),
	}
}

// seededHash returns a content hash with a seed of its own, so that no peer can predict
// which payloads collide.
func seededHash() func([]byte) uint64 {
	seed := maphash.MakeSeed()
	return func(b []byte) uint64 { return maphash.Bytes(seed, b) }
}

// Bind starts listening. Run must follow, since only Run closes the listener.
func (s *Server) Bind(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.binder != nil {
		return ErrAlreadyBound
	}
	backend, err := backendOr(s.opts.Backend)
	if err != nil {
		return fmt.Errorf("object storage server: %w", err)
	}
	b, err := backend.Bind(ctx, s.opts.Address, transport.Options{
		Identity:       s.opts.Identity,
		TLSCertFile:    s.opts.TLSCertFile,
		TLSKeyFile:     s.opts.TLSKeyFile,
		MaxMessageSize: s.opts.MaxMessageSize,
		Logger:         s.log,
	})
	if err != nil {
		// The backend's error names the address.
		return fmt.Errorf("object storage server: %w", err)
	}
	s.binder = b
	close(s.ready)
	return nil
}

// backendOr returns b, or the registered BackendName backend when b is nil.
func backendOr(b transport.Backend) (transport.Backend, error) {
	if b != nil {
		return b, nil
	}
	return transport.Lookup(BackendName)
}

// Ready is closed once the server listens; Addr is valid from then on.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound address (with the real port when port 0 was asked for); zero before
// the server listens.
func (s *Server) Addr() address.Address {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.binder == nil {
		return address.Address{}
	}
	return s.binder.Addr()
}

// Run listens (unless Bind did already) and serves until ctx ends, then closes every
// connection gracefully. It returns nil after ctx ends, or the reason the listener failed.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("object storage server: Run called twice")
	}
	s.ran = true
	bound := s.binder != nil
	s.mu.Unlock()
	if !bound {
		if err := s.Bind(ctx); err != nil {
			return err
		}
	}
	b := s.binder
	s.log.Info("object storage server listening", "address", b.Addr().String(), "identity", s.opts.Identity)

	h := startHashers(runtime.GOMAXPROCS(0), s.hash)
	err := s.serve(ctx, b, h)
	h.stop()
	if cerr := b.Close(); err == nil && cerr != nil && !errors.Is(cerr, transport.ErrClosed) {
		err = fmt.Errorf("object storage server: close: %w", cerr)
	}
	s.log.Info("object storage server stopped", "address", b.Addr().String())
	return err
}

// serve is the owner loop: it reads binder items in order, pairs and decodes them (intake),
// and applies them to the store in the same order. Large payloads are hashed by the hasher
// pool while the loop goes on; their results come back here to be merged.
//
// Responses are handed to the binder when the loop runs out of input (or has a full batch),
// not one by one: each peer's writer then finds many of them queued and writes them with
// one system call, which on loopback costs far more than the bytes it moves.
func (s *Server) serve(ctx context.Context, b transport.Binder, h *hashers) error {
	maxSet := s.opts.MaxMessageSize
	if maxSet == 0 {
		maxSet = transport.DefaultMaxMessageSize()
	}
	in := newIntake(maxSet, s.log)
	out := &binderSink{b: b, log: s.log}
	defer out.flush()
	st := newStore(s.hash, out, s.log)
	st.hashLater, st.hashLaterOver = h.submit, hashLaterOver
	msgs := b.Messages()
	var r request
	handle := func(ev transport.Inbound) {
		if in.feed(ev, &r) {
			st.apply(&r)
			r = request{}
		}
	}
	merge := func() {
		for _, j := range h.take() {
			st.merge(j.c, j.sum)
		}
	}
	for {
		if out.full() {
			out.flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-msgs:
			if !ok {
				return listenerEnded(b)
			}
			handle(ev)
			continue
		case <-h.notify:
			merge()
			continue
		default:
		}
		out.flush()
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-msgs:
			if !ok {
				return listenerEnded(b)
			}
			handle(ev)
		case <-h.notify:
			merge()
		}
	}
}

func listenerEnded(b transport.Binder) error {
	if err := b.Err(); err != nil {
		return fmt.Errorf("object storage server: listener on %s failed: %w", b.Addr(), err)
	}
	return nil
}

// binderSink collects the store's output and hands it to the binder in batches.
type binderSink struct {
	b     transport.Binder
	log   *slog.Logger
	out   []outMsg
	bytes int
}

type outMsg struct {
	peer string
	msg  []byte
}

const (
	// maxBatch and maxBatchBytes bound how much output waits for the loop to run out of
	// input, so that answers go out promptly under a steady stream of requests.
	maxBatch      = 256
	maxBatchBytes = 1 << 20
)

func (o *binderSink) send(peer string, msg []byte) {
	o.out = append(o.out, outMsg{peer, msg})
	o.bytes += len(msg)
}

func (o *binderSink) full() bool { return len(o.out) >= maxBatch || o.bytes >= maxBatchBytes }

func (o *binderSink) flush() {
	for _, m := range o.out {
		// A peer that went away cannot be answered; that is not the server's problem.
		if err := o.b.Send(m.peer, m.msg); err != nil {
			o.log.Debug("object storage: response not sent", "peer", m.peer, "error", err)
		}
	}
	clear(o.out)
	o.out, o.bytes = o.out[:0], 0
}

func (o *binderSink) closePeer(peer string) {
	// What was answered before goes out before the connection closes.
	o.flush()
	if err := o.b.ClosePeer(peer); err != nil {
		o.log.Warn("object storage: cannot close peer connection", "peer", peer, "error", err)
	}
}

// hashJob hashes one content off the server loop, in parts hashed in parallel so that a
// huge object does not keep its duplicates in memory for long. sum is written before the
// job is handed back.
type hashJob struct {
	c       *content
	parts   []uint64
	pending atomic.Int32
	sum     uint64
}

// hashTask is one part of a job.
type hashTask struct {
	job  *hashJob
	part int
}

// hashers is a fixed pool of goroutines hashing large payloads. Finished jobs are collected
// in a list and announced on notify, so a hasher never blocks on the server loop and the
// loop, which feeds tasks, can never deadlock with them.
type hashers struct {
	n      int
	hash   func([]byte) uint64
	tasks  chan hashTask
	notify chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	finished []*hashJob
}

// minHashPart keeps parts large enough that splitting pays for the hand-offs.
const minHashPart = 1 << 20

func startHashers(n int, hash func([]byte) uint64) *hashers {
	n = max(n, 1)
	h := &hashers{n: n, hash: hash, tasks: make(chan hashTask, 1024), notify: make(chan struct{}, 1)}
	for range n {
		h.wg.Go(func() {
			for t := range h.tasks {
				h.run(t)
			}
		})
	}
	return h
}

// submit starts hashing c. The number of parts depends only on the length, so equal
// payloads always get equal sums, and a payload hashed in one part gets the same sum as
// the server loop computes for it.
func (h *hashers) submit(c *content) {
	parts := max(1, min(h.n, len(c.data)/minHashPart))
	j := &hashJob{c: c, parts: make([]uint64, parts)}
	j.pending.Store(int32(parts))
	for i := range parts {
		h.tasks <- hashTask{job: j, part: i}
	}
}

func (h *hashers) run(t hashTask) {
	j := t.job
	// A content deleted meanwhile needs no hash; merge ignores it.
	if !j.c.released.Load() {
		data := j.c.data
		size := (len(data) + len(j.parts) - 1) / len(j.parts)
		lo := min(t.part*size, len(data))
		hi := min(lo+size, len(data))
		j.parts[t.part] = h.hash(data[lo:hi])
	}
	if j.pending.Add(-1) > 0 {
		return
	}
	if len(j.parts) == 1 {
		j.sum = j.parts[0]
	} else {
		b := make([]byte, 0, 8*len(j.parts))
		for _, p := range j.parts {
			b = binary.LittleEndian.AppendUint64(b, p)
		}
		j.sum = h.hash(b)
	}
	h.mu.Lock()
	h.finished = append(h.finished, j)
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

// take returns the finished jobs.
func (h *hashers) take() []*hashJob {
	h.mu.Lock()
	defer h.mu.Unlock()
	jobs := h.finished
	h.finished = nil
	return jobs
}

func (h *hashers) stop() {
	close(h.tasks)
	h.wg.Wait()
}
