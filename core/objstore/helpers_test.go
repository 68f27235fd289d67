package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
	"github.com/scaler-go/scaler/internal/syncbuf"
)

// oid makes a readable, distinct object id from a name.
func oid(name string) protocol.ObjectID { return protocol.ObjectID(sha256.Sum256([]byte(name))) }

func hdr(typ uint16, id protocol.ObjectID, reqID, plen uint64) []byte {
	return protocol.EncodeOSSHeader(protocol.OSSHeader{ObjectID: id, PayloadLength: plen, ID: reqID, Type: typ})
}

// step is one item a peer sends (or one connection event).
type step struct {
	peer string
	kind transport.EventKind
	data []byte
}

func seq(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func raw(peer string, msgs ...[]byte) []step {
	out := make([]step, len(msgs))
	for i, m := range msgs {
		out[i] = step{peer: peer, data: m}
	}
	return out
}

func event(peer string, kind transport.EventKind) []step { return []step{{peer: peer, kind: kind}} }

func setReq(peer string, reqID uint64, id protocol.ObjectID, data []byte) []step {
	return raw(peer, hdr(protocol.OSSSet, id, reqID, uint64(len(data))), data)
}

func getReq(peer string, reqID uint64, id protocol.ObjectID, maxLen uint64) []step {
	return raw(peer, hdr(protocol.OSSGet, id, reqID, maxLen))
}

func delReq(peer string, reqID uint64, id protocol.ObjectID) []step {
	return raw(peer, hdr(protocol.OSSDelete, id, reqID, 0))
}

func dupReq(peer string, reqID uint64, newID, src protocol.ObjectID) []step {
	return raw(peer, hdr(protocol.OSSDuplicate, newID, reqID, protocol.OSSDuplicatePayloadSize), protocol.EncodeOSSObjectID(src))
}

func infoReq(peer string, reqID uint64) []step {
	return raw(peer, hdr(protocol.OSSInfo, protocol.ObjectID{}, reqID, 0))
}

// Expected responses.

func respSetOK(reqID uint64, id protocol.ObjectID) [][]byte {
	return [][]byte{hdr(protocol.OSSSetOK, id, reqID, 0)}
}

func respGetOK(reqID uint64, id protocol.ObjectID, data []byte) [][]byte {
	out := [][]byte{hdr(protocol.OSSGetOK, id, reqID, uint64(len(data)))}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}

func respDelOK(reqID uint64, id protocol.ObjectID) [][]byte {
	return [][]byte{hdr(protocol.OSSDelOK, id, reqID, 0)}
}

func respDelNotExist(reqID uint64, id protocol.ObjectID) [][]byte {
	return [][]byte{hdr(protocol.OSSDelNotExist, id, reqID, 0)}
}

func respDupOK(reqID uint64, id protocol.ObjectID) [][]byte {
	return [][]byte{hdr(protocol.OSSDuplicateOK, id, reqID, 0)}
}

func respInfo(reqID, objects, contents, size uint64) [][]byte {
	p := binary.LittleEndian.AppendUint64(nil, objects)
	p = binary.LittleEndian.AppendUint64(p, contents)
	p = binary.LittleEndian.AppendUint64(p, size)
	return [][]byte{hdr(protocol.OSSInfoOK, protocol.ObjectID{}, reqID, 24), p}
}

func cat(parts ...[][]byte) [][]byte {
	out := [][]byte{}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// recorder is the store's sink in synchronous tests.
type recorder struct {
	msgs   map[string][][]byte
	closed []string
}

func newRecorder() *recorder { return &recorder{msgs: map[string][][]byte{}} }

func (r *recorder) send(peer string, m []byte) { r.msgs[peer] = append(r.msgs[peer], m) }
func (r *recorder) closePeer(peer string)      { r.closed = append(r.closed, peer) }

// machine is the server's state (intake and store) driven synchronously, without a loop.
type machine struct {
	in  *intake
	st  *store
	rec *recorder
	// later holds the contents waiting for their hash when the store defers hashing.
	later []*content
	// mergeAtOnce merges deferred contents after every step.
	mergeAtOnce bool
}

func newMachine(hash func([]byte) uint64, maxSet uint64, log *slog.Logger) *machine {
	rec := newRecorder()
	return &machine{in: newIntake(maxSet, log), st: newStore(hash, rec, log), rec: rec}
}

// hashLater makes the store defer hashing payloads larger than over, as the server does.
func (m *machine) hashLater(over int) {
	m.st.hashLater = func(c *content) { m.later = append(m.later, c) }
	m.st.hashLaterOver = over
}

// mergeStep is a step that merges the contents waiting for their hash.
const mergeStep transport.EventKind = 200

func merges() []step { return []step{{kind: mergeStep}} }

func (m *machine) merge() {
	later := m.later
	m.later = nil
	for _, c := range later {
		var sum uint64
		if !c.released.Load() {
			sum = m.st.hash(c.data)
		}
		m.st.merge(c, sum)
	}
}

func (m *machine) feed(steps []step) {
	for _, s := range steps {
		if s.kind == mergeStep {
			m.merge()
			continue
		}
		var r request
		if m.in.feed(transport.Inbound{Kind: s.kind, Peer: s.peer, Data: s.data}, &r) {
			m.st.apply(&r)
		}
		if m.mergeAtOnce {
			m.merge()
		}
	}
}

// checkInvariants verifies the store's bookkeeping against a recount.
func (m *machine) checkInvariants(t testing.TB) {
	t.Helper()
	st := m.st
	refs := map[*content]int{}
	for _, c := range st.objects {
		refs[c]++
	}
	var contents, size uint64
	for h, head := range st.byHash {
		for c := head; c != nil; c = c.next {
			if c.hash != h || !c.indexed {
				t.Fatalf("content in chain of hash %x has hash %x, indexed %v", h, c.hash, c.indexed)
			}
			if refs[c] != c.refs || c.refs == 0 || c.released.Load() {
				t.Fatalf("content %q: refs %d, referenced by %d ids, released %v", c.data, c.refs, refs[c], c.released.Load())
			}
			for d := c.next; d != nil; d = d.next {
				if bytes.Equal(c.data, d.data) {
					t.Fatalf("equal contents %q indexed twice", c.data)
				}
			}
			delete(refs, c)
			contents++
			size += uint64(len(c.data))
		}
	}
	for c, n := range refs {
		if c.indexed || c.refs != n || c.released.Load() {
			t.Fatalf("content %q referenced by %d ids but not indexed (indexed %v, refs %d)", c.data, n, c.indexed, c.refs)
		}
		contents++
		size += uint64(len(c.data))
	}
	if contents != st.contents || size != st.bytes {
		t.Fatalf("counters %d contents / %d bytes, recount %d / %d", st.contents, st.bytes, contents, size)
	}
	if st.unmerged != len(m.later) {
		t.Fatalf("store counts %d contents waiting for a hash, %d are", st.unmerged, len(m.later))
	}
	if st.unmerged == 0 && len(st.infoWaiting) > 0 {
		t.Fatalf("%d info requests wait for nothing", len(st.infoWaiting))
	}
	perPeer := map[string]int{}
	for _, ws := range st.waiting {
		if len(ws) == 0 {
			t.Fatal("empty waiting list kept")
		}
		for _, w := range ws {
			if !w.silent {
				perPeer[w.peer]++
			}
		}
	}
	if len(perPeer) != len(st.peerWaiting) {
		t.Fatalf("peerWaiting %v, recount %v", st.peerWaiting, perPeer)
	}
	for p, n := range perPeer {
		if st.peerWaiting[p] != n {
			t.Fatalf("peerWaiting %v, recount %v", st.peerWaiting, perPeer)
		}
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct{ syncbuf.Buffer }

// lines returns the log lines containing all of the given substrings.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for line := range strings.SplitSeq(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// quietLogger drops everything; for peers whose logs no test looks at.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
