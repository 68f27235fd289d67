package topview

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"go.uber.org/goleak"

	"github.com/scaler-go/scaler/core/monitor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recScreen records each frame as it is shown, so a test can read frames drawn by Run's
// goroutine without racing it.
type recScreen struct {
	tcell.SimulationScreen
	mu     sync.Mutex
	text   []string
	frames int
}

func (r *recScreen) Show() {
	r.SimulationScreen.Show()
	ls := lines(r.SimulationScreen)
	r.mu.Lock()
	r.text, r.frames = ls, r.frames+1
	r.mu.Unlock()
}

func (r *recScreen) screen() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.text, r.frames
}

// waitFor polls the shown frames until one contains all parts on a line, within d.
func (r *recScreen) waitFor(t *testing.T, d time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ls, _ := r.screen()
		if row(ls, parts...) >= 0 {
			return
		}
		if time.Now().After(deadline) {
			dump(t, ls)
			t.Fatalf("no frame shows %q within %s", parts, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRun drives the event loop as scaler_top does: updates arrive, keys take effect at once
// (not with the next snapshot), a resize re-lays the screen, silence raises the banner, and
// q ends the loop.
func TestRun(t *testing.T) {
	shown := topScreenSnapshot(t, "c_ymq_monitor")
	recs := loadRecording(t, "c_ymq_monitor", shown.Conn)
	s := &recScreen{SimulationScreen: newScreen(t, 200, 50)}
	updates := make(chan monitor.Update)
	m := monitor.NewModel(monitor.ModelConfig{})
	v := New(Options{Address: "tcp://127.0.0.1:27528", Timeout: time.Second})
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), s, updates, m, v) }()

	// Replay the recording up to the screen's snapshot, stamped with the wall clock as a
	// live stream would be.
	updates <- monitor.Update{At: time.Now(), Connected: true}
	for _, r := range recs {
		if r.TMS > shown.TMS {
			break
		}
		updates <- monitor.Update{At: time.Now(), Msg: r.Msg}
	}
	s.waitFor(t, 2*time.Second, "num_of_objs 383")
	s.waitFor(t, 2*time.Second, "Worker|FIX|3e93bead9bda40b2", "980", "20")

	// No update flows now: a key must redraw by itself, well before the one-second refresh.
	_, before := s.screen()
	pressed := time.Now()
	s.InjectKey(tcell.KeyRune, 'f', tcell.ModNone)
	s.waitFor(t, 2*time.Second, "[free]")
	if took := time.Since(pressed); took > 700*time.Millisecond {
		t.Errorf("the sort key took %s to show", took)
	}
	if _, after := s.screen(); after <= before {
		t.Error("no new frame after the key")
	}

	s.SetSize(80, 24)
	if err := s.PostEvent(tcell.NewEventResize(80, 24)); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, 2*time.Second, "task_manager", "messages", "sent", "recv")

	// The timeout is one second: without snapshots the banner comes, then it reports the
	// lost connection.
	s.waitFor(t, 4*time.Second, "no data for ", "connected to tcp://127.0.0.1:27528")
	updates <- monitor.Update{At: time.Now(), Err: errors.New("connection reset by peer")}
	s.waitFor(t, 3*time.Second, "connection lost (connection reset by peer)")

	// A closed update channel does not end the dashboard; q does.
	close(updates)
	s.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("q did not end Run")
	}
}

// TestRunEnds: Run returns when its context ends and when the screen is finalised.
func TestRunEnds(t *testing.T) {
	for _, how := range []string{"context", "fini", "ctrl-c"} {
		t.Run(how, func(t *testing.T) {
			s := &recScreen{SimulationScreen: newScreen(t, 100, 30)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, s, nil, monitor.NewModel(monitor.ModelConfig{}), New(Options{}))
			}()
			s.waitFor(t, 2*time.Second, "No workers")
			switch how {
			case "context":
				cancel()
			case "fini":
				s.Fini()
			case "ctrl-c":
				s.InjectKey(tcell.KeyCtrlC, 'c', tcell.ModCtrl)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			if ls, _ := s.screen(); !strings.Contains(strings.Join(ls, ""), "no data for") {
				t.Error("a model that never got data must show the banner")
			}
		})
	}
}

// TestASCIIFallbacks: on a terminal that only has ASCII (LANG=C) the dashboard's ellipses,
// separators, arrows and bars come out as ASCII stand-ins, not "?".
func TestASCIIFallbacks(t *testing.T) {
	m, shown := shownModel(t, "c_ymq_monitor")
	s := tcell.NewSimulationScreen("US-ASCII")
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	defer s.Fini()
	s.SetSize(80, 24)
	RegisterFallbacks(s)
	v := New(Options{Address: "tcp://127.0.0.1:27528"})
	v.Draw(s, m, at(shown.TMS))
	cells, w, h := s.GetContents()
	var b strings.Builder
	for i, c := range cells {
		b.Write(c.Bytes)
		if i%w == w-1 {
			b.WriteByte('\n')
		}
	}
	out := b.String()
	if strings.Count(out, "\n") != h {
		t.Fatalf("%d lines", strings.Count(out, "\n"))
	}
	for _, want := range []string{"Worker|FIX~", "connected", "sort cpu v", ">"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing from the ASCII screen:\n%s", want, out)
		}
	}
	if strings.Contains(out, "?") {
		t.Errorf("unmapped characters on the ASCII screen:\n%s", out)
	}
}
