package ymq

import (
	"os"
	"sync"
)

// directFlush is off unless SCALER_YMQ_DIRECT=1: Hold then does nothing and every send
// wakes its connection's writer. Measured end to end (README, "Performance"), the writer
// that yields once before taking its batch gives more throughput at the same latency than
// event loops writing their own bursts; a single hop between two otherwise idle processes
// is faster with direct writes, so the switch stays for such uses and for comparisons.
var directFlush = os.Getenv("SCALER_YMQ_DIRECT") == "1"

// holder implements transport.Flusher for a binder or connector: while held, pushes do not
// wake writers but list their queue for Flush, which writes them directly.
type holder struct {
	mu    sync.Mutex
	held  bool
	dirty []*outq
	spare []*outq
}

// Hold makes sends queue without waking writers until Flush.
func (h *holder) Hold() {
	if !directFlush {
		return
	}
	h.mu.Lock()
	h.held = true
	h.mu.Unlock()
}

// push queues data on q: held, it is listed for Flush; otherwise the writer is woken.
// The hold check and the listing are one step under h.mu, so a push racing with Flush is
// either flushed by it or wakes its writer itself.
func (h *holder) push(q *outq, data []byte) bool {
	h.mu.Lock()
	if h.held {
		ok, newly := q.pushHeld(data)
		if newly {
			h.dirty = append(h.dirty, q)
		}
		h.mu.Unlock()
		return ok
	}
	h.mu.Unlock()
	return q.push(data)
}

// Flush ends the hold and writes every queue pushed to since Hold.
func (h *holder) Flush() {
	h.mu.Lock()
	h.held = false
	dirty := h.dirty
	h.dirty = h.spare[:0]
	h.mu.Unlock()
	for i, q := range dirty {
		q.flushDirect()
		dirty[i] = nil
	}
	h.mu.Lock()
	if len(h.dirty) == 0 && cap(dirty) >= cap(h.dirty) {
		h.spare = dirty[:0]
	}
	h.mu.Unlock()
}
