package scheduler

import (
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// benchFx keeps only what the benchmark needs to answer: which worker got which task.
type benchFx struct {
	fakeFx
	dispatched []sentMsg // (peer, raw) of Task messages to workers
	sends      int
	published  int
}

func (f *benchFx) Send(peer string, data []byte) {
	f.sends++
	if peer == "w1" || peer == "w2" {
		f.dispatched = append(f.dispatched, sentMsg{peer: peer, raw: data})
	}
}
func (f *benchFx) Publish([]byte)      { f.published++ }
func (f *benchFx) MonitorActive() bool { return f.monitor }

// BenchmarkStateTaskLifecycle drives the scheduler state machine alone (no sockets, no
// goroutines) through whole task lives: a client submits, the scheduler dispatches to one of
// two workers, the worker returns a result, the scheduler forwards it. One op is one task;
// events/s counts every message the state machine handled (task in, result in). Ticks come
// every 5,000 tasks, as they would at 50,000 tasks/s; with a monitor subscribed they
// publish the task events, and the cost is compared with no monitor.
func BenchmarkStateTaskLifecycle(b *testing.B) {
	b.Run("no-monitor", func(b *testing.B) { benchLifecycle(b, false) })
	b.Run("monitor", func(b *testing.B) { benchLifecycle(b, true) })
}

func benchLifecycle(b *testing.B, monitor bool) {
	cfg := DefaultConfig()
	cfg.Logger = quietLogger()
	cfg.ObjectStorage = protocol.ObjectStorageAddress{Host: "127.0.0.1", Port: 6379, Scheme: "tcp"}
	cfg.LoadBalanceInterval = -1
	fx := &benchFx{fakeFx: fakeFx{sets: map[protocol.ObjectID][]byte{}, monitor: monitor}}
	s := New(cfg, fx)
	now := time.Unix(1000, 0)
	s.HandleMessage(now, "c1", protocol.MustEncode(&protocol.ClientHeartbeat{}))
	for _, w := range []string{"w1", "w2"} {
		s.HandleMessage(now, w, protocol.MustEncode(&protocol.WorkerHeartbeat{QueueSize: 1 << 20}))
	}

	const batch = 1000
	fn := protocol.NewObjectID([]byte("c1"))
	flags := protocol.TaskFlags{}.Encode()
	meta := protocol.ProfileResult{DurationS: 0.001}.Encode()
	tasks := make([][]byte, batch)
	results := make(map[protocol.TaskID][]byte, batch)
	seq := 0
	prepare := func() {
		clear(results)
		for i := range tasks {
			seq++
			id := protocol.NewTaskID()
			res := protocol.NewObjectID([]byte("w"))
			tasks[i] = protocol.MustEncode(&protocol.Task{TaskID: id[:], Source: []byte("c1"), Metadata: flags, FuncObjectID: fn[:]})
			results[id] = protocol.MustEncode(&protocol.TaskResult{TaskID: id[:], Type: protocol.ResultSuccess, Metadata: meta, Results: [][]byte{res[:]}})
		}
	}

	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		prepare()
		fx.dispatched = fx.dispatched[:0]
		n := min(batch, b.N-done)
		b.StartTimer()
		for _, raw := range tasks[:n] {
			s.HandleMessage(now, "c1", raw)
		}
		b.StopTimer()
		answers := make([]sentMsg, 0, n)
		for _, d := range fx.dispatched {
			m, err := protocol.Decode(d.raw)
			if err != nil {
				b.Fatal(err)
			}
			t, ok := m.(*protocol.Task)
			if !ok {
				continue
			}
			answers = append(answers, sentMsg{peer: d.peer, raw: results[protocol.TaskID(t.TaskID)]})
		}
		if len(answers) != n {
			b.Fatalf("%d of %d tasks dispatched", len(answers), n)
		}
		b.StartTimer()
		for _, a := range answers {
			s.HandleMessage(now, a.peer, a.raw)
		}
		events += 2 * n
		now = now.Add(20 * time.Millisecond)
		if (done/batch)%5 == 4 {
			s.Tick(now)
		}
	}
	b.StopTimer()
	if c := s.Counts(); c.Tasks != 0 {
		b.Fatalf("%d tasks left in the scheduler", c.Tasks)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(fx.sends)/float64(b.N), "sends/task")
	b.ReportMetric(float64(fx.published)/float64(b.N), "published/task")
}
