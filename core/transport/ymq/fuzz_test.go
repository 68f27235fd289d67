package ymq

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzMax is the MaxMessageSize of the fuzzed readers: a length prefix above it must be
// refused before anything is allocated.
const fuzzMax = 1 << 20

// FuzzFrameReader feeds arbitrary bytes after a valid magic and identity to the YMQ frame
// reader: it must not panic, must not return a message above fuzzMax, and must end with an
// error that classify understands.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(frame([]byte("hi")))
	f.Add(append(frame(nil), frame(bytes.Repeat([]byte{1}, 300))...))
	f.Add([]byte{1, 2, 3})                                        // truncated length prefix
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // 2^64-1
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0x80})                      // 2^63
	f.Add([]byte{0x01, 0x00, 0x10, 0, 0, 0, 0, 0, 'x'})           // fuzzMax+1, truncated
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append(handshakeBytes("peer"), data...)
		fr := frameReader{br: bufio.NewReaderSize(bytes.NewReader(in), readBufSize), max: fuzzMax}
		id, err := fr.readPreamble()
		if err != nil || id != "peer" {
			t.Fatalf("valid preamble refused: %q, %v", id, err)
		}
		total := 0
		for {
			m, err := fr.next()
			if err != nil {
				var pe *protoError
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(m) > fuzzMax {
				t.Fatalf("message of %d bytes above the limit", len(m))
			}
			total += 8 + len(m)
			if total > len(data) {
				t.Fatalf("read %d bytes of messages from %d bytes of input", total, len(data))
			}
		}
	})
}

// FuzzPreamble: arbitrary bytes as the whole stream must give an identity only when they
// start with the magic and a complete identity message.
func FuzzPreamble(f *testing.F) {
	f.Add(handshakeBytes("client"))
	f.Add([]byte("YMQ"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add(append(magic[:], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{br: bufio.NewReader(bytes.NewReader(data)), max: fuzzMax}
		id, err := fr.readPreamble()
		if err != nil {
			return
		}
		if want := handshakeBytes(id); !bytes.HasPrefix(data, want) {
			t.Fatalf("identity %q accepted from % x", id, data)
		}
	})
}

// FuzzWebSocketReader feeds arbitrary bytes to the WebSocket deframer (as server and as
// client), with the YMQ reader on top as in a real connection: no panics, control frames
// answered into a sink, and no more payload out than bytes in.
func FuzzWebSocketReader(f *testing.F) {
	f.Add(encodeWSFrame(wsFrame{fin: true, op: wsOpBinary, masked: true, payload: handshakeBytes("x")}, 0), true)
	f.Add(encodeWSFrame(wsFrame{fin: true, op: wsOpPing, payload: []byte("p")}, 0), false)
	f.Add(encodeWSFrame(wsFrame{fin: true, op: wsOpClose, payload: []byte{3, 0xe8}}, 0), false)
	f.Add(encodeWSFrame(wsFrame{fin: false, op: wsOpText, payload: bytes.Repeat([]byte{7}, 200)}, 64), true)
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, false) // 64-bit length with the top bit
	f.Add([]byte{0x89, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		var sink bytes.Buffer
		ws := newWSConn(&sink, bufio.NewReader(bytes.NewReader(data)), client)
		n, err := io.Copy(io.Discard, ws)
		if n > int64(len(data)) {
			t.Fatalf("%d payload bytes out of %d input bytes", n, len(data))
		}
		var pe *protoError
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
			t.Fatalf("unexpected error %v", err)
		}
		// Every answer is a complete frame that our own deframer can read back.
		back := newWSConn(io.Discard, bufio.NewReader(bytes.NewReader(sink.Bytes())), !client)
		if _, err := io.Copy(io.Discard, back); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("answers do not parse: %v (% x)", err, sink.Bytes())
		}

		// The same bytes through the YMQ reader stacked on the deframer.
		ws = newWSConn(io.Discard, bufio.NewReader(bytes.NewReader(data)), client)
		fr := frameReader{br: bufio.NewReaderSize(ws, readBufSize), max: fuzzMax}
		if _, err := fr.readPreamble(); err != nil {
			return
		}
		for {
			m, err := fr.next()
			if err != nil {
				return
			}
			if len(m) > fuzzMax {
				t.Fatalf("message of %d bytes above the limit", len(m))
			}
		}
	})
}
