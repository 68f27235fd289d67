package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/sysinfo"
)

// request is work API callers hand to the loop.
type request interface {
	handle(c *Client, st *loopState)
}

// event is a helper goroutine's report to the loop.
type event interface {
	apply(c *Client, st *loopState)
}

// loopState is owned by the client loop.
type loopState struct {
	ctx     context.Context
	futures map[protocol.TaskID]*Future
	graphs  map[protocol.TaskID]*graphCall
	// nodes maps graph subtask ids to their graph.
	nodes map[protocol.TaskID]*graphCall

	// Batched for the next flush: object announcements, tasks, and result ids to release.
	creates  protocol.ObjectInstruction
	tasks    [][]byte
	releases [][]byte

	hbOutstanding bool
	hbSentAt      time.Time
	lastEcho      time.Time
	latency       time.Duration
	shutdown      chan error
	stopping      bool
	// after runs once a future completes in the loop (graph failures read from an object).
	after map[*Future]func()
	// infoWaiters get InformationResponses in request order.
	infoWaiters []chan []byte
}

func (c *Client) loop() {
	defer close(c.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &loopState{
		ctx:      ctx,
		futures:  map[protocol.TaskID]*Future{},
		graphs:   map[protocol.TaskID]*graphCall{},
		nodes:    map[protocol.TaskID]*graphCall{},
		after:    map[*Future]func(){},
		lastEcho: time.Now(),
		creates:  protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: c.idBytes},
	}
	cpu := sysinfo.NewCPUSampler("self")
	hb := time.NewTicker(c.opts.heartbeat)
	defer hb.Stop()
	msgs := c.conn.Messages()
	var end error
	for end == nil && !st.stopping {
		select {
		case r := <-c.requests:
			r.handle(c, st)
		drainReq:
			for i := 0; i < 1024 && !st.stopping; i++ {
				select {
				case r := <-c.requests:
					r.handle(c, st)
				default:
					break drainReq
				}
			}
		case ev := <-c.events:
			ev.apply(c, st)
		drainEv:
			for i := 0; i < 1024; i++ {
				select {
				case ev := <-c.events:
					ev.apply(c, st)
				default:
					break drainEv
				}
			}
		case raw, ok := <-msgs:
			if !ok {
				end = fmt.Errorf("%w: %v", ErrDisconnected, c.conn.Err())
				if st.shutdown != nil {
					// The scheduler exits after accepting a shutdown: that is success.
					st.shutdown <- nil
					st.shutdown = nil
					end = ErrClosed
				}
				break
			}
			c.handleMessage(st, raw)
		case now := <-hb.C:
			if now.Sub(st.lastEcho) > c.opts.timeout {
				end = fmt.Errorf("%w (silent for %s)", ErrTimeout, now.Sub(st.lastEcho).Round(time.Second))
				break
			}
			if !st.hbOutstanding {
				st.hbOutstanding, st.hbSentAt = true, now
				c.heartbeat(cpu, st.latency)
			}
		}
		c.flush(st)
	}
	if end == nil {
		end = ErrClosed
	}
	c.err = end
	close(c.done)
	for _, f := range st.futures {
		f.complete(nil, end)
	}
	for _, g := range st.graphs {
		g.fail(end)
	}
	if st.shutdown != nil {
		st.shutdown <- end
	}
	c.conn.Close()
	if c.oss != nil {
		c.oss.Close()
	}
	c.drainRequests(end)
}

// drainRequests fails callers that raced with the end of the loop.
func (c *Client) drainRequests(err error) {
	for {
		select {
		case r := <-c.requests:
			switch r := r.(type) {
			case submitReq:
				r.f.complete(nil, err)
			case graphReq:
				r.g.fail(err)
			case cancelReq:
			case shutdownReq:
				r.reply <- err
			case sendObjectReq:
				r.reply <- err
			}
		default:
			return
		}
	}
}

func (c *Client) flush(st *loopState) {
	if len(st.creates.IDs) > 0 {
		c.send(&st.creates)
		st.creates = protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: c.idBytes}
	}
	for _, t := range st.tasks {
		if err := c.conn.Send(t); err != nil {
			c.log.Debug("send failed", "err", err)
		}
	}
	st.tasks = st.tasks[:0]
	if len(st.releases) > 0 {
		// Results we have read are of no further use: the scheduler stops tracking them and
		// deletes them from object storage.
		c.send(&protocol.ObjectInstruction{Type: protocol.InstructionDelete, User: c.idBytes, IDs: st.releases})
		st.releases = nil
	}
}

func (st *loopState) announce(id protocol.ObjectID, typ protocol.ObjectContentType, name string) {
	st.creates.IDs = append(st.creates.IDs, id[:])
	st.creates.Types = append(st.creates.Types, typ)
	st.creates.Names = append(st.creates.Names, []byte(name))
}

func (c *Client) handleMessage(st *loopState, raw []byte) {
	m, err := protocol.Decode(raw)
	if err != nil {
		c.log.Warn("dropping malformed message from the scheduler", "err", err)
		return
	}
	switch m := m.(type) {
	case *protocol.ClientHeartbeatEcho:
		now := time.Now()
		if st.hbOutstanding {
			st.latency = now.Sub(st.hbSentAt) / 2
			st.hbOutstanding = false
		}
		st.lastEcho = now
	case *protocol.TaskResult:
		c.onResult(st, m)
	case *protocol.TaskCancelConfirm:
		c.onCancelConfirm(st, m)
	case *protocol.TaskLog:
		w := c.opts.stdout
		if m.Type == protocol.LogStderr {
			w = c.opts.stderr
		}
		if w != nil {
			_, _ = w.Write([]byte(m.Content))
		}
	case *protocol.InformationResponse:
		if len(st.infoWaiters) > 0 {
			w := st.infoWaiters[0]
			st.infoWaiters = st.infoWaiters[1:]
			w <- append([]byte(nil), m.Response...)
		}
	case *protocol.ClientShutdownResponse:
		if st.shutdown != nil {
			if m.Accepted {
				st.shutdown <- nil
			} else {
				st.shutdown <- ErrProtected
			}
			st.shutdown = nil
		}
	default:
		c.log.Debug("ignoring message", "kind", m.Kind())
	}
}

func (c *Client) onResult(st *loopState, m *protocol.TaskResult) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok {
		return
	}
	if g := st.graphs[id]; g != nil {
		c.onGraphResult(st, g, m)
		return
	}
	f := st.futures[id]
	if f == nil {
		if g := st.nodes[id]; g != nil {
			c.onNodeResult(st, g, id, m)
			return
		}
		// Not ours to read (e.g. a late duplicate): release its objects.
		st.releases = append(st.releases, m.Results...)
		return
	}
	p, profiled, _ := protocol.DecodeProfileResult(m.Metadata)
	if profiled {
		inline := p.Inline
		p.Inline = false
		f.mu.Lock()
		f.profile, f.profiled = p, true
		f.mu.Unlock()
		if inline && len(m.Results) == 1 {
			// The value came with the result: nothing to fetch or release. The received
			// message is ours, so the value is kept in place.
			delete(st.futures, id)
			value := m.Results[0]
			if m.Type == protocol.ResultSuccess {
				f.complete(value, nil)
			} else {
				f.complete(nil, decodeFailure(f.fn, value))
			}
			c.runAfter(st, f)
			return
		}
	}
	if m.Type == protocol.ResultFailedWorkerDied && len(m.Results) == 0 {
		delete(st.futures, id)
		f.complete(nil, ErrWorkerDied)
		return
	}
	if len(m.Results) != 1 {
		delete(st.futures, id)
		f.complete(nil, fmt.Errorf("task %s: scheduler sent %d result objects, expected 1", id, len(m.Results)))
		return
	}
	c.fetchResult(st, f, m.Results[0], m.Type)
}

// fetchResult reads a result object in the background; the loop completes the future.
func (c *Client) fetchResult(st *loopState, f *Future, raw []byte, typ protocol.TaskResultType) {
	rid, ok := protocol.ObjectIDFromBytes(raw)
	if !ok {
		delete(st.futures, f.id)
		f.complete(nil, fmt.Errorf("task %s: malformed result object id", f.id))
		return
	}
	ctx := st.ctx
	go func() {
		data, err := c.oss.Get(ctx, rid)
		c.post(fetchedResult{f: f, rid: rid, data: data, err: err, typ: typ})
	}()
}

func (c *Client) post(ev event) {
	select {
	case c.events <- ev:
	case <-c.done:
	}
}

type fetchedResult struct {
	f    *Future
	rid  protocol.ObjectID
	data []byte
	err  error
	typ  protocol.TaskResultType
}

func (ev fetchedResult) apply(c *Client, st *loopState) {
	if st.futures[ev.f.id] != ev.f {
		return
	}
	delete(st.futures, ev.f.id)
	st.releases = append(st.releases, append([]byte(nil), ev.rid[:]...))
	switch {
	case ev.err != nil:
		ev.f.complete(nil, fmt.Errorf("task %s: read result: %w", ev.f.id, ev.err))
	case ev.typ == protocol.ResultSuccess:
		ev.f.complete(ev.data, nil)
	default:
		ev.f.complete(nil, decodeFailure(ev.f.fn, ev.data))
	}
	c.runAfter(st, ev.f)
}

func (c *Client) runAfter(st *loopState, f *Future) {
	if fn := st.after[f]; fn != nil {
		delete(st.after, f)
		fn()
	}
}

func (c *Client) onCancelConfirm(st *loopState, m *protocol.TaskCancelConfirm) {
	id, ok := protocol.TaskIDFromBytes(m.TaskID)
	if !ok || m.Type == protocol.CancelConfirmFailed {
		return
	}
	if g := st.graphs[id]; g != nil {
		delete(st.graphs, id)
		g.fail(ErrCancelled)
		return
	}
	if g := st.nodes[id]; g != nil {
		delete(st.nodes, id)
		return
	}
	if f := st.futures[id]; f != nil {
		delete(st.futures, id)
		f.mu.Lock()
		f.cancelled = true
		f.mu.Unlock()
		f.complete(nil, ErrCancelled)
	}
}

type cancelReq struct{ f *Future }

func (r cancelReq) handle(c *Client, st *loopState) {
	if g := st.nodes[r.f.id]; g != nil {
		c.send(&protocol.TaskCancel{TaskID: g.id[:], Force: true})
		return
	}
	if st.futures[r.f.id] == nil {
		return
	}
	c.send(&protocol.TaskCancel{TaskID: r.f.id[:], Force: true})
}

type closeReq struct{}

func (closeReq) handle(c *Client, st *loopState) {
	c.flush(st)
	// The scheduler cancels our remaining tasks (forcefully) and deletes our objects.
	c.send(&protocol.ClientDisconnect{Type: protocol.DisconnectLeave})
	st.stopping = true
}

type infoReq struct{ reply chan []byte }

func (r infoReq) handle(c *Client, st *loopState) {
	st.infoWaiters = append(st.infoWaiters, r.reply)
	c.send(&protocol.InformationRequest{})
}

// Info asks the scheduler how the cluster is doing: tasks per state, workers, managers,
// clients, objects (the document of spec/protocol.md §7.14 that this scheduler answers).
func (c *Client) Info(ctx context.Context) (*protocol.ClusterInfo, error) {
	reply := make(chan []byte, 1)
	if err := c.request(infoReq{reply: reply}); err != nil {
		return nil, err
	}
	select {
	case b := <-reply:
		var info protocol.ClusterInfo
		if err := json.Unmarshal(b, &info); err != nil {
			return nil, fmt.Errorf("decode cluster information: %w", err)
		}
		return &info, nil
	case <-c.done:
		return nil, c.closedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type shutdownReq struct{ reply chan error }

func (r shutdownReq) handle(c *Client, st *loopState) {
	c.flush(st)
	st.shutdown = r.reply
	c.send(&protocol.ClientDisconnect{Type: protocol.DisconnectShutdown})
}

// Shutdown asks the scheduler to stop the whole cluster (workers included). It fails with
// ErrProtected when the scheduler runs with --protected. The client is closed afterwards.
func (c *Client) Shutdown(ctx context.Context) error {
	reply := make(chan error, 1)
	if err := c.request(shutdownReq{reply: reply}); err != nil {
		return err
	}
	var err error
	select {
	case err = <-reply:
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.Close()
	return err
}
