package ymq

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
)

// WebSocket transport of spec/protocol.md §2.7 (RFC 6455 without extensions or
// subprotocols). The YMQ stream runs inside binary frames; frame boundaries carry no
// meaning, so the reader presents the concatenated payloads as one byte stream.

const (
	wsOpContinuation = 0x0
	wsOpText         = 0x1
	wsOpBinary       = 0x2
	wsOpClose        = 0x8
	wsOpPing         = 0x9
	wsOpPong         = 0xA

	// wsMaxHead bounds the HTTP upgrade request or response.
	wsMaxHead = 64 << 10
	// wsMaxControl is the largest control payload RFC 6455 allows; longer PING payloads
	// are answered with their first wsMaxControl bytes.
	wsMaxControl = 125
	wsGUID       = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	// wsMaskChunk is the scratch size a client uses to mask outgoing payloads.
	wsMaskChunk = 64 << 10
)

// errWSClosed: a CLOSE frame was sent, after which RFC 6455 allows no more data frames.
var errWSClosed = errors.New("websocket closed")

// wsConn frames writes and deframes reads over an established WebSocket.
type wsConn struct {
	w      io.Writer     // the carrier (TCP, unix or TLS connection)
	br     *bufio.Reader // reads the carrier; may hold bytes that followed the upgrade
	client bool          // clients mask what they send

	// Reader state, used only by the reader goroutine.
	remaining uint64 // payload bytes left in the current data frame
	masked    bool
	key       [4]byte
	keyPos    int
	eof       bool
	rhdr      [8]byte

	wmu       sync.Mutex // one frame at a time: data from the writer, PONG/CLOSE from the reader
	closeSent bool
	whdr      [14]byte
}

func newWSConn(w io.Writer, br *bufio.Reader, client bool) *wsConn {
	return &wsConn{w: w, br: br, client: client}
}

// Read returns payload bytes of data frames, answering control frames on the way. A CLOSE
// frame is echoed and reads as io.EOF (an orderly end).
func (ws *wsConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for ws.remaining == 0 {
		if ws.eof {
			return 0, io.EOF
		}
		if err := ws.nextFrame(); err != nil {
			return 0, err
		}
	}
	if uint64(len(p)) > ws.remaining {
		p = p[:ws.remaining]
	}
	n, err := ws.br.Read(p)
	if ws.masked {
		ws.keyPos = maskBytes(p[:n], p[:n], ws.key, ws.keyPos)
	}
	ws.remaining -= uint64(n)
	if errors.Is(err, io.EOF) {
		// The carrier ended inside a frame: an orderly but truncated end.
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// nextFrame reads frame headers until a data frame with payload is current, handling
// control frames in between.
func (ws *wsConn) nextFrame() error {
	h := ws.rhdr[:2]
	if _, err := io.ReadFull(ws.br, h); err != nil {
		return err
	}
	op := h[0] & 0x0F
	masked := h[1]&0x80 != 0
	length := uint64(h[1] & 0x7F)
	switch length {
	case 126:
		if _, err := io.ReadFull(ws.br, ws.rhdr[:2]); err != nil {
			return noEOF(err)
		}
		length = uint64(binary.BigEndian.Uint16(ws.rhdr[:2]))
	case 127:
		if _, err := io.ReadFull(ws.br, ws.rhdr[:8]); err != nil {
			return noEOF(err)
		}
		length = binary.BigEndian.Uint64(ws.rhdr[:8])
		if length>>63 != 0 {
			return protoErrorf("WebSocket frame length %d has the most significant bit set", length)
		}
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(ws.br, key[:]); err != nil {
			return noEOF(err)
		}
	}
	switch op {
	case wsOpContinuation, wsOpText, wsOpBinary:
		ws.remaining, ws.masked, ws.key, ws.keyPos = length, masked, key, 0
		return nil
	case wsOpPing:
		payload, err := ws.readControl(length, masked, key)
		if err != nil {
			return err
		}
		// A failed PONG shows up as a read or write error soon enough.
		_ = ws.writeFrame(wsOpPong, net.Buffers{nil, payload}, len(payload))
		return nil
	case wsOpClose:
		payload, err := ws.readControl(length, masked, key)
		if err != nil {
			return err
		}
		if len(payload) > 2 {
			payload = payload[:2] // echo the status code, not the reason
		}
		_ = ws.sendClose(payload)
		ws.eof = true
		return io.EOF
	default:
		// PONG and reserved opcodes are skipped.
		if _, err := io.CopyN(io.Discard, ws.br, int64(length)); err != nil {
			return noEOF(err)
		}
		return nil
	}
}

// readControl reads a control payload, keeping at most wsMaxControl bytes of it.
func (ws *wsConn) readControl(length uint64, masked bool, key [4]byte) ([]byte, error) {
	keep := min(length, wsMaxControl)
	payload := make([]byte, keep)
	if _, err := io.ReadFull(ws.br, payload); err != nil {
		return nil, noEOF(err)
	}
	if masked {
		maskBytes(payload, payload, key, 0)
	}
	if rest := length - keep; rest > 0 {
		if _, err := io.CopyN(io.Discard, ws.br, int64(rest)); err != nil {
			return nil, noEOF(err)
		}
	}
	return payload, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// sendClose sends a CLOSE frame once.
func (ws *wsConn) sendClose(payload []byte) error {
	ws.wmu.Lock()
	defer ws.wmu.Unlock()
	if ws.closeSent {
		return nil
	}
	ws.closeSent = true
	return ws.writeFrameLocked(wsOpClose, net.Buffers{nil, payload}, len(payload))
}

// writeFrame writes bufs[1:] (total bytes) as one frame of type op; bufs[0] is a free slot
// for the header.
func (ws *wsConn) writeFrame(op byte, bufs net.Buffers, total int) error {
	ws.wmu.Lock()
	defer ws.wmu.Unlock()
	if ws.closeSent {
		return errWSClosed
	}
	return ws.writeFrameLocked(op, bufs, total)
}

func (ws *wsConn) writeFrameLocked(op byte, bufs net.Buffers, total int) error {
	h := ws.whdr[:2]
	h[0] = 0x80 | op // FIN: we never fragment
	switch {
	case total < 126:
		h[1] = byte(total)
	case total <= 0xFFFF:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(total))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, uint64(total))
	}
	if !ws.client {
		bufs[0] = h
		_, err := bufs.WriteTo(ws.w)
		return err
	}
	// RFC 6455 wants an unpredictable key; ChaCha8 from math/rand/v2 is.
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], mrand.Uint32())
	h[1] |= 0x80
	h = append(h, key[:]...)

	// Masking needs a copy (the payloads may be shared with other connections), so stream
	// the frame through a bounded scratch buffer.
	sp := getBatchBuf(min(len(h)+total, wsMaskChunk))
	defer putBatchBuf(sp)
	out := append((*sp)[:0], h...)
	pos := 0
	for _, b := range bufs[1:] {
		for len(b) > 0 {
			if len(out) == cap(out) {
				if _, err := ws.w.Write(out); err != nil {
					return err
				}
				out = out[:0]
			}
			n := min(len(b), cap(out)-len(out))
			dst := out[len(out) : len(out)+n]
			pos = maskBytes(dst, b[:n], key, pos)
			out = out[:len(out)+n]
			b = b[n:]
		}
	}
	_, err := ws.w.Write(out)
	return err
}

// maskBytes XORs src with the 4-byte key starting at key offset pos into dst (which may be
// src) and returns the next offset. It works a word at a time: WebSocket clients mask every
// byte they send.
func maskBytes(dst, src []byte, key [4]byte, pos int) int {
	var rot [4]byte
	for i := range rot {
		rot[i] = key[(pos+i)&3]
	}
	k32 := uint64(binary.LittleEndian.Uint32(rot[:]))
	k64 := k32 | k32<<32
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k64)
	}
	for ; i < len(src); i++ {
		dst[i] = src[i] ^ rot[i&3]
	}
	return (pos + len(src)) & 3
}

func wsAcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// readHead reads an HTTP request or response head (up to the empty line) of at most
// wsMaxHead bytes and returns its first line and its headers (names lower-cased).
func readHead(br *bufio.Reader) (string, map[string]string, error) {
	total := 0
	var first string
	headers := map[string]string{}
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if total > wsMaxHead || errors.Is(err, bufio.ErrBufferFull) {
			return "", nil, fmt.Errorf("HTTP head larger than %d bytes", wsMaxHead)
		}
		if err != nil {
			return "", nil, noEOF(err)
		}
		s := strings.TrimRight(string(line), "\r\n")
		if first == "" {
			if s == "" {
				return "", nil, errors.New("empty HTTP head")
			}
			first = s
			continue
		}
		if s == "" {
			return first, headers, nil
		}
		name, value, ok := strings.Cut(s, ":")
		if !ok {
			return "", nil, fmt.Errorf("malformed HTTP header line %q", clip(s))
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if prev, dup := headers[name]; dup {
			value = prev + ", " + value
		}
		headers[name] = value
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// wsAccept performs the server side of the upgrade (§2.7). The request path is not checked.
func wsAccept(w io.Writer, br *bufio.Reader) error {
	first, h, err := readHead(br)
	if err == nil {
		err = checkUpgradeRequest(first, h)
	}
	if err != nil {
		_, _ = io.WriteString(w, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		return err
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAcceptKey(h["sec-websocket-key"]) + "\r\n\r\n"
	_, err = io.WriteString(w, resp)
	return err
}

func checkUpgradeRequest(first string, h map[string]string) error {
	switch {
	case !strings.HasPrefix(first, "GET ") || !strings.HasSuffix(first, " HTTP/1.1"):
		return fmt.Errorf("not a WebSocket upgrade request: %q", clip(first))
	case !strings.EqualFold(h["upgrade"], "websocket"):
		return fmt.Errorf("upgrade header %q, want websocket", clip(h["upgrade"]))
	case !strings.Contains(strings.ToLower(h["connection"]), "upgrade"):
		return fmt.Errorf("connection header %q does not contain upgrade", clip(h["connection"]))
	case h["sec-websocket-key"] == "":
		return errors.New("missing Sec-WebSocket-Key")
	case h["sec-websocket-version"] != "13":
		return fmt.Errorf("Sec-WebSocket-Version %q, want 13", clip(h["sec-websocket-version"]))
	}
	return nil
}

// wsDial performs the client side of the upgrade with exactly the request lines of §2.7.
func wsDial(w io.Writer, br *bufio.Reader, host, path string) error {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(w, req); err != nil {
		return err
	}
	first, h, err := readHead(br)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(first, "HTTP/1.1 101") {
		return fmt.Errorf("server answered %q", clip(first))
	}
	if want := wsAcceptKey(key); h["sec-websocket-accept"] != want {
		return fmt.Errorf("Sec-WebSocket-Accept %q, want %q", clip(h["sec-websocket-accept"]), want)
	}
	return nil
}
