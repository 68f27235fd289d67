package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
)

// TaskFlags is Task.metadata: 6 bytes, big-endian (spec/protocol.md §4.2), and a seventh
// byte of Go extension bits when any of them is set (Python clients never set them, so
// their flags stay 6 bytes).
type TaskFlags struct {
	Profiling    bool
	Priority     int32
	StreamOutput bool
	// InlineResult (Go extension): the client reads small results straight from the
	// TaskResult, so the worker may skip object storage (see ProfileResult.Inline).
	InlineResult bool
}

// InlineLimit bounds an inline argument or result: small enough that passing through the
// scheduler costs it nothing noticeable; anything larger goes through object storage.
const InlineLimit = 8 << 10

// Go extension bits of the seventh TaskFlags byte and the seventeenth ProfileResult byte.
const extInline = 1 << 0

// DefaultTaskFlags is what empty metadata means.
var DefaultTaskFlags = TaskFlags{Profiling: true}

// Encode returns the 6-byte form, or 7 bytes with the Go extension byte.
func (f TaskFlags) Encode() []byte {
	n := 6
	if f.InlineResult {
		n = 7
	}
	b := make([]byte, n)
	if f.Profiling {
		b[0] = 1
	}
	binary.BigEndian.PutUint32(b[1:], uint32(f.Priority))
	if f.StreamOutput {
		b[5] = 1
	}
	if f.InlineResult {
		b[6] = extInline
	}
	return b
}

// DecodeTaskFlags reads Task.metadata; empty means DefaultTaskFlags.
func DecodeTaskFlags(b []byte) (TaskFlags, error) {
	if len(b) == 0 {
		return DefaultTaskFlags, nil
	}
	if len(b) != 6 && len(b) != 7 {
		return TaskFlags{}, fmt.Errorf("%w: task flags of %d bytes, want 6", ErrMalformed, len(b))
	}
	f := TaskFlags{Profiling: b[0] != 0, Priority: int32(binary.BigEndian.Uint32(b[1:])), StreamOutput: b[5] != 0}
	if len(b) == 7 {
		f.InlineResult = b[6]&extInline != 0
	}
	return f, nil
}

// ProfileResult is TaskResult.metadata: 16 bytes, big-endian (spec/protocol.md §4.3), and
// a seventeenth byte of Go extension bits when any is set.
type ProfileResult struct {
	DurationS  float32
	MemoryPeak uint64
	CPUTimeS   float32
	// Inline (Go extension): TaskResult.results[0] is the result value itself, not an
	// object id. Workers set it only for tasks whose flags carry InlineResult.
	Inline bool
}

// Encode returns the 16-byte form, or 17 bytes with the Go extension byte.
func (p ProfileResult) Encode() []byte {
	n := 16
	if p.Inline {
		n = 17
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint32(b[0:], math.Float32bits(p.DurationS))
	binary.BigEndian.PutUint64(b[4:], p.MemoryPeak)
	binary.BigEndian.PutUint32(b[12:], math.Float32bits(p.CPUTimeS))
	if p.Inline {
		b[16] = extInline
	}
	return b
}

// StandardProfile returns metadata without the Go extension byte: what Python readers of
// the monitor stream (which unpack exactly 16 bytes) can take.
func StandardProfile(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// DecodeProfileResult reads TaskResult.metadata; ok is false when it is empty.
func DecodeProfileResult(b []byte) (p ProfileResult, ok bool, err error) {
	if len(b) == 0 {
		return p, false, nil
	}
	if len(b) != 16 && len(b) != 17 {
		return p, false, fmt.Errorf("%w: profile result of %d bytes, want 16", ErrMalformed, len(b))
	}
	if len(b) == 17 {
		p.Inline = b[16]&extInline != 0
	}
	p.DurationS = math.Float32frombits(binary.BigEndian.Uint32(b[0:]))
	p.MemoryPeak = binary.BigEndian.Uint64(b[4:])
	p.CPUTimeS = math.Float32frombits(binary.BigEndian.Uint32(b[12:]))
	return p, true, nil
}
