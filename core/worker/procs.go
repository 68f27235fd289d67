package worker

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// threadScaler keeps the worker's Go code on one thread (GOMAXPROCS 1) while at most one Go
// task runs at a time, and gives it back every thread it started with as soon as two run
// at once.
//
// Why: a task's message passes through several goroutines (reader, agent loop, task
// runner, writer). With more than one P, each hand-off makes the runtime wake another
// thread to run the goroutine it just readied; on a small VM those wake-ups cost more than
// the task. In alternated runs of scaler_bench's latency loop against one worker, a
// one-thread worker cut the median round trip by a tenth to a sixth. Tasks that run in
// parallel still get all the threads.
//
// Going down waits until tasks have not overlapped for quietFor, so a busy worker does not
// flip between the two settings, each of which stops the world briefly.
type threadScaler struct {
	high        int          // GOMAXPROCS when tasks overlap: what the process started with
	running     atomic.Int32 // Go tasks running now
	lastOverlap atomic.Int64 // when two Go tasks last ran at once (monotonic ns since start)
	raised      atomic.Bool  // GOMAXPROCS is high
	mu          sync.Mutex   // orders the GOMAXPROCS changes
	start       time.Time
}

// quietFor is how long Go tasks must not have overlapped before the worker goes back to
// one thread.
const quietFor = 200 * time.Millisecond

// newThreadScaler lowers GOMAXPROCS to 1 and returns the scaler, or returns nil when there
// is nothing to scale: one CPU, or a GOMAXPROCS the user chose.
func newThreadScaler() *threadScaler {
	if os.Getenv("GOMAXPROCS") != "" {
		return nil
	}
	high := runtime.GOMAXPROCS(0)
	if high <= 1 {
		return nil
	}
	runtime.GOMAXPROCS(1)
	return &threadScaler{high: high, start: time.Now()}
}

// enter is called by a runner goroutine before it runs a Go task.
func (s *threadScaler) enter() {
	if s == nil {
		return
	}
	n := s.running.Add(1)
	if n < 2 {
		return
	}
	s.lastOverlap.Store(int64(time.Since(s.start)))
	if !s.raised.Load() {
		s.mu.Lock()
		if !s.raised.Load() {
			runtime.GOMAXPROCS(s.high)
			s.raised.Store(true)
		}
		s.mu.Unlock()
	}
}

// exit is called by a runner goroutine after its Go task returned.
func (s *threadScaler) exit() {
	if s != nil {
		s.running.Add(-1)
	}
}

// settle is called by the agent loop when a Go task finished and once a second: once Go
// tasks have not overlapped for quietFor, the worker goes back to one thread.
func (s *threadScaler) settle() {
	if s == nil || !s.raised.Load() || s.running.Load() > 1 ||
		time.Since(s.start)-time.Duration(s.lastOverlap.Load()) < quietFor {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Cleared before running is read: a task entering after that read sees raised false and
	// raises again (after this unlocks), so two tasks never stay on one thread.
	s.raised.Store(false)
	if s.running.Load() > 1 {
		s.raised.Store(true)
		return
	}
	runtime.GOMAXPROCS(1)
}
