package monitor

import (
	"math"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

func TestResample(t *testing.T) {
	end := time.Unix(1000, 0)
	at := func(s float64) time.Time { return end.Add(time.Duration(s * float64(time.Second))) }
	samples := []Sample{
		{At: at(-20), Value: 99}, // before the window
		{At: at(-10), Value: 4},  // exactly at the window start: excluded
		{At: at(-9), Value: 2},   // bucket 0 (-10, -5]
		{At: at(-6), Value: 4},   // bucket 0
		{At: at(0), Value: 7},    // exactly at end: last bucket
		{At: at(1), Value: 50},   // after end
	}
	got := Resample(samples, end, 10*time.Second, 2)
	if len(got) != 2 || got[0] != 3 || got[1] != 7 {
		t.Fatalf("Resample = %v, want [3 7]", got)
	}
	got = Resample(samples, end, 10*time.Second, 5)
	// Buckets of 2 s: -9 in (-10,-8], -6 in (-8,-6], nothing in (-6,-2], 0 in (-2,0].
	if !math.IsNaN(got[2]) || !math.IsNaN(got[3]) {
		t.Errorf("empty buckets must be NaN: %v", got)
	}
	if got[0] != 2 || got[1] != 4 || got[4] != 7 {
		t.Errorf("Resample into 5 = %v", got)
	}
	if Resample(samples, end, 0, 3) != nil || Resample(samples, end, time.Second, 0) != nil {
		t.Error("degenerate windows must give nil")
	}
}

func TestPendingWorkers(t *testing.T) {
	m := NewModel(ModelConfig{})
	if m.PendingWorkers() != 0 {
		t.Fatal("pending before any snapshot")
	}
	m.Apply(Update{At: time.Unix(1, 0), Msg: &protocol.StateScheduler{Managers: []protocol.ManagerDetail{
		{WorkerManagerID: []byte("a"), PendingWorkers: 2},
		{WorkerManagerID: []byte("b"), PendingWorkers: 3},
	}}})
	if got := m.PendingWorkers(); got != 5 {
		t.Errorf("PendingWorkers = %d, want 5", got)
	}
}

func TestShortenMiddleRunes(t *testing.T) {
	got := ShortenMiddle("gérant-àéîõü-fin", 7)
	if got != "gér…fin" {
		t.Errorf("ShortenMiddle = %q", got)
	}
	if s := ShortenMiddle("ééé", 3); s != "ééé" {
		t.Errorf("three runes fit in 3: %q", s)
	}
}

func TestShortenID(t *testing.T) {
	id := "Worker|FIX|3e93bead9bda40b2967869f9b5cb5211|967401ae74fb4d62a47eee1aa795c984"
	tests := []struct {
		n    int
		want string
	}{
		{16, "Worker|FIX…5c984"},
		{24, "Worker|FIX|3e93b…795c984"},
		{len(id), id},
		{1, id},
	}
	for _, tt := range tests {
		got := ShortenID(id, tt.n)
		if got != tt.want {
			t.Errorf("ShortenID(%d) = %q, want %q", tt.n, got, tt.want)
		}
		if tt.n > 1 && len([]rune(got)) > tt.n {
			t.Errorf("ShortenID(%d) is %d runes long", tt.n, len([]rune(got)))
		}
	}
}
