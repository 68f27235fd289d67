package scheduler

import "testing"

func TestQueueDrainAndCompaction(t *testing.T) {
	var q taskQueue
	var all []*taskEntry
	for i := 0; i < 5000; i++ {
		te := &taskEntry{seq: uint64(i), capKey: []string{"", "gpu"}[i%2]}
		all = append(all, te)
		q.push(te)
	}
	q.remove(all[10])
	placed := 0
	budget := 3000
	q.drain(func(te *taskEntry) bool {
		if budget == 0 {
			return false
		}
		budget--
		placed++
		return true
	})
	if q.len() != 5000-1-placed {
		t.Fatalf("len %d after placing %d", q.len(), placed)
	}
	front := &taskEntry{seq: 0}
	q.pushFront(front)
	var order []*taskEntry
	q.drain(func(te *taskEntry) bool { order = append(order, te); return true })
	if q.len() != 0 || order[0] != front || len(order) != 5000-1-placed+1 {
		t.Fatalf("drained %d, len %d", len(order), q.len())
	}
}
