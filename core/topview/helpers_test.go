package topview

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/scaler-go/scaler/core/monitor"
	"github.com/scaler-go/scaler/core/monitor/monitortest"
	"github.com/scaler-go/scaler/core/protocol"
)

// interopDir holds the recordings of the real Python project (testdata/interop).
var interopDir = filepath.Join("..", "..", "testdata", "interop")

// base is the wall-clock time given to t_ms = 0 of a recording.
var base = time.Unix(1_700_000_000, 0)

// loadRecording decodes every monitor message the scheduler published on conn.
func loadRecording(t testing.TB, scenario, conn string) []monitortest.Message {
	t.Helper()
	recs, err := monitortest.Load(filepath.Join(interopDir, scenario, "monitor.jsonl.gz"), conn)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	return recs
}

func at(tms float64) time.Time { return monitortest.Message{TMS: tms}.At(base) }

// modelUntil folds a connection and every message up to t_ms into a new model.
func modelUntil(recs []monitortest.Message, tms float64) *monitor.Model {
	m := monitor.NewModel(monitor.ModelConfig{})
	m.Apply(monitor.Update{At: base, Connected: true})
	for _, r := range recs {
		if r.TMS > tms+0.0005 {
			break
		}
		m.Apply(monitor.Update{At: r.At(base), Msg: r.Msg})
	}
	return m
}

// shownModel folds the recording of scenario up to the snapshot the recorded Python screen
// displays, and returns that snapshot too.
func shownModel(t testing.TB, scenario string) (*monitor.Model, shownSnapshot) {
	t.Helper()
	shown := topScreenSnapshot(t, scenario)
	return modelUntil(loadRecording(t, scenario, shown.Conn), shown.TMS), shown
}

// stateModel is a connected model whose one snapshot, at base, is st.
func stateModel(st *protocol.StateScheduler) *monitor.Model {
	m := monitor.NewModel(monitor.ModelConfig{})
	m.Apply(monitor.Update{At: base, Connected: true})
	m.Apply(monitor.Update{At: base, Msg: st})
	return m
}

// screenTopShown is the snapshot the recorded Python screen displays
// (connections.json top_screen.shows_stateScheduler).
type shownSnapshot struct {
	Conn string  `json:"conn"`
	TMS  float64 `json:"t_ms"`
}

func topScreenSnapshot(t testing.TB, scenario string) shownSnapshot {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(interopDir, scenario, "connections.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		TopScreen struct {
			Shows shownSnapshot `json:"shows_stateScheduler"`
		} `json:"top_screen"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.TopScreen.Shows.Conn == "" {
		t.Fatal("connections.json names no snapshot for top_screen")
	}
	return c.TopScreen.Shows
}

// newScreen returns an initialised simulation screen of w×h cells.
func newScreen(t testing.TB, w, h int) tcell.SimulationScreen {
	t.Helper()
	s := tcell.NewSimulationScreen("UTF-8")
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	s.SetSize(w, h)
	t.Cleanup(s.Fini)
	return s
}

// lines returns the screen's text, one string per row, trailing blanks kept.
func lines(s tcell.SimulationScreen) []string {
	cells, w, h := s.GetContents()
	out := make([]string, h)
	var b strings.Builder
	for y := 0; y < h; y++ {
		b.Reset()
		for x := 0; x < w; x++ {
			r := cells[y*w+x].Runes
			if len(r) == 0 {
				b.WriteByte(' ')
				continue
			}
			b.WriteString(string(r))
		}
		out[y] = b.String()
	}
	return out
}

// styleAt returns the style of the cell at (x, y).
func styleAt(s tcell.SimulationScreen, x, y int) tcell.Style {
	cells, w, _ := s.GetContents()
	return cells[y*w+x].Style
}

func dump(t testing.TB, ls []string) {
	t.Helper()
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(strings.TrimRight(l, " "))
		b.WriteByte('\n')
	}
	t.Log("\n" + b.String())
}

// row finds the first line containing all of parts, in order; -1 if none.
func row(ls []string, parts ...string) int {
	for i, l := range ls {
		rest, ok := l, true
		for _, p := range parts {
			j := strings.Index(rest, p)
			if j < 0 {
				ok = false
				break
			}
			rest = rest[j+len(p):]
		}
		if ok {
			return i
		}
	}
	return -1
}

// syntheticModel builds a model whose latest snapshot has n workers with distinct figures.
func syntheticModel(n int, at time.Time) *monitor.Model {
	st := &protocol.StateScheduler{
		Scheduler: protocol.Resource{CPU: 123, RSS: 50 << 20}, RSSFree: 8 << 30, NumberOfObjects: 12345,
		Sent:     []protocol.Counter{{Name: "Task", Number: 100000}, {Name: "WorkerHeartbeatEcho", Number: 5000}},
		Received: []protocol.Counter{{Name: "TaskResult", Number: 99000}, {Name: "WorkerHeartbeat", Number: 5000}},
		Clients:  []protocol.ClientTasks{{Client: []byte("Client|0123456789abcdef0123456789abcdef"), NumTask: 1000}},
		TaskStates: []protocol.StateCount{
			{State: uint8(protocol.StateRunning), Count: uint32(n)}, {State: uint8(protocol.StateSuccess), Count: 1234567},
		},
		Managers: []protocol.ManagerDetail{{WorkerManagerID: []byte("wm-a"), PendingWorkers: 3}},
	}
	managed := protocol.ManagedWorkers{WorkerManagerID: []byte("wm-a")}
	for i := 0; i < n; i++ {
		id := []byte("Worker|NAT|" + hexID(i) + "|" + hexID(i*7919))
		st.Workers = append(st.Workers, protocol.WorkerStatus{
			WorkerID: id, Agent: protocol.Resource{CPU: uint16(i % 1000), RSS: uint64(20+i%50) << 20},
			RSSFree: uint64(1+i%16) << 30, Free: uint32(1000 - i%1000), Sent: uint32(i % 37), Queued: uint32(i % 11),
			Suspended: uint8(i % 3), LagUS: uint64(100 + (i*37)%5000), LastS: uint16(i % 9), ITL: "110",
			Processors: []protocol.ProcessorStatus{{PID: uint32(1000 + i), Initialized: true, HasTask: true,
				Resource: protocol.Resource{CPU: uint16((i * 13) % 1000), RSS: uint64(30+i%40) << 20}}},
		})
		if i%2 == 0 {
			managed.WorkerIDs = append(managed.WorkerIDs, id)
		}
	}
	st.ManagedWorkers = []protocol.ManagedWorkers{managed}
	m := monitor.NewModel(monitor.ModelConfig{})
	m.Apply(monitor.Update{At: at.Add(-time.Minute), Connected: true})
	// A minute of snapshots with a rising rate gives the throughput chart something to show.
	for k := 60; k >= 1; k-- {
		prev := *st
		prev.TaskStates = []protocol.StateCount{{State: uint8(protocol.StateSuccess), Count: uint32(1234567 - k*k*10)}}
		m.Apply(monitor.Update{At: at.Add(-time.Duration(k) * time.Second), Msg: &prev})
	}
	m.Apply(monitor.Update{At: at, Msg: st})
	return m
}

func hexID(i int) string {
	a := uint64(i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	b := a*0xbf58476d1ce4e5b9 ^ a>>31
	return strconv.FormatUint(a|1<<63, 16) + strconv.FormatUint(b|1<<63, 16)
}
