package client

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/scaler-go/scaler/core/gocodec"
	"github.com/scaler-go/scaler/core/protocol"
)

// Graph is a task graph: each key is either a data value or a Call of a registered
// function on other keys.
//
//	client.Graph{"a": 2, "b": 3, "c": client.Call("add", "a", "b"), "d": client.Call("inc", "c")}
type Graph map[string]any

// CallNode is a graph node that calls a function on other nodes' values.
type CallNode struct {
	Fn   string
	Deps []string
}

// Call makes a graph node calling fn with the values of the keys deps, in order.
func Call(fn string, deps ...string) CallNode { return CallNode{Fn: fn, Deps: deps} }

// graphCall is a submitted graph waiting for its results.
type graphCall struct {
	id      protocol.TaskID
	targets map[protocol.TaskID]string // call-node task id → key
	keys    map[protocol.TaskID]string // every call node's task id → key
	// failedNode is the key of the first node that failed (read with mu).
	mu         sync.Mutex
	failedNode string
	futures    map[string]*Future
	once       sync.Once
}

func (g *graphCall) fail(err error) {
	g.once.Do(func() {
		for _, f := range g.futures {
			f.complete(nil, err)
		}
	})
}

// settle ends the graph without touching its futures: a later fail changes nothing.
func (g *graphCall) settle() { g.once.Do(func() {}) }

// Get computes keys of graph on the cluster as a DAG and returns their values. Unknown keys,
// dependencies that name no key, and cycles are refused before anything is sent.
func (c *Client) Get(ctx context.Context, graph Graph, keys ...string) (map[string]any, error) {
	futures, g, err := c.submitGraph(graph, keys...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		v, err := futures[k].Result(ctx)
		if err != nil {
			for _, f := range futures {
				select {
				case <-f.Done():
				default:
					f.Cancel(ctx)
				}
			}
			g.mu.Lock()
			failed := g.failedNode
			g.mu.Unlock()
			if failed != "" && failed != k {
				return nil, fmt.Errorf("graph key %q: node %q failed: %w", k, failed, err)
			}
			return nil, fmt.Errorf("graph key %q: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// GetFutures is Get without waiting: one future per requested key.
func (c *Client) GetFutures(graph Graph, keys ...string) (map[string]*Future, error) {
	futures, _, err := c.submitGraph(graph, keys...)
	return futures, err
}

func (c *Client) submitGraph(graph Graph, keys ...string) (map[string]*Future, *graphCall, error) {
	if len(keys) == 0 {
		return nil, nil, errNoKeys
	}
	needed, order, err := planGraph(graph, keys)
	if err != nil {
		return nil, nil, err
	}
	g := &graphCall{id: protocol.NewTaskID(), targets: map[protocol.TaskID]string{}, keys: map[protocol.TaskID]string{},
		futures: map[string]*Future{}}
	data := map[string][]byte{}
	refs := map[string]protocol.ObjectID{}
	for _, k := range order {
		switch v := graph[k].(type) {
		case CallNode, *CallNode:
		case ObjectRef:
			refs[k] = v.ID
		case *ObjectRef:
			refs[k] = v.ID
		default:
			b, err := gocodec.Marshal(v)
			if err != nil {
				return nil, nil, fmt.Errorf("graph key %q: %w", k, err)
			}
			data[k] = b
		}
	}
	requested := map[string]bool{}
	for _, k := range keys {
		requested[k] = true
	}
	for k := range needed {
		f := newFuture(c, k)
		if n, isCall := callNode(graph[k]); isCall {
			f.fn = n.Fn
			g.keys[f.id] = k
			if requested[k] {
				g.targets[f.id] = k
			}
		}
		g.futures[k] = f
	}
	// Requested data keys are answered locally.
	for _, k := range keys {
		if b, ok := data[k]; ok {
			g.futures[k].complete(b, nil)
		}
	}
	req := graphReq{g: g, graph: graph, order: order, data: data, refs: refs}
	if err := c.request(req); err != nil {
		return nil, nil, err
	}
	out := make(map[string]*Future, len(keys))
	for _, k := range keys {
		out[k] = g.futures[k]
	}
	return out, g, nil
}

func callNode(v any) (CallNode, bool) {
	switch n := v.(type) {
	case CallNode:
		return n, true
	case *CallNode:
		return *n, true
	}
	return CallNode{}, false
}

// planGraph culls the graph to what keys need and orders it topologically, refusing unknown
// keys and cycles.
func planGraph(graph Graph, keys []string) (map[string]bool, []string, error) {
	seen := map[string]bool{}
	for _, k := range keys {
		if _, ok := graph[k]; !ok {
			return nil, nil, fmt.Errorf("requested key %q is not in the graph", k)
		}
		if seen[k] {
			return nil, nil, fmt.Errorf("key %q requested twice", k)
		}
		seen[k] = true
	}
	needed := map[string]bool{}
	state := map[string]int{} // 1 visiting, 2 done
	var order []string
	var visit func(k string, path []string) error
	visit = func(k string, path []string) error {
		switch state[k] {
		case 1:
			return fmt.Errorf("graph has a cycle: %v", append(path, k))
		case 2:
			return nil
		}
		state[k] = 1
		needed[k] = true
		if n, ok := callNode(graph[k]); ok {
			for _, d := range n.Deps {
				if _, ok := graph[d]; !ok {
					return fmt.Errorf("graph key %q depends on %q, which is not in the graph", k, d)
				}
				if err := visit(d, append(path, k)); err != nil {
					return err
				}
			}
		}
		state[k] = 2
		order = append(order, k)
		return nil
	}
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if err := visit(k, nil); err != nil {
			return nil, nil, err
		}
	}
	return needed, order, nil
}

type graphReq struct {
	g     *graphCall
	graph Graph
	order []string
	data  map[string][]byte
	refs  map[string]protocol.ObjectID
}

func (r graphReq) handle(c *Client, st *loopState) {
	g := r.g
	objs := map[string]protocol.ObjectID{}
	for k, b := range r.data {
		id := protocol.NewObjectID(c.idBytes)
		st.announce(id, protocol.ObjectObject, k)
		c.setAsync(id, b)
		objs[k] = id
	}
	for k, id := range r.refs {
		objs[k] = id
	}
	gt := &protocol.GraphTask{TaskID: g.id[:], Source: c.idBytes}
	for _, k := range r.order {
		n, ok := callNode(r.graph[k])
		if !ok {
			continue
		}
		f := g.futures[k]
		fid := c.functionObject(st, n.Fn)
		t := protocol.Task{TaskID: f.id[:], Source: c.idBytes, Metadata: c.flags, FuncObjectID: fid[:], Capabilities: c.opts.capabilities}
		for _, d := range n.Deps {
			if _, isCall := callNode(r.graph[d]); isCall {
				did := g.futures[d].id
				t.Args = append(t.Args, protocol.Argument{Type: protocol.ArgTask, Data: did[:]})
			} else {
				oid := objs[d]
				t.Args = append(t.Args, protocol.Argument{Type: protocol.ArgObjectID, Data: oid[:]})
			}
		}
		gt.Graph = append(gt.Graph, t)
		if _, isTarget := g.targets[f.id]; isTarget {
			gt.Targets = append(gt.Targets, f.id[:])
		}
		st.nodes[f.id] = g
	}
	b, err := protocol.Encode(gt)
	if err != nil {
		g.fail(err)
		return
	}
	st.graphs[g.id] = g
	st.tasks = append(st.tasks, b)
}

// onNodeResult handles a subtask's result: targets are fetched, intermediates released.
func (c *Client) onNodeResult(st *loopState, g *graphCall, id protocol.TaskID, m *protocol.TaskResult) {
	if m.Type != protocol.ResultSuccess {
		// The scheduler sends the failing node's own result before the copies it makes for
		// the nodes that depended on it.
		g.mu.Lock()
		if g.failedNode == "" {
			g.failedNode = g.keys[id]
		}
		g.mu.Unlock()
	}
	key, isTarget := g.targets[id]
	if !isTarget || len(m.Results) != 1 {
		st.releases = append(st.releases, m.Results...)
		return
	}
	f := g.futures[key]
	if p, ok, _ := protocol.DecodeProfileResult(m.Metadata); ok {
		f.mu.Lock()
		f.profile, f.profiled = p, true
		f.mu.Unlock()
	}
	st.futures[id] = f
	c.fetchResult(st, f, m.Results[0], m.Type)
}

func (c *Client) onGraphResult(st *loopState, g *graphCall, m *protocol.TaskResult) {
	delete(st.graphs, g.id)
	// g.keys holds every subtask id of g: no need to scan the nodes of all graphs.
	for id := range g.keys {
		if st.nodes[id] == g {
			delete(st.nodes, id)
		}
	}
	if m.Type == protocol.ResultSuccess {
		g.settle()
		return
	}
	// A graph refused as a whole carries the reason in its own result object.
	if len(m.Results) == 1 {
		f := newFuture(c, "graph")
		f.id = g.id
		st.futures[g.id] = f
		st.after[f] = func() { g.fail(f.err) }
		c.fetchResult(st, f, m.Results[0], m.Type)
		return
	}
	// Each target got its own failure result; futures still reading one finish with it.
	err := fmt.Errorf("graph %s failed", g.id)
	for _, f := range g.futures {
		if st.futures[f.id] != f {
			f.complete(nil, err)
		}
	}
	g.settle()
}
