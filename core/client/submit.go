package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
)

// ObjectRef is an object stored once with SendObject and passed to any number of tasks as
// an argument without being uploaded again.
type ObjectRef struct {
	ID   protocol.ObjectID
	Name string
	Size int
}

// argument is an encoded argument or a reference to a stored object.
type argument struct {
	payload []byte
	ref     *protocol.ObjectID
}

func encodeArgs(args []any) ([]argument, error) {
	out := make([]argument, len(args))
	for i, a := range args {
		switch r := a.(type) {
		case ObjectRef:
			id := r.ID
			out[i].ref = &id
		case *ObjectRef:
			id := r.ID
			out[i].ref = &id
		default:
			b, err := gocodec.Marshal(a)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			out[i].payload = b
		}
	}
	return out, nil
}

// SubmitOptions are per-task settings.
type SubmitOptions struct {
	// Capabilities the task needs (name → quantity, -1 = any); nil means the client's.
	Capabilities map[string]int64
}

// Submit runs the registered function fn with args on the cluster and returns its future.
// Arguments are encoded with CBOR; an ObjectRef argument refers to a stored object. An
// argument that cannot be encoded, or a closed client, gives a future that fails at once.
func (c *Client) Submit(fn string, args ...any) *Future {
	return c.SubmitWith(fn, args, SubmitOptions{})
}

// SubmitWith is Submit with per-task options.
func (c *Client) SubmitWith(fn string, args []any, opts SubmitOptions) *Future {
	f := newFuture(c, fn)
	enc, err := encodeArgs(args)
	if err != nil {
		f.complete(nil, err)
		return f
	}
	caps := c.opts.capabilities
	if opts.Capabilities != nil {
		caps = capabilityList(opts.Capabilities)
	}
	if err := c.request(submitReq{f: f, fn: fn, args: enc, caps: caps}); err != nil {
		f.complete(nil, err)
	}
	return f
}

type submitReq struct {
	f    *Future
	fn   string
	args []argument
	caps []protocol.Capability
}

func (r submitReq) handle(c *Client, st *loopState) {
	fid := c.functionObject(st, r.fn)
	task := protocol.Task{
		TaskID:       r.f.id[:],
		Source:       c.idBytes,
		Metadata:     c.taskFlags,
		FuncObjectID: fid[:],
		Capabilities: r.caps,
		Args:         c.uploadArgs(st, r.args),
	}
	b, err := protocol.Encode(&task)
	if err != nil {
		r.f.complete(nil, err)
		return
	}
	st.futures[r.f.id] = r.f
	st.tasks = append(st.tasks, b)
}

// functionObject returns the object holding a function name, uploading it the first time.
func (c *Client) functionObject(st *loopState, fn string) protocol.ObjectID {
	if id, ok := c.fnIDs[fn]; ok {
		return id
	}
	id := protocol.NewObjectID(c.idBytes)
	c.fnIDs[fn] = id
	st.announce(id, protocol.ObjectObject, fn)
	c.setAsync(id, gocodec.EncodeFunction(fn))
	return id
}

func (c *Client) uploadArgs(st *loopState, args []argument) []protocol.Argument {
	out := make([]protocol.Argument, len(args))
	for i, a := range args {
		if a.ref != nil {
			id := *a.ref
			out[i] = protocol.Argument{Type: protocol.ArgObjectID, Data: id[:]}
			continue
		}
		if c.inline && len(a.payload) <= protocol.InlineLimit {
			out[i] = protocol.Argument{Type: protocol.ArgInline, Data: a.payload}
			continue
		}
		id := protocol.NewObjectID(c.idBytes)
		st.announce(id, protocol.ObjectObject, "")
		c.setAsync(id, a.payload)
		out[i] = protocol.Argument{Type: protocol.ArgObjectID, Data: id[:]}
	}
	return out
}

// setAsync stores an object without waiting: a worker's get waits until it exists, and a
// failure ends the object storage connection, which ends the client.
func (c *Client) setAsync(id protocol.ObjectID, data []byte) {
	if err := c.oss.SetAsync(id, data); err != nil {
		c.log.Warn("object storage set failed", "object", id, "err", err)
	}
}

// Map runs fn once per argument and returns the results in order. On the first failure the
// remaining tasks are cancelled and the error is returned.
func (c *Client) Map(ctx context.Context, fn string, args []any) ([]any, error) {
	lists := make([][]any, len(args))
	for i, a := range args {
		lists[i] = []any{a}
	}
	return c.Starmap(ctx, fn, lists)
}

// Starmap runs fn once per argument list and returns the results in order.
func (c *Client) Starmap(ctx context.Context, fn string, argLists [][]any) ([]any, error) {
	futures := make([]*Future, len(argLists))
	for i, args := range argLists {
		futures[i] = c.Submit(fn, args...)
	}
	return gather[any](ctx, c, fn, futures)
}

// MapAs is Map with typed results.
func MapAs[T any](ctx context.Context, c *Client, fn string, args []any) ([]T, error) {
	futures := make([]*Future, len(args))
	for i, a := range args {
		futures[i] = c.Submit(fn, a)
	}
	return gather[T](ctx, c, fn, futures)
}

// gather decodes the futures' results in order; on the first failure it cancels the tasks
// still pending and returns the error.
func gather[T any](ctx context.Context, c *Client, fn string, futures []*Future) ([]T, error) {
	out := make([]T, len(futures))
	for i, f := range futures {
		if err := f.Decode(ctx, &out[i]); err != nil {
			for _, rest := range futures[i+1:] {
				select {
				case <-rest.Done():
				default:
					_ = c.request(cancelReq{f: rest})
				}
			}
			return nil, fmt.Errorf("%s task %d of %d: %w", fn, i, len(futures), err)
		}
	}
	return out, nil
}

// SendObject stores v once and returns a reference usable as a task argument any number of
// times. The object lives until the client disconnects.
func (c *Client) SendObject(ctx context.Context, v any, name string) (ObjectRef, error) {
	b, err := gocodec.Marshal(v)
	if err != nil {
		return ObjectRef{}, err
	}
	id := protocol.NewObjectID(c.idBytes)
	if name == "" {
		name = "<obj " + id.Name() + ">"
	}
	reply := make(chan error, 1)
	if err := c.request(sendObjectReq{id: id, name: name, reply: reply}); err != nil {
		return ObjectRef{}, err
	}
	if err := <-reply; err != nil {
		return ObjectRef{}, err
	}
	if err := c.oss.Set(ctx, id, b); err != nil {
		return ObjectRef{}, fmt.Errorf("store object %s: %w", name, err)
	}
	return ObjectRef{ID: id, Name: name, Size: len(b)}, nil
}

type sendObjectReq struct {
	id    protocol.ObjectID
	name  string
	reply chan error
}

func (r sendObjectReq) handle(c *Client, st *loopState) {
	st.announce(r.id, protocol.ObjectObject, r.name)
	r.reply <- nil
}

var errNoKeys = errors.New("no keys requested")
