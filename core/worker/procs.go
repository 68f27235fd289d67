package worker

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// threadScaler keeps the worker's Go code on one thread (GOMAXPROCS 1) while at most one
// short Go task runs at a time, and gives it back every thread it started with as soon as
// two run at once, or one has run for quietFor (it may run goroutines of its own).
//
// Why: a task's message passes through several goroutines (reader, agent loop, task
// runner, writer). With more than one P, each hand-off makes the runtime wake another
// thread to run the goroutine it just readied; on a small VM those wake-ups cost more than
// the task. In alternated runs of scaler_bench's latency loop against one worker, a
// one-thread worker cut the median round trip by a tenth to a sixth. Tasks that run in
// parallel, and long ones, still get all the threads.
//
// Going down waits until the worker has not been busy (as above) for quietFor, so a busy
// worker does not flip between the two settings, each of which stops the world briefly.
type threadScaler struct {
	high        int          // GOMAXPROCS when busy: what the process started with
	running     atomic.Int32 // Go tasks running now
	activeSince atomic.Int64 // when running last went from 0 to 1 (clock)
	lastBusy    atomic.Int64 // when the worker was last seen busy (clock)
	raised      atomic.Bool  // GOMAXPROCS is high
	mu          sync.Mutex   // orders the GOMAXPROCS changes
	clock       func() time.Duration
}

// quietFor is how long a Go task runs alone before the worker takes all its threads, and
// how long the worker must not have been busy before it goes back to one.
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
	start := time.Now()
	return &threadScaler{high: high, clock: func() time.Duration { return time.Since(start) }}
}

func (s *threadScaler) now() int64 { return int64(s.clock()) }

// enter is called by a runner goroutine before it runs a Go task.
func (s *threadScaler) enter() {
	if s == nil {
		return
	}
	if n := s.running.Add(1); n == 1 {
		s.activeSince.Store(s.now())
		return
	}
	s.busy()
}

// exit is called by a runner goroutine after its Go task returned.
func (s *threadScaler) exit() {
	if s != nil {
		s.running.Add(-1)
	}
}

// busy records that tasks need more than one thread and makes sure they have them.
func (s *threadScaler) busy() {
	s.lastBusy.Store(s.now())
	if s.raised.Load() {
		return
	}
	s.mu.Lock()
	if !s.raised.Load() {
		runtime.GOMAXPROCS(s.high)
		s.raised.Store(true)
	}
	s.mu.Unlock()
}

// settle is called by the agent loop when a Go task finished and once a second: a Go task
// that has run alone for quietFor makes the worker busy; once it has not been busy for
// quietFor, it goes back to one thread.
func (s *threadScaler) settle() {
	if s == nil {
		return
	}
	now := s.now()
	if s.running.Load() >= 1 && now-s.activeSince.Load() >= int64(quietFor) {
		s.busy()
		return
	}
	if !s.raised.Load() || s.running.Load() > 1 || now-s.lastBusy.Load() < int64(quietFor) {
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

// stop gives the process back the threads it started with (the agent's Run ends).
func (s *threadScaler) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	runtime.GOMAXPROCS(s.high)
	s.raised.Store(true)
}
