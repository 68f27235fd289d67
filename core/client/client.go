// Package client is the Go SDK of OpenGRIS Scaler: connect to a scheduler, submit Go
// functions registered on the workers (worker.Register) by name, and get their results.
//
//	c, err := client.Connect(ctx, "tcp://127.0.0.1:6378")
//	defer c.Close()
//	f := c.Submit("sqrt", 16.0)
//	v, err := f.Result(ctx) // 4
//
// Arguments and results travel as CBOR through object storage; the scheduler only sees ids.
// One goroutine (the client loop) owns the table of pending tasks; Submit and friends hand
// it requests over a channel and wait on futures.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/sysinfo"
	"github.com/scaler-go/scaler/core/taskctx"
	"github.com/scaler-go/scaler/core/transport"
)

// Errors a future or a call can end with.
var (
	// ErrClosed: the client was closed while the task was pending.
	ErrClosed = errors.New("client closed")
	// ErrCancelled: the task was cancelled.
	ErrCancelled = errors.New("task cancelled")
	// ErrDisconnected: the scheduler closed the connection.
	ErrDisconnected = errors.New("scheduler closed the connection")
	// ErrTimeout: the scheduler stopped answering heartbeats.
	ErrTimeout = errors.New("scheduler did not answer heartbeats in time")
	// ErrWorkerDied: the scheduler reported the task's worker dead.
	ErrWorkerDied = errors.New("the worker running the task died")
	// ErrProtected: the scheduler refused a shutdown request.
	ErrProtected = errors.New("scheduler is in protected mode; it refused to shut down")
)

// RemoteError is a task that failed on a worker.
type RemoteError struct {
	// Function is the function name (Go tasks).
	Function string
	// Message is the error text or the exception.
	Message string
	// Stack is the remote stack (Go panics), when known.
	Stack string
	// Worker is the worker that ran the task, when known.
	Worker string
	// Kind classifies Go failures: error, panic, timeout, not_registered, bad_arguments.
	Kind string
}

func (e *RemoteError) Error() string {
	if e.Function == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Function, e.Message)
}

type options struct {
	timeout        time.Duration
	heartbeat      time.Duration
	capabilities   []protocol.Capability
	profiling      bool
	stdout, stderr io.Writer
	stream         bool
	ossAddr        string
	backend        string
	logger         *slog.Logger
	priority       int32
	prioritySet    bool
	noInline       bool
}

// Option configures Connect.
type Option func(*options)

// WithTimeout sets how long the scheduler may stay silent before every pending task fails
// with ErrTimeout (default 60 s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithHeartbeatInterval sets the heartbeat period (default 2 s).
func WithHeartbeatInterval(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithCapabilities sets capabilities every task requires (name → quantity, -1 = any).
func WithCapabilities(caps map[string]int64) Option {
	return func(o *options) { o.capabilities = capabilityList(caps) }
}

// WithProfiling sets the profiling task flag.
func WithProfiling(on bool) Option { return func(o *options) { o.profiling = on } }

// WithStreamOutput forwards what tasks print (worker.Output) to stdout and stderr.
func WithStreamOutput(stdout, stderr io.Writer) Option {
	return func(o *options) { o.stream, o.stdout, o.stderr = true, stdout, stderr }
}

// WithObjectStorage overrides the object storage address the scheduler advertises.
func WithObjectStorage(addr string) Option { return func(o *options) { o.ossAddr = addr } }

// WithBackend picks the scheduler transport ("ymq" or "zmq"); default SCALER_NETWORK_BACKEND.
func WithBackend(name string) Option { return func(o *options) { o.backend = name } }

// WithLogger sets the client's logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithoutInline makes every argument and result go through object storage, as with a
// Python scheduler, even when the scheduler supports carrying small values (up to
// protocol.InlineLimit bytes) inside the task messages.
func WithoutInline() Option { return func(o *options) { o.noInline = true } }

// WithPriority sets the task priority (higher runs first on a worker).
func WithPriority(p int32) Option { return func(o *options) { o.priority, o.prioritySet = p, true } }

func capabilityList(caps map[string]int64) []protocol.Capability {
	out := make([]protocol.Capability, 0, len(caps))
	for n, v := range caps {
		out = append(out, protocol.Capability{Name: n, Value: v})
	}
	return out
}

// Client is a connection to a scheduler.
type Client struct {
	id   string
	opts options
	log  *slog.Logger
	conn transport.Connector
	oss  *objstore.Client
	// flags is the metadata of graph subtasks; taskFlags of plain tasks (with InlineResult
	// when inline is on).
	flags, taskFlags []byte
	// inline: the scheduler announced the inline extension, so small arguments and
	// results travel inside the task messages instead of through object storage.
	inline bool
	// idBytes is id for message fields and object ids, converted once instead of per task
	// and per argument; it is never modified.
	idBytes []byte

	requests chan request
	events   chan event
	done     chan struct{}
	loopDone chan struct{}
	closeMu  sync.Mutex
	closed   bool
	err      error // why the loop ended; read after done is closed

	// fnIDs is owned by the loop.
	fnIDs map[string]protocol.ObjectID
}

// Connect connects to the scheduler at addr (tcp://host:port, tls://, ws://, wss://, ipc://)
// and returns once object storage is reachable and the client's serializer is uploaded.
//
// Inside a task, addr may be empty: the client then uses the worker's scheduler and object
// storage, and its tasks get the parent task's priority + 1, so a worker whose slots are
// all taken by waiting parents still runs them.
func Connect(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{timeout: 60 * time.Second, heartbeat: 2 * time.Second, stdout: os.Stdout, stderr: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	if info, inTask := taskctx.From(ctx); inTask {
		if addr == "" {
			addr = info.Scheduler
		}
		if !o.prioritySet {
			o.priority = info.Priority + 1
		}
		if o.ossAddr == "" {
			o.ossAddr = info.ObjectStorage
		}
		if o.backend == "" {
			o.backend = info.Backend
		}
	} else if addr == "" {
		return nil, errors.New("no scheduler address given, and not running inside a task")
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	a, err := address.Parse(addr)
	if err != nil {
		return nil, err
	}
	var backend transport.Backend
	if o.backend != "" {
		backend, err = transport.Lookup(o.backend)
	} else {
		backend, err = transport.FromEnv()
	}
	if err != nil {
		return nil, err
	}
	id := protocol.NewClientID()
	c := &Client{
		id:       id,
		idBytes:  []byte(id),
		opts:     o,
		requests: make(chan request, 4096),
		events:   make(chan event, 4096),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		fnIDs:    map[string]protocol.ObjectID{},
	}
	c.log = o.logger.With("client", c.id)
	flags := protocol.TaskFlags{Profiling: o.profiling, Priority: o.priority, StreamOutput: o.stream}
	c.conn, err = backend.Connect(ctx, a, transport.Options{Identity: c.id, Logger: c.log})
	if err != nil {
		return nil, fmt.Errorf("connect to scheduler %s: %w", a, err)
	}
	ossAddr, err := c.handshake(ctx)
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	c.flags = flags.Encode()
	flags.InlineResult = c.inline
	c.taskFlags = flags.Encode()
	c.oss, err = objstore.Dial(ctx, objstore.ClientOptions{Address: ossAddr, Identity: c.id, Logger: c.log})
	if err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("connect to object storage %s: %w", ossAddr, err)
	}
	ser := protocol.SerializerObjectID(c.idBytes)
	c.send(&protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: c.idBytes, IDs: [][]byte{ser[:]},
		Types: []protocol.ObjectContentType{protocol.ObjectSerializer}, Names: [][]byte{[]byte("serializer")}})
	if err := c.oss.Set(ctx, ser, gocodec.Serializer); err != nil {
		c.oss.Close()
		c.conn.Close()
		return nil, fmt.Errorf("upload serializer: %w", err)
	}
	go c.loop()
	return c, nil
}

// handshake asks which Go extensions the scheduler supports, sends the first heartbeat and
// waits for the echo naming object storage. The scheduler answers in order, so the
// features answer (if it ever comes: the Python scheduler sends none) precedes the echo.
func (c *Client) handshake(ctx context.Context) (address.Address, error) {
	if !c.opts.noInline {
		c.send(&protocol.InformationRequest{Request: []byte(protocol.FeaturesRequest)})
	}
	c.send(&protocol.ClientHeartbeat{})
	timer := time.NewTimer(c.opts.timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return address.Address{}, ctx.Err()
		case <-timer.C:
			return address.Address{}, fmt.Errorf("%w (no echo within %s)", ErrTimeout, c.opts.timeout)
		case raw, ok := <-c.conn.Messages():
			if !ok {
				return address.Address{}, fmt.Errorf("scheduler connection: %w", c.conn.Err())
			}
			m, err := protocol.Decode(raw)
			if err != nil {
				continue
			}
			if info, ok := m.(*protocol.InformationResponse); ok {
				var f protocol.Features
				if json.Unmarshal(info.Response, &f) == nil && f.Implementation != "" {
					c.inline = f.Inline
				}
				continue
			}
			echo, ok := m.(*protocol.ClientHeartbeatEcho)
			if !ok {
				continue
			}
			if c.opts.ossAddr != "" {
				return address.Parse(c.opts.ossAddr)
			}
			a := echo.ObjectStorage
			if a.Host == "" || a.Port == 0 {
				return address.Address{}, fmt.Errorf("scheduler advertises no usable object storage address (%+v); use WithObjectStorage", a)
			}
			return address.Address{Scheme: address.Scheme(a.Scheme), Host: a.Host, Port: int(a.Port)}, nil
		}
	}
}

// ID is the client's identity.
func (c *Client) ID() string { return c.id }

func (c *Client) send(m protocol.Message) {
	b, err := protocol.Encode(m)
	if err != nil {
		c.log.Error("cannot encode", "kind", m.Kind(), "err", err)
		return
	}
	if err := c.conn.Send(b); err != nil {
		c.log.Debug("send failed", "kind", m.Kind(), "err", err)
	}
}

// request goes from API callers to the loop.
func (c *Client) request(r request) error {
	select {
	case c.requests <- r:
		return nil
	case <-c.done:
		return c.closedErr()
	}
}

func (c *Client) closedErr() error {
	<-c.loopDone
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

// Done is closed when the client stops (Close, scheduler gone, timeout).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client stopped (nil while running).
func (c *Client) Err() error {
	select {
	case <-c.loopDone:
		return c.err
	default:
		return nil
	}
}

// Close cancels every pending task, tells the scheduler this client leaves, and closes the
// connections. It is safe to call more than once.
func (c *Client) Close() error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		<-c.loopDone
		return nil
	}
	c.closed = true
	c.closeMu.Unlock()
	select {
	case c.requests <- closeReq{}:
	case <-c.done:
	}
	<-c.loopDone
	return nil
}

var selfPID = strconv.Itoa(os.Getpid())

func (c *Client) heartbeat(cpu *sysinfo.CPUSampler, latency time.Duration) {
	c.send(&protocol.ClientHeartbeat{
		Resource:  protocol.Resource{CPU: cpu.Sample(), RSS: sysinfo.ProcessRSS(selfPID)},
		LatencyUS: uint32(latency.Microseconds()),
	})
}
