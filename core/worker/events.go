package worker

import (
	"context"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
)

// event is something a helper goroutine reports to the agent loop.
type event interface {
	apply(a *Agent, ctx context.Context)
}

type ossReady struct {
	client *objstore.Client
	addr   address.Address
	err    error
}

func (ev ossReady) apply(a *Agent, ctx context.Context) {
	a.ossDialing = false
	if ev.err != nil {
		a.stop(ev.err)
		return
	}
	a.oss = ev.client
	a.log.Info("connected to object storage", "address", ev.addr)
	for id := range a.waiters {
		a.startGet(ctx, id)
	}
	for _, t := range a.unstored {
		if a.tasks[t.id] == t && t.failure != nil {
			go a.storeResult(ctx, t, a.failurePayload(t, *t.failure), protocol.ResultFailed, protocol.ProfileResult{})
		}
	}
	a.unstored = nil
	go func() {
		// Losing object storage leaves the worker unable to do anything.
		<-ev.client.Done()
		a.post(ossLost{err: ev.client.Err()})
	}()
}

type ossLost struct{ err error }

func (ev ossLost) apply(a *Agent, ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	// When the cluster stops, object storage and the scheduler close together; only a lost
	// object storage with the scheduler still there is an error.
	a.ossLostAt = time.Now()
	a.ossLostErr = ev.err
}

type ossError struct{ err error }

func (e ossError) Error() string { return "object storage connection lost: " + e.err.Error() }
func (e ossError) Unwrap() error { return e.err }

type fetched struct {
	id   protocol.ObjectID
	data []byte
	err  error
}

func (ev fetched) apply(a *Agent, ctx context.Context) { a.onFetched(ctx, ev) }

type finished struct {
	t        *task
	duration time.Duration
	// result, when set, is the task's inline result: the report follows the slot release
	// in the same loop turn, with no object storage round trip in between.
	result *stored
}

func (ev finished) apply(a *Agent, ctx context.Context) { a.onFinished(ctx, ev) }

type stored struct {
	t       *task
	id      protocol.ObjectID
	inline  []byte // the result value itself when profile.Inline
	typ     protocol.TaskResultType
	profile protocol.ProfileResult
	err     error
}

func (ev stored) apply(a *Agent, ctx context.Context) { a.onStored(ctx, ev) }

type timedOut struct{ t *task }

func (ev timedOut) apply(a *Agent, ctx context.Context) { a.onTimedOut(ctx, ev) }

// taskLog carries output a task wrote, to forward as TaskLog.
type taskLog struct {
	t       *task
	typ     protocol.LogType
	content string
}

func (ev taskLog) apply(a *Agent, ctx context.Context) {
	if a.tasks[ev.t.id] != ev.t {
		return
	}
	a.send(&protocol.TaskLog{TaskID: ev.t.id[:], Type: ev.typ, Content: ev.content})
}
