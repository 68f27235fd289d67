package scheduler

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/policy"
	"github.com/scaler-go/scaler/core/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type sentMsg struct {
	peer string
	msg  protocol.Message
	raw  []byte
}

// fakeFx records everything the state machine does.
type fakeFx struct {
	sent      []sentMsg
	published []protocol.Message
	deleted   []protocol.ObjectID
	dups      [][2]protocol.ObjectID
	sets      map[protocol.ObjectID][]byte
	shutdown  bool
	released  int
	monitor   bool
}

func (f *fakeFx) Send(peer string, data []byte) {
	m, err := protocol.Decode(data)
	if err != nil {
		panic(err)
	}
	f.sent = append(f.sent, sentMsg{peer: peer, msg: m, raw: data})
}
func (f *fakeFx) Publish(data []byte) {
	m, err := protocol.Decode(data)
	if err != nil {
		panic(err)
	}
	f.published = append(f.published, m)
}
func (f *fakeFx) MonitorActive() bool                   { return f.monitor }
func (f *fakeFx) DeleteObjects(ids []protocol.ObjectID) { f.deleted = append(f.deleted, ids...) }
func (f *fakeFx) DuplicateObject(dst, src protocol.ObjectID) {
	f.dups = append(f.dups, [2]protocol.ObjectID{dst, src})
}
func (f *fakeFx) SetObject(id protocol.ObjectID, data []byte) { f.sets[id] = data }
func (f *fakeFx) Shutdown()                                   { f.shutdown = true }
func (f *fakeFx) ReleaseMemory()                              { f.released++ }
func (f *fakeFx) Resources() (protocol.Resource, uint64) {
	return protocol.Resource{CPU: 12, RSS: 1 << 20}, 1 << 30
}

type harness struct {
	t   *testing.T
	s   *State
	fx  *fakeFx
	now time.Time
}

func quietLogger() *slog.Logger {
	if os.Getenv("SCHED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	cfg := DefaultConfig()
	cfg.Logger = quietLogger()
	cfg.ObjectStorage = protocol.ObjectStorageAddress{Host: "127.0.0.1", Port: 6379, Scheme: "tcp"}
	cfg.LoadBalanceInterval = -1
	for _, m := range mutate {
		m(&cfg)
	}
	fx := &fakeFx{sets: map[protocol.ObjectID][]byte{}, monitor: true}
	return &harness{t: t, s: New(cfg, fx), fx: fx, now: time.Unix(1000, 0)}
}

// newCluster returns a harness with client cA and worker w1 (queue size queue) connected.
func newCluster(t *testing.T, queue uint32, mutate ...func(*Config)) *harness {
	h := newHarness(t, mutate...)
	h.client(cA)
	h.worker(w1, queue)
	return h
}

func withPolicy(engine, content string) func(*Config) {
	return func(c *Config) {
		e, err := policy.ParseEngine(engine, content)
		if err != nil {
			panic(err)
		}
		c.Engine = e
	}
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.s.Tick(h.now)
}

func (h *harness) recv(peer string, m protocol.Message) []byte {
	h.t.Helper()
	raw := protocol.MustEncode(m)
	h.s.HandleMessage(h.now, peer, raw)
	return raw
}

// take removes and returns the first message of kind k sent to peer; it fails the test if
// there is none.
func (h *harness) take(peer string, k protocol.Kind) sentMsg {
	h.t.Helper()
	for i, m := range h.fx.sent {
		if m.peer == peer && m.msg.Kind() == k {
			h.fx.sent = append(h.fx.sent[:i], h.fx.sent[i+1:]...)
			return m
		}
	}
	h.t.Fatalf("no %v sent to %s; sent: %v", k, peer, h.summary())
	return sentMsg{}
}

// none asserts nothing of kind k is waiting for peer.
func (h *harness) none(peer string, k protocol.Kind) {
	h.t.Helper()
	for _, m := range h.fx.sent {
		if m.peer == peer && m.msg.Kind() == k {
			h.t.Fatalf("unexpected %v to %s: %+v", k, peer, m.msg)
		}
	}
}

func (h *harness) summary() []string {
	var out []string
	for _, m := range h.fx.sent {
		out = append(out, m.peer+":"+m.msg.Kind().String())
	}
	return out
}

func (h *harness) client(id string) {
	h.t.Helper()
	h.recv(id, &protocol.ClientHeartbeat{})
	h.take(id, protocol.KindClientHeartbeatEcho)
}

func (h *harness) worker(id string, queue uint32, caps ...protocol.Capability) {
	h.t.Helper()
	h.recv(id, &protocol.WorkerHeartbeat{QueueSize: queue, Capabilities: caps})
	h.take(id, protocol.KindWorkerHeartbeatEcho)
}

func taskID(n int) protocol.TaskID {
	var id protocol.TaskID
	id[0], id[1], id[15] = byte(n), byte(n>>8), 0xee
	return id
}

func (h *harness) submit(client string, n int, caps ...protocol.Capability) *protocol.Task {
	id := taskID(n)
	fn := protocol.NewObjectID([]byte(client))
	arg := protocol.NewObjectID([]byte(client))
	task := &protocol.Task{
		TaskID:       id[:],
		Source:       []byte(client),
		Metadata:     protocol.TaskFlags{}.Encode(),
		FuncObjectID: fn[:],
		Args:         []protocol.Argument{{Type: protocol.ArgObjectID, Data: arg[:]}},
		Capabilities: caps,
	}
	h.recv(client, task)
	return task
}

// running submits tasks 0..n-1 of cA and takes their dispatch to worker.
func (h *harness) running(worker string, n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		h.submit(cA, i)
		h.take(worker, protocol.KindTask)
	}
}

// drained fails the test unless no graph and no task is left.
func (h *harness) drained() {
	h.t.Helper()
	if c := h.s.Counts(); c.Graphs != 0 || c.Tasks != 0 {
		h.t.Fatalf("counts %+v", c)
	}
}

func (h *harness) result(worker string, n int, typ protocol.TaskResultType, objects ...protocol.ObjectID) []byte {
	id := taskID(n)
	var res [][]byte
	for _, o := range objects {
		res = append(res, append([]byte(nil), o[:]...))
	}
	return h.recv(worker, &protocol.TaskResult{TaskID: id[:], Type: typ, Metadata: protocol.ProfileResult{DurationS: 0.5}.Encode(), Results: res})
}

func (h *harness) published(k protocol.Kind) []protocol.Message {
	h.s.flushTaskEvents(true)
	var out []protocol.Message
	for _, m := range h.fx.published {
		if m.Kind() == k {
			out = append(out, m)
		}
	}
	return out
}
