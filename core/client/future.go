package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
)

// Future is the pending result of a task.
type Future struct {
	c    *Client
	id   protocol.TaskID
	fn   string
	done chan struct{}

	once      sync.Once
	mu        sync.Mutex
	payload   []byte
	err       error
	profile   protocol.ProfileResult
	profiled  bool
	cancelled bool
}

func newFuture(c *Client, fn string) *Future {
	return &Future{c: c, id: protocol.NewTaskID(), fn: fn, done: make(chan struct{})}
}

// ID is the task id.
func (f *Future) ID() protocol.TaskID { return f.id }

// Done is closed once the task has a result, an error, or was cancelled.
func (f *Future) Done() <-chan struct{} { return f.done }

// complete settles the future; later calls do nothing.
func (f *Future) complete(payload []byte, err error) {
	f.once.Do(func() {
		f.mu.Lock()
		f.payload, f.err = payload, err
		f.mu.Unlock()
		close(f.done)
	})
}

func (f *Future) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Result waits for the task and returns its result decoded into a Go value (integers as
// int64, maps as map[string]any), or the task's error (*RemoteError for task failures).
func (f *Future) Result(ctx context.Context) (any, error) {
	var v any
	if err := f.Decode(ctx, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// Decode waits for the task and decodes its result into dst (a pointer).
func (f *Future) Decode(ctx context.Context, dst any) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	payload, err := f.payload, f.err
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return gocodec.Unmarshal(payload, dst)
}

// Err waits for the task and returns its error, nil on success.
func (f *Future) Err(ctx context.Context) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Profile returns the worker's profile of the task once it is done.
func (f *Future) Profile() (protocol.ProfileResult, bool) {
	select {
	case <-f.done:
	default:
		return protocol.ProfileResult{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profile, f.profiled
}

// Cancelled reports whether the task ended cancelled.
func (f *Future) Cancelled() bool {
	select {
	case <-f.done:
	default:
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancelled
}

// Cancel stops the task (a running one is interrupted: its context is cancelled) and waits
// for the scheduler to confirm or for the result to win the race. It reports whether the
// task ended cancelled. For a graph node it cancels the whole graph.
func (f *Future) Cancel(ctx context.Context) (bool, error) {
	select {
	case <-f.done:
		return f.Cancelled(), nil
	default:
	}
	if err := f.c.request(cancelReq{f: f}); err != nil {
		return false, err
	}
	if err := f.wait(ctx); err != nil {
		return false, err
	}
	return f.Cancelled(), nil
}

// Result is Future.Decode with a typed result.
func Result[T any](ctx context.Context, f *Future) (T, error) {
	var v T
	err := f.Decode(ctx, &v)
	return v, err
}

// decodeFailure turns a failure object into an error: our CBOR failures, the scheduler's
// pickled exceptions, or an opaque Python exception.
func decodeFailure(fn string, payload []byte) error {
	if f, err := gocodec.DecodeFailure(payload); err == nil {
		return &RemoteError{Function: f.Function, Message: f.Message, Stack: f.Stack, Worker: f.Worker, Kind: f.Kind}
	}
	if e, err := protocol.ParsePickledException(payload); err == nil {
		return &RemoteError{Function: fn, Message: e.Error()}
	}
	if protocol.IsPickle(payload) {
		return &RemoteError{Function: fn, Message: fmt.Sprintf("Python exception (%d-byte pickle)", len(payload))}
	}
	return &RemoteError{Function: fn, Message: fmt.Sprintf("undecodable failure (%d bytes)", len(payload))}
}

// IsRemote reports whether err is a task failure raised on a worker.
func IsRemote(err error) bool {
	var r *RemoteError
	return errors.As(err, &r)
}
