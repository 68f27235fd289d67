// Package pyclient is a test-only client that behaves like the Python client on the wire
// (identity format, serializer object, object ids and names, message order of
// spec/protocol.md §7.15), for testing Python tasks without the Python package; and helpers
// that make and read real pickles with Debian's python3 and cloudpickle.
package pyclient

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/testbin"
)

// Python is Debian's interpreter with cloudpickle and tblib (not a pyenv one).
const Python = "/usr/bin/python3"

// Require skips the test when Debian's python3 with cloudpickle is missing.
func Require(t testing.TB) {
	t.Helper()
	if err := exec.Command(Python, "-c", "import cloudpickle").Run(); err != nil {
		t.Skipf("needs %s with cloudpickle (python3-cloudpickle): %v", Python, err)
	}
}

// Run runs Python code and returns its stdout.
func Run(t testing.TB, code string, stdin []byte) string {
	t.Helper()
	cmd := exec.Command(Python, "-c", code)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("python: %v", err)
	}
	return string(out)
}

// Pickle evaluates expr after running setup (module-level code: functions defined there are
// pickled by value, like a client's __main__) and returns cloudpickle.dumps of it.
func Pickle(t testing.TB, setup, expr string) []byte {
	t.Helper()
	code := "import cloudpickle, pickle, sys\n" + setup + "\nsys.stdout.write(cloudpickle.dumps(" + expr + ", protocol=pickle.HIGHEST_PROTOCOL).hex())\n"
	b, err := hex.DecodeString(strings.TrimSpace(Run(t, code, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Describe unpickles payload (with tblib for tracebacks) and returns "Type|repr|traceback".
func Describe(t testing.TB, payload []byte) string {
	t.Helper()
	return DescribeWith(t, "", payload)
}

// DescribeWith is Describe in a __main__ that first runs setup (where a client defined the
// classes its tasks raise).
func DescribeWith(t testing.TB, setup string, payload []byte) string {
	t.Helper()
	code := setup + "\n" + `import pickle, sys, traceback
try:
    import tblib.pickling_support
    tblib.pickling_support.install()
except ImportError:
    pass
import cloudpickle
v = cloudpickle.loads(sys.stdin.buffer.read())
tb = ""
if isinstance(v, BaseException):
    tb = "".join(traceback.format_exception(type(v), v, v.__traceback__))
sys.stdout.write(type(v).__name__ + "|" + repr(v) + "|" + tb)
`
	return Run(t, code, payload)
}

// DefaultSerializer is what the Python client stores as its serializer: a pickle of
// scaler.client.serializer.default.DefaultSerializer by reference (spec/protocol.md §4.4).
func DefaultSerializer(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "testdata/interop/samples/serializer.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Result is what a task produced.
type Result struct {
	Type    protocol.TaskResultType
	Payload []byte
	Profile protocol.ProfileResult
	Logs    []string
}

// Client mimics the Python client.
type Client struct {
	ID   string
	conn transport.Connector
	oss  *objstore.Client

	mu      sync.Mutex
	results map[protocol.TaskID]chan *protocol.TaskResult
	cancels map[protocol.TaskID]chan protocol.CancelConfirmType
	logs    map[protocol.TaskID][]string
	fns     map[protocol.TaskID]protocol.ObjectID
	done    chan struct{}
	flags   []byte
}

// Connect connects like the Python client: two heartbeats, wait for the echo, connect to
// the advertised object storage, announce and upload the serializer.
func Connect(ctx context.Context, backend, addr string, serializer []byte) (_ *Client, err error) {
	b, err := transport.Lookup(backend)
	if err != nil {
		return nil, err
	}
	a, err := address.Parse(addr)
	if err != nil {
		return nil, err
	}
	c := &Client{ID: protocol.NewClientID(), results: map[protocol.TaskID]chan *protocol.TaskResult{},
		cancels: map[protocol.TaskID]chan protocol.CancelConfirmType{}, logs: map[protocol.TaskID][]string{},
		fns: map[protocol.TaskID]protocol.ObjectID{}, done: make(chan struct{}),
		flags: protocol.TaskFlags{Profiling: false, Priority: 0, StreamOutput: true}.Encode()}
	c.conn, err = b.Connect(ctx, a, transport.Options{Identity: c.ID})
	if err != nil {
		return nil, err
	}
	defer func() { // a half-made client must not keep its connections
		if err != nil {
			if c.oss != nil {
				c.oss.Close()
			}
			c.conn.Close()
		}
	}()
	hb := protocol.MustEncode(&protocol.ClientHeartbeat{})
	c.conn.Send(hb)
	c.conn.Send(append([]byte(nil), hb...))
	var oss protocol.ObjectStorageAddress
	for oss.Port == 0 {
		select {
		case raw, ok := <-c.conn.Messages():
			if !ok {
				return nil, c.conn.Err()
			}
			if m, err := protocol.Decode(raw); err == nil {
				if e, ok := m.(*protocol.ClientHeartbeatEcho); ok {
					oss = e.ObjectStorage
				}
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.oss, err = objstore.Dial(ctx, objstore.ClientOptions{Address: address.Address{Scheme: address.Scheme(oss.Scheme), Host: oss.Host, Port: int(oss.Port)}, Identity: c.ID})
	if err != nil {
		return nil, err
	}
	ser := protocol.SerializerObjectID([]byte(c.ID))
	c.conn.Send(protocol.MustEncode(&protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(c.ID),
		IDs: [][]byte{ser[:]}, Types: []protocol.ObjectContentType{protocol.ObjectSerializer}, Names: [][]byte{[]byte("serializer")}}))
	if err := c.oss.Set(ctx, ser, serializer); err != nil {
		return nil, err
	}
	go c.read()
	return c, nil
}

// SetFlags changes the task flags of later submissions.
func (c *Client) SetFlags(f protocol.TaskFlags) { c.flags = f.Encode() }

func (c *Client) read() {
	defer close(c.done)
	hb := time.NewTicker(time.Second)
	defer hb.Stop()
	for {
		select {
		case raw, ok := <-c.conn.Messages():
			if !ok {
				return
			}
			m, err := protocol.Decode(raw)
			if err != nil {
				continue
			}
			c.mu.Lock()
			switch m := m.(type) {
			case *protocol.TaskResult:
				if id, ok := protocol.TaskIDFromBytes(m.TaskID); ok {
					if ch := c.results[id]; ch != nil {
						ch <- m
					}
				}
			case *protocol.TaskCancelConfirm:
				if id, ok := protocol.TaskIDFromBytes(m.TaskID); ok {
					if ch := c.cancels[id]; ch != nil {
						ch <- m.Type
					}
				}
			case *protocol.TaskLog:
				if id, ok := protocol.TaskIDFromBytes(m.TaskID); ok {
					c.logs[id] = append(c.logs[id], m.Content)
				}
			}
			c.mu.Unlock()
		case <-hb.C:
			c.conn.Send(protocol.MustEncode(&protocol.ClientHeartbeat{}))
		}
	}
}

// Submit uploads the function and arguments (announce, then set each, then the Task, as
// the Python client does) and returns the task id.
func (c *Client) Submit(ctx context.Context, fnName string, fn []byte, args ...[]byte) (protocol.TaskID, error) {
	return c.submit(ctx, protocol.NewObjectID([]byte(c.ID)), fnName, fn, args)
}

// SubmitAgain submits another task of a function already uploaded under fid (the Python
// client uploads a function once per session).
func (c *Client) SubmitAgain(ctx context.Context, fid protocol.ObjectID, args ...[]byte) (protocol.TaskID, error) {
	return c.submit(ctx, fid, "", nil, args)
}

// FunctionOf returns the function object id of a submitted task.
func (c *Client) FunctionOf(id protocol.TaskID) protocol.ObjectID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fns[id]
}

func (c *Client) submit(ctx context.Context, fid protocol.ObjectID, fnName string, fn []byte, args [][]byte) (protocol.TaskID, error) {
	id := protocol.NewTaskID()
	oi := &protocol.ObjectInstruction{Type: protocol.InstructionCreate, User: []byte(c.ID)}
	objs := map[protocol.ObjectID][]byte{}
	if fn != nil {
		oi.IDs, oi.Types, oi.Names = [][]byte{fid[:]}, []protocol.ObjectContentType{protocol.ObjectObject}, [][]byte{[]byte(fnName)}
		objs[fid] = fn
	}
	task := &protocol.Task{TaskID: id[:], Source: []byte(c.ID), Metadata: c.flags, FuncObjectID: fid[:]}
	for _, a := range args {
		aid := protocol.NewObjectID([]byte(c.ID))
		objs[aid] = a
		oi.IDs = append(oi.IDs, aid[:])
		oi.Types = append(oi.Types, protocol.ObjectObject)
		oi.Names = append(oi.Names, []byte("<obj "+aid.Name()+">"))
		task.Args = append(task.Args, protocol.Argument{Type: protocol.ArgObjectID, Data: append([]byte(nil), aid[:]...)})
	}
	c.mu.Lock()
	c.results[id] = make(chan *protocol.TaskResult, 1)
	c.cancels[id] = make(chan protocol.CancelConfirmType, 1)
	c.fns[id] = fid
	c.mu.Unlock()
	if len(oi.IDs) > 0 {
		c.conn.Send(protocol.MustEncode(oi))
	}
	for oid, data := range objs {
		if err := c.oss.Set(ctx, oid, data); err != nil {
			return id, err
		}
	}
	c.conn.Send(protocol.MustEncode(task))
	return id, nil
}

// Wait waits for the task's result and reads (then deletes) its object, as a future does.
func (c *Client) Wait(ctx context.Context, id protocol.TaskID) (*Result, error) {
	c.mu.Lock()
	ch := c.results[id]
	c.mu.Unlock()
	select {
	case m := <-ch:
		r := &Result{Type: m.Type}
		if p, ok, _ := protocol.DecodeProfileResult(m.Metadata); ok {
			r.Profile = p
		}
		c.mu.Lock()
		r.Logs = c.logs[id]
		c.mu.Unlock()
		if len(m.Results) != 1 {
			return r, fmt.Errorf("%d result objects", len(m.Results))
		}
		oid, _ := protocol.ObjectIDFromBytes(m.Results[0])
		data, err := c.oss.Get(ctx, oid)
		if err != nil {
			return r, err
		}
		r.Payload = data
		c.oss.DeleteAsync(oid)
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, errors.New("connection ended")
	}
}

// Cancel force-cancels like future.cancel() and waits for the confirmation.
func (c *Client) Cancel(ctx context.Context, id protocol.TaskID) (protocol.CancelConfirmType, error) {
	c.mu.Lock()
	ch := c.cancels[id]
	c.mu.Unlock()
	c.conn.Send(protocol.MustEncode(&protocol.TaskCancel{TaskID: id[:], Force: true}))
	select {
	case typ := <-ch:
		return typ, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Close disconnects like the Python client.
func (c *Client) Close() {
	c.conn.Send(protocol.MustEncode(&protocol.ClientDisconnect{Type: protocol.DisconnectLeave}))
	c.conn.Close()
	<-c.done
	c.oss.Close()
}
