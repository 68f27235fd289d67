package worker

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// testScaler is a scaler whose GOMAXPROCS changes are undone when the test ends.
func testScaler(t *testing.T) *threadScaler {
	s := newThreadScaler()
	if s == nil {
		t.Skip("GOMAXPROCS is set or there is one CPU: nothing to scale")
	}
	t.Cleanup(func() { runtime.GOMAXPROCS(s.high) })
	return s
}

// The worker runs on one thread until two Go tasks overlap or one runs for quietFor, then on
// all of them, and goes back to one once it has not been busy for quietFor.
func TestThreadScalerFollowsLoad(t *testing.T) {
	s := testScaler(t)
	var clock time.Duration
	s.clock = func() time.Duration { return clock }
	procs := func() int { return runtime.GOMAXPROCS(0) }
	pass := func() { clock += quietFor + time.Millisecond }

	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"start", func() {}, 1},
		{"one task", s.enter, 1},
		{"one task settles", s.settle, 1},
		{"two tasks overlap", s.enter, s.high},
		{"one ends", s.exit, s.high},
		{"settle right after an overlap", s.settle, s.high},
		{"the other ends, quiet long enough", func() { s.exit(); pass(); s.settle() }, 1},
		{"overlap again", func() { s.enter(); s.enter() }, s.high},
		{"settle while two run", func() { pass(); s.settle() }, s.high},
		{"both end", func() { s.exit(); s.exit(); pass(); s.settle() }, 1},
		{"one short task", func() { s.enter(); s.settle() }, 1},
		{"it runs long", func() { pass(); s.settle() }, s.high},
		{"it ends, quiet long enough", func() { s.exit(); pass(); s.settle() }, 1},
		{"the agent stops", s.stop, s.high},
	}
	for _, st := range steps {
		st.do()
		if got := procs(); got != st.want {
			t.Fatalf("%s: GOMAXPROCS %d, want %d", st.name, got, st.want)
		}
	}
}

// Whatever the interleaving of tasks and settles, two tasks running at once never stay on
// one thread.
func TestThreadScalerConcurrent(t *testing.T) {
	s := testScaler(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				s.lastBusy.Store(0)
				s.settle()
			}
		}
	}()
	var tasks sync.WaitGroup
	for range 4 {
		tasks.Add(1)
		go func() {
			defer tasks.Done()
			for range 200 {
				s.enter()
				s.exit()
			}
		}()
	}
	tasks.Wait()
	s.enter()
	s.enter()
	if got := runtime.GOMAXPROCS(0); got != s.high {
		t.Errorf("two tasks running: GOMAXPROCS %d, want %d", got, s.high)
	}
	close(stop)
	wg.Wait()
	s.exit()
	s.exit()
}

func TestThreadScalerRespectsGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2")
	if s := newThreadScaler(); s != nil {
		runtime.GOMAXPROCS(s.high)
		t.Fatal("an explicit GOMAXPROCS must turn the scaler off")
	}
}
