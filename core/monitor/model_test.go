package monitor

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/monitor/monitortest"
	"github.com/scaler-go/scaler/core/protocol"
)

// recordedUpdates returns the monitor messages scenario C recorded on connection mon-2.
func recordedUpdates(t testing.TB, scenario string) []Update {
	t.Helper()
	msgs, err := monitortest.Load(filepath.Join("..", "..", "testdata", "interop", scenario, "monitor.jsonl.gz"), "mon-2")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("recording not available: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_000_000, 0)
	out := make([]Update, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, Update{At: m.At(base), Msg: m.Msg})
	}
	return out
}

func TestModelFromRecordedStream(t *testing.T) {
	for _, scenario := range []string{"c_ymq_monitor", "c_zmq_monitor"} {
		t.Run(scenario, func(t *testing.T) {
			m := NewModel(ModelConfig{})
			ups := recordedUpdates(t, scenario)
			sawTwoWorkers := false
			for _, u := range ups {
				m.Apply(u)
				if len(m.Workers()) == 2 {
					sawTwoWorkers = true
				}
			}
			if m.Snapshots != 35 {
				t.Errorf("snapshots %d, want 35", m.Snapshots)
			}
			if !sawTwoWorkers {
				t.Error("never saw the two workers")
			}
			// 208 successes + 1 failure + 1 cancel finished on the stream.
			if m.TotalFinished != 210 {
				t.Errorf("finished tasks %d, want 210", m.TotalFinished)
			}
			if len(m.BalanceAdvices) != 1 || len(m.Graphs) != 1 {
				t.Errorf("advices %d graphs %d", len(m.BalanceAdvices), len(m.Graphs))
			}
			peak := 0.0
			for _, s := range m.Throughput {
				peak = max(peak, s.Value)
			}
			if peak < 100 {
				t.Errorf("throughput peak %.0f tasks/s; the 200-task map should show", peak)
			}
			ms := m.Managers()
			if len(ms) != 1 || ms[0].ID != "wm-gpu" || ms[0].Capabilities != "gpu" {
				t.Errorf("managers %+v", ms)
			}
			var withProfile int
			for _, task := range m.FinishedTasks() {
				if task.HasProfile && task.Function != "" {
					withProfile++
				}
			}
			if withProfile < 200 {
				t.Errorf("finished tasks with function and profile: %d", withProfile)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{FormatBytes(512), "512B"},
		{FormatBytes(23 << 10), "23K"},
		{FormatBytes(24851251), "23.7M"},
		{FormatBytes(24481313587), "22.8G"},
		{FormatCPU(130), "13.0%"},
		{FormatLag(400), "0.4ms"},
		{FormatLag(2_500_000), "2.5s"},
		{FormatAge(75 * time.Second), "1m15s"},
		{FormatAge(3*time.Hour + 4*time.Minute), "3h4m"},
		{FormatCount(1234567), "1,234,567"},
		{Truncate("Worker|FIX|3e93bead9bda40b2", 20), "Worker|FIX|3e93bead9+"},
		{ShortenMiddle("Worker|NAT|0123456789abcdef", 11), "Worke…bcdef"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// A long-running dashboard keeps only the latest graphs.
func TestGraphsBounded(t *testing.T) {
	m := NewModel(ModelConfig{})
	for i := 0; i < maxGraphs+10; i++ {
		id := protocol.NewTaskID()
		m.Apply(Update{At: time.Now(), Msg: &protocol.StateGraphTask{GraphTaskID: id[:], TaskID: id[:]}})
	}
	if len(m.Graphs) != maxGraphs || len(m.graphOrder) != maxGraphs {
		t.Fatalf("%d graphs kept (%d in order), want %d", len(m.Graphs), len(m.graphOrder), maxGraphs)
	}
}
