package scheduler

import "sort"

// taskQueue holds tasks waiting for a worker, one FIFO per capability-name set, so a task
// that no worker can run only blocks tasks that need the same capabilities. Removal is lazy:
// a removed task is unflagged and skipped when it reaches the head.
type taskQueue struct {
	groups map[string]*fifo
	n      int
}

type fifo struct {
	items []*taskEntry
	head  int
}

func (f *fifo) peek() *taskEntry {
	for f.head < len(f.items) {
		t := f.items[f.head]
		if t.queued {
			return t
		}
		f.items[f.head] = nil
		f.head++
	}
	return nil
}

func (f *fifo) pop() {
	f.items[f.head] = nil
	f.head++
	if f.head > 1024 && f.head*2 > len(f.items) {
		f.items = append(f.items[:0], f.items[f.head:]...)
		f.head = 0
	}
}

func (q *taskQueue) group(key string) *fifo {
	if q.groups == nil {
		q.groups = map[string]*fifo{}
	}
	f := q.groups[key]
	if f == nil {
		f = &fifo{}
		q.groups[key] = f
	}
	return f
}

func (q *taskQueue) push(t *taskEntry) {
	f := q.group(t.capKey)
	f.items = append(f.items, t)
	t.queued = true
	q.n++
}

// pushFront re-queues a task that was already submitted earlier (its worker died or it was
// moved by the balancer), ahead of newer ones.
func (q *taskQueue) pushFront(t *taskEntry) {
	f := q.group(t.capKey)
	if f.head > 0 {
		f.head--
		f.items[f.head] = t
	} else {
		f.items = append([]*taskEntry{t}, f.items...)
	}
	t.queued = true
	q.n++
}

func (q *taskQueue) remove(t *taskEntry) {
	if t.queued {
		t.queued = false
		q.n--
	}
}

func (q *taskQueue) len() int { return q.n }

// drain offers head tasks, oldest group head first, to place until it refuses; a refused
// group is skipped for the rest of this drain.
func (q *taskQueue) drain(place func(*taskEntry) bool) {
	if q.n == 0 {
		return
	}
	type head struct {
		key string
		f   *fifo
	}
	var heads []head
	for k, f := range q.groups {
		if f.peek() == nil {
			delete(q.groups, k)
			continue
		}
		heads = append(heads, head{k, f})
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].f.peek().seq < heads[j].f.peek().seq })
	for _, h := range heads {
		for {
			t := h.f.peek()
			if t == nil {
				delete(q.groups, h.key)
				break
			}
			if !place(t) {
				break
			}
			// place never touches the queue, so t is still at the head.
			t.queued = false
			q.n--
			h.f.pop()
		}
	}
}
