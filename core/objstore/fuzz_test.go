package objstore

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// keeperIDs are the ids of objects that a well-behaved peer stores before the fuzzed
// traffic; they are random per process, so fuzzed input cannot name them and any change
// to them would be corruption.
var keeperIDs = sync.OnceValue(func() []protocol.ObjectID {
	ids := make([]protocol.ObjectID, 3)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	return ids
})

// fuzzIDs are the ids the fuzzed peers use, few so that they meet each other.
var fuzzIDs = []protocol.ObjectID{oid("f0"), oid("f1"), oid("f2"), oid("f3")}

// weakHash collides often, so the fuzzer exercises the collision chains.
func weakHash(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(len(b)%3) | uint64(b[0]%2)<<8
}

// decodeFuzz turns fuzz input into a sequence of peer messages and events. Each record
// starts with an op byte: the low two bits pick one of three peers, the next three bits the
// kind of record, and bit 5 merges the contents waiting for their hash first; the bytes
// after depend on the kind.
func decodeFuzz(data []byte) []step {
	peers := []string{"p0", "p1", "p2", "p0"}
	var out []step
	for len(data) > 0 {
		op := data[0]
		data = data[1:]
		if op&0x20 != 0 {
			out = append(out, merges()...)
		}
		peer := peers[op&3]
		take := func(n int) []byte {
			n = min(n, len(data))
			b := data[:n:n]
			data = data[n:]
			return b
		}
		arg := func() byte {
			if b := take(1); len(b) == 1 {
				return b[0]
			}
			return 0
		}
		switch op >> 2 & 7 {
		case 0: // raw message
			out = append(out, step{peer: peer, data: take(int(arg()))})
		case 1: // well-formed header, possibly of an unknown type
			typ, id, reqID, plen := uint16(arg()%6), fuzzIDs[arg()%4], uint64(arg()), uint64(arg())
			if plen == 255 {
				plen = NoLimit
			}
			out = append(out, step{peer: peer, data: hdr(typ, id, reqID, plen)})
		case 2: // payload bytes
			out = append(out, step{peer: peer, data: take(int(arg()))})
		case 3: // duplicate payload naming a fuzz id
			out = append(out, step{peer: peer, data: protocol.EncodeOSSObjectID(fuzzIDs[arg()%4])})
		case 4:
			out = append(out, step{peer: peer, kind: transport.EventClosed})
		case 5:
			out = append(out, step{peer: peer, kind: transport.EventAborted})
		case 6:
			out = append(out, step{peer: peer, kind: transport.EventConnected})
		case 7: // complete set of a fuzz id
			id, n := fuzzIDs[arg()%4], int(arg()%8)
			out = append(out, setReq(peer, 0, id, take(n))...)
		}
	}
	return out
}

func FuzzServerRequests(f *testing.F) {
	enc := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(enc([]byte{7 << 2, 0, 3, 'a', 'b', 'c'}, []byte{1<<2 | 1, 1, 0, 1, 255}))
	f.Add(enc([]byte{1 << 2, 3, 1, 0, 48}, []byte{3 << 2, 0}, []byte{7<<2 | 1, 0, 2, 'x', 'y'}))
	f.Add(enc([]byte{1<<2 | 2, 1, 2, 0, 255}, []byte{4<<2 | 2}, []byte{7 << 2, 2, 1, 'z'}))
	f.Add(enc([]byte{1 << 2, 0, 0, 0, 9}, []byte{1 << 2, 4, 0, 0, 0}, []byte{0, 5, 1, 2, 3, 4, 5}))
	f.Add(enc([]byte{1 << 2, 0, 1, 0, 3}, []byte{5 << 2}, []byte{6 << 2}, []byte{2 << 2, 3, 'k', 'e', 'y'}))
	f.Add(enc([]byte{7 << 2, 0, 3}, []byte("k1x"), []byte{2 << 2, 2}, []byte("k1")))
	f.Add(enc([]byte{7 << 2, 0, 4}, []byte("abcd"), []byte{7 << 2, 1, 4}, []byte("abcd"), []byte{1<<2 | 0x20, 4, 0, 0, 0}))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMachine(weakHash, 1<<16, log)
		m.hashLater(2)
		var setup []step
		for i, id := range keeperIDs() {
			setup = append(setup, setReq("keeper", uint64(i), id, keeperPayload(i))...)
		}
		m.feed(setup)
		m.feed(decodeFuzz(data))
		m.checkInvariants(t)
		m.merge()
		m.checkInvariants(t)
		m.rec.msgs["keeper"] = nil
		var want [][]byte
		for i, id := range keeperIDs() {
			m.feed(getReq("keeper", uint64(100+i), id, NoLimit))
			want = append(want, respGetOK(uint64(100+i), id, keeperPayload(i))...)
		}
		if got := m.rec.msgs["keeper"]; !equalMsgs(got, want) {
			t.Fatalf("keeper objects changed:\n%s\nwant\n%s", describe(got), describe(want))
		}
		for _, p := range []string{"p0", "p1", "p2", "keeper"} {
			m.feed(event(p, transport.EventClosed))
		}
		m.checkInvariants(t)
		if len(m.st.peerWaiting) != 0 {
			t.Fatalf("waiters of closed peers left: %v", m.st.peerWaiting)
		}
	})
}

// keeperPayload is short and guessable on purpose: fuzzed peers may store equal bytes,
// which then share the keeper's content, and deleting theirs must not affect the keeper.
// Some are short enough to be hashed at once, the others are hashed later.
func keeperPayload(i int) []byte { return []byte(fmt.Sprint("k", i, strings.Repeat("x", i))) }
