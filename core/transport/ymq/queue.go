package ymq

import "sync"

// chunkLen is the number of messages per queue chunk.
const chunkLen = 256

// chunk is a piece of a send queue. Queues are linked chunks rather than one slice so that a
// burst of sends never copies what is already queued, which a growing slice would.
type chunk struct {
	items [chunkLen][]byte
	n     int
	next  *chunk
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// batch is what a writer took from a queue: a list of chunks.
type batch struct{ head *chunk }

// release clears the chunks (so the payloads can be collected) and pools them.
func (b batch) release() {
	for c := b.head; c != nil; {
		next := c.next
		clear(c.items[:c.n])
		c.n, c.next = 0, nil
		chunkPool.Put(c)
		c = next
	}
}

// outq is the send queue of one peer. It outlives connections: a binder keeps one per peer
// identity and a connector one for its whole life, so messages queued while a connection is
// down are written by the next one. At most one connection (the owner) drains it at a time.
type outq struct {
	mu      sync.Mutex
	head    *chunk
	tail    *chunk
	n       int   // messages queued
	bytes   int64 // payload bytes queued
	owner   *conn
	closing bool // flush what is queued, then the owner ends its connection with a FIN
	dead    bool // no more pushes: the peer is gone for good
}

type takeResult uint8

const (
	takeOK       takeResult = iota
	takeEmpty               // nothing queued: wait for a wake-up
	takeDetached            // this connection no longer owns the queue: stop writing, FIN
	takeFinish              // queue closing and drained: FIN
)

func (q *outq) appendLocked(data []byte) {
	if q.tail == nil || q.tail.n == chunkLen {
		c := chunkPool.Get().(*chunk)
		if q.tail == nil {
			q.head = c
		} else {
			q.tail.next = c
		}
		q.tail = c
	}
	q.tail.items[q.tail.n] = data
	q.tail.n++
	q.n++
	q.bytes += int64(len(data))
}

// push appends data; it reports false when the queue is dead.
func (q *outq) push(data []byte) bool {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false
	}
	q.appendLocked(data)
	w := q.owner
	q.mu.Unlock()
	if w != nil {
		w.signal()
	}
	return true
}

// pushBounded is push for a peer whose connection is down: it refuses data that would take
// the queue beyond limit bytes.
func (q *outq) pushBounded(data []byte, limit int64) (ok, full bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return false, false
	}
	if q.bytes+int64(len(data)) > limit {
		return false, true
	}
	q.appendLocked(data)
	return true, false
}

// take hands everything queued to c if c owns the queue.
func (q *outq) take(c *conn) (batch, takeResult) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.owner != c {
		return batch{}, takeDetached
	}
	if q.n == 0 {
		if q.closing || q.dead {
			return batch{}, takeFinish
		}
		return batch{}, takeEmpty
	}
	b := batch{head: q.head}
	q.head, q.tail, q.n, q.bytes = nil, nil, 0, 0
	return b, takeOK
}

// attach makes c the connection that drains the queue; the previous owner, if any, sees
// takeDetached on its next take.
func (q *outq) attach(c *conn) {
	q.mu.Lock()
	old := q.owner
	q.owner = c
	q.mu.Unlock()
	if old != nil {
		old.signal()
	}
	c.signal()
}

// detach removes c as owner, if it still is.
func (q *outq) detach(c *conn) {
	q.mu.Lock()
	if q.owner == c {
		q.owner = nil
	}
	q.mu.Unlock()
	c.signal()
}

// startClosing makes the owner flush and then end its connection gracefully.
func (q *outq) startClosing() {
	q.mu.Lock()
	q.closing = true
	w := q.owner
	q.mu.Unlock()
	if w != nil {
		w.signal()
	}
}

// kill drops everything queued and refuses later pushes. It returns what was dropped.
func (q *outq) kill() (n int, bytes int64) {
	q.mu.Lock()
	b := batch{head: q.head}
	n, bytes = q.n, q.bytes
	q.head, q.tail, q.n, q.bytes, q.dead = nil, nil, 0, 0, true
	w := q.owner
	q.mu.Unlock()
	b.release()
	if w != nil {
		w.signal()
	}
	return n, bytes
}

// size reports what is queued.
func (q *outq) size() (n int, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.bytes
}
