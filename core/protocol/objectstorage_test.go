package protocol

import (
	"bytes"
	capnp "capnproto.org/go/capnp/v3"
	"encoding/binary"
	"encoding/hex"
	"github.com/scaler-go/scaler/core/protocol/wire"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example of spec/protocol.md §5.3.
func TestOSSHeaderGolden(t *testing.T) {
	want := unhex(t, "00000000 09000000 00000000 03000100 05000000 00000000 07000000 00000000 01000000 00000000 00000000 04000000"+
		"0807060504030201 0200000000000000 0300000000000000 0400000000000000")
	var id ObjectID
	binary.BigEndian.PutUint64(id[0:], 0x0102030405060708)
	binary.BigEndian.PutUint64(id[8:], 2)
	binary.BigEndian.PutUint64(id[16:], 3)
	binary.BigEndian.PutUint64(id[24:], 4)
	h := OSSHeader{ObjectID: id, PayloadLength: 5, ID: 7, Type: OSSGet}
	got := EncodeOSSHeader(h)
	if !bytes.Equal(got, want) {
		t.Fatalf("encode:\n got % x\nwant % x", got, want)
	}
	back, err := DecodeOSSHeader(want)
	if err != nil || back != h {
		t.Fatalf("decode = %+v, %v; want %+v", back, err, h)
	}
	// The reference capnp binding reads it too.
	msg := decodeWithCapnp(t, want)
	if msg.RequestID() != 7 || msg.PayloadLength() != 5 || uint16(msg.RequestType()) != OSSGet {
		t.Fatalf("capnp view: id=%d len=%d type=%v", msg.RequestID(), msg.PayloadLength(), msg.RequestType())
	}
	oid, _ := msg.ObjectID()
	if oid.Field0() != 0x0102030405060708 || oid.Field3() != 4 {
		t.Fatalf("capnp object id fields %x %x", oid.Field0(), oid.Field3())
	}
}

func TestOSSDuplicatePayload(t *testing.T) {
	id := NewObjectID([]byte("Client|x"))
	b := EncodeOSSObjectID(id)
	if len(b) != OSSDuplicatePayloadSize || !bytes.HasPrefix(b, unhex(t, "00000000 05000000 00000000 04000000")) {
		t.Fatalf("payload % x", b)
	}
	back, err := DecodeOSSObjectID(b)
	if err != nil || back != id {
		t.Fatalf("decode = %v, %v", back, err)
	}
}

func TestOSSHeaderRejects(t *testing.T) {
	good := EncodeOSSHeader(OSSHeader{Type: 1})
	tests := map[string][]byte{
		"short":       good[:79],
		"long":        append(append([]byte{}, good...), 0),
		"two segment": append([]byte{1}, good[1:]...),
		"bad ptr":     append(append(append([]byte{}, good[:40]...), 0xff), good[41:]...),
	}
	for name, b := range tests {
		if _, err := DecodeOSSHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSerializerObjectID(t *testing.T) {
	// samples/index.json of the interop recording.
	client := []byte("Client|d4d83a46e3c1415685b0dcb158bba7d0")
	id := SerializerObjectID(client)
	if id.String() != "e4f22390cd6a273c1f2da7759ea37dd884f6fb7cd5cd53b5679489a29396448f" {
		t.Fatalf("serializer id %s", id)
	}
	if !id.IsSerializer() || !id.OwnedBy(client) {
		t.Fatal("predicates")
	}
	n := NewObjectID(client)
	if n.IsSerializer() || !n.OwnedBy(client) {
		t.Fatal("normal id predicates")
	}
}

func FuzzDecodeOSSHeader(f *testing.F) {
	f.Add(EncodeOSSHeader(OSSHeader{PayloadLength: 3, ID: 9, Type: 2}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeOSSHeader(b)
		if err != nil {
			return
		}
		re := EncodeOSSHeader(h)
		if !bytes.Equal(re[:34], b[:34]) || !bytes.Equal(re[40:], b[40:]) {
			t.Fatalf("round trip differs:\n% x\n% x", re, b)
		}
	})
}

func decodeWithCapnp(t *testing.T, b []byte) wire.ObjectRequestHeader {
	t.Helper()
	msg, err := capnp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	h, err := wire.ReadRootObjectRequestHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
