package ymq

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/scaler-go/scaler/core/transport"
)

func TestRegistered(t *testing.T) {
	b, err := transport.Lookup("ymq")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(Backend); !ok {
		t.Fatalf("registered backend is %T", b)
	}
}

// TestHandshakeBytesSpecExample checks §2.2's example: a connector with identity "client"
// sending "hi" puts exactly these bytes on the wire.
func TestHandshakeBytesSpecExample(t *testing.T) {
	want, _ := hex.DecodeString("594D5101" + "0600000000000000" + "636C69656E74" + "0200000000000000" + "6869")
	l := newRawListener(t)
	lr := newLogRecorder()
	defer func() {
		if t.Failed() {
			lr.dump(t)
		}
	}()
	k := mustConnect(t, l.addr(), opts("client", lr))
	if err := k.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	p := l.accept()
	if got := p.readN(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("wire bytes\n got % x\nwant % x", got, want)
	}
}

// TestBinderSendsHandshakeFirst checks that a binder writes its magic and identity without
// waiting for the peer's.
func TestBinderSendsHandshakeFirst(t *testing.T) {
	b := mustBind(t, "tcp://127.0.0.1:0", opts("server", nil))
	p := dialRaw(t, b)
	p.expectHandshake("server")
}

type record struct {
	Conn string `json:"conn"`
	Dir  string `json:"dir"`
	Len  int    `json:"len"`
	Hex  string `json:"hex"`
	Type string `json:"type"`
}

// interopFile is a file of the shared recordings of the Python reference (testdata/interop).
func interopFile(name string) string {
	return filepath.Join("..", "..", "..", "testdata", "interop", name)
}

// recorded returns the records of one direction of one connection of the scenario A
// scheduler transcript (interop/a_ymq/scheduler.jsonl), framing records included and
// events left out.
func recorded(t testing.TB, conn, dir string) []record {
	t.Helper()
	f, err := os.Open(interopFile("a_ymq/scheduler.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var r record
		if err := json.Unmarshal(s.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Conn != conn || r.Dir != dir {
			continue
		}
		switch r.Type {
		case "open", "eof", "reset", "open-failed":
			continue
		}
		out = append(out, r)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 3 || out[0].Type != "magic" || out[1].Type != "identity" {
		t.Fatalf("%s %s: unexpected transcript shape (%d records)", conn, dir, len(out))
	}
	return out
}

func (r record) bytes(t testing.TB) []byte {
	b, err := hex.DecodeString(r.Hex)
	if err != nil || len(b) != r.Len {
		t.Fatalf("record %s: bad hex (%v, %d bytes, len %d)", r.Type, err, len(b), r.Len)
	}
	return b
}

// stream rebuilds the byte stream of records as the README describes.
func stream(t testing.TB, recs []record) []byte {
	out := recs[0].bytes(t)
	for _, r := range recs[1:] {
		out = append(out, frame(r.bytes(t))...)
	}
	return out
}

// TestReplayRecordedClient writes the recorded Python client's byte stream (sched-2) to a
// Go binder in chunks of various sizes and expects its identity and every payload in order.
func TestReplayRecordedClient(t *testing.T) {
	recs := recorded(t, "sched-2", "c2s")
	raw := stream(t, recs)
	identity := string(recs[1].bytes(t))
	for _, chunk := range []int{len(raw), 1, 7, 100, 4096} {
		t.Run("chunk"+strconv.Itoa(chunk), func(t *testing.T) {
			b := mustBind(t, "tcp://127.0.0.1:0", opts("22284|scheduler|b1bc625c-2c22-4210-8234-0d867392fc9a", nil))
			p := dialRaw(t, b)
			for rest := raw; len(rest) > 0; {
				n := min(chunk, len(rest))
				p.write(rest[:n])
				rest = rest[n:]
			}
			recvEvent(t, b, transport.EventConnected, identity)
			for i, r := range recs[2:] {
				ev := recvEvent(t, b, transport.EventMessage, identity)
				if !bytes.Equal(ev.Data, r.bytes(t)) {
					t.Fatalf("message %d (%s): payload differs", i, r.Type)
				}
			}
			// The recorded client ended with a FIN: so do we, and the binder must call it an
			// orderly close.
			_ = p.c.(interface{ CloseWrite() error }).CloseWrite()
			recvEvent(t, b, transport.EventClosed, identity)
			if !p.expectEnd() {
				t.Fatal("binder did not answer the FIN with a FIN")
			}
		})
	}
}

// TestRecordedServerHandshake checks that a Go binder announcing the recorded scheduler
// identity produces the recorded s2c preamble byte for byte.
func TestRecordedServerHandshake(t *testing.T) {
	recs := recorded(t, "sched-2", "s2c")
	want := stream(t, recs[:2])
	b := mustBind(t, "tcp://127.0.0.1:0", opts(string(recs[1].bytes(t)), nil))
	p := dialRaw(t, b)
	if got := p.readN(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("binder preamble\n got % x\nwant % x", got, want)
	}
}

// TestConnectorMatchesRecording has a Go connector take the recorded client's identity and
// send its first messages: the bytes must equal the recorded stream.
func TestConnectorMatchesRecording(t *testing.T) {
	recs := recorded(t, "sched-2", "c2s")
	want := stream(t, recs[:5])
	l := newRawListener(t)
	k := mustConnect(t, l.addr(), opts(string(recs[1].bytes(t)), nil))
	for _, r := range recs[2:5] {
		if err := k.Send(r.bytes(t)); err != nil {
			t.Fatal(err)
		}
	}
	p := l.accept()
	if got := p.readN(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("connector stream\n got % x\nwant % x", got, want)
	}
}
