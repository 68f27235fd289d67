package ymq

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/scaler-go/scaler/core/transport"
)

// wsFrame is one frame as a test peer sees it.
type wsFrame struct {
	fin     bool
	op      byte
	masked  bool
	payload []byte
}

// encodeWSFrame builds a frame; lenForm forces the 7-, 16- or 64-bit length encoding
// (0 picks the shortest).
func encodeWSFrame(f wsFrame, lenForm int) []byte {
	b0 := f.op
	if f.fin {
		b0 |= 0x80
	}
	out := []byte{b0, 0}
	n := len(f.payload)
	if lenForm == 0 {
		switch {
		case n < 126:
			lenForm = 7
		case n <= 0xFFFF:
			lenForm = 16
		default:
			lenForm = 64
		}
	}
	switch lenForm {
	case 7:
		out[1] = byte(n)
	case 16:
		out[1] = 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	case 64:
		out[1] = 127
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	payload := f.payload
	if f.masked {
		out[1] |= 0x80
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		out = append(out, key[:]...)
		payload = make([]byte, n)
		for i := range payload {
			payload[i] = f.payload[i] ^ key[i%4]
		}
	}
	return append(out, payload...)
}

func readWSFrame(t testing.TB, c net.Conn, br *bufio.Reader) wsFrame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	f := wsFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0F, masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		_, _ = io.ReadFull(br, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		_, _ = io.ReadFull(br, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	var key [4]byte
	if f.masked {
		_, _ = io.ReadFull(br, key[:])
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f
}

// wsStream collects data-frame payloads into the byte stream a YMQ reader sees and keeps
// control frames aside.
type wsStream struct {
	t       testing.TB
	c       net.Conn
	br      *bufio.Reader
	data    []byte
	control []wsFrame
	masked  *bool // every data frame's mask bit must equal this
}

func (s *wsStream) need(n int) []byte {
	s.t.Helper()
	for len(s.data) < n {
		f := readWSFrame(s.t, s.c, s.br)
		if f.op >= 0x8 {
			s.control = append(s.control, f)
			continue
		}
		if s.masked != nil && f.masked != *s.masked {
			s.t.Fatalf("data frame masked=%v, want %v", f.masked, *s.masked)
		}
		s.data = append(s.data, f.payload...)
	}
	out := s.data[:n]
	s.data = s.data[n:]
	return out
}

func (s *wsStream) msg() []byte {
	n := binary.LittleEndian.Uint64(s.need(8))
	return bytes.Clone(s.need(int(n)))
}

func upgradeRequest(host, key string) string {
	return "GET /anything HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// TestWebSocketServerFraming drives a ws binder with a hand-made client: RFC 6455 accept
// key, fragmented and interleaved frames in every length encoding, PING/PONG, ignored
// opcodes, unmasked server frames, and a CLOSE that is echoed and reported as orderly.
func TestWebSocketServerFraming(t *testing.T) {
	b := mustBind(t, "ws://127.0.0.1:0/ymq", opts("server", nil))
	c, err := net.Dial("tcp", b.Addr().HostPort())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// The key and accept value of RFC 6455 §1.3.
	if _, err := io.WriteString(c, upgradeRequest(b.Addr().HostPort(), "dGhlIHNhbXBsZSBub25jZQ==")); err != nil {
		t.Fatal(err)
	}
	first, headers, err := readHead(br)
	if err != nil {
		t.Fatal(err)
	}
	if first != "HTTP/1.1 101 Switching Protocols" || headers["sec-websocket-accept"] != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		headers["upgrade"] != "websocket" || headers["connection"] != "Upgrade" {
		t.Fatalf("upgrade response %q %v", first, headers)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes: 64-bit length
	mid := bytes.Repeat([]byte{0x5A}, 300)                // 16-bit length
	stream := append(handshakeBytes("wsclient"), frame([]byte("hello"))...)
	stream = append(stream, frame(mid)...)
	stream = append(stream, frame(big)...)
	stream = append(stream, frame(nil)...)

	var wire []byte
	// A fragmented binary message whose pieces split the magic, interleaved with a PING, a
	// PONG and a reserved opcode, then text and binary frames, one of them unmasked.
	wire = append(wire, encodeWSFrame(wsFrame{fin: false, op: wsOpBinary, masked: true, payload: stream[:2]}, 0)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: wsOpPing, masked: true, payload: []byte("are you there")}, 0)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: false, op: wsOpContinuation, masked: true, payload: stream[2:9]}, 16)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: wsOpPong, masked: true, payload: []byte("unsolicited")}, 0)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: 0x3, masked: true, payload: []byte("reserved opcode")}, 0)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: wsOpContinuation, masked: true, payload: stream[9:30]}, 64)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: wsOpText, masked: true, payload: stream[30:500]}, 0)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: wsOpBinary, masked: true, payload: nil}, 0)...)
	wire = append(wire, encodeWSFrame(wsFrame{fin: true, op: wsOpBinary, masked: false, payload: stream[500:]}, 0)...)
	for rest := wire; len(rest) > 0; { // dribble it out to cross every parser state
		n := min(len(rest), 777)
		if _, err := c.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}

	recvEvent(t, b, transport.EventConnected, "wsclient")
	for _, want := range [][]byte{[]byte("hello"), mid, big, {}} {
		ev := recvEvent(t, b, transport.EventMessage, "wsclient")
		if !bytes.Equal(ev.Data, want) {
			t.Fatalf("got %d bytes, want %d", len(ev.Data), len(want))
		}
	}

	unmasked := false
	s := &wsStream{t: t, c: c, br: br, masked: &unmasked}
	if got, want := s.need(len(handshakeBytes("server"))), handshakeBytes("server"); !bytes.Equal(got, want) {
		t.Fatalf("server handshake % x", got)
	}
	if err := b.Send("wsclient", big); err != nil {
		t.Fatal(err)
	}
	if m := s.msg(); !bytes.Equal(m, big) {
		t.Fatal("message from the server differs")
	}
	if len(s.control) != 1 || s.control[0].op != wsOpPong || string(s.control[0].payload) != "are you there" {
		t.Fatalf("control frames %+v, want one PONG echoing the PING", s.control)
	}

	// CLOSE with status 1000: echoed (status only), then the server's FIN, and an orderly
	// end for the binder.
	if _, err := c.Write(encodeWSFrame(wsFrame{fin: true, op: wsOpClose, masked: true, payload: []byte{0x03, 0xE8, 'b', 'y', 'e'}}, 0)); err != nil {
		t.Fatal(err)
	}
	f := readWSFrame(t, c, br)
	if f.op != wsOpClose || !bytes.Equal(f.payload, []byte{0x03, 0xE8}) || f.masked {
		t.Fatalf("got frame %+v, want the CLOSE echo", f)
	}
	recvEvent(t, b, transport.EventClosed, "wsclient")
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after CLOSE: read %d, %v; want EOF", n, err)
	}
}

// TestWebSocketUpgradeRejected: bad upgrade requests get no 101 and are closed.
func TestWebSocketUpgradeRejected(t *testing.T) {
	lr := newLogRecorder()
	b := mustBind(t, "ws://127.0.0.1:0", opts("server", lr))
	host := b.Addr().HostPort()
	huge := "GET / HTTP/1.1\r\nHost: " + host + "\r\n" + strings.Repeat("X-Padding: "+strings.Repeat("p", 1000)+"\r\n", 70) + "\r\n"
	cases := []struct{ name, request, log string }{
		{"head over 64 KiB", huge, "HTTP head larger than 65536 bytes"},
		{"POST", strings.Replace(upgradeRequest(host, "a2V5"), "GET", "POST", 1), "not a WebSocket upgrade request"},
		{"HTTP/1.0", strings.Replace(upgradeRequest(host, "a2V5"), "HTTP/1.1", "HTTP/1.0", 1), "not a WebSocket upgrade request"},
		{"version 8", strings.Replace(upgradeRequest(host, "a2V5"), "Version: 13", "Version: 8", 1), "Sec-WebSocket-Version"},
		{"no key", strings.Replace(upgradeRequest(host, "a2V5"), "Sec-WebSocket-Key: a2V5\r\n", "", 1), "missing Sec-WebSocket-Key"},
		{"no upgrade", strings.Replace(upgradeRequest(host, "a2V5"), "Upgrade: websocket", "Upgrade: h2c", 1), "upgrade header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go func() { _, _ = io.WriteString(c, tc.request) }() // the server may stop reading early
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			resp, _ := io.ReadAll(c)
			if bytes.Contains(resp, []byte(" 101 ")) {
				t.Fatalf("upgrade accepted: %q", resp)
			}
			lr.waitFor(t, "handshake failed", tc.log)
		})
	}
}

// wsServe accepts one connection on l and answers the WebSocket upgrade, returning the
// request lines.
func wsServe(t *testing.T, l *rawListener) (*rawPeer, []string) {
	t.Helper()
	p := l.accept()
	_ = p.c.SetReadDeadline(time.Now().Add(waitFor))
	var lines []string
	key := ""
	for {
		line, err := p.br.ReadString('\n')
		if err != nil {
			t.Fatalf("read upgrade request: %v", err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			break
		}
		lines = append(lines, line)
		if v, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
			key = v
		}
	}
	p.write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		wsAcceptKey(key) + "\r\n\r\n"))
	return p, lines
}

// TestWebSocketClientHandshake drives a ws connector with a hand-made server: the exact
// request lines of §2.7, masked client frames, PONG answers and the CLOSE handshake.
func TestWebSocketClientHandshake(t *testing.T) {
	l := newRawListener(t)
	addr := l.addr()
	addr.Scheme, addr.Path = "ws", "/some/path"
	type res struct {
		k   *connector
		err error
	}
	done := make(chan res, 1)
	go func() {
		k, err := connect(t.Context(), addr, opts("client", nil), testTuning)
		done <- res{k, err}
	}()
	p, lines := wsServe(t, l)
	r := recv(t, done, "Connect")
	if r.err != nil {
		t.Fatal(r.err)
	}
	k := r.k
	defer k.Close()

	want := []string{
		"GET /some/path HTTP/1.1",
		"Host: " + addr.HostPort(),
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: *",
		"Sec-WebSocket-Version: 13",
	}
	if len(lines) != len(want) {
		t.Fatalf("request lines %q", lines)
	}
	for i, w := range want {
		if p, ok := strings.CutSuffix(w, "*"); ok {
			if !strings.HasPrefix(lines[i], p) || len(lines[i]) != len(p)+24 {
				t.Fatalf("line %d %q, want %q + 24 base64 characters", i, lines[i], p)
			}
		} else if lines[i] != w {
			t.Fatalf("line %d %q, want %q", i, lines[i], w)
		}
	}

	masked := true
	s := &wsStream{t: t, c: p.c, br: p.br, masked: &masked}
	if got := s.need(len(handshakeBytes("client"))); !bytes.Equal(got, handshakeBytes("client")) {
		t.Fatalf("client handshake % x", got)
	}
	big := bytes.Repeat([]byte("masked payload "), 20000)
	if err := k.Send(big); err != nil {
		t.Fatal(err)
	}
	if m := s.msg(); !bytes.Equal(m, big) {
		t.Fatal("masked message differs after unmasking")
	}

	server := append(handshakeBytes("server"), frame([]byte("from server"))...)
	p.write(encodeWSFrame(wsFrame{fin: true, op: wsOpBinary, payload: server}, 0))
	p.write(encodeWSFrame(wsFrame{fin: true, op: wsOpPing, payload: []byte("ping?")}, 0))
	if m := recv(t, k.Messages(), "message over ws"); string(m) != "from server" {
		t.Fatalf("got %q", m)
	}
	f := readWSFrame(t, p.c, p.br)
	if f.op != wsOpPong || !f.masked || string(f.payload) != "ping?" {
		t.Fatalf("got %+v, want a masked PONG", f)
	}

	p.write(encodeWSFrame(wsFrame{fin: true, op: wsOpClose, payload: []byte{0x03, 0xE8}}, 0))
	f = readWSFrame(t, p.c, p.br)
	if f.op != wsOpClose || !f.masked {
		t.Fatalf("got %+v, want the masked CLOSE echo", f)
	}
	expectClosed(t, k.Messages(), "connector after CLOSE")
	if !errors.Is(k.Err(), transport.ErrClosedByPeer) {
		t.Fatalf("Err = %v, want ErrClosedByPeer", k.Err())
	}
}

// TestMaskBytes compares the word-at-a-time masking with the definition, at every offset.
func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 3, 0x80}
	src := make([]byte, 67)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for pos := range 4 {
		for n := range len(src) {
			got := make([]byte, n)
			next := maskBytes(got, src[:n], key, pos)
			for i := range n {
				if got[i] != src[i]^key[(pos+i)%4] {
					t.Fatalf("pos %d len %d: byte %d wrong", pos, n, i)
				}
			}
			if next != (pos+n)%4 {
				t.Fatalf("pos %d len %d: next %d", pos, n, next)
			}
		}
	}
}
