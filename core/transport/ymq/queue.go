package ymq

import (
	"net"
	"sync"
	"time"
)

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

// batch is what a writer took from a queue: a list of chunks, or the raw bytes a direct
// write (flushDirect) could not finish, which must go out before anything else.
type batch struct {
	head *chunk
	raw  net.Buffers
}

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

	// writing: the owner's writer or a direct flush is writing; the other waits.
	writing bool
	// dirty: pushed during a hold and listed for the next Flush.
	dirty bool
	// leftover is what a direct write to leftoverConn left unwritten (possibly the middle
	// of a frame): that connection's writer sends it first; any other connection drops it.
	leftover     net.Buffers
	leftoverConn *conn
	// lastWrite is when a write of this queue last started (monotonic nanoseconds).
	lastWrite int64
}

// clock is a monotonic nanosecond clock.
var clockBase = time.Now()

func clock() int64 { return int64(time.Since(clockBase)) }

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

// pushHeld appends data without waking the writer; newlyDirty tells the caller to list the
// queue for the next Flush.
func (q *outq) pushHeld(data []byte) (ok, newlyDirty bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return false, false
	}
	q.appendLocked(data)
	if !q.dirty {
		q.dirty = true
		newlyDirty = true
	}
	return true, newlyDirty
}

// Direct flushes are for small bursts on quiet connections. A big backlog is the writer
// goroutine's job, which may block on the socket without holding anyone up. And on a busy
// connection (a write started less than directGap ago) the writer is better too: it batches
// what arrives while it wakes up, and its system calls run beside the event loop instead of
// on it, which for the scheduler's single loop is most of its throughput.
const (
	directMaxMessages = 64
	directMaxBytes    = 64 << 10
	directGap         = int64(100 * time.Microsecond)
)

// flushDirect writes what is queued from the calling goroutine when the connection allows
// it and nothing else is writing, without ever blocking; whatever is left goes to the
// writer goroutine.
func (q *outq) flushDirect() {
	q.mu.Lock()
	q.dirty = false
	w := q.owner
	if w == nil || q.n == 0 {
		q.mu.Unlock()
		return
	}
	now := clock()
	if q.writing || !w.direct || q.n > directMaxMessages || q.bytes > directMaxBytes || now-q.lastWrite < directGap {
		q.mu.Unlock()
		w.signal()
		return
	}
	q.writing, q.lastWrite = true, now
	b := batch{head: q.head}
	q.head, q.tail, q.n, q.bytes = nil, nil, 0, 0
	q.mu.Unlock()

	rest := w.writeDirect(b)
	b.release()

	q.mu.Lock()
	q.writing = false
	if len(rest) > 0 {
		q.leftover, q.leftoverConn = rest, w
	}
	wake := len(rest) > 0 || q.n > 0 || q.closing || q.dead || q.owner != w
	q.mu.Unlock()
	if wake {
		w.signal()
	}
}

// endWrite is the writer's note that the batch take gave it is written.
func (q *outq) endWrite() {
	q.mu.Lock()
	q.writing = false
	q.mu.Unlock()
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
	if q.writing {
		// A direct flush is writing; it wakes us when it is done.
		return batch{}, takeEmpty
	}
	if q.leftover != nil {
		rest, on := q.leftover, q.leftoverConn
		q.leftover, q.leftoverConn = nil, nil
		if on == c {
			q.writing = true
			return batch{raw: rest}, takeOK
		}
		// Left over on a connection that is gone: lost with it, like its writer's batch.
	}
	if q.n == 0 {
		if q.closing || q.dead {
			return batch{}, takeFinish
		}
		return batch{}, takeEmpty
	}
	b := batch{head: q.head}
	q.head, q.tail, q.n, q.bytes = nil, nil, 0, 0
	q.writing, q.lastWrite = true, clock()
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
	q.leftover, q.leftoverConn = nil, nil
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
