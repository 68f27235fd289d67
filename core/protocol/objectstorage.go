package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The object storage headers are Cap'n Proto messages of a rigid shape: exactly 80 bytes,
// one segment of 9 words, fixed pointer offsets (spec/protocol.md §5.3). The Python server
// reinterprets raw bytes, so we write exactly that shape and accept exactly that shape.

// Object storage request kinds (ObjectRequestHeader.requestType).
const (
	OSSSet       uint16 = 0
	OSSGet       uint16 = 1
	OSSDelete    uint16 = 2
	OSSDuplicate uint16 = 3
	OSSInfo      uint16 = 4
)

// Object storage response kinds (ObjectResponseHeader.responseType).
const (
	OSSSetOK       uint16 = 0
	OSSGetOK       uint16 = 1
	OSSDelOK       uint16 = 2
	OSSDelNotExist uint16 = 3
	OSSDuplicateOK uint16 = 4
	OSSInfoOK      uint16 = 5
)

// OSSHeaderSize is the size of every object storage header message.
const OSSHeaderSize = 80

// OSSDuplicatePayloadSize is the size of the ObjectID message that follows a duplicate request.
const OSSDuplicatePayloadSize = 48

// ErrBadHeader is wrapped by header decode errors.
var ErrBadHeader = errors.New("malformed object storage header")

// OSSHeader is a request or a response header; Type holds the request or response kind and
// ID is the requestID or responseID.
type OSSHeader struct {
	ObjectID      ObjectID
	PayloadLength uint64
	ID            uint64
	Type          uint16
}

var headerPrefix = [16]byte{0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0}
var objectIDPointer = [8]byte{0, 0, 0, 0, 4, 0, 0, 0}
var duplicatePrefix = [16]byte{0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0}

// EncodeOSSHeader returns the 80-byte encoding of h.
func EncodeOSSHeader(h OSSHeader) []byte {
	b := make([]byte, 0, OSSHeaderSize)
	b = append(b, headerPrefix[:]...)
	b = binary.LittleEndian.AppendUint64(b, h.PayloadLength)
	b = binary.LittleEndian.AppendUint64(b, h.ID)
	b = binary.LittleEndian.AppendUint16(b, h.Type)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, objectIDPointer[:]...)
	return appendObjectIDFields(b, h.ObjectID)
}

// DecodeOSSHeader decodes an 80-byte header. Anything but the exact shape is rejected, since
// the reference server could not read it either.
func DecodeOSSHeader(b []byte) (OSSHeader, error) {
	if len(b) != OSSHeaderSize {
		return OSSHeader{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadHeader, len(b), OSSHeaderSize)
	}
	if [16]byte(b[:16]) != headerPrefix {
		return OSSHeader{}, fmt.Errorf("%w: unexpected segment table or root pointer % x", ErrBadHeader, b[:16])
	}
	if [8]byte(b[40:48]) != objectIDPointer {
		return OSSHeader{}, fmt.Errorf("%w: unexpected object id pointer % x", ErrBadHeader, b[40:48])
	}
	h := OSSHeader{
		PayloadLength: binary.LittleEndian.Uint64(b[16:]),
		ID:            binary.LittleEndian.Uint64(b[24:]),
		Type:          binary.LittleEndian.Uint16(b[32:]),
	}
	h.ObjectID = objectIDFromFields(b[48:80])
	return h, nil
}

// EncodeOSSObjectID is the 48-byte payload of a duplicate request naming the source object.
func EncodeOSSObjectID(id ObjectID) []byte {
	b := make([]byte, 0, OSSDuplicatePayloadSize)
	b = append(b, duplicatePrefix[:]...)
	return appendObjectIDFields(b, id)
}

// DecodeOSSObjectID reads the 48-byte duplicate payload.
func DecodeOSSObjectID(b []byte) (ObjectID, error) {
	if len(b) != OSSDuplicatePayloadSize {
		return ObjectID{}, fmt.Errorf("%w: duplicate payload of %d bytes, want %d", ErrBadHeader, len(b), OSSDuplicatePayloadSize)
	}
	if [16]byte(b[:16]) != duplicatePrefix {
		return ObjectID{}, fmt.Errorf("%w: unexpected duplicate payload prefix % x", ErrBadHeader, b[:16])
	}
	return objectIDFromFields(b[16:48]), nil
}

// appendObjectIDFields writes the id as four u64 read big-endian from the id and written
// little-endian (spec/protocol.md §5.4): each 8-byte group appears byte-reversed.
func appendObjectIDFields(dst []byte, id ObjectID) []byte {
	for i := 0; i < 4; i++ {
		dst = binary.LittleEndian.AppendUint64(dst, binary.BigEndian.Uint64(id[8*i:]))
	}
	return dst
}

func objectIDFromFields(b []byte) ObjectID {
	var id ObjectID
	for i := 0; i < 4; i++ {
		binary.BigEndian.PutUint64(id[8*i:], binary.LittleEndian.Uint64(b[8*i:]))
	}
	return id
}
