package objstore

import (
	"bytes"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/scaler-go/scaler/core/protocol"
)

// sink is where the store's output goes: the binder in the server, a recorder in tests.
type sink interface {
	send(peer string, msg []byte)
	closePeer(peer string)
}

// content is one distinct payload, shared by every object id whose bytes are equal to it.
type content struct {
	data []byte
	hash uint64
	refs int
	// next chains contents whose hashes are equal but whose bytes differ; with a 64-bit
	// seeded hash the chain is practically always one long, but it must exist so that a
	// collision can never make two different payloads share storage (spec §12 item 17).
	next *content
	// indexed says the content is in byHash. A large payload is stored and acknowledged
	// before its hash is known, so that the answer to its set does not wait for hashing;
	// it joins the index (or is merged into an equal content) when the hash arrives.
	indexed bool
	// ids lists the ids bound to a content that is not indexed yet, for the merge. Entries
	// may be stale (ids bound elsewhere since); the merge skips those.
	ids []protocol.ObjectID
	// released is set when the last reference goes, so that hashers can skip the work.
	// It is the only field read outside the server loop (besides the immutable data).
	released atomic.Bool
}

// waiter is a deferred get, or a deferred duplicate waiting for its source to exist.
type waiter struct {
	peer  string
	reqID uint64
	dup   bool
	// id is the object the response names: the requested id of a get, the new id of a
	// duplicate.
	id     protocol.ObjectID
	maxLen uint64
	// silent duplicates still take effect when their source appears, but their requester
	// is gone, so nobody is told.
	silent bool
}

// store is the object storage state. It is not safe for concurrent use: exactly one
// goroutine (the server loop, or a test) calls its methods.
type store struct {
	objects map[protocol.ObjectID]*content
	byHash  map[uint64]*content
	// waiting is keyed by the id that must come into existence: the id of a deferred get,
	// the source id of a deferred duplicate. Each list is in arrival order.
	waiting map[protocol.ObjectID][]waiter
	// peerWaiting counts the non-silent waiters of each peer, so a peer that leaves without
	// any (the usual case) costs no scan of the waiting lists.
	peerWaiting map[string]int

	contents uint64 // number of distinct contents
	bytes    uint64 // total size of distinct contents

	// hashLater, when set, takes payloads larger than hashLaterOver: their contents are
	// stored unindexed, and merge is called with their hash later. unmerged counts those
	// not merged yet; info requests wait until it is zero, so that totals are exact.
	hashLater     func(*content)
	hashLaterOver int
	unmerged      int
	infoWaiting   []waiter

	hash func([]byte) uint64
	out  sink
	log  *slog.Logger

	// wake's work list, kept to avoid an allocation per set.
	queue []protocol.ObjectID
}

func newStore(hash func([]byte) uint64, out sink, log *slog.Logger) *store {
	return &store{
		objects:     make(map[protocol.ObjectID]*content),
		byHash:      make(map[uint64]*content),
		waiting:     make(map[protocol.ObjectID][]waiter),
		peerWaiting: make(map[string]int),
		hash:        hash,
		out:         out,
		log:         log,
	}
}

// reqKind is what a request item asks the store to do.
type reqKind uint8

const (
	reqSet reqKind = iota
	reqGet
	reqDelete
	reqDuplicate
	reqInfo
	// reqPeerGone: the peer closed its connection in an orderly way.
	reqPeerGone
	// reqPeerBad: the peer sent something malformed; close its connection.
	reqPeerBad
)

// request is one decoded, paired request (or peer event), in arrival order.
type request struct {
	kind    reqKind
	peer    string
	hdr     protocol.OSSHeader
	payload []byte            // set: the object's bytes
	src     protocol.ObjectID // duplicate: the existing id
}

// apply executes one request.
func (s *store) apply(r *request) {
	switch r.kind {
	case reqSet:
		s.set(r.peer, r.hdr, r.payload)
	case reqGet:
		s.get(r.peer, r.hdr)
	case reqDelete:
		s.delete(r.peer, r.hdr)
	case reqDuplicate:
		s.duplicate(r.peer, r.hdr, r.src)
	case reqInfo:
		s.info(r.peer, r.hdr)
	case reqPeerGone:
		s.forgetPeer(r.peer)
	case reqPeerBad:
		s.forgetPeer(r.peer)
		s.out.closePeer(r.peer)
	}
}

func (s *store) respond(peer string, id protocol.ObjectID, reqID uint64, typ uint16, payloadLen uint64) {
	s.out.send(peer, protocol.EncodeOSSHeader(protocol.OSSHeader{
		ObjectID:      id,
		PayloadLength: payloadLen,
		ID:            reqID,
		Type:          typ,
	}))
}

func (s *store) set(peer string, h protocol.OSSHeader, data []byte) {
	if s.hashLater != nil && len(data) > s.hashLaterOver {
		c := &content{data: data}
		s.contents++
		s.bytes += uint64(len(data))
		s.unmerged++
		s.bind(h.ObjectID, c)
		s.hashLater(c)
	} else {
		s.bind(h.ObjectID, s.intern(data, s.hash(data)))
	}
	s.wake(h.ObjectID)
	s.respond(peer, h.ObjectID, h.ID, protocol.OSSSetOK, 0)
}

// merge puts a content stored before its hash was known into the index, or, when an
// equal content is indexed already, moves its ids there and drops it.
func (s *store) merge(c *content, sum uint64) {
	s.unmerged--
	if c.refs > 0 {
		if e := s.lookup(c.data, sum); e != nil {
			for _, id := range c.ids {
				if s.objects[id] == c {
					s.objects[id] = e
					e.refs++
					c.refs--
				}
			}
			c.ids = nil
			s.drop(c)
		} else {
			c.hash, c.next, c.indexed, c.ids = sum, s.byHash[sum], true, nil
			s.byHash[sum] = c
		}
	}
	if s.unmerged == 0 && len(s.infoWaiting) > 0 {
		for _, w := range s.infoWaiting {
			s.answerInfo(w.peer, w.id, w.reqID)
		}
		clear(s.infoWaiting)
		s.infoWaiting = s.infoWaiting[:0]
	}
}

func (s *store) get(peer string, h protocol.OSSHeader) {
	if c := s.objects[h.ObjectID]; c != nil {
		s.answerGet(peer, h.ObjectID, h.ID, h.PayloadLength, c)
		return
	}
	s.defer_(h.ObjectID, waiter{peer: peer, reqID: h.ID, id: h.ObjectID, maxLen: h.PayloadLength})
}

func (s *store) answerGet(peer string, id protocol.ObjectID, reqID, maxLen uint64, c *content) {
	n := min(uint64(len(c.data)), maxLen)
	s.respond(peer, id, reqID, protocol.OSSGetOK, n)
	if n > 0 {
		// The stored slice itself goes to the transport, which only reads it; contents
		// are never modified after intern, so sharing is safe.
		s.out.send(peer, c.data[:n:n])
	}
}

func (s *store) delete(peer string, h protocol.OSSHeader) {
	c := s.objects[h.ObjectID]
	if c == nil {
		s.respond(peer, h.ObjectID, h.ID, protocol.OSSDelNotExist, 0)
		return
	}
	delete(s.objects, h.ObjectID)
	s.release(c)
	s.respond(peer, h.ObjectID, h.ID, protocol.OSSDelOK, 0)
}

func (s *store) duplicate(peer string, h protocol.OSSHeader, src protocol.ObjectID) {
	c := s.objects[src]
	if c == nil {
		s.defer_(src, waiter{peer: peer, reqID: h.ID, dup: true, id: h.ObjectID})
		return
	}
	s.bind(h.ObjectID, c)
	s.wake(h.ObjectID)
	s.respond(peer, h.ObjectID, h.ID, protocol.OSSDuplicateOK, 0)
}

func (s *store) info(peer string, h protocol.OSSHeader) {
	if s.unmerged > 0 {
		// Some contents may still turn out to equal others; answer when that is known.
		s.infoWaiting = append(s.infoWaiting, waiter{peer: peer, reqID: h.ID, id: h.ObjectID})
		return
	}
	s.answerInfo(peer, h.ObjectID, h.ID)
}

func (s *store) answerInfo(peer string, id protocol.ObjectID, reqID uint64) {
	s.respond(peer, id, reqID, protocol.OSSInfoOK, infoPayloadSize)
	s.out.send(peer, Info{Objects: uint64(len(s.objects)), Contents: s.contents, Bytes: s.bytes}.encode())
}

func (s *store) defer_(key protocol.ObjectID, w waiter) {
	s.waiting[key] = append(s.waiting[key], w)
	s.peerWaiting[w.peer]++
}

// intern returns the content equal to data, creating it (with no references yet) if there
// is none. The caller binds it to an id at once.
func (s *store) intern(data []byte, sum uint64) *content {
	if c := s.lookup(data, sum); c != nil {
		return c
	}
	c := &content{data: data, hash: sum, next: s.byHash[sum], indexed: true}
	s.byHash[sum] = c
	s.contents++
	s.bytes += uint64(len(data))
	return c
}

// lookup finds the indexed content equal to data.
func (s *store) lookup(data []byte, sum uint64) *content {
	for c := s.byHash[sum]; c != nil; c = c.next {
		if bytes.Equal(c.data, data) {
			return c
		}
	}
	return nil
}

// bind makes id refer to c, releasing whatever id referred to before.
func (s *store) bind(id protocol.ObjectID, c *content) {
	old := s.objects[id]
	if old == c {
		return
	}
	c.refs++
	if !c.indexed {
		c.ids = append(c.ids, id)
	}
	s.objects[id] = c
	if old != nil {
		s.release(old)
	}
}

// release drops one reference to c; the last one removes it so that its bytes can be
// collected.
func (s *store) release(c *content) {
	c.refs--
	if c.refs == 0 {
		s.drop(c)
	}
}

// drop removes a content nobody refers to any more.
func (s *store) drop(c *content) {
	if c.indexed {
		p := s.byHash[c.hash]
		if p == c {
			if c.next == nil {
				delete(s.byHash, c.hash)
			} else {
				s.byHash[c.hash] = c.next
			}
		} else {
			for p.next != c {
				p = p.next
			}
			p.next = c.next
		}
		c.next = nil
	}
	c.released.Store(true)
	s.contents--
	s.bytes -= uint64(len(c.data))
}

// wake answers everything that waited for id to exist, and everything that waited for the
// ids those answers brought into existence (chains of deferred duplicates). Each waiter is
// removed before it is served, so even a cycle of duplicates ends.
func (s *store) wake(id protocol.ObjectID) {
	if len(s.waiting) == 0 {
		return
	}
	q := append(s.queue[:0], id)
	for len(q) > 0 {
		key := q[0]
		q = q[1:]
		ws, ok := s.waiting[key]
		if !ok {
			continue
		}
		delete(s.waiting, key)
		for _, w := range ws {
			c := s.objects[key]
			if !w.silent {
				s.unwait(w.peer)
			}
			if !w.dup {
				s.answerGet(w.peer, w.id, w.reqID, w.maxLen, c)
				continue
			}
			s.bind(w.id, c)
			q = append(q, w.id)
			if !w.silent {
				s.respond(w.peer, w.id, w.reqID, protocol.OSSDuplicateOK, 0)
			}
		}
	}
	s.queue = q[:0]
}

func (s *store) unwait(peer string) {
	if n := s.peerWaiting[peer] - 1; n > 0 {
		s.peerWaiting[peer] = n
	} else {
		delete(s.peerWaiting, peer)
	}
}

// forgetPeer drops the deferred gets of a peer that will never read their answers, and
// keeps its deferred duplicates (they change the store, which the peer asked for) without
// an answer.
func (s *store) forgetPeer(peer string) {
	if len(s.infoWaiting) > 0 {
		s.infoWaiting = slices.DeleteFunc(s.infoWaiting, func(w waiter) bool { return w.peer == peer })
	}
	if s.peerWaiting[peer] == 0 {
		return
	}
	delete(s.peerWaiting, peer)
	for key, ws := range s.waiting {
		kept := ws[:0]
		for _, w := range ws {
			if w.peer == peer {
				if !w.dup {
					continue
				}
				w.silent = true
			}
			kept = append(kept, w)
		}
		if len(kept) == 0 {
			delete(s.waiting, key)
		} else {
			clear(ws[len(kept):])
			s.waiting[key] = kept
		}
	}
}
