package worker

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// The worker runs on one thread until two Go tasks overlap, then on all of them, and goes
// back to one once tasks have not overlapped for quietFor.
func TestThreadScalerFollowsOverlap(t *testing.T) {
	s := newThreadScaler()
	if s == nil {
		t.Skip("GOMAXPROCS is set or there is one CPU: nothing to scale")
	}
	defer runtime.GOMAXPROCS(s.high)
	procs := func() int { return runtime.GOMAXPROCS(0) }
	backdate := func() { s.lastOverlap.Store(int64(time.Since(s.start) - quietFor - time.Millisecond)) }

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
		{"quiet long enough", func() { backdate(); s.settle() }, 1},
		{"overlap again", s.enter, s.high},
		{"settle while two run", func() { backdate(); s.settle() }, s.high},
		{"both end", func() { s.exit(); s.exit(); backdate(); s.settle() }, 1},
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
	s := newThreadScaler()
	if s == nil {
		t.Skip("GOMAXPROCS is set or there is one CPU: nothing to scale")
	}
	defer runtime.GOMAXPROCS(s.high)
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
				s.lastOverlap.Store(0)
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
