package protocol

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// TaskID is the 16 random bytes of a uuid4 (spec/protocol.md §4.1).
type TaskID [16]byte

// NewTaskID returns a random task id, laid out like a uuid4.
func NewTaskID() TaskID {
	var id TaskID
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// TaskIDFromBytes converts a wire field; ok is false when b is not 16 bytes long.
func TaskIDFromBytes(b []byte) (id TaskID, ok bool) {
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// String is the lowercase hex form.
func (id TaskID) String() string { return hex.EncodeToString(id[:]) }

// ObjectID is 32 bytes: MD5(owner client identity) ‖ a 16-byte tag (spec/protocol.md §4.1).
type ObjectID [32]byte

// SerializerTag is MD5("serializer"): the tag of every client's serializer object.
var SerializerTag = [16]byte(md5.Sum([]byte("serializer")))

// OwnerHash is MD5 of a client identity: the first half of every object id it owns.
func OwnerHash(client []byte) [16]byte { return md5.Sum(client) }

// NewObjectID returns a fresh id owned by client, with a random uuid4 tag.
func NewObjectID(client []byte) ObjectID {
	var id ObjectID
	h := OwnerHash(client)
	copy(id[:16], h[:])
	t := NewTaskID()
	copy(id[16:], t[:])
	return id
}

// SerializerObjectID is where client must upload its serializer.
func SerializerObjectID(client []byte) ObjectID {
	var id ObjectID
	h := OwnerHash(client)
	copy(id[:16], h[:])
	copy(id[16:], SerializerTag[:])
	return id
}

// ObjectIDFromBytes converts a wire field; ok is false when b is not 32 bytes long.
func ObjectIDFromBytes(b []byte) (id ObjectID, ok bool) {
	if len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// IsSerializer reports whether the tag half is MD5("serializer").
func (id ObjectID) IsSerializer() bool { return [16]byte(id[16:]) == SerializerTag }

// OwnedBy reports whether the owner half is MD5(client).
func (id ObjectID) OwnedBy(client []byte) bool { return [16]byte(id[:16]) == OwnerHash(client) }

// String is the lowercase hex of all 32 bytes.
func (id ObjectID) String() string { return hex.EncodeToString(id[:]) }

// Name is the Python client's printable form, used for object names on the wire (§4.5).
func (id ObjectID) Name() string {
	return fmt.Sprintf("ObjectID(owner_hash=%x, object_tag=%x)", id[:16], id[16:])
}

// Identity prefixes (spec/protocol.md §1.4).
const (
	ClientPrefix = "Client|"
	WorkerPrefix = "Worker|"
)

// NewClientID returns "Client|" + 32 lowercase hex digits.
func NewClientID() string { return ClientPrefix + newHex32() }

// NewWorkerID returns "Worker|NAME|" + 32 lowercase hex digits.
func NewWorkerID(name string) string { return WorkerPrefix + name + "|" + newHex32() }

// NewProcessIdentity is the "PID|role|uuid" identity of servers and managers.
func NewProcessIdentity(pid int, role string) string {
	t := NewTaskID()
	u := hex.EncodeToString(t[:])
	return fmt.Sprintf("%d|%s|%s-%s-%s-%s-%s", pid, role, u[0:8], u[8:12], u[12:16], u[16:20], u[20:32])
}

// IsClientID reports whether identity names a client.
func IsClientID(identity string) bool { return strings.HasPrefix(identity, ClientPrefix) }

func newHex32() string {
	t := NewTaskID()
	return hex.EncodeToString(t[:])
}
