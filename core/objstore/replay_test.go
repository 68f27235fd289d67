package objstore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/scaler-go/scaler/core/transport"
)

// record is one line of testdata/interop/*/object_storage.jsonl: a message or connection
// event of the reference Python/C++ object storage, recorded on the wire.
type record struct {
	Conn string `json:"conn"`
	Peer string `json:"peer"`
	Dir  string `json:"dir"`
	Type string `json:"type"`
	Hex  string `json:"hex"`
	data []byte // Hex decoded
}

// loadRecords reads a recorded session, in file order.
func loadRecords(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	for line := range bytes.SplitSeq(bytes.TrimSpace(b), []byte("\n")) {
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if r.data, err = hex.DecodeString(r.Hex); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// transcript is a recorded session: what the peers sent, in arrival order, and what the
// server answered on each connection.
type transcript struct {
	steps []step
	// answers is keyed by peer identity (each recorded connection has its own).
	answers map[string][][]byte
	counts  map[string]int // c2s requests per peer, to be sure the replay covers them
}

func loadTranscript(t *testing.T, path string) transcript {
	t.Helper()
	tr := transcript{answers: map[string][][]byte{}, counts: map[string]int{}}
	for _, r := range loadRecords(t, path) {
		switch r.Type {
		case "magic", "identity":
			// Transport handshake, produced by the YMQ layer.
			continue
		case "open":
			tr.steps = append(tr.steps, step{peer: r.Peer, kind: transport.EventConnected})
			continue
		case "eof":
			if r.Dir == "c2s" {
				tr.steps = append(tr.steps, step{peer: r.Peer, kind: transport.EventClosed})
			}
			continue
		case "reset", "open-failed":
			t.Fatalf("%s: unexpected %s record", path, r.Type)
		}
		if r.Dir == "c2s" {
			tr.steps = append(tr.steps, step{peer: r.Peer, data: r.data})
			if r.Type != "payload" {
				tr.counts[r.Peer]++
			}
		} else {
			tr.answers[r.Peer] = append(tr.answers[r.Peer], r.data)
		}
	}
	return tr
}

func transcripts(t *testing.T) []string {
	paths, err := filepath.Glob("../../testdata/interop/*/object_storage.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recorded object storage sessions found: %v", err)
	}
	return paths
}

// TestReplayRecordedSessions feeds what the Python peers sent to the reference server to
// ours, and expects byte-identical answers on every connection.
func TestReplayRecordedSessions(t *testing.T) {
	for _, path := range transcripts(t) {
		tr := loadTranscript(t, path)
		name := filepath.Base(filepath.Dir(path))
		requests := 0
		for _, n := range tr.counts {
			requests += n
		}
		if name == "a_ymq" && requests < 50 {
			t.Fatalf("%s: only %d requests recorded", name, requests)
		}
		check := func(t *testing.T, got map[string][][]byte) {
			for peer, want := range tr.answers {
				if !equalMsgs(got[peer], want) {
					t.Errorf("%s: peer %s got\n%s\nwant\n%s", name, peer, describe(got[peer]), describe(want))
				}
			}
			for peer, msgs := range got {
				if _, ok := tr.answers[peer]; !ok && len(msgs) > 0 {
					t.Errorf("%s: peer %s got %d unrecorded messages", name, peer, len(msgs))
				}
			}
		}
		t.Run(name+"/state machine", func(t *testing.T) {
			log, _ := testLogger()
			m := newMachine(seededHash(), 1<<40, log)
			m.feed(tr.steps)
			m.checkInvariants(t)
			if len(m.rec.closed) != 0 {
				t.Fatalf("closed peers %v", m.rec.closed)
			}
			check(t, m.rec.msgs)
		})
		t.Run(name+"/server", func(t *testing.T) {
			n := newFakeNet()
			s := runServer(t, n, ServerOptions{})
			b := n.binder(s.Addr())
			peers := map[string]*fakePeer{}
			for _, st := range tr.steps {
				switch st.kind {
				case transport.EventConnected:
					p, err := b.dial(st.peer)
					if err != nil {
						t.Fatal(err)
					}
					peers[st.peer] = p
				case transport.EventClosed:
					// Closing would discard the answers still queued for the peer;
					// everything a peer sent before its FIN was answered in the
					// recording, so collect first and close at the end.
				default:
					peers[st.peer].send(t, st.data)
				}
			}
			got := map[string][][]byte{}
			for peer, want := range tr.answers {
				for range want {
					got[peer] = append(got[peer], peers[peer].recv(t))
				}
			}
			for _, p := range peers {
				p.quiet(t)
				p.close()
			}
			check(t, got)
		})
	}
}
