package scheduler

import (
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
)

// Under load the monitor gets a bounded sample of tasks, and every task it was shown
// starting is also shown finishing, however many new tasks compete for the budget.
func TestTaskEventsSampleUnderLoad(t *testing.T) {
	h := newCluster(t, 1<<20)
	const n = taskEventBudget + 500
	for i := 0; i < n; i++ {
		h.submit(cA, i)
	}
	h.advance(100 * time.Millisecond) // flush: the running state of the first budget's tasks
	first := h.published(protocol.KindStateTask)
	if len(first) != taskEventBudget {
		t.Fatalf("first flush: %d StateTask, want %d", len(first), taskEventBudget)
	}
	shown := map[protocol.TaskID]bool{}
	for _, m := range first {
		st := m.(*protocol.StateTask)
		if st.State != protocol.StateRunning {
			t.Fatalf("state %v", st.State)
		}
		shown[protocol.TaskID(st.TaskID)] = true
	}
	h.fx.published = nil
	// Every task finishes, and a new wave of tasks arrives before the next flush.
	for i := 0; i < n; i++ {
		h.result(w1, i, protocol.ResultSuccess, protocol.NewObjectID([]byte(cA)))
	}
	for i := n; i < n+2*taskEventBudget; i++ {
		h.submit(cA, i)
	}
	h.advance(100 * time.Millisecond)
	finished := 0
	for _, m := range h.published(protocol.KindStateTask) {
		st := m.(*protocol.StateTask)
		if shown[protocol.TaskID(st.TaskID)] {
			if st.State != protocol.StateSuccess {
				t.Fatalf("shown task got %v", st.State)
			}
			finished++
		}
	}
	if finished != len(shown) {
		t.Fatalf("%d of the %d shown tasks were shown finishing", finished, len(shown))
	}
	// The totals stay exact whatever the sample.
	st := h.s.Status(h.now)
	if got := st.TaskStates[protocol.StateSuccess].Count; got != n {
		t.Fatalf("success count %d, want %d", got, n)
	}
}

// Nothing is recorded while nobody subscribes.
func TestTaskEventsOnlyWithSubscribers(t *testing.T) {
	h := newHarness(t)
	h.fx.monitor = false
	h.client(cA)
	h.worker(w1, 10)
	h.submit(cA, 1)
	if len(h.s.events.pending) != 0 {
		t.Fatalf("%d events recorded without a subscriber", len(h.s.events.pending))
	}
}
