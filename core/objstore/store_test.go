package objstore

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// constantHash makes every payload collide.
func constantHash([]byte) uint64 { return 42 }

func TestStoreOperations(t *testing.T) {
	a, b, c, x := oid("a"), oid("b"), oid("c"), oid("x")
	hello := []byte("hello world")
	other := []byte("other bytes")
	tests := []struct {
		name   string
		hash   func([]byte) uint64
		maxSet uint64
		steps  []step
		want   map[string][][]byte
		closed []string
		// logs lists substrings of log lines that must appear (each set in one line).
		logs [][]string
	}{
		{
			name:  "set then get",
			steps: seq(setReq("p", 0, a, hello), getReq("p", 1, a, NoLimit)),
			want:  map[string][][]byte{"p": cat(respSetOK(0, a), respGetOK(1, a, hello))},
		},
		{
			name:  "get with smaller maxLen answers a prefix",
			steps: seq(setReq("p", 0, a, hello), getReq("p", 1, a, 5), getReq("p", 2, a, uint64(len(hello)))),
			want:  map[string][][]byte{"p": cat(respSetOK(0, a), respGetOK(1, a, hello[:5]), respGetOK(2, a, hello))},
		},
		{
			name:  "get with maxLen 0 answers no payload message",
			steps: seq(setReq("p", 0, a, hello), getReq("p", 1, a, 0)),
			want:  map[string][][]byte{"p": cat(respSetOK(0, a), respGetOK(1, a, nil))},
		},
		{
			name:  "empty object",
			steps: seq(setReq("p", 0, a, []byte{}), getReq("p", 1, a, NoLimit), infoReq("p", 2)),
			want:  map[string][][]byte{"p": cat(respSetOK(0, a), respGetOK(1, a, nil), respInfo(2, 1, 1, 0))},
		},
		{
			name:  "set replaces content",
			steps: seq(setReq("p", 0, a, hello), setReq("p", 1, a, other), getReq("p", 2, a, NoLimit), infoReq("p", 3)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respSetOK(1, a), respGetOK(2, a, other),
				respInfo(3, 1, 1, uint64(len(other))))},
		},
		{
			name:  "deferred get answered by a later set of another peer, before its setOK",
			steps: seq(getReq("reader", 7, a, NoLimit), getReq("reader", 8, a, 3), setReq("writer", 0, a, hello)),
			want: map[string][][]byte{
				"reader": cat(respGetOK(7, a, hello), respGetOK(8, a, hello[:3])),
				"writer": respSetOK(0, a),
			},
		},
		{
			name: "delete",
			steps: seq(setReq("p", 0, a, hello), delReq("p", 1, a), delReq("p", 2, a), getReq("p", 3, a, NoLimit),
				infoReq("p", 4)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respDelOK(1, a), respDelNotExist(2, a), respInfo(4, 0, 0, 0))},
		},
		{
			name: "get deferred on a deleted id stays deferred until the next set",
			steps: seq(setReq("p", 0, a, hello), delReq("p", 1, a), getReq("q", 0, a, NoLimit), delReq("p", 2, a),
				setReq("p", 3, a, other)),
			want: map[string][][]byte{
				"p": cat(respSetOK(0, a), respDelOK(1, a), respDelNotExist(2, a), respSetOK(3, a)),
				"q": respGetOK(0, a, other),
			},
		},
		{
			name:  "duplicate of an existing object",
			steps: seq(setReq("p", 0, a, hello), dupReq("p", 1, b, a), getReq("p", 2, b, NoLimit), infoReq("p", 3)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respDupOK(1, b), respGetOK(2, b, hello),
				respInfo(3, 2, 1, uint64(len(hello))))},
		},
		{
			name: "duplicate replaces the content of the new id and answers its deferred gets",
			steps: seq(setReq("p", 0, a, hello), setReq("p", 1, b, other), dupReq("p", 2, b, a),
				getReq("p", 3, b, NoLimit), getReq("q", 0, c, NoLimit), dupReq("p", 4, c, a), infoReq("p", 5)),
			want: map[string][][]byte{
				"p": cat(respSetOK(0, a), respSetOK(1, b), respDupOK(2, b), respGetOK(3, b, hello), respDupOK(4, c),
					respInfo(5, 3, 1, uint64(len(hello)))),
				"q": respGetOK(0, c, hello),
			},
		},
		{
			name: "deferred duplicate chain C<-B<-A completes when A is set",
			steps: seq(dupReq("p", 0, c, b), dupReq("p", 1, b, a), getReq("q", 0, c, NoLimit), getReq("q", 1, b, 2),
				infoReq("q", 2), setReq("w", 0, a, hello), infoReq("q", 3)),
			want: map[string][][]byte{
				"p": cat(respDupOK(1, b), respDupOK(0, c)),
				"q": cat(respInfo(2, 0, 0, 0), respGetOK(1, b, hello[:2]), respGetOK(0, c, hello),
					respInfo(3, 3, 1, uint64(len(hello)))),
				"w": respSetOK(0, a),
			},
		},
		{
			name:  "deferred duplicate completed by a duplicate",
			steps: seq(dupReq("p", 0, c, b), setReq("p", 1, a, hello), dupReq("p", 2, b, a), getReq("p", 3, c, NoLimit)),
			want: map[string][][]byte{"p": cat(respSetOK(1, a), respDupOK(0, c), respDupOK(2, b),
				respGetOK(3, c, hello))},
		},
		{
			name: "cycle of deferred duplicates ends",
			steps: seq(dupReq("p", 0, a, b), dupReq("p", 1, b, a), setReq("p", 2, a, hello), getReq("p", 3, b, NoLimit),
				infoReq("p", 4)),
			want: map[string][][]byte{"p": cat(respDupOK(1, b), respDupOK(0, a), respSetOK(2, a),
				respGetOK(3, b, hello), respInfo(4, 2, 1, uint64(len(hello))))},
		},
		{
			name:  "duplicate onto itself",
			steps: seq(dupReq("p", 0, a, a), setReq("p", 1, a, hello), dupReq("p", 2, a, a), infoReq("p", 3)),
			want: map[string][][]byte{"p": cat(respDupOK(0, a), respSetOK(1, a), respDupOK(2, a),
				respInfo(3, 1, 1, uint64(len(hello))))},
		},
		{
			name: "info totals count equal payloads once",
			steps: seq(setReq("p", 0, a, []byte("xyz")), setReq("p", 1, b, []byte("xyz")), setReq("p", 2, c, []byte("abcd")),
				infoReq("p", 3), delReq("p", 4, a), infoReq("p", 5), delReq("p", 6, b), infoReq("p", 7)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respSetOK(1, b), respSetOK(2, c),
				respInfo(3, 3, 2, 7), respDelOK(4, a), respInfo(5, 2, 2, 7), respDelOK(6, b), respInfo(7, 1, 1, 4))},
		},
		{
			name: "hash collision never aliases different payloads",
			hash: constantHash,
			steps: seq(setReq("p", 0, a, []byte("aaa")), setReq("p", 1, b, []byte("bbb")), setReq("p", 2, c, []byte("aaa")),
				getReq("p", 3, a, NoLimit), getReq("p", 4, b, NoLimit), infoReq("p", 5),
				delReq("p", 6, a), getReq("p", 7, c, NoLimit), delReq("p", 8, c), getReq("p", 9, b, NoLimit), infoReq("p", 10),
				setReq("p", 11, x, []byte("bbb")), infoReq("p", 12)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respSetOK(1, b), respSetOK(2, c),
				respGetOK(3, a, []byte("aaa")), respGetOK(4, b, []byte("bbb")), respInfo(5, 3, 2, 6),
				respDelOK(6, a), respGetOK(7, c, []byte("aaa")), respDelOK(8, c), respGetOK(9, b, []byte("bbb")), respInfo(10, 1, 1, 3),
				respSetOK(11, x), respInfo(12, 2, 1, 3))},
		},
		{
			name:  "torn set: a header instead of the payload is taken as a new request",
			steps: seq(raw("p", hdr(protocol.OSSSet, a, 0, 10)), getReq("p", 1, b, NoLimit), setReq("p", 2, b, hello)),
			want:  map[string][][]byte{"p": cat(respGetOK(1, b, hello), respSetOK(2, b))},
			logs:  [][]string{{"partially delivered request", "peer=p"}},
		},
		{
			name: "torn duplicate: a short payload is taken as a new request and rejected",
			steps: seq(raw("p", hdr(protocol.OSSDuplicate, a, 0, 48), []byte("short")), infoReq("q", 0),
				infoReq("p", 1)),
			want:   map[string][][]byte{"q": respInfo(0, 0, 0, 0)},
			closed: []string{"p"},
			logs:   [][]string{{"partially delivered request", "peer=p"}, {"malformed", "peer=p"}},
		},
		{
			name: "pending header survives an abort and pairs with the payload sent after the reconnect",
			steps: seq(raw("p", hdr(protocol.OSSSet, a, 0, uint64(len(hello)))), event("p", transport.EventAborted),
				event("p", transport.EventConnected), raw("p", hello), getReq("p", 1, a, NoLimit)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respGetOK(1, a, hello))},
		},
		{
			name: "pending header is dropped when the peer closes",
			steps: seq(raw("p", hdr(protocol.OSSSet, a, 0, 80)), event("p", transport.EventClosed),
				event("p", transport.EventConnected), infoReq("p", 0)),
			want: map[string][][]byte{"p": respInfo(0, 0, 0, 0)},
		},
		{
			name: "deferred gets of a closed peer are dropped, of an aborted peer kept",
			steps: seq(getReq("gone", 0, a, NoLimit), getReq("flaky", 0, a, NoLimit), event("gone", transport.EventClosed),
				event("flaky", transport.EventAborted), setReq("w", 0, a, hello)),
			want: map[string][][]byte{"flaky": respGetOK(0, a, hello), "w": respSetOK(0, a)},
		},
		{
			name: "deferred duplicate of a closed peer still takes effect, silently",
			steps: seq(dupReq("gone", 0, b, a), event("gone", transport.EventClosed), setReq("w", 0, a, hello),
				getReq("w", 1, b, NoLimit)),
			want: map[string][][]byte{"w": cat(respSetOK(0, a), respGetOK(1, b, hello))},
		},
		{
			name:   "header of the wrong size",
			steps:  seq(setReq("ok", 0, a, hello), raw("bad", hdr(protocol.OSSGet, a, 0, 1)[:79]), getReq("ok", 1, a, NoLimit)),
			want:   map[string][][]byte{"ok": cat(respSetOK(0, a), respGetOK(1, a, hello))},
			closed: []string{"bad"},
			logs:   [][]string{{"malformed", "peer=bad", "79 bytes"}},
		},
		{
			name: "header with a wrong segment table",
			steps: seq(setReq("ok", 0, a, hello), raw("bad", func() []byte {
				h := hdr(protocol.OSSGet, a, 0, 1)
				h[4] = 8
				return h
			}()), getReq("ok", 1, a, NoLimit)),
			want:   map[string][][]byte{"ok": cat(respSetOK(0, a), respGetOK(1, a, hello))},
			closed: []string{"bad"},
			logs:   [][]string{{"malformed", "peer=bad"}},
		},
		{
			name:   "unknown request type",
			steps:  seq(raw("bad", hdr(9, a, 0, 0)), infoReq("ok", 0)),
			want:   map[string][][]byte{"ok": respInfo(0, 0, 0, 0)},
			closed: []string{"bad"},
			logs:   [][]string{{"malformed", "peer=bad", "unknown request type 9"}},
		},
		{
			name:   "duplicate announcing a payload other than 48 bytes",
			steps:  seq(raw("bad", hdr(protocol.OSSDuplicate, b, 0, 47)), infoReq("ok", 0)),
			want:   map[string][][]byte{"ok": respInfo(0, 0, 0, 0)},
			closed: []string{"bad"},
			logs:   [][]string{{"malformed", "peer=bad", "47-byte payload"}},
		},
		{
			name: "duplicate payload that is not an ObjectID message",
			steps: seq(setReq("ok", 0, a, hello), raw("bad", hdr(protocol.OSSDuplicate, b, 0, 48), bytes.Repeat([]byte{1}, 48)),
				getReq("ok", 1, b, NoLimit), infoReq("ok", 2)),
			want:   map[string][][]byte{"ok": cat(respSetOK(0, a), respInfo(2, 1, 1, uint64(len(hello))))},
			closed: []string{"bad"},
			logs:   [][]string{{"malformed", "peer=bad", "duplicate payload prefix"}},
		},
		{
			name:   "set larger than the maximum",
			maxSet: 10,
			steps:  seq(setReq("ok", 0, a, hello[:10]), raw("bad", hdr(protocol.OSSSet, a, 0, 11)), getReq("ok", 1, a, NoLimit)),
			want:   map[string][][]byte{"ok": cat(respSetOK(0, a), respGetOK(1, a, hello[:10]))},
			closed: []string{"bad"},
			logs:   [][]string{{"malformed", "peer=bad", "exceeds the limit of 10"}},
		},
		{
			name: "a rejected peer is ignored until it connects again, and loses its deferred gets",
			steps: seq(getReq("bad", 0, a, NoLimit), raw("bad", []byte("garbage")), setReq("bad", 1, b, hello),
				setReq("ok", 0, a, other), event("bad", transport.EventConnected), getReq("bad", 2, a, NoLimit), infoReq("ok", 1)),
			want: map[string][][]byte{
				"ok":  cat(respSetOK(0, a), respInfo(1, 1, 1, uint64(len(other)))),
				"bad": respGetOK(2, a, other),
			},
			closed: []string{"bad"},
		},
	}
	// Every case runs with payloads hashed on the spot, and with them stored first and
	// merged right after each step, as the server does for large ones.
	modes := []struct {
		name  string
		setup func(*machine)
	}{
		{"hash at once", func(*machine) {}},
		{"hash later", func(m *machine) { m.hashLater(0); m.mergeAtOnce = true }},
	}
	for _, mode := range modes {
		for _, tc := range tests {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				hash := tc.hash
				if hash == nil {
					hash = seededHash()
				}
				maxSet := tc.maxSet
				if maxSet == 0 {
					maxSet = 1 << 40
				}
				log, logs := testLogger()
				m := newMachine(hash, maxSet, log)
				mode.setup(m)
				m.feed(tc.steps)
				m.checkInvariants(t)
				checkOutput(t, m, tc.want, tc.closed)
				for _, subs := range tc.logs {
					if n := len(logs.lines(subs...)); n != 1 {
						t.Errorf("%d log lines with %q, want 1; log:\n%s", n, subs, logs)
					}
				}
			})
		}
	}
}

func checkOutput(t *testing.T, m *machine, want map[string][][]byte, closed []string) {
	t.Helper()
	peers := map[string]bool{}
	for p := range want {
		peers[p] = true
	}
	for p := range m.rec.msgs {
		peers[p] = true
	}
	for p := range peers {
		if got, want := m.rec.msgs[p], want[p]; !equalMsgs(got, want) {
			t.Errorf("peer %s got\n%s\nwant\n%s", p, describe(got), describe(want))
		}
	}
	if !slices.Equal(m.rec.closed, closed) {
		t.Errorf("closed peers %v, want %v", m.rec.closed, closed)
	}
}

// TestStoreLateMerge covers contents stored before their hash is known and merged later,
// with requests in between.
func TestStoreLateMerge(t *testing.T) {
	a, b, c, d := oid("a"), oid("b"), oid("c"), oid("d")
	big, other := []byte("payload one"), []byte("payload two")
	tests := []struct {
		name  string
		hash  func([]byte) uint64
		steps []step
		want  map[string][][]byte
	}{
		{
			name: "equal payloads merge into one content; info waits for the merge",
			steps: seq(setReq("p", 0, a, big), setReq("p", 1, b, bytes.Clone(big)), infoReq("q", 0),
				getReq("p", 2, b, NoLimit), merges(), infoReq("q", 1)),
			want: map[string][][]byte{
				"p": cat(respSetOK(0, a), respSetOK(1, b), respGetOK(2, b, big)),
				"q": cat(respInfo(0, 2, 1, uint64(len(big))), respInfo(1, 2, 1, uint64(len(big)))),
			},
		},
		{
			name: "colliding payloads do not merge",
			hash: constantHash,
			steps: seq(setReq("p", 0, a, big), setReq("p", 1, b, other), setReq("p", 2, c, bytes.Clone(big)), merges(),
				getReq("p", 3, a, NoLimit), getReq("p", 4, b, NoLimit), getReq("p", 5, c, NoLimit), infoReq("p", 6)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respSetOK(1, b), respSetOK(2, c),
				respGetOK(3, a, big), respGetOK(4, b, other), respGetOK(5, c, big), respInfo(6, 3, 2, 22))},
		},
		{
			name: "duplicates made before the merge move with it",
			steps: seq(setReq("p", 0, a, big), merges(), setReq("p", 1, b, bytes.Clone(big)), dupReq("p", 2, c, b),
				dupReq("p", 3, d, c), setReq("p", 4, c, other), dupReq("p", 5, c, b), merges(), infoReq("p", 6),
				delReq("p", 7, a), getReq("p", 8, d, NoLimit), infoReq("p", 9)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respSetOK(1, b), respDupOK(2, c), respDupOK(3, d),
				respSetOK(4, c), respDupOK(5, c), respInfo(6, 4, 1, uint64(len(big))), respDelOK(7, a),
				respGetOK(8, d, big), respInfo(9, 3, 1, uint64(len(big))))},
		},
		{
			name: "deleted or replaced before the merge",
			steps: seq(setReq("p", 0, a, big), delReq("p", 1, a), setReq("p", 2, b, big), setReq("p", 3, b, other),
				infoReq("p", 4), merges(), getReq("p", 5, b, NoLimit)),
			want: map[string][][]byte{"p": cat(respSetOK(0, a), respDelOK(1, a), respSetOK(2, b), respSetOK(3, b),
				respInfo(4, 1, 1, uint64(len(other))), respGetOK(5, b, other))},
		},
		{
			name:  "info of a peer that left is dropped",
			steps: seq(setReq("p", 0, a, big), infoReq("q", 0), event("q", transport.EventClosed), merges(), infoReq("p", 1)),
			want:  map[string][][]byte{"p": cat(respSetOK(0, a), respInfo(1, 1, 1, uint64(len(big))))},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hash := tc.hash
			if hash == nil {
				hash = seededHash()
			}
			log, _ := testLogger()
			m := newMachine(hash, 1<<40, log)
			m.hashLater(4)
			m.feed(tc.steps)
			m.checkInvariants(t)
			checkOutput(t, m, tc.want, nil)
		})
	}
}

func equalMsgs(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool { return bytes.Equal(x, y) })
}

// describe renders messages readably: decoded headers, payload bytes as text.
func describe(msgs [][]byte) string {
	var sb strings.Builder
	for _, m := range msgs {
		if h, err := protocol.DecodeOSSHeader(m); err == nil {
			fmt.Fprintf(&sb, "  header type=%d id=%d obj=%s len=%d\n", h.Type, h.ID, h.ObjectID.String()[:8], h.PayloadLength)
		} else if len(m) > 48 {
			fmt.Fprintf(&sb, "  payload of %d bytes %q...\n", len(m), m[:48])
		} else {
			fmt.Fprintf(&sb, "  payload %q\n", m)
		}
	}
	return sb.String()
}

// TestStoreReleasesContent checks that deleting or overwriting the last reference frees a
// content, so a long run returns to idle memory.
func TestStoreReleasesContent(t *testing.T) {
	log, _ := testLogger()
	m := newMachine(seededHash(), 1<<40, log)
	big := bytes.Repeat([]byte{7}, 1<<20)
	var steps []step
	for i := range 100 {
		id := oid(fmt.Sprint(i))
		data := append([]byte(fmt.Sprint(i)), big...)
		steps = append(steps, setReq("p", uint64(3*i), id, data)...)
		steps = append(steps, dupReq("p", uint64(3*i+1), oid(fmt.Sprint("copy", i)), id)...)
		steps = append(steps, setReq("p", uint64(3*i+2), id, []byte("small"))...)
	}
	m.feed(steps)
	m.checkInvariants(t)
	if m.st.contents != 101 || m.st.bytes < 100<<20 {
		t.Fatalf("after sets: %d contents, %d bytes", m.st.contents, m.st.bytes)
	}
	steps = nil
	for i := range 100 {
		steps = append(steps, delReq("p", 0, oid(fmt.Sprint(i)))...)
		steps = append(steps, delReq("p", 0, oid(fmt.Sprint("copy", i)))...)
	}
	m.feed(steps)
	m.checkInvariants(t)
	if len(m.st.objects) != 0 || len(m.st.byHash) != 0 || m.st.contents != 0 || m.st.bytes != 0 {
		t.Fatalf("after deletes: %d objects, %d hashes, %d contents, %d bytes",
			len(m.st.objects), len(m.st.byHash), m.st.contents, m.st.bytes)
	}
}

// TestStoreKeepsTransportSlices checks that payloads are neither copied on set nor on get.
func TestStoreKeepsTransportSlices(t *testing.T) {
	log, _ := testLogger()
	m := newMachine(seededHash(), 1<<40, log)
	data := []byte("the very bytes the transport delivered")
	m.feed(seq(setReq("p", 0, oid("a"), data), getReq("p", 1, oid("a"), NoLimit)))
	got := m.rec.msgs["p"]
	if len(got) != 3 {
		t.Fatalf("set and get answered %d messages, want 3", len(got))
	}
	if &got[2][0] != &data[0] {
		t.Fatal("the get answer is a copy of the payload, not the slice the set delivered")
	}
}
