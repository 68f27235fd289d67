package zmq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/scaler-go/scaler/core/config/address"
)

// Replays of ZMTP traffic recorded from the Python reference (testdata/README.md): a raw TCP
// connection plays the recorded peer byte for byte, and our socket must handshake with it and
// carry the recorded payloads unchanged, in the recorded frame form.

type zmtpRecord struct {
	Conn           string `json:"conn"`
	Peer           string `json:"peer"`
	Dir            string `json:"dir"`
	Type           string `json:"type"`
	Hex            string `json:"hex"`
	Flags          *int   `json:"zmtp_flags"`
	Scenario       string `json:"scenario"`
	ServerIdentity string `json:"server_identity"`
}

func (r zmtpRecord) bytes(t *testing.T) []byte {
	b, err := hex.DecodeString(r.Hex)
	if err != nil {
		t.Fatalf("bad hex in %s %s record: %v", r.Conn, r.Type, err)
	}
	return b
}

// frame is the record as it was on the wire: flags, size, body.
func (r zmtpRecord) frame(t *testing.T) []byte {
	body := r.bytes(t)
	if r.Flags == nil {
		t.Fatalf("%s %s record has no zmtp_flags", r.Conn, r.Type)
	}
	flags := byte(*r.Flags)
	out := []byte{flags}
	if flags&0x02 != 0 {
		out = binary.BigEndian.AppendUint64(out, uint64(len(body)))
	} else {
		out = append(out, byte(len(body)))
	}
	return append(out, body...)
}

// loadRecords returns the records of each connection, in file order.
func loadRecords(t *testing.T, file string) (order []string, conns map[string][]zmtpRecord) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conns = map[string][]zmtpRecord{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r zmtpRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		key := r.Scenario + "/" + r.Conn
		if _, ok := conns[key]; !ok {
			order = append(order, key)
		}
		conns[key] = append(conns[key], r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return order, conns
}

// rawZMTP is the recorded peer's side of a connection.
type rawZMTP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, a address.Address) *rawZMTP {
	c, err := net.Dial("tcp", a.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitFor))
	return &rawZMTP{t: t, c: c, r: bufio.NewReader(c)}
}

func (z *rawZMTP) write(b []byte) {
	if _, err := z.c.Write(b); err != nil {
		z.t.Fatalf("writing to our socket: %v", err)
	}
}

// greeting reads our socket's 64-byte greeting and checks what any ZMTP 3 peer relies on.
func (z *rawZMTP) greeting() []byte {
	g := make([]byte, 64)
	if _, err := io.ReadFull(z.r, g); err != nil {
		z.t.Fatalf("reading greeting: %v", err)
	}
	if g[0] != 0xff || g[9] != 0x7f || g[10] != 3 || string(bytes.TrimRight(g[12:32], "\x00")) != "NULL" || g[32] != 0 {
		z.t.Fatalf("greeting %x is not ZMTP 3 / NULL / as-server 0", g)
	}
	return g
}

// frame reads one ZMTP frame.
func (z *rawZMTP) frame() (flags byte, body []byte) {
	var err error
	if flags, err = z.r.ReadByte(); err != nil {
		z.t.Fatalf("reading frame: %v", err)
	}
	var size uint64
	if flags&0x02 != 0 {
		var b [8]byte
		if _, err = io.ReadFull(z.r, b[:]); err != nil {
			z.t.Fatalf("reading frame size: %v", err)
		}
		size = binary.BigEndian.Uint64(b[:])
	} else {
		b, err := z.r.ReadByte()
		if err != nil {
			z.t.Fatalf("reading frame size: %v", err)
		}
		size = uint64(b)
	}
	if size > 1<<24 {
		z.t.Fatalf("frame of %d bytes", size)
	}
	body = make([]byte, size)
	if _, err = io.ReadFull(z.r, body); err != nil {
		z.t.Fatalf("reading frame body: %v", err)
	}
	return flags, body
}

// readyProps parses a READY command body into its properties.
func readyProps(t *testing.T, body []byte) map[string]string {
	if len(body) < 6 || body[0] != 5 || string(body[1:6]) != "READY" {
		t.Fatalf("command %q is not READY", body)
	}
	props := map[string]string{}
	for p := body[6:]; len(p) > 0; {
		n := int(p[0])
		if len(p) < 1+n+4 {
			t.Fatalf("truncated READY property in %x", body)
		}
		name := string(p[1 : 1+n])
		vlen := int(binary.BigEndian.Uint32(p[1+n:]))
		p = p[1+n+4:]
		if len(p) < vlen {
			t.Fatalf("truncated READY value in %x", body)
		}
		props[name] = string(p[:vlen])
		p = p[vlen:]
	}
	return props
}

// sameLibzmq reports whether the local libzmq is the recorded one, whose handshake bytes must
// then match exactly (other versions may legitimately differ in padding or properties).
func sameLibzmq() bool {
	major, minor, patch := zmq4.Version()
	return major == 4 && minor == 3 && patch == 4
}

// TestReplayRecordedDealers replays the recorded client, worker and worker-manager
// connections of a Python scheduler (scenarios B and B2) against our Binder.
func TestReplayRecordedDealers(t *testing.T) {
	order, conns := loadRecords(t, "testdata/zmtp_router.jsonl")
	if len(order) != 3 {
		t.Fatalf("want 3 recorded connections, got %v", order)
	}
	for _, key := range order {
		recs := conns[key]
		t.Run(key, func(t *testing.T) { replayDealer(t, recs) })
	}
}

func replayDealer(t *testing.T, recs []zmtpRecord) {
	pick := func(dir, typ string) zmtpRecord {
		for _, r := range recs {
			if r.Dir == dir && r.Type == typ {
				return r
			}
		}
		t.Fatalf("no %s %s record", dir, typ)
		return zmtpRecord{}
	}
	var c2s, s2c []zmtpRecord
	for _, r := range recs {
		if r.Type == "greeting" || strings.HasPrefix(r.Type, "command:") {
			continue
		}
		if r.Dir == "c2s" {
			c2s = append(c2s, r)
		} else {
			s2c = append(s2c, r)
		}
	}
	peer, serverID := recs[0].Peer, recs[0].ServerIdentity

	// Our ROUTER announces the recorded scheduler identity, so its handshake can be compared
	// with the recorded one.
	b := bind(t, "tcp://127.0.0.1:0", quietOpts(serverID))
	z := dialRaw(t, b.Addr())
	z.write(pick("c2s", "greeting").bytes(t)) // its padding holds identity length + 1
	g := z.greeting()
	if want := pick("s2c", "greeting").bytes(t); sameLibzmq() && !bytes.Equal(g, want) {
		t.Errorf("greeting\n got %x\nwant %x", g, want)
	}
	z.write(pick("c2s", "command:READY").frame(t))
	flags, body := z.frame()
	if flags != 0x04 {
		t.Fatalf("first frame flags %#x, want a short command", flags)
	}
	props := readyProps(t, body)
	if props["Socket-Type"] != "ROUTER" || props["Identity"] != serverID {
		t.Fatalf("READY properties %q, want Socket-Type ROUTER and Identity %q", props, serverID)
	}
	if want := pick("s2c", "command:READY").bytes(t); sameLibzmq() && !bytes.Equal(body, want) {
		t.Errorf("READY\n got %x\nwant %x", body, want)
	}

	// Everything the peer sent, in one write; the Binder must deliver each payload whole and
	// in order, attributed to the identity from the peer's READY.
	var stream []byte
	for _, r := range c2s {
		stream = append(stream, r.frame(t)...)
	}
	z.write(stream)
	for i, r := range c2s {
		in := recv(t, b.Messages(), fmt.Sprintf("recorded message %d (%s)", i, r.Type))
		if in.Peer != peer || !bytes.Equal(in.Data, r.bytes(t)) {
			t.Fatalf("message %d (%s): got %d bytes from %q, want the recorded %d bytes from %q", i, r.Type, len(in.Data), in.Peer, len(r.Hex)/2, peer)
		}
	}
	// What the scheduler sent must reach the peer as the same single frames.
	for _, r := range s2c {
		if err := b.Send(peer, r.bytes(t)); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range s2c {
		flags, body := z.frame()
		if flags != byte(*r.Flags) || !bytes.Equal(body, r.bytes(t)) {
			t.Fatalf("reply %d (%s): flags %#x, %d bytes; want flags %#x and the recorded %d bytes", i, r.Type, flags, len(body), *r.Flags, len(r.Hex)/2)
		}
	}
}

// TestReplayRecordedSubscribers plays both recorded monitor subscribers of scenario C
// against our Publisher: scaler_top's libzmq SUB (ZMTP 3.1, SUBSCRIBE command) and the minimal
// ZMTP 3.0 subscriber (subscription data frame 0x01, sent after the publisher's READY).
func TestReplayRecordedSubscribers(t *testing.T) {
	order, conns := loadRecords(t, "testdata/zmtp_pub.jsonl")
	if len(order) != 2 {
		t.Fatalf("want 2 recorded connections, got %v", order)
	}
	for _, key := range order {
		recs := conns[key]
		t.Run(key, func(t *testing.T) { replaySubscriber(t, recs) })
	}
}

func replaySubscriber(t *testing.T, recs []zmtpRecord) {
	var greeting, ready, subscription *zmtpRecord
	var wantGreeting, wantReady []byte
	var published []zmtpRecord
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Dir == "c2s" && r.Type == "greeting":
			greeting = r
		case r.Dir == "c2s" && r.Type == "command:READY":
			ready = r
		case r.Dir == "c2s" && (r.Type == "command:SUBSCRIBE" || r.Type == "subscribe"):
			subscription = r
		case r.Dir == "s2c" && r.Type == "greeting":
			wantGreeting = r.bytes(t)
		case r.Dir == "s2c" && r.Type == "command:READY":
			wantReady = r.bytes(t)
		case r.Dir == "s2c":
			published = append(published, *r)
		}
	}
	if greeting == nil || ready == nil || subscription == nil || len(published) == 0 {
		t.Fatal("incomplete recording")
	}

	p, err := be.Publish(context.Background(), address.MustParse("tcp://127.0.0.1:0"), quietOpts(""))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	z := dialRaw(t, p.Addr())
	z.write(greeting.bytes(t))
	if g := z.greeting(); sameLibzmq() && !bytes.Equal(g, wantGreeting) {
		t.Errorf("greeting\n got %x\nwant %x", g, wantGreeting)
	}
	z.write(ready.frame(t))
	flags, body := z.frame()
	if props := readyProps(t, body); flags != 0x04 || props["Socket-Type"] != "PUB" {
		t.Fatalf("publisher READY flags %#x properties %q", flags, props)
	}
	if sameLibzmq() && !bytes.Equal(body, wantReady) {
		t.Errorf("READY\n got %x\nwant %x", body, wantReady)
	}
	// Like the recorded subscriber, subscribe only after the publisher's READY.
	z.write(subscription.frame(t))

	// The subscription reaches the PUB asynchronously: probe until one arrives, from another
	// goroutine, and stop it before publishing the recorded payloads.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			p.Publish([]byte("probe"))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	flags, body = z.frame()
	close(stop)
	<-stopped
	if flags != 0 || string(body) != "probe" {
		t.Fatalf("first published frame: flags %#x %q", flags, body)
	}
	for _, r := range published {
		p.Publish(r.bytes(t))
	}
	for i := 0; i < len(published); {
		flags, body := z.frame()
		if string(body) == "probe" {
			continue
		}
		r := published[i]
		if flags != byte(*r.Flags) || !bytes.Equal(body, r.bytes(t)) {
			t.Fatalf("published %d (%s): flags %#x, %d bytes; want flags %#x and the recorded %d bytes", i, r.Type, flags, len(body), *r.Flags, len(r.Hex)/2)
		}
		i++
	}
}
